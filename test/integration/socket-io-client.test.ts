import { describe, expect, it } from "vitest";
import { ConnectRefusal } from "../../src/ingress/sio/client.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  connectClient,
  createClient,
  roundTrip,
  TRANSPORT_MODES,
  whenConnected,
  whenUpgraded,
} from "../helpers/sio-client.js";
import { startTestServer } from "../helpers/test-server.js";
import { waitFor, waitForMatch } from "../helpers/wait-for.js";

describe.each(TRANSPORT_MODES)("socket.io-client over %s", (mode) => {
  const cleanup = useCleanup();

  describe("transport", () => {
    it(`the connection runs on the expected transport`, async () => {
      const server = await startTestServer(cleanup);
      const socket = createClient(cleanup, server.url, mode);
      if (mode === "upgrade") {
        // Registered before the handshake: the upgrade may complete before or after connect.
        const upgraded = new Promise<string>((resolve) => {
          socket.io.once("open", () => {
            socket.io.engine.once("upgrade", (transport: { name: string }) =>
              resolve(transport.name),
            );
          });
        });
        await whenConnected(socket);
        expect(await upgraded).toBe("websocket");
      } else {
        await whenConnected(socket);
      }
      expect(await roundTrip(socket, "ping")).toEqual(["ping"]);
      expect(socket.io.engine.transport.name).toBe(mode === "polling" ? "polling" : "websocket");
    });
  });

  describe("events and acks", () => {
    it("an event round-trips with all its arguments", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const args = [1, "2", { 3: [true], nested: { deep: null } }, [4.5, "six"]];
      expect(await roundTrip(socket, ...args)).toEqual(args);
    });

    it("events arrive in the order they were sent", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const received: number[] = [];
      const last = waitForMatch(socket, "message-back", (n: number) => n === 49);
      socket.on("message-back", (n: number) => received.push(n));
      for (let i = 0; i < 50; i++) socket.emit("message", i);
      await last;
      expect(received).toEqual(Array.from({ length: 50 }, (_, i) => i));
    });

    it("the client's ack callback receives the arguments the server acked with", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const acked = await new Promise<unknown[]>((resolve) => {
        socket.emit("message-with-ack", 1, "two", { three: [3] }, (...args: unknown[]) =>
          resolve(args),
        );
      });
      expect(acked).toEqual([1, "two", { three: [3] }]);
      expect(await socket.emitWithAck("message-with-ack", "first")).toBe("first");
    });

    it("server emitWithAck resolves with the arguments of the client's ack", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      socket.on("question", (n: number, word: string, ack: (...args: unknown[]) => void) => {
        ack(n * 2, `${word}!`);
      });
      const serverSocket = server.socketOf(socket);
      expect(await serverSocket.emitWithAck("question", [21, "yes"], 2000)).toEqual([42, "yes!"]);
      expect(await serverSocket.emitWithAck("question", [1, "again"], 2000)).toEqual([2, "again!"]);
    });

    it("server emitWithAck rejects with SWY_ACK_TIMEOUT when the client never acks, and ignores a late ack", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const asked = waitFor<[string, (...args: unknown[]) => void]>(socket, "question");
      const answer = server.socketOf(socket).emitWithAck("question", ["are you there?"], 50);
      const [text, lateAck] = await asked;
      expect(text).toBe("are you there?");
      await expect(answer).rejects.toMatchObject({
        name: "SwitchyardError",
        code: "SWY_ACK_TIMEOUT",
        message: "No ack for 'question' within 50 ms",
      });
      lateAck("too late");
      // The late ack went out before this event on the same ordered channel.
      expect(await roundTrip(socket, "after the late ack")).toEqual(["after the late ack"]);
    });

    it("server emitWithAck rejects with SWY_SOCKET_DISCONNECTED when the client leaves before acking", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const asked = waitFor(socket, "question");
      const answer = server.socketOf(socket).emitWithAck("question", [], 5000);
      await asked;
      socket.disconnect();
      await expect(answer).rejects.toMatchObject({ code: "SWY_SOCKET_DISCONNECTED" });
    });
  });

  describe("binary", () => {
    const payload = (): unknown[] => [
      Buffer.from([1, 2, 3]),
      { nested: { buf: Buffer.from("abc") }, text: "t" },
      [Buffer.from([4]), "between", Buffer.from([5, 6])],
      Buffer.alloc(0),
      "plain",
    ];

    it("Buffers round-trip as Buffers, top-level, nested in objects and arrays, several per event", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const seen = server.whenEvent("message");
      const back = await roundTrip(socket, ...payload());
      expect(back).toEqual(payload());
      expect(Buffer.isBuffer(back[0])).toBe(true);
      expect(Buffer.isBuffer((back[1] as { nested: { buf: unknown } }).nested.buf)).toBe(true);
      const { args: serverArgs } = await seen;
      expect(serverArgs).toEqual(payload());
      expect(Buffer.isBuffer(serverArgs[0])).toBe(true);
    });

    it("a binary ack from the server reaches the client's callback as Buffers", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const acked = await new Promise<unknown[]>((resolve) => {
        socket.emit("message-with-ack", ...payload(), (...args: unknown[]) => resolve(args));
      });
      expect(acked).toEqual(payload());
      expect(Buffer.isBuffer(acked[0])).toBe(true);
    });

    it("a binary ack from the client resolves the server's emitWithAck with Buffers", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      socket.on("question", (buf: Buffer, ack: (...args: unknown[]) => void) => {
        ack({ reply: Buffer.concat([buf, Buffer.from([9])]) }, [Buffer.from("z")]);
      });
      const answer = await server
        .socketOf(socket)
        .emitWithAck("question", [Buffer.from([7, 8])], 2000);
      expect(answer).toEqual([{ reply: Buffer.from([7, 8, 9]) }, [Buffer.from("z")]]);
      expect(Buffer.isBuffer((answer[0] as { reply: unknown }).reply)).toBe(true);
    });

    it(`a client receives a broadcast binary attachment as a Buffer`, async () => {
      const server = await startTestServer(cleanup);
      const sender = await connectClient(cleanup, server.url, mode);
      const receiver = await connectClient(cleanup, server.url, mode);
      const news = [waitFor(sender, "news"), waitFor(receiver, "news")];
      sender.emit("broadcast", { image: Buffer.from([0xff, 0x00, 0x7f]) }, Buffer.from("second"));
      for (const received of await Promise.all(news)) {
        expect(received).toEqual([
          { image: Buffer.from([0xff, 0x00, 0x7f]) },
          Buffer.from("second"),
        ]);
        expect(Buffer.isBuffer((received[0] as { image: unknown }).image)).toBe(true);
      }
    });

    it("a server-initiated event carries a large binary payload intact", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const big = Buffer.alloc(200_000, 0xab);
      big.writeUInt32BE(0xdeadbeef, 100_000);
      const received = waitFor(socket, "blob");
      server.socketOf(socket).emit("blob", big);
      const [blob] = await received;
      expect(Buffer.isBuffer(blob)).toBe(true);
      expect((blob as Buffer).equals(big)).toBe(true);
    });
  });

  describe("namespaces", () => {
    it("the CONNECT auth payload reaches the handler and is echoed back, per namespace", async () => {
      const server = await startTestServer(cleanup);
      const root = createClient(cleanup, server.url, mode, { auth: { token: "123" } });
      const custom = createClient(cleanup, `${server.url}/custom`, mode, {
        auth: { token: "abc", n: 1 },
      });
      const [rootAuth] = await waitFor(root, "auth");
      const [customAuth] = await waitFor(custom, "auth");
      expect(rootAuth).toEqual({ token: "123" });
      expect(customAuth).toEqual({ token: "abc", n: 1 });
      expect(server.socketOf(custom, "/custom").auth).toEqual({ token: "abc", n: 1 });
    });

    it("a client without auth gets {} as its auth", async () => {
      const server = await startTestServer(cleanup);
      const socket = createClient(cleanup, `${server.url}/custom`, mode);
      expect(await waitFor(socket, "auth")).toEqual([{}]);
    });

    it("an unknown namespace is refused with connect_error Invalid namespace", async () => {
      const server = await startTestServer(cleanup);
      const socket = createClient(cleanup, `${server.url}/random`, mode);
      const [error] = await waitFor<[Error & { data?: unknown }]>(socket, "connect_error");
      expect(error.message).toBe("Invalid namespace");
      expect(error.data).toBeUndefined();
      expect(socket.connected).toBe(false);
    });

    it("a ConnectRefusal from the handler reaches the client as connect_error with message and data", async () => {
      const server = await startTestServer(cleanup, {
        onConnect(_socket, auth) {
          if (auth.token !== "good")
            throw new ConnectRefusal("not authorized", { code: "E_AUTH", retry: false });
          return undefined;
        },
      });
      const refused = createClient(cleanup, server.url, mode, { auth: { token: "bad" } });
      const [error] = await waitFor<[Error & { data?: unknown }]>(refused, "connect_error");
      expect(error.message).toBe("not authorized");
      expect(error.data).toEqual({ code: "E_AUTH", retry: false });
      const accepted = await connectClient(cleanup, server.url, mode, { auth: { token: "good" } });
      expect(await roundTrip(accepted, "in")).toEqual(["in"]);
    });

    it("a handler promise rejected with a ConnectRefusal refuses the connection the same way", async () => {
      const server = await startTestServer(cleanup, {
        onConnect: async () => {
          await Promise.resolve();
          throw new ConnectRefusal("come back later", { code: "E_BUSY" });
        },
      });
      const socket = createClient(cleanup, `${server.url}/custom`, mode);
      const [error] = await waitFor<[Error & { data?: unknown }]>(socket, "connect_error");
      expect(error.message).toBe("come back later");
      expect(error.data).toEqual({ code: "E_BUSY" });
    });

    it("an unexpected error in the handler is refused as an internal error, without its details", async () => {
      const server = await startTestServer(cleanup, {
        onConnect() {
          throw new Error("database password is hunter2");
        },
      });
      const socket = createClient(cleanup, server.url, mode);
      const [error] = await waitFor<[Error & { data?: unknown }]>(socket, "connect_error");
      expect(error.message).toBe("Internal error while connecting");
      expect(error.data).toEqual({ code: "SWY_INTERNAL" });
    });

    it("io(url + /custom) and io(url) share one Manager and one Engine.IO session", async () => {
      const server = await startTestServer(cleanup);
      const custom = await connectClient(cleanup, `${server.url}/custom`, mode, {
        forceNew: false,
      });
      const root = await connectClient(cleanup, server.url, mode, { forceNew: false });
      expect(root.io).toBe(custom.io);
      expect(server.socketOf(root).client.session).toBe(
        server.socketOf(custom, "/custom").client.session,
      );
      expect(server.sio.engine.size).toBe(1);
      const customBack = waitFor(custom, "message-back");
      const rootBack = waitFor(root, "message-back");
      custom.emit("message", "to custom");
      root.emit("message", "to root");
      expect(await customBack).toEqual(["to custom"]);
      expect(await rootBack).toEqual(["to root"]);
    });

    it("leaving one namespace keeps the shared connection working for the other", async () => {
      const server = await startTestServer(cleanup);
      const custom = await connectClient(cleanup, `${server.url}/custom`, mode, {
        forceNew: false,
      });
      const root = await connectClient(cleanup, server.url, mode, { forceNew: false });
      const left = server.whenDisconnected((socket) => socket.nsp.name === "/custom");
      custom.disconnect();
      expect(await left).toBe("client namespace disconnect");
      expect(await roundTrip(root, "still connected")).toEqual(["still connected"]);
      expect(server.sio.engine.size).toBe(1);
    });
  });

  describe("disconnect", () => {
    it("a client socket.disconnect() reaches the handler with reason client namespace disconnect", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const id = socket.id;
      const serverSocket = server.socketOf(socket);
      const gone = server.whenDisconnected((s) => s.id === id);
      socket.disconnect();
      expect(await gone).toBe("client namespace disconnect");
      expect(serverSocket.isConnected).toBe(false);
      expect(server.sio.namespace("/")?.sockets.has(id!)).toBe(false);
    });

    it("a server socket.disconnect() reaches the client as io server disconnect, without reconnection", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode, { reconnection: true });
      const id = socket.id;
      const gone = waitFor(socket, "disconnect");
      const serverGone = server.whenDisconnected((s) => s.id === id);
      socket.emit("kick");
      expect((await gone)[0]).toBe("io server disconnect");
      expect(await serverGone).toBe("server namespace disconnect");
      expect(socket.active).toBe(false);
    });

    it("after io server disconnect, socket.connect() joins the namespace again on the same connection", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode);
      const gone = waitFor(socket, "disconnect");
      socket.emit("kick");
      expect((await gone)[0]).toBe("io server disconnect");
      socket.connect();
      await whenConnected(socket);
      expect(await roundTrip(socket, "back")).toEqual(["back"]);
      expect(server.sio.engine.size).toBe(1);
    });

    it("a server disconnect(true) reaches the client as io server disconnect, then closes the connection", async () => {
      const server = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, server.url, mode, { reconnection: true });
      const gone = waitFor(socket, "disconnect");
      const engineClosed = waitFor(socket.io.engine, "close");
      server.socketOf(socket).disconnect(true);
      expect((await gone)[0]).toBe("io server disconnect");
      await engineClosed;
      expect(socket.active).toBe(false);
    });

    it("a client reconnects by itself after the server restarts on the same port", async () => {
      const first = await startTestServer(cleanup);
      const socket = await connectClient(cleanup, first.url, mode, {
        reconnection: true,
        reconnectionDelay: 10,
        reconnectionDelayMax: 50,
        randomizationFactor: 0,
      });
      expect(await roundTrip(socket, "before")).toEqual(["before"]);
      const gone = waitFor(socket, "disconnect");
      const reconnected = waitFor(socket.io, "reconnect");
      await first.close();
      // A polling client between two GETs finds the connection gone rather than a close packet.
      expect(["transport close", "transport error"]).toContain((await gone)[0]);
      const second = await startTestServer(cleanup, { port: first.port });
      const accepted = waitFor(second.events, "connection");
      await reconnected;
      await whenConnected(socket);
      const [serverSocket] = await accepted;
      expect(serverSocket.id).toBe(socket.id);
      if (mode === "upgrade") await whenUpgraded(socket);
      expect(await roundTrip(socket, "after")).toEqual(["after"]);
    });
  });
});

import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { errorBody, fetchText, pollingUrl } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const APP = "http://app.test";
const EVIL = "http://evil.test";

const CONFIG = `
server:
  cors: { origin: ["${APP}"], credentials: true }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"], ack: { ok: true } }
      publish:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;

const FORBIDDEN = { code: "SWY_EIO_ORIGIN_FORBIDDEN", message: "Origin not allowed" };

/** What socket.io-client reports when the transport itself is refused. */
interface TransportError extends Error {
  readonly description?: unknown;
}

describe("a page on another origin against an origin list", () => {
  const cleanup = useCleanup();
  let harness: Harness;

  async function start(): Promise<void> {
    harness = await Harness.start(CONFIG);
    cleanup.add(() => harness.close());
  }

  /** A socket.io-client that sends `origin` as a browser would; resolves with its connect_error. */
  function attack(origin: string, transport: "polling" | "websocket"): Promise<TransportError> {
    const socket = io(harness.url, {
      forceNew: true,
      reconnection: false,
      transports: [transport],
      extraHeaders: { origin },
    });
    return new Promise<TransportError>((resolve, reject) => {
      socket.once("connect", () => reject(new Error(`${origin} connected over ${transport}`)));
      socket.once("connect_error", resolve);
    }).finally(() => socket.close());
  }

  /** A member of room:1 from the allowed origin, upgraded from polling to WebSocket. */
  async function bystander(): Promise<Socket> {
    const socket = await harness.connect({ extraHeaders: { origin: APP } });
    const engine = socket.io.engine;
    if (engine.transport.name !== "websocket") {
      await new Promise((resolve) => engine.once("upgrade", resolve));
    }
    expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    return socket;
  }

  async function forbiddenCount(): Promise<number> {
    const { body } = await fetchText(`${harness.url}/metrics`);
    const line = /^switchyard_errors_total\{code="SWY_EIO_ORIGIN_FORBIDDEN"\} (\d+)$/m.exec(body);
    return Number(line?.[1] ?? 0);
  }

  /** Another allowed client publishes to room:1; resolves with what `member` received. */
  async function delivered(member: Socket, payload: string): Promise<unknown[]> {
    const publisher = await harness.connect({
      transports: ["websocket"],
      extraHeaders: { origin: APP },
    });
    const received = next(member, "message");
    publisher.emit("publish", { room: "room:1", payload });
    return received;
  }

  it("cannot open a WebSocket: the upgrade gets 403 SWY_EIO_ORIGIN_FORBIDDEN; a member keeps receiving", async () => {
    await start();
    const member = await bystander();
    const before = await forbiddenCount();

    const error = await attack(EVIL, "websocket");
    expect(error.message).toBe("websocket error");
    const refusal = await RawWs.refusal(wsUrl(harness.url, "/socket.io/"), {
      headers: { Origin: EVIL },
    });
    expect(refusal.status).toBe(403);
    expect(JSON.parse(refusal.body)).toEqual(FORBIDDEN);

    expect(await delivered(member, "still here")).toEqual(["still here"]);
    expect(await forbiddenCount()).toBe(before + 2);
    expect(harness.server.sio.engine.size).toBe(2);
  });

  it("cannot poll: the handshake gets 403 SWY_EIO_ORIGIN_FORBIDDEN; a member keeps receiving", async () => {
    await start();
    const member = await bystander();

    const error = await attack(EVIL, "polling");
    expect(error.message).toBe("xhr poll error");
    expect(error.description).toBe(403);
    const reply = await fetchText(pollingUrl(harness.url, "/socket.io/"), {
      headers: { Origin: EVIL },
    });
    expect(reply.status).toBe(403);
    expect(errorBody(reply)).toEqual(FORBIDDEN);

    expect(await delivered(member, "still here")).toEqual(["still here"]);
    expect(harness.server.sio.engine.size).toBe(2);
  });

  it("cannot drive a member's session with its leaked id, over either transport", async () => {
    await start();
    const member = await bystander();
    const sid = member.io.engine.id;
    expect(sid).toBeTruthy();

    const forged = await fetchText(pollingUrl(harness.url, "/socket.io/", { sid: sid! }), {
      method: "POST",
      body: "1",
      headers: { Origin: EVIL },
    });
    expect(forged.status).toBe(403);
    expect(errorBody(forged)).toEqual(FORBIDDEN);
    const refusal = await RawWs.refusal(wsUrl(harness.url, "/socket.io/", { sid: sid! }), {
      headers: { Origin: EVIL },
    });
    expect(refusal.status).toBe(403);

    expect(member.connected).toBe(true);
    expect(await delivered(member, "untouched")).toEqual(["untouched"]);
  });
});

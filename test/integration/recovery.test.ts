/**
 * Connection state recovery in process (docs/recovery.md), with the real
 * socket.io-client 4.8 and its own recovery: a client whose transport is cut comes back
 * with the same id, its rooms, and every broadcast it missed, once and in order,
 * whether they came from another client, the HTTP API or (with the native core on
 * Redis) `@socket.io/redis-emitter`.
 */
import { randomBytes } from "node:crypto";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { collect, connected } from "../helpers/recovery-client.js";
import { itWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "recovery-test-token-0123456789abcdef";

function yaml(recovery = "{ maxDisconnectionDuration: 5000 }", backends = ""): string {
  return `
server: { connectionStateRecovery: ${recovery} }
api: { token: "${TOKEN}" }
${backends}
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.text}"]
        exceptSender: false
        requireMembership: false
`;
}

/** A client that reconnects only when the test says so (see {@link cut} and `connect()`). */
function recoveringClient(url: string): Socket {
  return io(url, { forceNew: true, transports: ["websocket"], reconnection: false });
}

/** Cuts the client's transport, as a phone losing signal: the server sees "transport close". */
async function cut(client: Socket): Promise<void> {
  client.io.engine.close();
  await until(() => !client.connected, "client disconnected");
}

async function publish(harness: Harness, room: string, text: string): Promise<void> {
  const res = await fetch(`${harness.url}/api/v1/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ room, event: "message", args: [text] }),
  });
  expect(res.status).toBe(202);
}

describe("connection state recovery on one node", () => {
  const cleanup = useCleanup();

  async function start(recovery?: string, backends?: string) {
    const harness = await Harness.start(yaml(recovery, backends));
    cleanup.add(() => harness.close());
    const client = recoveringClient(harness.url);
    cleanup.add(() => client.close());
    await connected(client);
    const sender = await harness.connect({ transports: ["websocket"] });
    await joinRoom(client, "room:1");
    return { harness, client, sender };
  }

  it("gives back the socket id, its rooms and every missed broadcast, once and in order", async () => {
    const { harness, client, sender } = await start();
    const got = collect(client);
    expect(await sender.emitWithAck("say", { room: "room:1", text: "before" })).toEqual({
      ok: true,
    });
    await until(() => got.length === 1, "the first message");
    const id = client.id;

    await cut(client);
    await until(
      async () => (await harness.metric(/^switchyard_recovery_kept_sockets (\d+)/m)) === 1,
      "the server keeps the socket",
    );
    for (let n = 0; n < 25; n++) await sender.emitWithAck("say", { room: "room:1", text: `s${n}` });
    for (let n = 0; n < 25; n++) await publish(harness, "room:1", `api${n}`);
    client.connect();
    await connected(client);

    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    const missed = [
      ...Array.from({ length: 25 }, (_, n) => `s${n}`),
      ...Array.from({ length: 25 }, (_, n) => `api${n}`),
    ];
    await until(() => got.length === 51, "every missed message");
    expect(got).toEqual(["before", ...missed]);

    // Still in its room: live messages keep coming, once.
    await sender.emitWithAck("say", { room: "room:1", text: "after" });
    await until(() => got.length === 52, "a live message");
    expect(got.at(-1)).toBe("after");
    expect(await harness.metric(/^switchyard_recovery_total\{outcome="recovered"\} (\d+)/m)).toBe(
      1,
    );
    expect(await harness.metric(/^switchyard_recovery_kept_sockets (\d+)/m)).toBe(0);
  });

  itWithRedis(
    "replays what other clients, the API and @socket.io/redis-emitter sent, with the native core on Redis",
    async () => {
      const key = `swy-recovery-${randomBytes(6).toString("hex")}`;
      const backends = `
backends:
  native:
    kind: native
    settings: { redis: { url: "${REDIS_URL}", key: "${key}" } }`;
      const { harness, client, sender } = await start(undefined, backends);
      const pub = new Redis(REDIS_URL);
      cleanup.add(() => pub.disconnect());
      const emitter = new Emitter(pub, { key });
      const got = collect(client);
      await sender.emitWithAck("say", { room: "room:1", text: "before" });
      await until(() => got.length === 1, "the first message");
      const id = client.id;

      await cut(client);
      await until(
        async () => (await harness.metric(/^switchyard_recovery_kept_sockets (\d+)/m)) === 1,
        "the server keeps the socket",
      );
      for (let n = 0; n < 17; n++)
        await sender.emitWithAck("say", { room: "room:1", text: `s${n}` });
      for (let n = 0; n < 17; n++) await publish(harness, "room:1", `api${n}`);
      for (let n = 0; n < 16; n++) emitter.to("room:1").emit("message", `emitter${n}`);
      // The emitter's messages are in once the node logged them: 50 broadcasts after "before".
      await until(
        async () =>
          (await harness.metric(/^switchyard_recovery_log\{unit="packets"\} (\d+)/m)) >= 51,
        "the node logged every broadcast",
      );
      client.connect();
      await connected(client);

      expect(client.recovered).toBe(true);
      expect(client.id).toBe(id);
      const missed = [
        ...Array.from({ length: 17 }, (_, n) => `s${n}`),
        ...Array.from({ length: 17 }, (_, n) => `api${n}`),
        ...Array.from({ length: 16 }, (_, n) => `emitter${n}`),
      ];
      await until(() => got.length === 51, "every missed message");
      expect(got).toEqual(["before", ...missed]);
    },
  );

  it("starts a new session when the client comes back after maxDisconnectionDuration", async () => {
    const { harness, client, sender } = await start("{ maxDisconnectionDuration: 200 }");
    const got = collect(client);
    const id = client.id;
    // An offset to come back with: recovery needs one, as socket.io's does.
    await sender.emitWithAck("say", { room: "room:1", text: "seen" });
    await until(() => got.length === 1, "a first message");
    got.length = 0;
    await cut(client);
    await sender.emitWithAck("say", { room: "room:1", text: "missed" });
    // The window passes: the server forgets the socket (and releases its room).
    await until(
      async () =>
        (await harness.metric(/^switchyard_recovery_total\{outcome="forgotten"\} (\d+)/m)) >= 1,
      "the kept socket forgotten",
    );
    client.connect();
    await connected(client);
    expect(client.recovered).toBe(false);
    expect(client.id).not.toBe(id);
    // A new socket: in no room, so nothing old is replayed and the room's messages stop.
    await sender.emitWithAck("say", { room: "room:1", text: "later" });
    await joinRoom(client, "room:1");
    await sender.emitWithAck("say", { room: "room:1", text: "joined" });
    await until(() => got.includes("joined"), "a message after joining again");
    expect(got).toEqual(["joined"]);
  });

  it("does not keep a socket that left on purpose", async () => {
    const { client } = await start();
    const id = client.id;
    client.disconnect();
    client.connect();
    await connected(client);
    expect(client.recovered).toBe(false);
    expect(client.id).not.toBe(id);
  });

  it("sends no pid and appends no offset with recovery off", async () => {
    const harness = await Harness.start(yaml().replace(/server: .*\n/, ""));
    cleanup.add(() => harness.close());
    const client = recoveringClient(harness.url);
    cleanup.add(() => client.close());
    await connected(client);
    await joinRoom(client, "room:1");
    const args = new Promise<unknown[]>((resolve) =>
      client.once("message", (...got: unknown[]) => resolve(got)),
    );
    await publish(harness, "room:1", "plain");
    expect(await args).toEqual(["plain"]);
    const id = client.id;
    await cut(client);
    client.connect();
    await connected(client);
    expect(client.recovered).toBeFalsy();
    expect(client.id).not.toBe(id);
  });
});

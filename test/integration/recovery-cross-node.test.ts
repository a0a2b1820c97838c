/**
 * Connection state recovery across nodes (docs/recovery.md): the native core on Redis
 * streams, with the real socket.io-client 4.8 and its own recovery. A client whose
 * transport is cut comes back through another node, Switchyard or a real socket.io 4.8
 * node on `@socket.io/redis-streams-adapter`, with the same id, its rooms and every
 * broadcast it missed, once and in order; through a Redis restart too.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Redis } from "ioredis";
import type { Socket } from "socket.io-client";
import { expect, it } from "vitest";
import { nativeOnStreams } from "../helpers/backend-yaml.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  collect,
  cutAndPersist,
  publishText,
  reconnectThrough,
  recoveringClient,
  secretsOf,
} from "../helpers/recovery-client.js";
import {
  describeWithRedis,
  describeWithRedisServer,
  PrivateRedis,
  REDIS_URL,
  redisWatcher,
} from "../helpers/redis-server.js";
import { onJoin, socketIoStreamsNode } from "../helpers/socketio-streams-node.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const cleanup = useCleanup();
const TOKEN = "cross-node-recovery-token-0123456789";
const WINDOW = 10_000;

function uniqueKey(): string {
  return `swy-recovery-${randomBytes(6).toString("hex")}`;
}

/** A Switchyard node in streams mode with recovery on, the room contract of the examples. */
async function switchyardNode(
  url: string,
  key: string,
  extra: { backends?: string; routes?: string } = {},
): Promise<Harness> {
  const harness = await Harness.start(`
server: { connectionStateRecovery: { maxDisconnectionDuration: ${WINDOW} } }
api: { token: "${TOKEN}" }
backends:
${nativeOnStreams(url, key)}
${extra.backends ?? ""}
namespaces:
  /:
${extra.routes ?? ""}
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}", "elsewhere:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.text}"]
        exceptSender: false
        requireMembership: false
`);
  cleanup.add(() => harness.close());
  return harness;
}

/** A socket.io 4.8 node on the streams adapter with recovery on and the same contract. */
function socketIoNode(redisUrl: string, key: string): Promise<{ url: string }> {
  return socketIoStreamsNode(
    cleanup,
    redisUrl,
    key,
    (socket, server) => {
      onJoin(socket);
      socket.on(
        "say",
        ({ room, text }: { room: string; text: string }, ack?: (a: unknown) => void) => {
          server.to(room).emit("message", text);
          ack?.({ ok: true });
        },
      );
    },
    { connectionStateRecovery: { maxDisconnectionDuration: WINDOW } },
  );
}

function publish(harness: Harness, room: string, text: string): Promise<void> {
  return publishText(harness.url, TOKEN, room, text);
}

/** The 50 broadcasts a client misses: 25 from a client, then 25 from the HTTP API. */
async function publishMissed(sender: Socket, api: Harness, room: string): Promise<void> {
  for (let n = 0; n < 25; n++) await sender.emitWithAck("say", { room, text: `client${n}` });
  for (let n = 0; n < 25; n++) await publish(api, room, `api${n}`);
}

const MISSED = [
  ...Array.from({ length: 25 }, (_, n) => `client${n}`),
  ...Array.from({ length: 25 }, (_, n) => `api${n}`),
];

describeWithRedis("connection state recovery across nodes on Redis streams", () => {
  it("restores the socket on another Switchyard node with every missed broadcast, once and in order", async () => {
    const redis = redisWatcher(cleanup);
    const key = uniqueKey();
    const a = await switchyardNode(REDIS_URL, key);
    const b = await switchyardNode(REDIS_URL, key);
    const client = await recoveringClient(cleanup, a.url);
    await joinRoom(client, "room:1");
    const got = collect(client);
    const sender = await b.connect({ transports: ["websocket"] });
    await sender.emitWithAck("say", { room: "room:1", text: "before" });
    await until(() => got.length === 1, "a first message");
    const id = client.id;

    await cutAndPersist(client, redis);
    // From a client of node B and from node A's API while the client is away.
    await publishMissed(sender, a, "room:1");
    await reconnectThrough(client, b.url);

    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    await until(() => got.length === 51, "every missed message");
    expect(got).toEqual(["before", ...MISSED]);
    // Back in its room on B: live messages arrive once.
    await publish(a, "room:1", "after");
    await until(() => got.length === 52, "a live message");
    expect(got.at(-1)).toBe("after");
    expect(await b.metric(/^switchyard_recovery_total\{outcome="recovered"\} (\d+)/m)).toBe(1);
    // The pid recovers once: the store no longer has it.
    expect(await redis.exists(`sio:session:${secretsOf(client).pid}`)).toBe(0);
  });

  it("restores a socket kept by Switchyard on a socket.io node, and one kept by socket.io on Switchyard", async () => {
    const redis = redisWatcher(cleanup);
    const key = uniqueKey();
    const swy = await switchyardNode(REDIS_URL, key);
    const sio = await socketIoNode(REDIS_URL, key);
    const sender = await swy.connect({ transports: ["websocket"] });

    // Switchyard → socket.io.
    const first = await recoveringClient(cleanup, swy.url);
    await joinRoom(first, "room:1");
    const gotFirst = collect(first);
    await sender.emitWithAck("say", { room: "room:1", text: "before" });
    await until(() => gotFirst.length === 1, "a first message");
    const firstId = first.id;
    await cutAndPersist(first, redis);
    await publishMissed(sender, swy, "room:1");
    await reconnectThrough(first, sio.url);
    expect(first.recovered).toBe(true);
    expect(first.id).toBe(firstId);
    await until(() => gotFirst.length === 51, "every missed message on socket.io");
    expect(gotFirst).toEqual(["before", ...MISSED]);

    // socket.io → Switchyard: a client of the socket.io node, kept there, restored here.
    const second = await recoveringClient(cleanup, sio.url);
    expect(await second.emitWithAck("join", { room: "room:2" })).toEqual({ ok: true });
    const gotSecond = collect(second);
    await second.emitWithAck("say", { room: "room:2", text: "before" });
    await until(() => gotSecond.length === 1, "a first message from socket.io");
    const secondId = second.id;
    await cutAndPersist(second, redis);
    await publishMissed(sender, swy, "room:2");
    await reconnectThrough(second, swy.url);
    expect(second.recovered).toBe(true);
    expect(second.id).toBe(secondId);
    await until(() => gotSecond.length === 51, "every missed message on Switchyard");
    expect(gotSecond).toEqual(["before", ...MISSED]);
    // In room:2 on Switchyard now: a live message reaches it once.
    await sender.emitWithAck("say", { room: "room:2", text: "after" });
    await until(() => gotSecond.length === 52, "a live message");
    expect(gotSecond.at(-1)).toBe("after");
  });

  it("restores on another node a socket whose node was drained (a rolling restart loses nothing)", async () => {
    const redis = redisWatcher(cleanup);
    const key = uniqueKey();
    const a = await switchyardNode(REDIS_URL, key);
    const b = await switchyardNode(REDIS_URL, key);
    const client = await recoveringClient(cleanup, a.url);
    await joinRoom(client, "room:1");
    const got = collect(client);
    await publish(b, "room:1", "before");
    await until(() => got.length === 1, "a first message");
    const id = client.id;
    const pid = secretsOf(client).pid;

    const drained = a.server.drain();
    await until(() => !client.connected, "the drain closed the client's session");
    await until(async () => (await redis.exists(`sio:session:${pid}`)) === 1, "session persisted");
    await drained;
    for (let n = 0; n < 20; n++) await publish(b, "room:1", `while${n}`);
    await reconnectThrough(client, b.url);

    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    await until(() => got.length === 21, "every missed message");
    expect(got).toEqual(["before", ...Array.from({ length: 20 }, (_, n) => `while${n}`)]);
  });

  it("runs examples/recovery/switchyard.yaml: a client recovers on the other node of the example", async () => {
    const redis = redisWatcher(cleanup);
    const key = uniqueKey();
    const yaml = await readFile("examples/recovery/switchyard.yaml", "utf8");
    const env = { REDIS_URL, SOCKET_IO_KEY: key, SOCKET_IO_STREAM: key };
    const nodes = [await Harness.start(yaml, env), await Harness.start(yaml, env)];
    for (const node of nodes) cleanup.add(() => node.close());
    const [a, b] = nodes as [Harness, Harness];
    const client = await recoveringClient(cleanup, a.url);
    expect(await client.emitWithAck("join", { room: "room:7" })).toEqual({ ok: true });
    const got = collect(client);
    const publisher = await b.connect({ transports: ["websocket"] });
    publisher.emit("publish", { room: "room:7", payload: "before" });
    await until(() => got.length === 1, "a first message");
    const id = client.id;
    await cutAndPersist(client, redis);
    const missed = Array.from({ length: 50 }, (_, n) => `p${n}`);
    for (const payload of missed) publisher.emit("publish", { room: "room:7", payload });
    // Published once the publisher's own ack-less emits are through: a join ack after them.
    expect(await publisher.emitWithAck("join", { room: "room:8" })).toEqual({ ok: true });
    await reconnectThrough(client, b.url);
    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    await until(() => got.length === 51, "every missed message");
    expect(got).toEqual(["before", ...missed]);
  });

  it("says why a socket in a room of a backend without a stream cannot recover on another node", async () => {
    const redis = redisWatcher(cleanup);
    const key = uniqueKey();
    // `elsewhere:*` rooms live on a second, in-process native backend: nothing another
    // node could read back.
    const extra = {
      backends: "  local: { kind: native }",
      routes: `    routes:
      - { room: "elsewhere:{id}", backend: local }
      - { room: "room:{id}", backend: native }`,
    };
    const a = await switchyardNode(REDIS_URL, key, extra);
    const b = await switchyardNode(REDIS_URL, key, extra);
    const client = await recoveringClient(cleanup, a.url);
    await joinRoom(client, "room:1");
    await joinRoom(client, "elsewhere:1");
    const got = collect(client);
    await (await a.connect({ transports: ["websocket"] })).emitWithAck("say", {
      room: "room:1",
      text: "before",
    });
    await until(() => got.length === 1, "a first message");
    const id = client.id;
    await cutAndPersist(client, redis);
    await reconnectThrough(client, b.url);
    expect(client.recovered).toBe(false);
    expect(client.id).not.toBe(id);
    expect(await b.metric(/^switchyard_recovery_total\{outcome="not_in_stream"\} (\d+)/m)).toBe(1);
  });
});

describeWithRedisServer("connection state recovery across nodes through a Redis restart", () => {
  it("restores on another node what was published before and after Redis came back", async () => {
    const redisServer = await PrivateRedis.start({ persistent: true });
    cleanup.add(() => redisServer.remove());
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    cleanup.add(() => redis.disconnect());
    const key = uniqueKey();
    const a = await switchyardNode(redisServer.url, key);
    const b = await switchyardNode(redisServer.url, key);
    const client = await recoveringClient(cleanup, a.url);
    await joinRoom(client, "room:1");
    const got = collect(client);
    await publish(a, "room:1", "before");
    await until(() => got.length === 1, "a first message");
    const id = client.id;
    await cutAndPersist(client, redis);
    for (let n = 0; n < 10; n++) await publish(a, "room:1", `down${n}`);

    await redisServer.stop();
    await redisServer.restart();
    // Both nodes back on Redis (their readers read on from their last entry).
    await until(
      async () =>
        (await fetch(`${a.url}/readyz`)).status === 200 &&
        (await fetch(`${b.url}/readyz`)).status === 200,
      "both nodes ready again",
    );
    for (let n = 0; n < 10; n++) await publish(b, "room:1", `up${n}`);
    await reconnectThrough(client, b.url);

    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    const missed = [
      ...Array.from({ length: 10 }, (_, n) => `down${n}`),
      ...Array.from({ length: 10 }, (_, n) => `up${n}`),
    ];
    await until(() => got.length === 21, "every missed message");
    expect(got).toEqual(["before", ...missed]);
  });
});

import { expect, it } from "vitest";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { connectRealtime } from "../emulators/ably/test-support.js";
import { twoAblyNodes } from "../helpers/ably-recovery-nodes.js";
import { ablyOn, nativeOnStreams } from "../helpers/backend-yaml.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  collect,
  cutAndPersist,
  publishText,
  reconnectThrough,
  recoveringClient,
  secretsOf,
} from "../helpers/recovery-client.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const cleanup = useCleanup();
const TOKEN = "ably-recovery-token-0123456789-abcdef";
const WINDOW = 10_000;

/** A node: the native core on Redis streams, `room:*` and `chat:*` on Ably, recovery on. */
async function node(emulator: AblyEmulator, key: string): Promise<Harness> {
  const harness = await Harness.start(`
server:
  connectionStateRecovery: { maxDisconnectionDuration: ${WINDOW} }
  drainTimeout: 200 # a drain closes its two sessions within 0.2 s
api: { token: "${TOKEN}" }
backends:
${nativeOnStreams(REDIS_URL, key)}
${ablyOn(emulator)}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: ably, channel: "room:{id}" }
      - { room: "chat:{id}", backend: ably, channel: "chat:{id}" }
      - { room: "local:{id}", backend: native }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}", "chat:{id}", "local:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}", "chat:{id}", "local:{id}"]
        emit: message
        args: ["{data.text}"]
        exceptSender: false
        requireMembership: false
      tell:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}", "chat:{id}"]
        emit: message
        args: ["{data.text}"]
`);
  cleanup.add(() => harness.close());
  return harness;
}

function publish(harness: Harness, room: string, text: string): Promise<void> {
  return publishText(harness.url, TOKEN, room, text);
}

function numbered(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, n) => `${prefix}${n}`);
}

/** The messages of `got` that start with one of `prefixes`, in the order they came. */
function only(got: readonly string[], ...prefixes: string[]): string[] {
  return got.filter((text) => prefixes.some((prefix) => text.startsWith(prefix)));
}

describeWithRedis("connection state recovery across nodes for rooms on Ably", () => {
  it("restores a socket in two Ably rooms and a stream room on another node with every missed message, once and in order", async () => {
    const { redis, emulator, a, b } = await twoAblyNodes(cleanup, node);
    const client = await recoveringClient(cleanup, a.url);
    for (const room of ["room:1", "chat:1", "local:1"]) await joinRoom(client, room);
    const got = collect(client);
    const sender = await b.connect({ transports: ["websocket"] });
    // A member of room:1 on B: B's channel is attached, and delivers, all along.
    const bystander = await b.connect({ transports: ["websocket"] });
    await joinRoom(bystander, "room:1");
    const native = await connectRealtime(emulator, cleanup, "json");
    const nativeRoom = native.channels.get("room:1");

    await sender.emitWithAck("say", { room: "room:1", text: "r-before" });
    await sender.emitWithAck("say", { room: "chat:1", text: "c-before" });
    await sender.emitWithAck("say", { room: "local:1", text: "l-before" });
    await until(() => got.length === 3, "the first messages");
    const id = client.id;

    await cutAndPersist(client, redis);
    // room:1 from a client of B, the API of A and a native Ably client; chat:1 from the
    // API of B; local:1 (the stream) from A's API.
    for (const text of numbered("r-client", 10))
      await sender.emitWithAck("say", { room: "room:1", text });
    for (const text of numbered("r-api", 10)) await publish(a, "room:1", text);
    for (const text of numbered("r-ably", 10)) await nativeRoom.publish("message", text);
    for (const text of numbered("c-api", 10)) await publish(b, "chat:1", text);
    for (const text of numbered("l-api", 10)) await publish(a, "local:1", text);
    // A native client goes on publishing to room:1 while the client comes back: each of
    // those arrives once, read back or live, whichever side of the restore it falls on.
    const racing = (async () => {
      for (const text of numbered("r-race", 20)) await nativeRoom.publish("message", text);
    })();
    await reconnectThrough(client, b.url);
    await racing;

    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    await until(() => got.length === 73, "every missed message");
    expect(only(got, "r-")).toEqual([
      "r-before",
      ...numbered("r-client", 10),
      ...numbered("r-api", 10),
      ...numbered("r-ably", 10),
      ...numbered("r-race", 20),
    ]);
    expect(only(got, "c-")).toEqual(["c-before", ...numbered("c-api", 10)]);
    expect(only(got, "l-")).toEqual(["l-before", ...numbered("l-api", 10)]);

    // In its rooms on B now: live messages arrive once, and nothing else repeats.
    await nativeRoom.publish("message", "r-after");
    await publish(a, "chat:1", "c-after");
    await until(() => got.length === 75, "live messages");
    expect(only(got, "r-").at(-1)).toBe("r-after");
    expect(only(got, "c-").at(-1)).toBe("c-after");
    expect(new Set(got).size).toBe(got.length);
    expect(await b.metric(/^switchyard_recovery_total\{outcome="recovered"\} (\d+)/m)).toBe(1);
    expect(await redis.exists(`sio:session:${secretsOf(client).pid}`)).toBe(0);
  });

  it("restores a socket from a drained node: a quiet room, and its own except-sender message left out", async () => {
    const { redis, emulator, a, b } = await twoAblyNodes(cleanup, node);
    const client = await recoveringClient(cleanup, a.url);
    // room:5 carries nothing before the drop (where the room stood is its attachment);
    // in chat:5 the client's own `tell` reached everyone but itself.
    await joinRoom(client, "room:5");
    await joinRoom(client, "chat:5");
    const got = collect(client);
    const other = await recoveringClient(cleanup, a.url);
    await joinRoom(other, "chat:5");
    const gotOther = collect(other);
    client.emit("tell", { room: "chat:5", text: "c-mine" });
    await until(() => gotOther.length === 1, "the other member got the client's message");
    await publish(b, "chat:5", "c-before");
    await until(() => got.length === 1, "a first message");
    expect(got).toEqual(["c-before"]);
    const id = client.id;
    const { pid } = secretsOf(client);

    const drained = a.server.drain();
    await until(() => !client.connected, "the drain closed the client's session");
    await until(async () => (await redis.exists(`sio:session:${pid}`)) === 1, "session persisted");
    await drained;
    const native = await connectRealtime(emulator, cleanup, "json");
    for (const text of numbered("r-ably", 10))
      await native.channels.get("room:5").publish("message", text);
    for (const text of numbered("c-api", 5)) await publish(b, "chat:5", text);
    await reconnectThrough(client, b.url);

    expect(client.recovered).toBe(true);
    expect(client.id).toBe(id);
    await until(() => got.length === 16, "every missed message");
    expect(only(got, "r-")).toEqual(numbered("r-ably", 10));
    expect(only(got, "c-")).toEqual(["c-before", ...numbered("c-api", 5)]);
  });

  it("gives a restored socket once a message its node's live feed delivers after the history read gave it", async () => {
    const { redis, emulator, a, b } = await twoAblyNodes(cleanup, node);
    const client = await recoveringClient(cleanup, a.url);
    await joinRoom(client, "room:9");
    const got = collect(client);
    // Node B is attached to room:9 all along: the held messages are on their way to it.
    const bystander = await b.connect({ transports: ["websocket"] });
    await joinRoom(bystander, "room:9");
    const gotBystander = collect(bystander);
    await publish(b, "room:9", "before");
    await until(() => got.length === 1, "a first message");
    await cutAndPersist(client, redis);

    // Ably's history holds `late*` at once; their live delivery to every connection (node
    // B's too) waits until the client is back: B's live feed lags behind the history.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    emulator.setDeliveryFault((delivery) =>
      delivery.messages.some((message) => String(message.data).startsWith("late"))
        ? { until: held }
        : undefined,
    );
    const native = await connectRealtime(emulator, cleanup, "json");
    for (const text of numbered("late", 5))
      await native.channels.get("room:9").publish("message", text);
    await reconnectThrough(client, b.url);
    expect(client.recovered).toBe(true);
    await until(() => got.length === 6, "the late messages, from the history");

    release();
    emulator.setDeliveryFault(undefined);
    await publish(a, "room:9", "after");
    await until(() => got.includes("after"), "a live message after the held ones");
    expect(got).toEqual(["before", ...numbered("late", 5), "after"]);
    // B's other member got the held messages when they came, once.
    await until(() => gotBystander.includes("after"), "the bystander's live message");
    expect(gotBystander).toEqual(["before", ...numbered("late", 5), "after"]);
  });
});

import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import type PusherRest from "pusher";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { PusherBackend } from "../../src/egress/pusher/pusher-backend.js";
import {
  type PusherSettingsInput,
  resolvePusherSettings,
} from "../../src/egress/pusher/pusher-settings.js";
import { SwitchyardError } from "../../src/errors.js";
import { metrics } from "../../src/metrics.js";
import { RecordingSink } from "../contract/backend-contract.js";
import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import {
  APP,
  connectClient as connectPusherJs,
  nextEvent,
  type Pusher,
  restClient,
  startEmulator,
  subscribe as subscribePusherJs,
} from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until, WAIT_LIMIT_MS, waitFor } from "../helpers/wait-for.js";

const YAML = `
backends:
  pusher:
    kind: pusher
    settings:
      appId: "\${PUSHER_APP_ID}"
      key: "\${PUSHER_KEY}"
      secret: "\${PUSHER_SECRET}"
      host: "\${PUSHER_HOST}"
      port: \${PUSHER_PORT}
      useTLS: false
      publishTimeout: 1000
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: pusher, channel: "private-room-{id}" }
      - { room: "lobby:{id}", backend: pusher, channel: "lobby-{id}" }
    events:
      join: { action: join, room: "{data.room}" }
      say:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
      shout:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        exceptSender: false
      relay: { action: broadcast, room: "{data.room}" }
`;

type Ack = { ok: boolean; error?: { code: string; message: string } };

const cleanup = useCleanup();

async function startBridge(emulator: PusherEmulator): Promise<Harness> {
  const harness = await Harness.start(YAML, {
    PUSHER_APP_ID: APP.id,
    PUSHER_KEY: APP.key,
    PUSHER_SECRET: APP.secret,
    PUSHER_HOST: emulator.host,
    PUSHER_PORT: String(emulator.port),
  });
  cleanup.add(() => harness.close());
  return harness;
}

function pusherJs(emulator: PusherEmulator): Promise<Pusher> {
  return connectPusherJs(emulator, (task) => cleanup.add(task));
}

/**
 * Resolves once `channel` has `count` subscribers on the emulator. A join is acked
 * before the bridge's Pusher subscription is confirmed, so tests wait for the
 * emulator's own state instead of for time to pass.
 */
async function subscribers(
  emulator: PusherEmulator,
  channel: string,
  count: number,
): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while ((emulator.channels(APP.id)[channel]?.subscriptionCount ?? 0) !== count) {
    if (Date.now() > deadline) {
      throw new Error(`'${channel}' never reached ${count} subscribers on the emulator`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function emit(socket: Socket, event: string, ...args: unknown[]): Promise<Ack> {
  return socket.emitWithAck(event, ...args) as Promise<Ack>;
}

/** Records every `message` a Socket.IO client receives. */
function record(socket: Socket): unknown[] {
  const seen: unknown[] = [];
  socket.on("message", (payload: unknown) => seen.push(payload));
  return seen;
}

/** Waits for the `message` whose payload has `mark`. */
function marked(socket: Socket, mark: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message '${mark}'`)), WAIT_LIMIT_MS);
    const listener = (payload: { mark?: string } | undefined): void => {
      if (payload?.mark !== mark) return;
      clearTimeout(timer);
      socket.off("message", listener);
      resolve([payload]);
    };
    socket.on("message", listener);
  });
}

function trigger(rest: PusherRest, channel: string, data: unknown): Promise<unknown> {
  return rest.trigger(channel, "message", data);
}

describe("pusher backend: Socket.IO rooms on Pusher channels", () => {
  it("a Socket.IO client in room:1 receives what a pusher-js client's server triggers on private-room-1", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    await subscribers(emulator, "private-room-1", 1);
    const received = waitFor(alice, "message");
    await trigger(restClient(emulator), "private-room-1", { text: "from the app server" });
    expect(await received).toEqual([{ text: "from the app server" }]);
  });

  it("a Socket.IO client in lobby:1 receives a trigger on the public channel lobby-1", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const alice = await harness.connect();
    await joinRoom(alice, "lobby:1");
    await subscribers(emulator, "lobby-1", 1);
    const received = waitFor(alice, "message");
    await trigger(restClient(emulator), "lobby-1", "plain text, not JSON");
    expect(await received).toEqual(["plain text, not JSON"]);
  });

  it("a pusher-js client on private-room-1 receives what a Socket.IO client broadcasts to room:1, a single argument as the plain object", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const native = await pusherJs(emulator);
    const channel = await subscribePusherJs(native, "private-room-1");
    const publicChannel = await subscribePusherJs(native, "lobby-2");
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    const received = nextEvent(channel, "message");
    expect(await emit(alice, "say", { room: "room:1", payload: { text: "hi", n: 1 } })).toEqual({
      ok: true,
    });
    expect((await received)[0]).toEqual({ text: "hi", n: 1 });
    // A room this node has no member in is published all the same.
    const onPublic = nextEvent(publicChannel, "message");
    expect(await emit(alice, "say", { room: "lobby:2", payload: 42 })).toEqual({ ok: true });
    expect((await onPublic)[0]).toBe(42);
  });

  it("a client event from a pusher-js client on private-room-1 reaches the Socket.IO members of room:1 under its own name", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const native = await pusherJs(emulator);
    const channel = await subscribePusherJs(native, "private-room-1");
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    await subscribers(emulator, "private-room-1", 2);
    const received = waitFor(alice, "client-message");
    channel.trigger("client-message", { text: "typing" });
    expect(await received).toEqual([{ text: "typing" }]);
  });

  it("a Socket.IO member receives its own broadcast to its room exactly once (no echo from Pusher)", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    await subscribers(emulator, "private-room-1", 1);
    const seen = record(alice);
    expect(await emit(alice, "shout", { room: "room:1", payload: { n: 1 } })).toEqual({ ok: true });
    // An echo of n:1 would come through the same connection before this later trigger.
    const done = marked(alice, "end");
    await trigger(restClient(emulator), "private-room-1", { mark: "end" });
    await done;
    expect(seen).toEqual([{ n: 1 }, { mark: "end" }]);
  });

  it("two Switchyard nodes on one Pusher app deliver each message exactly once to members on both", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const [nodeA, nodeB] = await Promise.all([startBridge(emulator), startBridge(emulator)]);
    const alice = await nodeA.connect();
    const bob = await nodeB.connect();
    await joinRoom(alice, "room:1");
    await joinRoom(bob, "room:1");
    await subscribers(emulator, "private-room-1", 2);
    const seenByAlice = record(alice);
    const seenByBob = record(bob);
    expect(await emit(alice, "shout", { room: "room:1", payload: { from: "a" } })).toEqual({
      ok: true,
    });
    expect(await emit(bob, "shout", { room: "room:1", payload: [1, 2] })).toEqual({ ok: true });
    const ends = [marked(alice, "end"), marked(bob, "end")];
    await trigger(restClient(emulator), "private-room-1", { mark: "end" });
    await Promise.all(ends);
    // Per node the order is per channel: alice's own message is delivered on its
    // REST answer, bob's through Pusher; both arrive once before the marker.
    for (const seen of [seenByAlice, seenByBob]) {
      expect(seen).toHaveLength(3);
      expect(seen).toEqual(expect.arrayContaining([{ from: "a" }, [1, 2]]));
      expect(seen[2]).toEqual({ mark: "end" });
    }
  });

  it("several arguments with binary cross from one node to another through Pusher intact", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const [nodeA, nodeB] = await Promise.all([startBridge(emulator), startBridge(emulator)]);
    const alice = await nodeA.connect();
    const bob = await nodeB.connect();
    await joinRoom(alice, "room:1");
    await joinRoom(bob, "room:1");
    await subscribers(emulator, "private-room-1", 2);
    const received = waitFor(bob, "relay");
    const bytes = Buffer.from([0, 1, 2, 250]);
    expect(await emit(alice, "relay", { room: "room:1" }, bytes, "x")).toEqual({ ok: true });
    const [data, binary, text] = await received;
    expect(data).toEqual({ room: "room:1" });
    expect(Buffer.from(binary as ArrayBuffer)).toEqual(bytes);
    expect(text).toBe("x");
  });

  it("after a Pusher restart the bridge reconnects and resubscribes: a trigger made after it reaches Socket.IO members", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    await subscribers(emulator, "private-room-1", 1);
    const before = waitFor(alice, "message");
    await trigger(restClient(emulator), "private-room-1", { n: "before" });
    expect(await before).toEqual([{ n: "before" }]);
    await emulator.restart();
    await subscribers(emulator, "private-room-1", 1);
    const after = waitFor(alice, "message");
    await trigger(restClient(emulator), "private-room-1", { n: "after" });
    expect(await after).toEqual([{ n: "after" }]);
    // The new connection's socket id is the one excluded: still no echo.
    const seen = record(alice);
    expect(await emit(alice, "shout", { room: "room:1", payload: { n: "own" } })).toEqual({
      ok: true,
    });
    const done = marked(alice, "end");
    await trigger(restClient(emulator), "private-room-1", { mark: "end" });
    await done;
    expect(seen).toEqual([{ n: "own" }, { mark: "end" }]);
  });

  it("a publish made while Pusher is down gets a coded ack error instead of vanishing", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    await subscribers(emulator, "private-room-1", 1);
    await emulator.close();
    const ack = await emit(alice, "shout", { room: "room:1", payload: { n: 1 } });
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe("SWY_PUSHER_UNAVAILABLE");
    expect(ack.error?.message).toMatch(/Pusher could not be reached/);
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(
      /switchyard_pusher_publish_failures_total\{backend="pusher",reason="unavailable"\} [1-9]/,
    );
    const ready = await fetch(`${harness.url}/readyz`);
    expect(ready.status).not.toBe(200);
  });

  it("an event over Pusher's 10 KB data limit gets a coded ack error and is not sent", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startBridge(emulator);
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    const publishedBefore = emulator.stats.published;
    const ack = await emit(alice, "shout", {
      room: "room:1",
      payload: { blob: "x".repeat(11_000) },
    });
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe("SWY_PUSHER_PAYLOAD_TOO_LARGE");
    expect(ack.error?.message).toMatch(/Pusher accepts at most 10000/);
    expect(emulator.stats.published).toBe(publishedBefore);
  });
});

/** A pino logger whose records a test can read. */
function recordingLog(): { log: Logger; records: { msg: string; [key: string]: unknown }[] } {
  const records: { msg: string; [key: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      records.push(JSON.parse(chunk.toString()) as { msg: string });
      callback();
    },
  });
  return { log: pino({ level: "warn" }, stream), records };
}

describe("pusher backend: failures are reported, never silent", () => {
  function backendOn(
    emulator: PusherEmulator,
    log: Logger,
    overrides: Partial<PusherSettingsInput> = {},
  ): PusherBackend {
    const backend = new PusherBackend(
      "pusher-failing",
      resolvePusherSettings({
        appId: APP.id,
        key: APP.key,
        secret: APP.secret,
        host: emulator.host,
        port: emulator.port,
        useTLS: false,
        ...overrides,
      }),
      { log },
    );
    cleanup.add(() => backend.close());
    return backend;
  }

  it("refuses to start when Pusher refuses the connection (unknown app key)", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const { log } = recordingLog();
    const backend = backendOn(emulator, log, { key: "no-such-key" });
    await expect(backend.start(new RecordingSink())).rejects.toMatchObject({
      code: "SWY_PUSHER_CONNECT_REFUSED",
    });
    expect(backend.health()).toMatchObject({ isReady: false });
  });

  it("a private subscription Pusher never confirms (bad signature) fails after subscribeTimeout, is retried with back-off, logged and counted", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const { log, records } = recordingLog();
    const backend = backendOn(emulator, log, {
      secret: "wrong-secret",
      subscribeTimeout: 100,
      subscribeRetryDelay: 50,
    });
    await backend.start(new RecordingSink());
    await expect(backend.subscribe("private-room-9")).rejects.toMatchObject({
      code: "SWY_PUSHER_SUBSCRIBE_FAILED",
    });
    const failures = () =>
      records.filter((r) => r.msg === "pusher subscription failed; retrying").length;
    await until(() => failures() >= 2, "a second failed attempt");
    expect(records.find((r) => r.msg === "pusher subscription failed; retrying")).toMatchObject({
      channel: "private-room-9",
      reason: "timeout",
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      /switchyard_pusher_subscribe_failures_total\{backend="pusher-failing",reason="timeout"\} [2-9]/,
    );
    expect(text).toMatch(
      /switchyard_pusher_connection_errors_total\{backend="pusher-failing",reason="error"\} [1-9]/,
    );
  });

  it("a publication Pusher refuses (bad credentials) rejects with SWY_PUSHER_REJECTED and its cause", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const { log, records } = recordingLog();
    const backend = backendOn(emulator, log, { secret: "wrong-secret" });
    await backend.start(new RecordingSink());
    const error = await backend.publish({ channel: "room-1", event: "message", args: [1] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SwitchyardError);
    expect(error).toMatchObject({
      code: "SWY_PUSHER_REJECTED",
      message: expect.stringMatching(/401/),
    });
    expect((error as Error).cause).toBeDefined();
    expect(records.some((r) => r.code === "SWY_PUSHER_REJECTED" && r.reason === "rejected")).toBe(
      true,
    );
  });

  it("joins presence channels as one member, presenceUserId, and receives their events", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const { log } = recordingLog();
    const backend = backendOn(emulator, log, { presenceUserId: "bridge-1" });
    const sink = new RecordingSink();
    await backend.start(sink);
    await backend.subscribe("presence-room-1");
    expect(emulator.channels(APP.id)["presence-room-1"]).toEqual({
      subscriptionCount: 1,
      userCount: 1,
    });
    const users = await restClient(emulator).get({ path: "/channels/presence-room-1/users" });
    expect(await users.json()).toEqual({ users: [{ id: "bridge-1" }] });
    await trigger(restClient(emulator), "presence-room-1", { text: "hello" });
    await sink.received(1);
    expect(sink.deliveries).toEqual([
      { channel: "presence-room-1", event: "message", args: [{ text: "hello" }] },
    ]);
  });

  it("refuses channels and events Pusher would not accept before sending anything", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const { log } = recordingLog();
    const backend = backendOn(emulator, log);
    await backend.start(new RecordingSink());
    await expect(
      backend.publish({ channel: "room:1", event: "message", args: [1] }),
    ).rejects.toMatchObject({ code: "SWY_PUSHER_CHANNEL_INVALID" });
    await expect(
      backend.publish({ channel: "x".repeat(165), event: "message", args: [1] }),
    ).rejects.toMatchObject({ code: "SWY_PUSHER_CHANNEL_INVALID" });
    await expect(
      backend.publish({ channel: "room-1", event: "pusher:subscribe", args: [1] }),
    ).rejects.toMatchObject({ code: "SWY_PUSHER_EVENT_INVALID" });
    expect(emulator.stats.published).toBe(0);
  });

  it("batches a burst into batch_events calls of at most batchSize and keeps each channel's order", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const { log } = recordingLog();
    const backend = backendOn(emulator, log, { batchSize: 10, maxInflight: 2 });
    const sink = new RecordingSink();
    await backend.start(sink);
    await backend.subscribe("room-a");
    await backend.subscribe("room-b");
    const native = await pusherJs(emulator);
    const seenByNative: unknown[] = [];
    (await subscribePusherJs(native, "room-a")).bind("message", (data: unknown) =>
      seenByNative.push(data),
    );
    const before = await metrics.pusherRequests.get();
    const count = 45;
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        backend.publish({
          channel: i % 2 === 0 ? "room-a" : "room-b",
          event: "message",
          args: [i],
        }),
      ),
    );
    await sink.received(count);
    const ofChannel = (channel: string) =>
      sink.deliveries.filter((d) => d.channel === channel).map((d) => d.args[0]);
    const evens = Array.from({ length: count }, (_, i) => i).filter((i) => i % 2 === 0);
    expect(ofChannel("room-a")).toEqual(evens);
    expect(ofChannel("room-b")).toEqual(evens.slice(0, -1).map((i) => i + 1));
    await until(() => seenByNative.length === evens.length, "the native client's copies");
    expect(seenByNative).toEqual(evens);
    const after = await metrics.pusherRequests.get();
    const calls = (snapshot: typeof after, endpoint: string) =>
      snapshot.values.find(
        (v) => v.labels.backend === "pusher-failing" && v.labels.endpoint === endpoint,
      )?.value ?? 0;
    const batches = calls(after, "batch_events") - calls(before, "batch_events");
    const singles = calls(after, "events") - calls(before, "events");
    expect(batches).toBeGreaterThan(0);
    expect(batches + singles).toBeLessThan(count);
    expect(emulator.stats.published).toBe(count);
  });
});

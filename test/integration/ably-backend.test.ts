/**
 * The `ably` backend end to end: real socket.io-client members on Switchyard, real
 * `ably` SDK clients (Realtime and Rest, JSON and msgpack) on the Ably emulator, one
 * channel between them.
 */
import * as Ably from "ably";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";
import type { AblyEmulator, AblyKeyConfig } from "../emulators/ably/ably-emulator.js";
import {
  APP_ID,
  clientOptions,
  connectRealtime,
  FORMATS,
  Inbox,
  KEY,
  keyOf,
  nextPresence,
  startEmulator,
  waitForChannel,
} from "../emulators/ably/test-support.js";
import { ablyOn } from "../helpers/backend-yaml.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness, next, receives } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const LIMITED: AblyKeyConfig = {
  id: "limited",
  secret: "limited-secret",
  capability: { "room:*": ["*"] },
};

function yaml(emulator: AblyEmulator, options: { key?: string; binary?: boolean } = {}): string {
  return `
backends:
  ably:
    kind: ably
    settings:
      key: "${options.key ?? KEY}"
      host: "${emulator.host}"
      port: ${emulator.port}
      tls: false
      useBinaryProtocol: ${options.binary ?? true}
      maxMessageSize: 2000
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: ably, channel: "room:{id}", rename: { native-hello: hello } }
      - { room: "secret:{id}", backend: ably, channel: "secret:{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}", "secret:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
      relay: { action: broadcast, room: "{data.room}", allow: ["room:{id}"] }
`;
}

type Ack = { ok: boolean; error?: { code: string; message: string } };

/** A labelled counter's value now (the registry is the process's, shared by every test). */
async function counted(
  counter: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await counter.get();
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

async function bridge(cleanup: Cleanup, emulator: AblyEmulator, binary = true): Promise<Harness> {
  const harness = await Harness.start(yaml(emulator, { binary }));
  cleanup.add(() => harness.close());
  return harness;
}

async function member(harness: Harness, room: string): Promise<Socket> {
  const socket = await harness.connect({ transports: ["websocket"] });
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
  return socket;
}

describe.each(FORMATS)("the ably backend with native clients in %s", (format) => {
  const cleanup = useCleanup();

  it("a Socket.IO member of room:42 and an ably client on channel room:42 see each other's messages once", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await bridge(cleanup, emulator, format === "msgpack");
    const alice = await member(harness, "room:42");
    // Echo off, so the inbox holds only what others sent.
    const native = await connectRealtime(emulator, cleanup, format, { echoMessages: false });
    const channel = native.channels.get("room:42");
    const inbox = await Inbox.of(channel);

    const seen: unknown[] = [];
    alice.on("message", (payload: unknown) => seen.push(payload));
    expect(await alice.emitWithAck("say", { room: "room:42", payload: { text: "hi" } })).toEqual({
      ok: true,
    });
    const [fromAlice] = await inbox.next(1);
    expect(fromAlice).toMatchObject({ name: "message", data: { text: "hi" } });

    const fromNative = next(alice, "message");
    await channel.publish("message", { text: "hello back" });
    expect(await fromNative).toEqual([{ text: "hello back" }]);
    // A last native message: anything doubled would have come before it.
    const last = next(alice, "message");
    await channel.publish("message", "last");
    await last;
    expect(seen).toEqual([{ text: "hello back" }, "last"]);
    expect(inbox.messages).toHaveLength(1);
  });

  it("carries binary as binary, and several arguments or a number in the envelope, both ways", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await bridge(cleanup, emulator, format === "msgpack");
    const alice = await member(harness, "room:1");
    const native = await connectRealtime(emulator, cleanup, format);
    const channel = native.channels.get("room:1");
    const inbox = await Inbox.of(channel);

    alice.emit("relay", { room: "room:1" }, Buffer.from([1, 2, 3]));
    alice.emit("say", { room: "room:1", payload: 42 });
    const [multi, number] = await inbox.next(2);
    expect(multi?.name).toBe("relay");
    expect(multi?.data).toEqual({
      $switchyard: 1,
      args: [{ room: "room:1" }, { _placeholder: true, num: 0 }],
      attachments: ["AQID"],
    });
    expect(number?.data).toEqual({ $switchyard: 1, args: [42] });

    const bytes = next(alice, "native-bytes");
    await channel.publish("native-bytes", Buffer.from([9, 8]));
    expect(Buffer.from((await bytes)[0] as ArrayBuffer)).toEqual(Buffer.from([9, 8]));
    const pair = next(alice, "pair");
    await channel.publish("pair", { $switchyard: 1, args: ["a", { b: 2 }] });
    expect(await pair).toEqual(["a", { b: 2 }]);
    // The route's rename applies to what native clients send.
    const renamed = next(alice, "hello");
    await channel.publish("native-hello", "renamed");
    expect(await renamed).toEqual(["renamed"]);
  });

  it("delivers a REST publication from an app server to the room's Socket.IO members", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await bridge(cleanup, emulator, format === "msgpack");
    const alice = await member(harness, "room:7");
    const got = next(alice, "message");
    const rest = new Ably.Rest(clientOptions(emulator, format));
    await rest.channels.get("room:7").publish("message", { from: "app" });
    expect(await got).toEqual([{ from: "app" }]);
  });
});

describe("the ably backend", () => {
  const cleanup = useCleanup();

  it("gives each of two Switchyard nodes on one Ably app every message exactly once", async () => {
    const emulator = await startEmulator(cleanup);
    const left = await bridge(cleanup, emulator);
    const right = await bridge(cleanup, emulator);
    const onLeft = await member(left, "room:9");
    const alsoLeft = await member(left, "room:9");
    const onRight = await member(right, "room:9");
    const seen = new Map<Socket, unknown[]>();
    for (const socket of [alsoLeft, onRight]) {
      const list: unknown[] = [];
      seen.set(socket, list);
      socket.on("message", (payload: unknown) => list.push(payload));
    }
    for (let n = 0; n < 5; n++) {
      expect(await onLeft.emitWithAck("say", { room: "room:9", payload: n })).toEqual({ ok: true });
    }
    // A last message each way: anything doubled would have come before it.
    const ends = [receives(onRight, "end-left"), receives(alsoLeft, "end-right")];
    expect(await onLeft.emitWithAck("say", { room: "room:9", payload: "end-left" })).toEqual({
      ok: true,
    });
    expect(await onRight.emitWithAck("say", { room: "room:9", payload: "end-right" })).toEqual({
      ok: true,
    });
    await Promise.all(ends);
    expect(seen.get(alsoLeft)).toEqual([0, 1, 2, 3, 4, "end-left", "end-right"]);
    expect(seen.get(onRight)).toEqual([0, 1, 2, 3, 4, "end-left"]);
  });

  it("refuses an oversize publication before sending and passes Ably's refusals on with their codes", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await bridge(cleanup, emulator);
    const alice = await member(harness, "room:1");
    const failures = (reason: string) =>
      counted(metrics.ablyPublishFailures, { backend: "ably", reason });
    const before = {
      tooLarge: await failures("too_large"),
      throttled: await failures("throttled"),
    };
    const big = (await alice.emitWithAck("say", {
      room: "room:1",
      payload: "x".repeat(3000),
    })) as Ack;
    expect(big.error?.code).toBe("SWY_ABLY_PAYLOAD_TOO_LARGE");
    expect(big.error?.message).toMatch(/^Message is \d+ bytes; Ably accepts at most 2000$/);

    const stop = emulator.rejectPublishes({
      code: 42911,
      statusCode: 429,
      message: "Rate limit exceeded",
    });
    const throttled = (await alice.emitWithAck("say", { room: "room:1", payload: 1 })) as Ack;
    expect(throttled.error).toEqual({
      code: "SWY_ABLY_THROTTLED",
      message: "Ably is throttling publications (42911: Rate limit exceeded); slow down",
    });
    stop();
    expect(await alice.emitWithAck("say", { room: "room:1", payload: 2 })).toEqual({ ok: true });
    expect(await failures("too_large")).toBe(before.tooLarge + 1);
    expect(await failures("throttled")).toBe(before.throttled + 1);
  });

  it("refuses a join whose channel the key may not attach, with Ably's 40160 in the error", async () => {
    const emulator = await startEmulator(cleanup, { extraKeys: [LIMITED] });
    const harness = await Harness.start(yaml(emulator, { key: keyOf(LIMITED) }));
    cleanup.add(() => harness.close());
    const socket = await harness.connect({ transports: ["websocket"] });
    const ack = (await socket.emitWithAck("join", { room: "secret:1" })) as Ack;
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe("SWY_SUBSCRIBE_FAILED");
    expect(ack.error?.message).toContain("SWY_ABLY_SUBSCRIBE_FAILED");
    expect(ack.error?.message).toContain("40160");
    // The channels the key may use work on the same connection.
    expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
  });

  it("loses nothing a native client publishes while the bridge's connection is dropped: the SDK resumes", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await bridge(cleanup, emulator);
    const alice = await member(harness, "room:3");
    const resumed = () => counted(metrics.ablyReconnects, { backend: "ably", outcome: "resumed" });
    const resumedBefore = await resumed();
    const native = await connectRealtime(emulator, cleanup, "json");
    const channel = native.channels.get("room:3");
    await channel.attach();
    const seen: unknown[] = [];
    alice.on("message", (payload: unknown) => seen.push(payload));
    const bridgeConnections = emulator
      .connectionIds(APP_ID)
      .filter((id) => id !== native.connection.id);
    expect(bridgeConnections).toHaveLength(1);
    await emulator.dropConnections({ connectionId: bridgeConnections[0] });
    for (let n = 0; n < 5; n++) await channel.publish("message", { n });
    const last = receives(alice, "end");
    await channel.publish("message", "end");
    await last;
    expect(seen).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, "end"]);
    // The bridge came back on the same connection, and Ably replayed the gap to it.
    expect(emulator.stats.resumes).toBe(1);
    expect(await resumed()).toBe(resumedBefore + 1);
    expect(native.connection.state).toBe("connected");
    expect((await waitForChannelAttached(channel)).current).toBe("attached");
  });
  it("re-attaches every channel on a new connection when Ably forgot the old one, and counts the possible gap", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await bridge(cleanup, emulator);
    const alice = await member(harness, "room:4");
    const reconnected = (outcome: string) =>
      counted(metrics.ablyReconnects, { backend: "ably", outcome });
    const losses = () => counted(metrics.ablyContinuityLosses, { backend: "ably" });
    const before = { fresh: await reconnected("new"), losses: await losses() };

    // A restart forgets every connection and message: the SDK's resume fails (80008).
    await emulator.restart();
    await until(
      async () => (await losses()) === before.losses + 1,
      "the channel re-attached without continuity",
    );
    expect(await reconnected("new")).toBe(before.fresh + 1);
    expect(emulator.attachedConnectionIds(APP_ID, "room:4")).toHaveLength(1);

    // The room works again: a native publication after the re-attach reaches its member.
    const arrived = receives(alice, "after");
    await new Ably.Rest(clientOptions(emulator, "json")).channels
      .get("room:4")
      .publish("message", "after");
    await arrived;
  });
});

/** The channel's state as an event-like value, at once when it is attached already. */
async function waitForChannelAttached(
  channel: Ably.RealtimeChannel,
): Promise<{ current: Ably.ChannelState }> {
  if (channel.state === "attached") return { current: "attached" };
  return waitForChannel(channel, "attached");
}

describe("the presence mirror of an ably route", () => {
  const cleanup = useCleanup();

  it("makes each member of the room a presence member under its clientId, leaving with the room", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await Harness.start(`
backends:
${ablyOn(emulator)}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: ably, channel: "room:{id}", presence: { clientId: "{auth.user}" } }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      leave: { action: leave, room: "{data.room}" }
`);
    cleanup.add(() => harness.close());
    const native = await connectRealtime(emulator, cleanup, "json");
    const channel = native.channels.get("room:5");
    await channel.attach();
    const members = async () =>
      (await channel.presence.get()).map((member) => member.clientId).sort();

    const annEntered = nextPresence(channel, "enter", (m) => m.clientId === "ann");
    const bobEntered = nextPresence(channel, "enter", (m) => m.clientId === "bob");
    const ann = await harness.connect({ auth: { user: "ann" }, transports: ["websocket"] });
    const annAgain = await harness.connect({ auth: { user: "ann" }, transports: ["websocket"] });
    const bob = await harness.connect({ auth: { user: "bob" }, transports: ["websocket"] });
    for (const socket of [ann, annAgain, bob]) {
      expect(await socket.emitWithAck("join", { room: "room:5" })).toEqual({ ok: true });
    }
    await Promise.all([annEntered, bobEntered]);
    expect(await members()).toEqual(["ann", "bob"]);

    // Two sockets, one clientId: present until the last of them leaves.
    const annLeft = nextPresence(channel, "leave", (m) => m.clientId === "ann");
    expect(await ann.emitWithAck("leave", { room: "room:5" })).toEqual({ ok: true });
    const bobLeft = nextPresence(channel, "leave", (m) => m.clientId === "bob");
    bob.disconnect();
    await bobLeft;
    expect(await members()).toEqual(["ann"]);
    annAgain.disconnect();
    await annLeft;
    expect(await members()).toEqual([]);
  });
});

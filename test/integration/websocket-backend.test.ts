/**
 * The `websocket` backend end to end, with real clients on both sides of the bridge:
 * socket.io-client members on Switchyard; socketcluster-client on a real SocketCluster
 * server (preset `socketcluster`) and phoenix.js on the Phoenix-style test bus (preset
 * `phoenix`). It proves what a user relies on (docs/backends/websocket.md):
 *
 * - a Socket.IO member and a native client of the bus see each other's messages once,
 *   and an except-sender publication does not come back to its sender;
 * - one argument travels as it is, anything else in the `$switchyard` envelope, both ways;
 * - two Switchyard nodes on one bus give every member each message once;
 * - the bus killed and revived: not ready while down, rooms kept, channels subscribed
 *   again, and every publication either delivered or refused with a code;
 * - a refused or unanswered subscription reaches the joining socket as a coded ack error
 *   and leaves it out of the room;
 * - /metrics counts publications, refusals, failed subscriptions and reconnection attempts.
 */
import { readFileSync } from "node:fs";
import { type Channel, Socket as PhoenixSocket } from "phoenix";
import type { Socket } from "socket.io-client";
import { type AGClientSocket, create as createScClient } from "socketcluster-client";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { PhoenixBus } from "../buses/phoenix-bus.js";
import { SOCKETCLUSTER_PATH, SocketClusterBus } from "../buses/socketcluster-bus.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness, next } from "../helpers/switchyard-harness.js";
import { until, within } from "../helpers/wait-for.js";

/** The example users start from: the benchmark contract with rooms on SocketCluster. */
const EXAMPLE_YAML = readFileSync(
  new URL("../../examples/websocket/switchyard.yaml", import.meta.url),
  "utf8",
);

/**
 * The example's events and a few more. `publish` is the example's (except sender, no
 * membership needed); `say` needs membership, so its refusal says whether a socket is
 * in a room; `pair` sends two arguments; `relay` sends the event's own arguments under
 * its own name. All but `publish` use the default exceptSender: true.
 */
function yaml(preset: "socketcluster" | "phoenix", settings = ""): string {
  return `
backends:
  bus:
    kind: websocket
    settings:
      url: "\${WS_BUS_URL}"
      preset: ${preset}
${settings}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: bus, channel: "room:{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
        exceptSender: true
        requireMembership: false
      say: { action: broadcast, room: "{data.room}", allow: ["room:{id}"], emit: message, args: ["{data.payload}"] }
      pair: { action: broadcast, room: "{data.room}", allow: ["room:{id}"], emit: message, args: ["{data.a}", "{data.b}"] }
      relay: { action: broadcast, room: "{data.room}", allow: ["room:{id}"] }
`;
}

type Ack = { ok: boolean; error?: { code: string; message: string } };

// --- Switchyard side -----------------------------------------------------------------

async function startSocketCluster(cleanup: Cleanup): Promise<SocketClusterBus> {
  const bus = await SocketClusterBus.start();
  cleanup.add(() => bus.close());
  return bus;
}

async function bridge(cleanup: Cleanup, text: string, busUrl: string): Promise<Harness> {
  const harness = await Harness.start(text, { WS_BUS_URL: busUrl });
  cleanup.add(() => harness.close());
  return harness;
}

async function member(harness: Harness, room: string): Promise<Socket> {
  const socket = await harness.connect({ transports: ["websocket"] });
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
  return socket;
}

/** Every `message` a socket receives from now on, each as its list of arguments. */
function heard(socket: Socket): unknown[][] {
  const list: unknown[][] = [];
  socket.on("message", (...args: unknown[]) => list.push(args));
  return list;
}

/** Resolves once `socket` receives a `message` whose only argument is `payload`. */
function receives(socket: Socket, payload: unknown): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const listener = (...args: unknown[]): void => {
        if (args.length !== 1 || args[0] !== payload) return;
        socket.off("message", listener);
        resolve();
      };
      socket.on("message", listener);
    }),
    `message ${JSON.stringify(payload)}`,
  );
}

/** A sample of Switchyard's `/metrics` (0 when absent), read over HTTP. */
async function sample(harness: Harness, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${harness.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function readyz(harness: Harness): Promise<{ status: number; body: unknown }> {
  const reply = await fetch(`${harness.url}/readyz`);
  return { status: reply.status, body: await reply.json() };
}

// --- Native clients of the buses -----------------------------------------------------

/** A connected socketcluster-client, no reconnection of its own. */
async function scClient(cleanup: Cleanup, bus: SocketClusterBus): Promise<AGClientSocket> {
  const client = createScClient({
    hostname: bus.host,
    port: bus.port,
    path: SOCKETCLUSTER_PATH,
    autoReconnect: false,
  });
  cleanup.add(() => client.disconnect());
  await within(client.listener("connect").once(), "socketcluster-client connected");
  return client;
}

/** What a socketcluster-client receives on one channel, subscribed before it returns. */
async function scInbox(client: AGClientSocket, name: string): Promise<unknown[]> {
  const channel = client.subscribe(name);
  const messages: unknown[] = [];
  void (async () => {
    for await (const data of channel) messages.push(data);
  })();
  await within(channel.listener("subscribe").once(), `subscription to ${name}`);
  return messages;
}

/** Resolves once `list` holds `count` entries; fails the test after the wait limit. */
function holds(list: readonly unknown[], count: number, what: string): Promise<void> {
  return until(() => list.length >= count, `${count} ${what}`);
}

/** phoenix.js, connected to the Phoenix-style bus through `ws`. */
function phoenixClient(cleanup: Cleanup, bus: PhoenixBus): PhoenixSocket {
  // phoenix.js appends `/websocket` to the endpoint it is given.
  const socket = new PhoenixSocket(bus.url.replace(/\/websocket$/, ""), {
    transport: WebSocket as unknown as typeof globalThis.WebSocket,
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 50,
  });
  socket.connect();
  cleanup.add(() => socket.disconnect());
  return socket;
}

function joinTopic(channel: Channel): Promise<unknown> {
  return within(
    new Promise((resolve, reject) => {
      channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject);
    }),
    `phoenix.js join of ${channel.topic}`,
  );
}

// --- SocketCluster ---------------------------------------------------------------------

describe("the websocket backend on SocketCluster (preset socketcluster)", () => {
  const cleanup = useCleanup();

  it("a Socket.IO member of room:42 and a socketcluster-client on channel room:42 see each other's messages once", async () => {
    const bus = await startSocketCluster(cleanup);
    const harness = await bridge(cleanup, EXAMPLE_YAML, bus.url);
    const published = () =>
      sample(harness, "switchyard_websocket_published_total", 'backend="bus"');
    const publishedBefore = await published();
    const alice = await member(harness, "room:42");
    const bob = await member(harness, "room:42");
    const [aliceSaw, bobSaw] = [heard(alice), heard(bob)];
    const native = await scClient(cleanup, bus);
    const inbox = await scInbox(native, "room:42");

    // Except sender: bob and the native client get it, alice does not.
    alice.emit("publish", { room: "room:42", payload: { text: "hi" } });
    await holds(inbox, 1, "native messages");
    await native.transmitPublish("room:42", { text: "hello back" });
    // A last message each way: anything doubled would have come before it.
    const lastNative = Promise.all([receives(alice, "native end"), receives(bob, "native end")]);
    await native.transmitPublish("room:42", "native end");
    await lastNative;
    const lastAlice = receives(bob, "alice end");
    // Acked once the bus took it, so counted in /metrics by then.
    expect(await alice.emitWithAck("publish", { room: "room:42", payload: "alice end" })).toEqual({
      ok: true,
    });
    await lastAlice;
    await holds(inbox, 4, "native messages");

    expect(aliceSaw).toEqual([[{ text: "hello back" }], ["native end"]]);
    expect(bobSaw).toEqual([
      [{ text: "hi" }],
      [{ text: "hello back" }],
      ["native end"],
      ["alice end"],
    ]);
    // The native client hears its own publications too: SocketCluster echoes them.
    expect(inbox).toEqual([{ text: "hi" }, { text: "hello back" }, "native end", "alice end"]);
    expect(await published()).toBe(publishedBefore + 2);
  });

  it("carries one argument as it is and several, binary or a marker-keyed object in the envelope, both ways", async () => {
    const bus = await startSocketCluster(cleanup);
    const harness = await bridge(cleanup, yaml("socketcluster"), bus.url);
    const malformed = () =>
      sample(
        harness,
        "switchyard_websocket_receive_errors_total",
        'backend="bus",reason="malformed"',
      );
    const malformedBefore = await malformed();
    const alice = await member(harness, "room:1");
    const bob = await member(harness, "room:1");
    const [aliceSaw, bobSaw] = [heard(alice), heard(bob)];
    const native = await scClient(cleanup, bus);
    const inbox = await scInbox(native, "room:1");

    // Socket.IO → bus, each acked once the bus took it.
    const sent: [string, unknown[]][] = [
      ["say", [{ room: "room:1", payload: { text: "plain" } }]],
      ["say", [{ room: "room:1", payload: 42 }]],
      ["say", [{ room: "room:1", payload: [1, "two"] }]],
      ["pair", [{ room: "room:1", a: "a", b: { b: 2 } }]],
      ["relay", [{ room: "room:1" }, Buffer.from([1, 2, 3])]],
      ["say", [{ room: "room:1", payload: { $switchyard: "mine" } }]],
    ];
    for (const [event, args] of sent) {
      expect(await alice.emitWithAck(event, ...args)).toEqual({ ok: true });
    }
    await holds(inbox, sent.length, "native messages");
    expect(inbox).toEqual([
      { text: "plain" },
      42,
      [1, "two"],
      { $switchyard: 1, args: ["a", { b: 2 }] },
      {
        $switchyard: 1,
        args: [{ room: "room:1" }, { _placeholder: true, num: 0 }],
        attachments: ["AQID"],
      },
      { $switchyard: 1, args: [{ $switchyard: "mine" }] },
    ]);

    // Bus → Socket.IO: an envelope unpacks to its arguments, anything else is the one argument.
    await native.transmitPublish("room:1", { $switchyard: 1, args: ["x", null, 3] });
    await native.transmitPublish("room:1", {
      $switchyard: 1,
      args: [{ file: { _placeholder: true, num: 0 } }],
      attachments: ["CQg="],
    });
    // A placeholder that names no attachment: dropped and counted, never delivered.
    await native.transmitPublish("room:1", {
      $switchyard: 1,
      args: [{ _placeholder: true, num: 3 }],
      attachments: ["AA=="],
    });
    await native.transmitPublish("room:1", { $switchyard: 2, args: [] });
    const end = receives(bob, "end");
    await native.transmitPublish("room:1", "end");
    await end;

    const bytes = (value: unknown) => Buffer.from(value as ArrayBuffer);
    expect(bobSaw).toHaveLength(sent.length + 4);
    expect(bobSaw.slice(0, 4)).toEqual([[{ text: "plain" }], [42], [[1, "two"]], ["a", { b: 2 }]]);
    const [relayed, marked, several, file, notEnvelope, last] = bobSaw.slice(4);
    expect(relayed?.[0]).toEqual({ room: "room:1" });
    expect(bytes(relayed?.[1])).toEqual(Buffer.from([1, 2, 3]));
    expect(marked).toEqual([{ $switchyard: "mine" }]);
    expect(several).toEqual(["x", null, 3]);
    expect(bytes((file as [{ file: unknown }])[0].file)).toEqual(Buffer.from([9, 8]));
    expect(notEnvelope).toEqual([{ $switchyard: 2, args: [] }]);
    expect(last).toEqual(["end"]);
    // Alice's own publications did not come back to her, whatever their event's name
    // (SocketCluster carries none: `relay` reaches members as `message`).
    expect(aliceSaw).toEqual(bobSaw.slice(sent.length));
    expect(await malformed()).toBe(malformedBefore + 1);
  });

  it("gives every member of two Switchyard nodes on one bus each message once", async () => {
    const bus = await startSocketCluster(cleanup);
    const left = await bridge(cleanup, EXAMPLE_YAML, bus.url);
    const right = await bridge(cleanup, EXAMPLE_YAML, bus.url);
    const onLeft = await member(left, "room:9");
    const alsoLeft = await member(left, "room:9");
    const onRight = await member(right, "room:9");
    const seen = new Map([onLeft, alsoLeft, onRight].map((socket) => [socket, heard(socket)]));
    const native = await scClient(cleanup, bus);
    const inbox = await scInbox(native, "room:9");

    for (let n = 0; n < 5; n++) {
      expect(await onLeft.emitWithAck("publish", { room: "room:9", payload: n })).toEqual({
        ok: true,
      });
    }
    const fromNative = [onLeft, alsoLeft, onRight].map((socket) => receives(socket, "native"));
    await native.transmitPublish("room:9", "native");
    await Promise.all(fromNative);
    // A last message from the other node: anything doubled would have come before it.
    const ends = [receives(onLeft, "end-right"), receives(alsoLeft, "end-right")];
    expect(await onRight.emitWithAck("publish", { room: "room:9", payload: "end-right" })).toEqual({
      ok: true,
    });
    await Promise.all(ends);
    await holds(inbox, 7, "native messages");

    expect(seen.get(onLeft)).toEqual([["native"], ["end-right"]]);
    expect(seen.get(alsoLeft)).toEqual([[0], [1], [2], [3], [4], ["native"], ["end-right"]]);
    expect(seen.get(onRight)).toEqual([[0], [1], [2], [3], [4], ["native"]]);
    expect(inbox).toEqual([0, 1, 2, 3, 4, "native", "end-right"]);
  });

  it("rides out the bus killed and revived mid-stream: not ready while down, rooms kept, every publication delivered or refused with a code", async () => {
    const bus = await startSocketCluster(cleanup);
    const settings = "      publishTimeout: 4000";
    const harness = await bridge(cleanup, yaml("socketcluster", settings), bus.url);
    const metric = (name: string, labels = "") =>
      sample(harness, `switchyard_websocket_${name}`, `backend="bus"${labels}`);
    const failedAttempts = () => metric("connection_errors_total", ',reason="attempt_failed"');
    const before = {
      published: await metric("published_total"),
      unavailable: await metric("publish_failures_total", ',reason="unavailable"'),
      failedAttempts: await failedAttempts(),
    };
    const alice = await member(harness, "room:5");
    const bob = await member(harness, "room:5");
    const bobSaw = heard(bob);
    expect((await readyz(harness)).status).toBe(200);
    expect(await metric("connected")).toBe(1);

    // A burst is on its way when the bus dies: some of it delivered, some cut off.
    const burst = Array.from({ length: 30 }, (_, n) => n);
    let burstAnswered = 0;
    const burstAcks = burst.map((n) => {
      const ack = alice.emitWithAck("publish", { room: "room:5", payload: n }) as Promise<Ack>;
      void ack.then(() => {
        burstAnswered += 1;
      });
      return ack;
    });
    await receives(bob, 0);
    await bus.kill();
    await until(async () => (await readyz(harness)).status === 503, "/readyz not ready");
    expect((await readyz(harness)).body).toMatchObject({
      status: "not ready",
      checks: { bus: expect.stringMatching(/^websocket connection down/) },
    });
    expect(await metric("connected")).toBe(0);

    // Sent while the bus is away: they wait for it in the queue.
    const during = [100, 101, 102, 103, 104];
    const duringAcks = during.map(
      (n) => alice.emitWithAck("publish", { room: "room:5", payload: n }) as Promise<Ack>,
    );
    // The queue holds them, and what of the burst is still unanswered.
    await until(
      async () => (await metric("publish_queue")) === during.length + burst.length - burstAnswered,
      "the publications of the outage queued",
    );
    // The bridge tried the bus, and failed, before it comes back.
    await until(
      async () => (await failedAttempts()) > before.failedAttempts,
      "a failed reconnection attempt",
    );
    await bus.revive();
    const acked = await within(
      Promise.all([...burstAcks, ...duringAcks]),
      "the acks of every publication",
    );
    await until(async () => (await readyz(harness)).status === 200, "/readyz ready again");
    expect(await metric("connected")).toBe(1);

    // Alice is still a member (`say` needs membership), and the channel was subscribed
    // again: what she and a native client send after the revival reaches bob.
    expect(await alice.emitWithAck("say", { room: "room:5", payload: "after" })).toEqual({
      ok: true,
    });
    const native = await scClient(cleanup, bus);
    const inbox = await scInbox(native, "room:5");
    await native.transmitPublish("room:5", "native after");
    const end = receives(bob, "end");
    expect(await alice.emitWithAck("publish", { room: "room:5", payload: "end" })).toEqual({
      ok: true,
    });
    await end;
    await holds(inbox, 2, "native messages after the revival");
    expect(inbox).toEqual(["native after", "end"]);

    // Nothing silently lost: every publication was answered, ok or with the kind's code.
    // One written before the bus died whose answer never came is refused, though the bus
    // may have taken it; one the bus took just before dying may not have come back
    // (at most once, as documented). None arrives twice, and order holds.
    const delivered = bobSaw.map((args) => args[0]);
    const outcome = new Map([...burst, ...during].map((n, i) => [n, acked[i]!]));
    for (const [n, ack] of outcome) {
      if (!ack.ok) expect(ack.error?.code, `publication ${n}`).toBe("SWY_WS_UNAVAILABLE");
    }
    const burstDelivered = delivered.filter((payload) => burst.includes(payload as number));
    expect(burstDelivered).toEqual(
      [...new Set(burstDelivered)].sort((a, b) => Number(a) - Number(b)),
    );
    // Those sent while the bus was away were never written before it came back: each
    // went out once it had, and arrived exactly once.
    for (const n of during) expect(outcome.get(n), `publication ${n}`).toEqual({ ok: true });
    expect(delivered.slice(burstDelivered.length)).toEqual([
      ...during,
      "after",
      "native after",
      "end",
    ]);
    const refused = [...outcome.values()].filter((ack) => !ack.ok).length;
    expect(await metric("published_total")).toBe(before.published + outcome.size - refused + 2);
    expect(await metric("publish_failures_total", ',reason="unavailable"')).toBe(
      before.unavailable + refused,
    );
    expect(await metric("publish_queue")).toBe(0);
  });

  it("bounds what waits for a bus that is down: past maxQueued, SWY_WS_QUEUE_FULL at once, counted", async () => {
    const bus = await startSocketCluster(cleanup);
    const harness = await bridge(cleanup, yaml("socketcluster", "      maxQueued: 3"), bus.url);
    const metric = (name: string, labels = "") =>
      sample(harness, `switchyard_websocket_${name}`, `backend="bus"${labels}`);
    const queueFull = await metric("publish_failures_total", ',reason="queue_full"');
    const alice = await member(harness, "room:8");
    const bob = await member(harness, "room:8");
    const bobSaw = heard(bob);
    await bus.kill();
    await until(async () => (await readyz(harness)).status === 503, "/readyz not ready");
    const acks = [0, 1, 2, 3, 4].map(
      (n) => alice.emitWithAck("publish", { room: "room:8", payload: n }) as Promise<Ack>,
    );
    // The two past the bound are refused while the bus is still away.
    const refused = await within(Promise.all(acks.slice(3)), "the refusals");
    for (const ack of refused) {
      expect(ack).toMatchObject({ ok: false, error: { code: "SWY_WS_QUEUE_FULL" } });
    }
    expect(await metric("publish_failures_total", ',reason="queue_full"')).toBe(queueFull + 2);
    expect(await metric("publish_queue")).toBe(3);
    await bus.revive();
    for (const ack of await within(Promise.all(acks.slice(0, 3)), "the queued ones")) {
      expect(ack).toEqual({ ok: true });
    }
    // The bus may deliver before it answers: bob's list, not a listener added now.
    await until(() => bobSaw.length === 3, "the three queued publications at bob");
    expect(bobSaw).toEqual([[0], [1], [2]]);
  });

  it("refuses a join whose subscription the bus refuses, with a coded ack, and leaves the socket out of the room", async () => {
    const bus = await startSocketCluster(cleanup);
    const harness = await bridge(cleanup, yaml("socketcluster"), bus.url);
    const refused = () =>
      sample(
        harness,
        "switchyard_websocket_subscribe_failures_total",
        'backend="bus",reason="refused"',
      );
    const refusedBefore = await refused();
    bus.refuseSubscriptions((channel) => (channel === "room:13" ? "not on this bus" : undefined));
    const alice = await harness.connect({ transports: ["websocket"] });

    const ack = (await alice.emitWithAck("join", { room: "room:13" })) as Ack;
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe("SWY_SUBSCRIBE_FAILED");
    expect(ack.error?.message).toContain("SWY_WS_SUBSCRIBE_FAILED");
    expect(ack.error?.message).toContain("not on this bus");
    expect(await refused()).toBe(refusedBefore + 1);
    const notMember = (await alice.emitWithAck("say", { room: "room:13", payload: 1 })) as Ack;
    expect(notMember.error?.code).toBe("SWY_ROOM_NOT_MEMBER");
    // The room was given up: no subscription is left waiting or retrying.
    expect(
      await sample(harness, "switchyard_websocket_subscriptions", 'backend="bus",state="pending"'),
    ).toBe(0);

    // Other channels work on the same connection, and so does room:13 once the bus allows it.
    expect(await alice.emitWithAck("join", { room: "room:14" })).toEqual({ ok: true });
    bus.refuseSubscriptions(() => undefined);
    expect(await alice.emitWithAck("join", { room: "room:13" })).toEqual({ ok: true });
    const got = next(alice, "message");
    await bus.publish("room:13", "allowed now");
    expect(await within(got, "a message on room:13")).toEqual(["allowed now"]);
  });
});

// --- Phoenix -------------------------------------------------------------------------

describe("the websocket backend on Phoenix Channels (preset phoenix)", () => {
  const cleanup = useCleanup();

  async function start(): Promise<{ bus: PhoenixBus; harness: Harness }> {
    const bus = await PhoenixBus.start();
    cleanup.add(() => bus.close());
    const harness = await bridge(cleanup, yaml("phoenix", "      subscribeTimeout: 200"), bus.url);
    return { bus, harness };
  }

  it("answers a join the bus never confirms with a timeout code within subscribeTimeout", async () => {
    const { bus, harness } = await start();
    const timeouts = () =>
      sample(
        harness,
        "switchyard_websocket_subscribe_failures_total",
        'backend="bus",reason="timeout"',
      );
    const timeoutsBefore = await timeouts();
    bus.silenceJoins((topic) => topic === "room:8");
    const alice = await harness.connect({ transports: ["websocket"] });

    const started = performance.now();
    const ack = (await alice.emitWithAck("join", { room: "room:8" })) as Ack;
    expect(performance.now() - started).toBeLessThan(2000);
    expect(ack.ok).toBe(false);
    expect(ack.error?.code).toBe("SWY_SUBSCRIBE_FAILED");
    expect(ack.error?.message).toContain("SWY_WS_SUBSCRIBE_FAILED");
    expect(ack.error?.message).toContain("no confirmation within 200 ms");
    expect(await timeouts()).toBeGreaterThan(timeoutsBefore);
    const notMember = (await alice.emitWithAck("say", { room: "room:8", payload: 1 })) as Ack;
    expect(notMember.error?.code).toBe("SWY_ROOM_NOT_MEMBER");
    // Topics the bus answers still join.
    expect(await alice.emitWithAck("join", { room: "room:7" })).toEqual({ ok: true });
  });

  it("a Socket.IO member of room:7 and a phoenix.js client on topic room:7 see each other's messages once", async () => {
    const { bus, harness } = await start();
    const alice = await member(harness, "room:7");
    const aliceSaw = heard(alice);
    const native = phoenixClient(cleanup, bus);
    const topic = native.channel("room:7", {});
    const inbox: [string, unknown][] = [];
    topic.on("message", (payload) => {
      inbox.push(["message", payload]);
    });
    await joinTopic(topic);
    expect(bus.members("room:7")).toBe(2);

    alice.emit("publish", { room: "room:7", payload: { text: "hi" } });
    expect(await alice.emitWithAck("pair", { room: "room:7", a: 1, b: 2 })).toEqual({ ok: true });
    await holds(inbox, 2, "phoenix.js messages");
    const pushed = await within(
      new Promise((resolve) =>
        topic.push("message", { text: "hello back" }).receive("ok", resolve),
      ),
      "the bus's reply to the phoenix.js push",
    );
    expect(pushed).toEqual({});
    // A last message: anything doubled would have come before it.
    topic.push("message", { text: "end" });
    await holds(aliceSaw, 2, "messages from phoenix.js");
    await holds(inbox, 4, "phoenix.js messages");

    // Alice's publications (except sender, the default) did not come back to her.
    expect(aliceSaw).toEqual([[{ text: "hello back" }], [{ text: "end" }]]);
    // phoenix.js hears its own pushes too: the channel broadcasts to the whole topic.
    expect(inbox).toEqual([
      ["message", { text: "hi" }],
      ["message", { $switchyard: 1, args: [1, 2] }],
      ["message", { text: "hello back" }],
      ["message", { text: "end" }],
    ]);
  });
});

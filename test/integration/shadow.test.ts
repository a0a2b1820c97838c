/**
 * Shadow dual-write end to end (docs/shadow.md): rooms on the native core shadowed on
 * Pusher (the emulator, driven through its delivery faults so the truth is known), with
 * real socket.io-client members and the report read from `GET /api/v1/shadow`.
 *
 * Each fault is injected on a known share of the shadow's deliveries; the report must
 * count exactly that and nothing else, while members see only the primary's messages.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import { rolloutBucket } from "../../src/mapping/route-table.js";
import type { ShadowReport } from "../../src/router/shadow/report.js";
import { SocketClusterBus } from "../buses/socketcluster-bus.js";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import {
  KEY as ABLY_KEY,
  startEmulator as startAblyEmulator,
} from "../emulators/ably/test-support.js";
import type { DeliveryFault, PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import { APP, startEmulator } from "../emulators/pusher/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { shadowReport, zeroCounts } from "../helpers/shadow-report.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "shadow-test-token-0123456789abcdef";
// Long enough that a loaded machine (CI runs every file at once) never decides a copy too early.
const WINDOW = 2000;
const MESSAGES = 200;

/** The backend a test shadows on, as YAML, with the environment it reads. */
interface ShadowTarget {
  readonly backend: string;
  readonly shadow: string;
  readonly env: Record<string, string>;
}

function onPusher(emulator: PusherEmulator): ShadowTarget {
  return {
    backend: `  pusher:
    kind: pusher
    settings:
      appId: "\${PUSHER_APP_ID}"
      key: "\${PUSHER_KEY}"
      secret: "\${PUSHER_SECRET}"
      host: "\${PUSHER_HOST}"
      port: \${PUSHER_PORT}
      useTLS: false`,
    shadow: 'backend: pusher\n          channel: "private-room-{id}"',
    env: {
      PUSHER_APP_ID: APP.id,
      PUSHER_KEY: APP.key,
      PUSHER_SECRET: APP.secret,
      PUSHER_HOST: emulator.host,
      PUSHER_PORT: String(emulator.port),
    },
  };
}

function onAbly(emulator: AblyEmulator): ShadowTarget {
  return {
    backend: `  ably:
    kind: ably
    settings:
      key: "\${ABLY_KEY}"
      host: "\${ABLY_HOST}"
      port: \${ABLY_PORT}
      tls: false`,
    shadow: 'backend: ably\n          channel: "room:{id}"',
    env: { ABLY_KEY, ABLY_HOST: emulator.host, ABLY_PORT: String(emulator.port) },
  };
}

function onSocketCluster(bus: SocketClusterBus): ShadowTarget {
  return {
    backend: `  bus:
    kind: websocket
    settings: { url: "\${BUS_URL}", preset: socketcluster }`,
    shadow: 'backend: bus\n          channel: "room:{id}"',
    env: { BUS_URL: bus.url },
  };
}

/**
 * `room:{id}` on the native core (on Redis when `redis` is set), shadowed on `target`.
 * The latency gap allowed is generous unless `verdict` says otherwise: a loaded machine
 * must not turn a clean run's verdict.
 */
function yaml(target: ShadowTarget, options: { redis?: boolean; verdict?: string } = {}): string {
  return `
server: { limits: { eventsPerSecond: 100000, eventBurst: 100000, maxPublishesPerSocket: 10000 } }
api: { token: "\${TOKEN}" }
backends:
${target.backend}
${
  options.redis === true
    ? `  native:
    kind: native
    settings: { redis: { url: "${REDIS_URL}", key: "\${REDIS_KEY}" } }`
    : ""
}
namespaces:
  /:
    routes:
      - room: "room:{id}"
        backend: native
        shadow:
          ${target.shadow}
          window: ${WINDOW}
          verdict: { minMessages: 100${options.verdict ?? ", maxP99GapMs: 5000"} }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;
}

async function startNode(
  cleanup: Cleanup,
  target: ShadowTarget,
  options: { redis?: boolean; verdict?: string; redisKey?: string } = {},
): Promise<Harness> {
  const harness = await Harness.start(yaml(target, options), {
    TOKEN,
    REDIS_KEY: options.redisKey ?? "unused",
    ...target.env,
  });
  cleanup.add(() => harness.close());
  return harness;
}

function report(harness: Harness): Promise<ShadowReport> {
  return shadowReport(harness, TOKEN);
}

/**
 * Every message the primary delivered on the node has been decided, and so has
 * everything else (`switchyard_shadow_pending`, of every node in this process, is 0).
 */
async function decided(harness: Harness, messages: number): Promise<ShadowReport> {
  let last: ShadowReport | undefined;
  await until(
    async () => {
      last = await report(harness);
      const counts = last.routes[0]?.counts;
      return (
        counts !== undefined &&
        counts.matched + counts.missing + counts.mismatched + counts.shadowErrors >= messages
      );
    },
    `${messages} messages decided`,
    10_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last report: ${JSON.stringify(last?.routes)}`);
  });
  // Late copies (duplicates, extras) wait a window of their own.
  await until(() => pendingIsZero(harness), "nothing left waiting");
  return report(harness);
}

async function pendingIsZero(harness: Harness): Promise<boolean> {
  const text = await (await fetch(`${harness.url}/metrics`)).text();
  return /^switchyard_shadow_pending 0$/m.test(text);
}

async function member(harness: Harness, room: string): Promise<{ socket: Socket; got: unknown[] }> {
  const socket = await harness.connect({ transports: ["websocket"] });
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
  const got: unknown[] = [];
  socket.on("message", (payload: unknown) => got.push(payload));
  return { socket, got };
}

/** Resolves once the bridge's subscription to `channel` is on the emulator. */
async function subscribed(emulator: PusherEmulator, channel: string, count = 1): Promise<void> {
  await until(
    () => (emulator.channels(APP.id)[channel]?.subscriptionCount ?? 0) === count,
    `${count} subscriptions of ${channel}`,
  );
}

/** Publishes `count` numbered messages from `socket` to `room`, each acked. */
async function publishMany(socket: Socket, room: string, count: number, from = 0): Promise<void> {
  const acks: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) {
    acks.push(socket.emitWithAck("publish", { room, payload: { n: i } }));
  }
  for (const ack of await Promise.all(acks)) expect(ack).toEqual({ ok: true });
}

/** A fault on every `every`-th delivery of `channel` (1-based), to every connection. */
function everyNth(
  every: number,
  fault: (n: number) => DeliveryFault,
): (delivery: { channel: string }) => DeliveryFault {
  let n = 0;
  return () => {
    n += 1;
    return n % every === 0 ? fault(n) : undefined;
  };
}

const ZERO = zeroCounts();

describe("a room on the native core shadowed on Pusher, one node", () => {
  const cleanup = useCleanup();

  async function setUp(
    fault?: Parameters<PusherEmulator["setDeliveryFault"]>[0],
    verdict?: string,
  ) {
    const emulator = await startEmulator((task) => cleanup.add(task));
    if (fault !== undefined) emulator.setDeliveryFault(fault);
    const harness = await startNode(
      cleanup,
      onPusher(emulator),
      verdict === undefined ? {} : { verdict },
    );
    const alice = await member(harness, "room:1");
    const bob = await member(harness, "room:1");
    await subscribed(emulator, "private-room-1");
    return { emulator, harness, alice, bob };
  }

  it("a clean run: every message matched, zero in every failure count, verdict ready", async () => {
    const { harness, alice, bob, emulator } = await setUp();
    await publishMany(alice.socket, "room:1", MESSAGES);
    const result = await decided(harness, MESSAGES);
    expect(result.routes).toHaveLength(1);
    const [route] = result.routes;
    expect(Object.keys(route!).sort()).toEqual([
      "counts",
      "latencyGap",
      "namespace",
      "primary",
      "reasons",
      "room",
      "shadow",
      "verdict",
    ]);
    expect(route).toMatchObject({
      namespace: "/",
      room: "room:{id}",
      primary: "native",
      shadow: "pusher",
      counts: { ...ZERO, matched: MESSAGES },
      verdict: "ready",
      reasons: [],
    });
    expect(route!.latencyGap.p50).toBeGreaterThanOrEqual(0);
    expect(Object.keys(result).sort()).toEqual(["routes", "since"]);
    // Members saw the primary's deliveries only: each message once.
    await until(() => bob.got.length === MESSAGES, "bob's messages");
    expect(bob.got).toEqual(Array.from({ length: MESSAGES }, (_, n) => ({ n })));
    // The shadow saw them as Pusher's other subscribers would: the payload as it is.
    expect(emulator.stats.published).toBe(MESSAGES);
  });

  it("drop 1 %: exactly that many missing, and not-ready", async () => {
    const { harness, alice } = await setUp(everyNth(100, () => "drop"));
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: MESSAGES - 2, missing: 2 });
    expect(route!.verdict).toBe("not-ready");
    expect(route!.reasons).toEqual([expect.stringMatching(/^missing on the shadow: 2 of 200/)]);
  });

  it("duplicate 1 %: exactly that many duplicates", async () => {
    const { harness, alice } = await setUp(everyNth(100, () => "duplicate"));
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: MESSAGES, duplicates: 2 });
    expect(route!.verdict).toBe("not-ready");
  });

  it("reorder: each swapped pair counted once as reordered", async () => {
    // The 25th, 75th, ... delivery waits for the next one to go first.
    let held: (() => void) | undefined;
    let n = 0;
    const { harness, alice } = await setUp(() => {
      n += 1;
      if (held !== undefined) {
        queueMicrotask(held);
        held = undefined;
        return undefined;
      }
      if (n % 50 !== 25) return undefined;
      return { until: new Promise<void>((resolve) => (held = resolve)) };
    });
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: MESSAGES, reordered: 4 });
  });

  it("delay by 50 ms: nothing counted as failed, the gap shows it, and past maxP99GapMs not-ready", async () => {
    const { harness, alice } = await setUp(() => ({ delayMs: 50 }), ", maxP99GapMs: 20");
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: MESSAGES });
    expect(route!.latencyGap.p50).toBeGreaterThanOrEqual(50);
    expect(route!.verdict).toBe("not-ready");
    expect(route!.reasons).toEqual([expect.stringMatching(/^latency gap p99 [\d.]+ ms > 20 ms$/)]);
  });

  it("alter a payload: counted as mismatched, not as missing and extra", async () => {
    const { harness, alice } = await setUp(
      everyNth(100, () => ({ alter: (data: string) => data.replace("}", ',"altered":true}') })),
    );
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: MESSAGES - 2, mismatched: 2 });
  });

  it("reports per channel with ?channels=true: a drop on one room's channel counts there", async () => {
    let n = 0;
    const { harness, alice, emulator } = await setUp((delivery) => {
      if (delivery.channel !== "private-room-2") return undefined;
      n += 1;
      return n === 5 ? "drop" : undefined;
    });
    const carol = await member(harness, "room:2");
    await subscribed(emulator, "private-room-2");
    await publishMany(alice.socket, "room:1", 10);
    await publishMany(carol.socket, "room:2", 10);
    await decided(harness, 20);
    const res = await fetch(`${harness.url}/api/v1/shadow?channels=true`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const [route] = ((await res.json()) as ShadowReport).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: 19, missing: 1 });
    expect(route!.channels).toEqual([
      { channel: "room:1", counts: { ...ZERO, matched: 10 } },
      { channel: "room:2", counts: { ...ZERO, matched: 9, missing: 1 } },
    ]);
    // Without the parameter, the report has exactly its documented fields.
    expect((await report(harness)).routes[0]).not.toHaveProperty("channels");
  });

  it("reset starts a new window of evidence", async () => {
    const { harness, alice } = await setUp();
    await publishMany(alice.socket, "room:1", 10);
    await until(async () => (await report(harness)).routes[0]?.counts.matched === 10, "10 matched");
    const before = await report(harness);
    const res = await fetch(`${harness.url}/api/v1/shadow/reset`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; since: string };
    expect(body.ok).toBe(true);
    expect(Date.parse(body.since)).toBeGreaterThanOrEqual(Date.parse(before.since));
    const after = await report(harness);
    expect(after.since).toBe(body.since);
    expect(after.routes[0]!.counts).toEqual(ZERO);
    expect(after.routes[0]!.verdict).toBe("insufficient-data");
  });
});

describe("a shadowed route through a rollout and back, by hot reload", () => {
  const cleanup = useCleanup();

  it("keeps comparing a moving room: its old channel becomes its shadow and back, never unsubscribed", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const target = onPusher(emulator);
    const env = { TOKEN, REDIS_KEY: "unused", ...target.env };
    const harness = await startNode(cleanup, target);
    // A room the 10 % rollout moves.
    const room = Array.from({ length: 1000 }, (_, n) => `room:${n}`).find(
      (name) => rolloutBucket(name) < 1000,
    )!;
    const channel = `private-${room.replace(":", "-")}`;
    const alice = await member(harness, room);
    const bob = await member(harness, room);
    await subscribed(emulator, channel);
    const reload = async (text: string) => {
      const { config, diagnostics } = loadConfigFromString(text, "test.yaml", env);
      if (config === undefined) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
      await harness.server.reload(config);
    };
    const shadowed = yaml(target);
    const rolledOut = shadowed.replace(
      "    events:",
      `        rollout:
          backend: pusher
          channel: "private-room-{id}"
          percent: 10
          shadow: { backend: native, window: ${WINDOW}, verdict: { minMessages: 10, maxP99GapMs: 5000 } }
    events:`,
    );
    const rows = async () =>
      Object.fromEntries(
        (await report(harness)).routes.map((r) => [`${r.primary}→${r.shadow}`, r.counts]),
      );

    // Each step's messages matched before the next move: a copy still on its way when a
    // room's channel changes roles would count on the other row (docs/shadow.md).
    const matched = (row: string, count: number) =>
      until(async () => (await rows())[row]?.matched === count, `${count} matched on ${row}`);
    await publishMany(alice.socket, room, 10);
    await matched("native→pusher", 10);
    await reload(rolledOut);
    expect(emulator.channels(APP.id)[channel]?.subscriptionCount).toBe(1);
    await publishMany(alice.socket, room, 10, 10);
    await matched("pusher→native", 10);
    await reload(shadowed);
    expect(emulator.channels(APP.id)[channel]?.subscriptionCount).toBe(1);
    await publishMany(alice.socket, room, 10, 20);
    await until(async () => {
      const counts = await rows();
      return counts["native→pusher"]?.matched === 20 && counts["pusher→native"]?.matched === 10;
    }, "every message matched on its row").catch(async (error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(await report(harness))}`);
    });
    await until(() => pendingIsZero(harness), "nothing left waiting");
    expect(await rows()).toEqual({
      "native→pusher": { ...ZERO, matched: 20 },
      "pusher→native": { ...ZERO, matched: 10 },
    });
    await until(() => bob.got.length === 30, "bob's messages");
    expect(bob.got).toEqual(Array.from({ length: 30 }, (_, n) => ({ n })));
  });
});

describeWithRedis("two nodes publishing, on Redis, shadowed on Pusher", () => {
  const cleanup = useCleanup();

  const alter: DeliveryFault = { alter: (data: string) => data.replace("}", ',"altered":1}') };
  it.each([
    ["drop", "drop" as DeliveryFault, "missing", 4],
    ["duplicate", "duplicate" as DeliveryFault, "duplicates", 0],
    ["alter", alter, "mismatched", 4],
  ] as const)(
    "each node reports its own view: %s on one node's connection counts there only",
    async (_name, fault, count, unmatched) => {
      const emulator = await startEmulator((task) => cleanup.add(task));
      const redisKey = `swy-shadow-${randomBytes(4).toString("hex")}`;
      const a = await startNode(cleanup, onPusher(emulator), { redis: true, redisKey });
      const b = await startNode(cleanup, onPusher(emulator), { redis: true, redisKey });
      const alice = await member(a, "room:1");
      const bob = await member(b, "room:1");
      await subscribed(emulator, "private-room-1", 2);
      // Every 50th delivery to the first connection subscribed: node A's or B's.
      const [victim] = emulator.socketIds(APP.id);
      let n = 0;
      emulator.setDeliveryFault((delivery) => {
        if (delivery.socketId !== victim) return undefined;
        n += 1;
        return n % 50 === 0 ? fault : undefined;
      });
      await publishMany(alice.socket, "room:1", MESSAGES / 2);
      await publishMany(bob.socket, "room:1", MESSAGES / 2, MESSAGES / 2);
      const [ra] = (await decided(a, MESSAGES)).routes;
      const [rb] = (await decided(b, MESSAGES)).routes;
      const rows = [ra!.counts, rb!.counts].sort((x, y) => x[count] - y[count]);
      expect(rows).toEqual([
        { ...ZERO, matched: MESSAGES },
        { ...ZERO, matched: MESSAGES - unmatched, [count]: 4 },
      ]);
    },
  );
});

describe("a room on the native core shadowed on Ably, and on a SocketCluster bus", () => {
  const cleanup = useCleanup();

  it("Ably: the shadow reads back this node's own writes (no origin header), every one matched", async () => {
    const emulator = await startAblyEmulator(cleanup);
    const harness = await startNode(cleanup, onAbly(emulator));
    const alice = await member(harness, "room:1");
    await until(
      () => emulator.attachedConnectionIds("testapp", "room:1").length === 1,
      "the bridge attached room:1",
    );
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route).toMatchObject({
      primary: "native",
      shadow: "ably",
      counts: { ...ZERO, matched: MESSAGES },
      verdict: "ready",
    });
  });

  it("Ably: a payload altered on one message in a hundred is counted as mismatched", async () => {
    const emulator = await startAblyEmulator(cleanup);
    let n = 0;
    emulator.setDeliveryFault(() => ({
      alter: (data: unknown) => {
        n += 1;
        return n % 100 === 0 ? { altered: true } : data;
      },
    }));
    const harness = await startNode(cleanup, onAbly(emulator));
    const alice = await member(harness, "room:1");
    await until(
      () => emulator.attachedConnectionIds("testapp", "room:1").length === 1,
      "the bridge attached room:1",
    );
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route!.counts).toEqual({ ...ZERO, matched: MESSAGES - 2, mismatched: 2 });
  });

  it.each([
    ["drop", "missing"],
    ["duplicate", "duplicates"],
  ] as const)(
    "Ably: %s the second frame: exactly its messages counted as %s",
    async (fault, count) => {
      const emulator = await startAblyEmulator(cleanup);
      // The bridge publishes in batches, so a frame carries many messages (here 1, then
      // about 100): the hook counts the messages of the frame it hits.
      let frames = 0;
      let injected = 0;
      emulator.setDeliveryFault((delivery) => {
        if (delivery.action !== 15) return undefined; // MESSAGE frames only
        frames += 1;
        if (frames !== 2) return undefined;
        injected += delivery.messages.length;
        return fault;
      });
      const harness = await startNode(cleanup, onAbly(emulator));
      const alice = await member(harness, "room:1");
      await until(
        () => emulator.attachedConnectionIds("testapp", "room:1").length === 1,
        "the bridge attached room:1",
      );
      await publishMany(alice.socket, "room:1", MESSAGES);
      const [route] = (await decided(harness, MESSAGES)).routes;
      expect(injected).toBeGreaterThan(0);
      const matched = fault === "drop" ? MESSAGES - injected : MESSAGES;
      expect(route!.counts).toEqual({ ...ZERO, matched, [count]: injected });
    },
  );

  it("SocketCluster: the bus sends the writes back (echo: bus) and every one is matched", async () => {
    const bus = await SocketClusterBus.start();
    cleanup.add(() => bus.close());
    const harness = await startNode(cleanup, onSocketCluster(bus));
    const alice = await member(harness, "room:1");
    const bob = await member(harness, "room:1");
    await until(() => (bus.subscribes.get("room:1") ?? 0) === 1, "the bridge subscribed room:1");
    await publishMany(alice.socket, "room:1", MESSAGES);
    const [route] = (await decided(harness, MESSAGES)).routes;
    expect(route).toMatchObject({ counts: { ...ZERO, matched: MESSAGES }, verdict: "ready" });
    // Members got the primary's copies only: the shadow's reach nobody.
    await until(() => bob.got.length >= MESSAGES, "bob's messages");
    expect(bob.got).toHaveLength(MESSAGES);
  });
});

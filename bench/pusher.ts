/**
 * The Pusher backend benchmark, as `npm run bench` runs it after the routing one (`--pusher-only`
 * alone, `--no-pusher` to skip). Everything runs on 127.0.0.1 against the test emulator
 * (test/emulators/pusher/), started in this process, with one Switchyard serving
 * examples/pusher/switchyard.yaml as a child process, with the benchmark contract's limits
 * (bench/bench-config.ts).
 *
 * Why a child process: a sidecar has an event loop of its own. In this process it would share
 * one thread with the emulator and every client, so the bridge's figures would include their
 * work (and theirs its). As a child it is pinned to the server CPU like the main benchmark's
 * servers, and it runs from dist/ through bin/switchyard.js, as shipped.
 *
 * 1. Latency, one message in flight, `samples` per path after `warmup`, the two paths
 *    alternating so both see the same conditions:
 *    - direct: the `pusher` REST SDK triggers `message` on a private channel; a pusher-js
 *      client subscribed to it receives it;
 *    - bridged: the same trigger on `private-room-bench`; Switchyard's pusher-js connection
 *      receives it and delivers it to a socket.io-client member of `room:bench`.
 *    The payload carries the send time (`performance.now()` of this process); latency is the
 *    receive time minus it, so it includes the REST call. The bridge's cost is the difference.
 * 2. Publish throughput: `rooms` socket.io-client publishers emit `publish` to their own
 *    room, each with `window` acks outstanding; a publication is acked once Pusher (the
 *    emulator) accepted the REST call that carried it. Acked messages/s over the measurement
 *    window, and the REST calls Switchyard made (`/metrics`: `events` and `batch_events`)
 *    against the events the emulator accepted. The comparison: the `pusher` SDK directly,
 *    one `trigger` (REST call) per message, at the concurrency of Switchyard's REST calls
 *    (`maxInflight`, 4) and at the publishers' total window.
 */

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import PusherRest from "pusher";
import PusherJs from "pusher-js";
import type { Socket } from "socket.io-client";
import { PusherEmulator } from "../test/emulators/pusher/pusher-emulator.js";
import { writeBenchConfig } from "./bench-config.js";
import {
  Arrivals,
  ClosedLoop,
  closeAll,
  connectSocketIo,
  type LatencyStats,
  latencyStats,
  OthersCpu,
  WAIT_MS,
  waitUntilReady,
  within,
} from "./managed-bench.js";
import {
  freePort,
  type RunningServer,
  readCpuSec,
  type ServerSpec,
  startServer,
  stopServer,
} from "./servers.js";

/** pusher-js is CommonJS typed as ESM: at run time the default import is the class. */
const PusherClient = PusherJs as unknown as typeof PusherJs.default;
type PusherClient = PusherJs.default;
type Channel = PusherJs.Channel;

const CONFIG = "examples/pusher/switchyard.yaml";
const APP = { id: "1", key: "bench-key", secret: "bench-secret" } as const;
/** The room of the bridged latency path, carried on `private-room-bench` by the example. */
const LATENCY_ROOM = "room:bench";
const BRIDGED_CHANNEL = "private-room-bench";
/** Not a route's channel: only the direct subscriber is on it. */
const DIRECT_CHANNEL = "private-bench-direct";
/** Switchyard's default `maxInflight`, as examples/pusher/switchyard.yaml leaves it. */
const SWITCHYARD_MAX_INFLIGHT = 4;

export interface PusherBenchOptions {
  /** The repository root (bin/switchyard.js, the example). */
  readonly root: string;
  /** Latency samples per path after the warmup; at least 500 for a p99 worth quoting. */
  readonly samples: number;
  /** Latency messages per path sent before measuring. */
  readonly warmup: number;
  /** Throughput: warmup and measurement windows, milliseconds. */
  readonly throughputWarmupMs: number;
  readonly throughputMs: number;
  /** Throughput: publishers, one room each. */
  readonly rooms: number;
  /** Throughput: acks outstanding per publisher. */
  readonly window: number;
  /** Approximate bytes of each message's data. */
  readonly payloadBytes: number;
  /** CPU to pin Switchyard to (taskset), or null. */
  readonly cpu: number | null;
  /** Switchyard's stdout and stderr. */
  readonly logPath: string;
}

export interface ThroughputRun {
  readonly label: string;
  /** Messages whose publish was accepted within the window, per second. */
  readonly perSec: number;
  readonly accepted: number;
  readonly failed: number;
  /** Failed publishes in the window by reason (an error code), when any failed. */
  readonly failures: Readonly<Record<string, number>>;
  /** Messages in flight at once (publishers × window, or SDK calls in flight). */
  readonly inflight: number;
  /** REST calls to the emulator in the window, by endpoint. */
  readonly requests: { readonly events: number; readonly batchEvents: number };
  /** Events the emulator accepted in the window (its `stats.published`). */
  readonly emulatorPublished: number;
  /**
   * CPU used in the window, % of one core: Switchyard's process, and this one (the emulator,
   * the clients, the SDK). One near 100 % is what set the rate. `others`: every other
   * process on the machine (over 10 % disturbs the figures).
   */
  readonly cpuPct: { readonly switchyard: number; readonly bench: number; readonly others: number };
}

export interface PusherResult {
  readonly switchyard: string;
  /** What the run changed in its copy of the example (bench/bench-config.ts). */
  readonly configChanges: readonly string[];
  readonly payloadBytes: number;
  readonly latency: {
    readonly direct: LatencyStats;
    readonly bridged: LatencyStats;
    /** bridged − direct. */
    readonly addedP50Ms: number;
    readonly addedP99Ms: number;
    readonly targetAddedP50Ms: number;
    /** CPU other processes used while sampling, % of one core. */
    readonly otherCpuPct: number;
  };
  readonly throughput: {
    readonly bridged: ThroughputRun;
    readonly sdk: readonly ThroughputRun[];
  };
}

/** Runs both measurements; everything it started is stopped before it returns or throws. */
export async function runPusherBench(opts: PusherBenchOptions): Promise<PusherResult> {
  const closers: (() => unknown)[] = [];
  try {
    const config = writeBenchConfig({ root: opts.root, example: CONFIG, window: opts.window });
    closers.push(config.remove);
    const emulator = await PusherEmulator.start({ apps: [{ ...APP }] });
    closers.push(() => emulator.close());
    const port = await freePort();
    const server = await startBridge(opts, config.path, emulator, port);
    closers.push(() => stopServer(server));
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(url);

    const rest = restClient(emulator);
    const native = await connectPusherJs(emulator, rest);
    closers.push(() => native.disconnect());
    const member = await connectSocketIo(url);
    closers.push(() => member.close());
    const latency = await measureLatency(opts, emulator, rest, native, member, server.pid);

    const publishers: Socket[] = [];
    for (let i = 0; i < opts.rooms; i++) {
      const socket = await connectSocketIo(url);
      closers.push(() => socket.close());
      publishers.push(socket);
    }
    const rig: Rig = { opts, emulator, url, serverPid: server.pid };
    const bridged = await measureBridgedThroughput(rig, publishers);
    const sdk: ThroughputRun[] = [];
    for (const concurrency of [SWITCHYARD_MAX_INFLIGHT, opts.rooms * opts.window]) {
      sdk.push(await measureSdkThroughput(rig, rest, concurrency));
    }
    return {
      switchyard: `child process: node bin/switchyard.js start --config ${CONFIG}${opts.cpu === null ? "" : `, pinned to CPU ${opts.cpu}`}`,
      payloadBytes: opts.payloadBytes,
      latency: {
        ...latency,
        addedP50Ms: latency.bridged.p50Ms - latency.direct.p50Ms,
        addedP99Ms: latency.bridged.p99Ms - latency.direct.p99Ms,
        targetAddedP50Ms: 1,
      },
      configChanges: config.changes,
      throughput: { bridged, sdk },
    };
  } finally {
    await closeAll(closers);
  }
}

function startBridge(
  opts: PusherBenchOptions,
  config: string,
  emulator: PusherEmulator,
  port: number,
): Promise<RunningServer> {
  const env = [
    `PUSHER_APP_ID=${APP.id}`,
    `PUSHER_KEY=${APP.key}`,
    `PUSHER_SECRET=${APP.secret}`,
    `PUSHER_HOST=${emulator.host}`,
    `PUSHER_PORT=${emulator.port}`,
    "PUSHER_USE_TLS=false",
  ];
  const spec: ServerSpec = {
    id: "switchyard",
    label: "switchyard (pusher)",
    unavailable: () => null,
    command: (p) => [
      "env",
      ...env,
      process.execPath,
      "bin/switchyard.js",
      "start",
      "--config",
      config,
      "--port",
      String(p),
      "--host",
      "127.0.0.1",
      "--no-watch",
    ],
  };
  return startServer(spec, {
    root: opts.root,
    port,
    cpu: opts.cpu,
    logPath: opts.logPath,
    client: "raw",
    path: "/socket.io/",
    readyTimeoutMs: 20_000,
  });
}

function restClient(emulator: PusherEmulator): PusherRest {
  return new PusherRest({
    appId: APP.id,
    key: APP.key,
    secret: APP.secret,
    host: emulator.host,
    port: String(emulator.port),
    useTLS: false,
  });
}

async function connectPusherJs(
  emulator: PusherEmulator,
  signer: PusherRest,
): Promise<PusherClient> {
  const client = new PusherClient(APP.key, {
    cluster: "mt1",
    wsHost: emulator.host,
    wsPort: emulator.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) =>
        callback(null, signer.authorizeChannel(socketId, channelName)),
    },
  });
  await within(
    new Promise<void>((resolve) => {
      if (client.connection.state === "connected") resolve();
      else client.connection.bind("connected", () => resolve());
    }),
    "the pusher-js connection",
  );
  return client;
}

/** Resolves once `channel` has `count` subscribers on the emulator. */
async function subscribers(
  emulator: PusherEmulator,
  channel: string,
  count: number,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while ((emulator.channels(APP.id)[channel]?.subscriptionCount ?? 0) < count) {
    if (Date.now() > deadline) throw new Error(`${channel} never got ${count} subscribers`);
    await sleep(10);
  }
}

async function measureLatency(
  opts: PusherBenchOptions,
  emulator: PusherEmulator,
  rest: PusherRest,
  native: PusherClient,
  member: Socket,
  serverPid: number,
): Promise<{ direct: LatencyStats; bridged: LatencyStats; otherCpuPct: number }> {
  const direct = new Arrivals();
  const channel: Channel = native.subscribe(DIRECT_CHANNEL);
  channel.bind("message", direct.onMessage);
  await subscribers(emulator, DIRECT_CHANNEL, 1);

  const bridged = new Arrivals();
  member.on("message", bridged.onMessage);
  const ack = await member.emitWithAck("join", { room: LATENCY_ROOM });
  if ((ack as { ok?: boolean }).ok !== true) throw new Error(`join: ${JSON.stringify(ack)}`);
  await subscribers(emulator, BRIDGED_CHANNEL, 1);

  const pad = "x".repeat(Math.max(0, opts.payloadBytes - 40));
  const samples = { direct: [] as number[], bridged: [] as number[] };
  let seq = 0;
  const others = new OthersCpu(serverPid);
  const once = async (target: string, arrivals: Arrivals): Promise<number> => {
    seq += 1;
    const arrived = arrivals.expect(seq);
    // Both the delivery and the REST answer, so that exactly one message is ever in flight.
    const [ms] = await Promise.all([
      arrived,
      rest.trigger(target, "message", { seq, t: performance.now(), pad }),
    ]);
    return ms;
  };
  for (let i = 0; i < opts.warmup + opts.samples; i++) {
    if (i === opts.warmup) others.start();
    const d = await once(DIRECT_CHANNEL, direct);
    const b = await once(BRIDGED_CHANNEL, bridged);
    if (i >= opts.warmup) {
      samples.direct.push(d);
      samples.bridged.push(b);
    }
  }
  channel.unbind("message", direct.onMessage);
  member.off("message", bridged.onMessage);
  return {
    direct: latencyStats(samples.direct),
    bridged: latencyStats(samples.bridged),
    otherCpuPct: others.pct(),
  };
}

/** Switchyard's REST calls so far, from its `/metrics`. */
async function restCalls(url: string): Promise<{ events: number; batchEvents: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (endpoint: string): number => {
    for (const line of text.split("\n")) {
      if (
        line.startsWith("switchyard_pusher_requests_total{") &&
        line.includes(`endpoint="${endpoint}"`)
      ) {
        return Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
    return 0;
  };
  return { events: read("events"), batchEvents: read("batch_events") };
}

/** What a throughput measurement reads: the emulator's counters, Switchyard's and its CPU. */
interface Rig {
  readonly opts: PusherBenchOptions;
  readonly emulator: PusherEmulator;
  readonly url: string;
  readonly serverPid: number;
}

async function measureBridgedThroughput(
  rig: Rig,
  publishers: readonly Socket[],
): Promise<ThroughputRun> {
  const { opts } = rig;
  const payload = "x".repeat(opts.payloadBytes);
  const publish = (worker: number): Promise<true | string> => {
    const room = worker % publishers.length;
    return publishers[room]!.timeout(WAIT_MS)
      .emitWithAck("publish", { room: `room:tp-${room}`, payload })
      .then((ack: { ok?: boolean; error?: { code?: string } }) =>
        ack?.ok === true ? true : (ack?.error?.code ?? "refused"),
      );
  };
  const inflight = opts.rooms * opts.window;
  const loop = new ClosedLoop(inflight, publish);
  return measureWindow(rig, loop, "switchyard (batched)", inflight, () => restCalls(rig.url));
}

async function measureSdkThroughput(
  rig: Rig,
  rest: PusherRest,
  concurrency: number,
): Promise<ThroughputRun> {
  const { opts } = rig;
  const payload = "x".repeat(opts.payloadBytes);
  let calls = 0;
  const trigger = (worker: number): Promise<true | string> => {
    calls += 1;
    // The channels of rooms room:tp-N, whose `-` the route escapes: the bridged run's channels.
    return rest
      .trigger(`private-room-tp=2D${worker % opts.rooms}`, "message", payload)
      .then((res) => (res.status === 200 ? true : `HTTP ${res.status}`));
  };
  const loop = new ClosedLoop(concurrency, trigger);
  const label = `pusher SDK, 1 trigger per message, ${concurrency} in flight`;
  return measureWindow(rig, loop, label, concurrency, async () => ({
    events: calls,
    batchEvents: 0,
  }));
}

async function measureWindow(
  rig: Rig,
  loop: ClosedLoop,
  label: string,
  inflight: number,
  requests: () => Promise<{ events: number; batchEvents: number }>,
): Promise<ThroughputRun> {
  const others = new OthersCpu(rig.serverPid);
  const cpuSec = () => ({
    switchyard: readCpuSec(rig.serverPid),
    bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  });
  try {
    await sleep(rig.opts.throughputWarmupMs);
    const before = {
      requests: await requests(),
      published: rig.emulator.stats.published,
      cpu: cpuSec(),
    };
    loop.count(true);
    others.start();
    const t0 = performance.now();
    await sleep(rig.opts.throughputMs);
    loop.count(false);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSec();
    const after = { requests: await requests(), published: rig.emulator.stats.published };
    return {
      label,
      perSec: loop.accepted / seconds,
      accepted: loop.accepted,
      failed: loop.failed,
      failures: Object.fromEntries(loop.failures),
      inflight,
      requests: {
        events: after.requests.events - before.requests.events,
        batchEvents: after.requests.batchEvents - before.requests.batchEvents,
      },
      emulatorPublished: after.published - before.published,
      cpuPct: {
        switchyard: ((cpu.switchyard - before.cpu.switchyard) / seconds) * 100,
        bench: ((cpu.bench - before.cpu.bench) / seconds) * 100,
        others: others.pct(),
      },
    };
  } finally {
    await loop.stop();
  }
}

export function formatPusher(result: PusherResult): string {
  const ms = (v: number) => v.toFixed(3);
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const { direct, bridged } = result.latency;
  const line = (run: ThroughputRun) => {
    const calls = run.requests.events + run.requests.batchEvents;
    const perCall = calls > 0 ? (run.emulatorPublished / calls).toFixed(1) : "-";
    const failures = Object.entries(run.failures)
      .map(([reason, n]) => `${f(n)} ${reason}`)
      .join(", ");
    return (
      `    ${run.label.padEnd(50)} ${f(run.perSec).padStart(8)} msg/s` +
      ` (${f(run.accepted)} accepted${run.failed > 0 ? `, ${f(run.failed)} FAILED: ${failures}` : ""};` +
      ` REST calls: ${f(run.requests.events)} events + ${f(run.requests.batchEvents)} batch_events,` +
      ` ${perCall} events/call; CPU switchyard ${f(run.cpuPct.switchyard)}%,` +
      ` bench process ${f(run.cpuPct.bench)}%, other processes ${f(run.cpuPct.others)}%)`
    );
  };
  const verdict = result.latency.addedP50Ms <= result.latency.targetAddedP50Ms ? "met" : "MISSED";
  return [
    `Pusher backend (emulator on 127.0.0.1; Switchyard as a ${result.switchyard}; ${result.payloadBytes} B payloads)`,
    `  bench-only config changes to ${CONFIG}: ${result.configChanges.join(", ")}`,
    `  latency, one message in flight, REST trigger → receiver (ms): p50 / p99 / mean / max over ${direct.samples} samples`,
    `    direct  (pusher-js subscriber)          ${ms(direct.p50Ms)} / ${ms(direct.p99Ms)} / ${ms(direct.meanMs)} / ${ms(direct.maxMs)}`,
    `    bridged (Switchyard → socket.io-client) ${ms(bridged.p50Ms)} / ${ms(bridged.p99Ms)} / ${ms(bridged.meanMs)} / ${ms(bridged.maxMs)}`,
    `    added by the bridge: p50 ${ms(result.latency.addedP50Ms)} ms (target ≤ ${result.latency.targetAddedP50Ms} ms: ${verdict}), p99 ${ms(result.latency.addedP99Ms)} ms; other processes used ${f(result.latency.otherCpuPct)}% of a core`,
    "  publish throughput, closed loop (messages accepted by Pusher per second):",
    line(result.throughput.bridged),
    ...result.throughput.sdk.map(line),
  ].join("\n");
}

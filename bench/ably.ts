/**
 * The Ably backend benchmark, as `npm run bench` runs it after the Pusher one (`--ably-only`
 * alone, `--no-ably` to skip). Everything runs on 127.0.0.1 against the test emulator
 * (test/emulators/ably/), started in this process, with one Switchyard serving
 * examples/ably/switchyard.yaml as a child process, from dist/ through bin/switchyard.js, pinned
 * to the server CPU (bench/pusher.ts says why a child process).
 *
 * It serves a copy of the example with the benchmark contract's limits (bench/bench-config.ts)
 * and reports every change it made there.
 *
 * 1. Latency, one message in flight, `samples` per path after `warmup`, the two paths
 *    alternating so both see the same conditions:
 *    - direct: the `ably` REST SDK publishes `message` on a channel no route uses; an `ably`
 *      Realtime client subscribed to it receives it;
 *    - bridged: the same publish on `room:bench`; Switchyard's Realtime connection receives it
 *      and delivers it to a socket.io-client member of `room:bench`.
 *    The payload carries the send time (`performance.now()` of this process); latency is the
 *    receive time minus it, so it includes the REST call. The bridge's cost is the difference.
 * 2. Hot-room publish throughput: `publishers` socket.io-client publishers emit `publish` to ONE
 *    room, `room:hot`, each with `window` acks outstanding; a publication is acked once the
 *    emulator accepted the REST call that carried it. Acked messages/s over the measurement
 *    window, and Switchyard's REST calls and the messages they carried (`/metrics`:
 *    `switchyard_ably_requests_total`, `switchyard_ably_published_total`). The backend keeps a
 *    channel's order by never having two calls of one channel in flight, so on one room every
 *    call waits for the previous one and batching is what carries the rate. The comparison: the
 *    `ably` REST SDK directly, one publish (one REST call) per message on the same channel, one
 *    call at a time (what the backend does on one channel) and at the publishers' total window.
 */

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import * as Ably from "ably";
import type { Socket } from "socket.io-client";
import { ABLY_DEFAULTS } from "../src/egress/ably/ably-settings.js";
import { AblyEmulator } from "../test/emulators/ably/ably-emulator.js";
import {
  Arrivals,
  type BackendTuning,
  ClosedLoop,
  CpuWindow,
  closeAll,
  connectSocketIo,
  type LatencyStats,
  latencyStats,
  metricValue,
  OthersCpu,
  type Spread,
  scrapeMetrics,
  spread,
  startSwitchyard,
  tunedBenchConfig,
  until,
  WAIT_MS,
  waitUntilReady,
  within,
} from "./managed-bench.js";
import { freePort, type RunningServer, stopServer } from "./servers.js";

export type { Spread } from "./managed-bench.js";

const CONFIG = "examples/ably/switchyard.yaml";
/** The emulator's one app and key: local credentials, a secret nowhere else. */
const APP = { id: "bench", keys: [{ id: "bench", secret: "bench-secret" }] };
const KEY = `${APP.id}.${APP.keys[0]!.id}:${APP.keys[0]!.secret}`;
/** The room of the bridged latency path, on the Ably channel of the same name. */
const LATENCY_ROOM = "room:bench";
const BRIDGED_CHANNEL = "room:bench";
/** Not a route's channel: only the direct subscriber is on it. */
const DIRECT_CHANNEL = "bench-direct";
/** The one room every throughput publisher publishes to, and its channel. */
const HOT_ROOM = "room:hot";
const HOT_CHANNEL = "room:hot";
/** The issue's targets. */
const TARGET_ADDED_P50_MS = 1;
const TARGET_PER_SEC = 5000;
/** Settings of the `ably` backend the run may set in its copy of the example. */
export type AblyTuning = BackendTuning;

export interface AblyBenchOptions {
  /** The repository root (bin/switchyard.js, the example). */
  readonly root: string;
  /** Latency samples per path after the warmup; at least 500 for a p99 worth quoting. */
  readonly samples: number;
  /** Latency messages per path sent before measuring. */
  readonly warmup: number;
  /** Throughput: warmup and measurement windows, milliseconds. */
  readonly throughputWarmupMs: number;
  readonly throughputMs: number;
  /** Throughput: socket.io-client publishers, all on `room:hot`. */
  readonly publishers: number;
  /** Throughput: acks outstanding per publisher. */
  readonly window: number;
  /** Approximate bytes of each message's data. */
  readonly payloadBytes: number;
  /** Backend settings for the run's config; absent ones keep the example's (the defaults). */
  readonly tuning: AblyTuning;
  /** CPU to pin Switchyard to (taskset), or null. */
  readonly cpu: number | null;
  /** Switchyard's stdout and stderr. */
  readonly logPath: string;
}

export interface AblyThroughputRun {
  readonly label: string;
  /** Messages whose publish was accepted within the window, per second. */
  readonly perSec: number;
  readonly accepted: number;
  readonly failed: number;
  /** Failed publishes in the window by reason (an error code), when any failed. */
  readonly failures: Readonly<Record<string, number>>;
  /** Messages in flight at once (publishers × window, or SDK calls in flight). */
  readonly inflight: number;
  /** REST publish calls to the emulator in the window, and the messages they got accepted. */
  readonly restCalls: number;
  readonly restMessages: number;
  /** Messages the emulator accepted in the window (its `stats.published`). */
  readonly emulatorPublished: number;
  /**
   * CPU used in the window, % of one core: Switchyard's process, and this one (the emulator,
   * the clients, the SDK). One near 100 % is what set the rate. `others`: every other
   * process on the machine (over 10 % disturbs the figures).
   */
  readonly cpuPct: { readonly switchyard: number; readonly bench: number; readonly others: number };
}

export interface AblyResult {
  readonly switchyard: string;
  /** What the run's copy of the example changed, `path: value` each. */
  readonly configChanges: readonly string[];
  /** The backend's publish settings in effect (the example leaves them at their defaults). */
  readonly backendSettings: { readonly batchSize: number; readonly maxInflight: number };
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
    readonly room: string;
    readonly publishers: number;
    readonly window: number;
    readonly targetPerSec: number;
    readonly bridged: AblyThroughputRun;
    readonly sdk: readonly AblyThroughputRun[];
  };
}

/** Runs both measurements; everything it started is stopped before it returns or throws. */
export async function runAblyBench(opts: AblyBenchOptions): Promise<AblyResult> {
  const closers: (() => unknown)[] = [];
  try {
    const config = tunedBenchConfig({
      root: opts.root,
      example: CONFIG,
      window: opts.window,
      backend: "ably",
      tuning: opts.tuning,
      defaults: ABLY_DEFAULTS,
    });
    closers.push(config.remove);
    const emulator = await AblyEmulator.start({ apps: [APP] });
    closers.push(() => emulator.close());
    const port = await freePort();
    const server = await startBridge(opts, config.path, emulator, port);
    closers.push(() => stopServer(server));
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(url);

    const rest = new Ably.Rest(sdkOptions(emulator));
    const native = new Ably.Realtime(sdkOptions(emulator));
    closers.push(() => native.close());
    await within(native.connection.whenState("connected"), "the ably Realtime connection");
    const member = await connectSocketIo(url);
    closers.push(() => member.close());
    const latency = await measureLatency(opts, emulator, rest, native, member, server.pid);

    const publishers: Socket[] = [];
    for (let i = 0; i < opts.publishers; i++) {
      const socket = await connectSocketIo(url);
      closers.push(() => socket.close());
      publishers.push(socket);
    }
    const rig: Rig = { opts, emulator, url, serverPid: server.pid };
    const bridged = await measureBridgedThroughput(rig, publishers);
    const sdk: AblyThroughputRun[] = [];
    for (const concurrency of [1, opts.publishers * opts.window]) {
      sdk.push(await measureSdkThroughput(rig, rest, concurrency));
    }
    return {
      switchyard: `child process: node bin/switchyard.js start --config <copy of ${CONFIG}>${opts.cpu === null ? "" : `, pinned to CPU ${opts.cpu}`}`,
      configChanges: config.changes,
      backendSettings: config.settings,
      payloadBytes: opts.payloadBytes,
      latency: {
        ...latency,
        addedP50Ms: latency.bridged.p50Ms - latency.direct.p50Ms,
        addedP99Ms: latency.bridged.p99Ms - latency.direct.p99Ms,
        targetAddedP50Ms: TARGET_ADDED_P50_MS,
      },
      throughput: {
        room: HOT_ROOM,
        publishers: opts.publishers,
        window: opts.window,
        targetPerSec: TARGET_PER_SEC,
        bridged,
        sdk,
      },
    };
  } finally {
    await closeAll(closers);
  }
}

function startBridge(
  opts: AblyBenchOptions,
  config: string,
  emulator: AblyEmulator,
  port: number,
): Promise<RunningServer> {
  return startSwitchyard({
    root: opts.root,
    config,
    port,
    env: [
      `ABLY_KEY=${KEY}`,
      `ABLY_HOST=${emulator.host}`,
      `ABLY_PORT=${emulator.port}`,
      "ABLY_TLS=false",
    ],
    label: "switchyard (ably)",
    cpu: opts.cpu,
    logPath: opts.logPath,
  });
}

/** The bench's own SDK clients: the emulator's address, the SDK's default format (msgpack). */
function sdkOptions(emulator: AblyEmulator): Ably.ClientOptions {
  return {
    key: KEY,
    endpoint: emulator.host,
    port: emulator.port,
    tls: false,
    ...emulator.connectivityCheckOptions,
    logLevel: 0,
  };
}

/** Resolves once `channel` has `count` attachments on the emulator. */
function attached(emulator: AblyEmulator, channel: string, count: number): Promise<void> {
  return until(
    () => emulator.attachedConnectionIds(APP.id, channel).length >= count,
    `${channel} never got ${count} attachments`,
  );
}

async function measureLatency(
  opts: AblyBenchOptions,
  emulator: AblyEmulator,
  rest: Ably.Rest,
  native: Ably.Realtime,
  member: Socket,
  serverPid: number,
): Promise<{ direct: LatencyStats; bridged: LatencyStats; otherCpuPct: number }> {
  const direct = new Arrivals();
  const channel = native.channels.get(DIRECT_CHANNEL);
  const onDirect = (message: Ably.InboundMessage) => direct.onMessage(message.data);
  await within(channel.subscribe("message", onDirect), `an attach of ${DIRECT_CHANNEL}`);
  await attached(emulator, DIRECT_CHANNEL, 1);

  const bridged = new Arrivals();
  member.on("message", bridged.onMessage);
  const ack = await member.timeout(WAIT_MS).emitWithAck("join", { room: LATENCY_ROOM });
  if ((ack as { ok?: boolean }).ok !== true) throw new Error(`join: ${JSON.stringify(ack)}`);
  await attached(emulator, BRIDGED_CHANNEL, 1);

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
      rest.channels.get(target).publish("message", { seq, t: performance.now(), pad }),
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
  channel.unsubscribe("message", onDirect);
  member.off("message", bridged.onMessage);
  return {
    direct: latencyStats(samples.direct),
    bridged: latencyStats(samples.bridged),
    otherCpuPct: others.pct(),
  };
}

/** Switchyard's REST publish calls so far and the messages they got accepted, from `/metrics`. */
async function restCounters(url: string): Promise<{ calls: number; messages: number }> {
  const text = await scrapeMetrics(url);
  return {
    calls: metricValue(text, "switchyard_ably_requests_total", 'backend="ably"'),
    messages: metricValue(text, "switchyard_ably_published_total", 'backend="ably"'),
  };
}

/** What a throughput measurement reads: the emulator's counters, Switchyard's and its CPU. */
interface Rig {
  readonly opts: AblyBenchOptions;
  readonly emulator: AblyEmulator;
  readonly url: string;
  readonly serverPid: number;
}

interface PublishAck {
  readonly ok?: boolean;
  readonly error?: { readonly code?: string };
}

async function measureBridgedThroughput(
  rig: Rig,
  publishers: readonly Socket[],
): Promise<AblyThroughputRun> {
  const { opts } = rig;
  const payload = "x".repeat(opts.payloadBytes);
  const publish = (worker: number): Promise<true | string> =>
    publishers[worker % publishers.length]!.timeout(WAIT_MS)
      .emitWithAck("publish", { room: HOT_ROOM, payload })
      .then((ack: PublishAck) => ack?.ok === true || (ack?.error?.code ?? JSON.stringify(ack)));
  const inflight = opts.publishers * opts.window;
  const loop = new ClosedLoop(inflight, publish);
  const label = `switchyard (batched), ${opts.publishers} × ${opts.window} acks`;
  return measureWindow(rig, loop, label, inflight, () => restCounters(rig.url));
}

async function measureSdkThroughput(
  rig: Rig,
  rest: Ably.Rest,
  concurrency: number,
): Promise<AblyThroughputRun> {
  const { opts } = rig;
  const payload = "x".repeat(opts.payloadBytes);
  const channel = rest.channels.get(HOT_CHANNEL);
  const counters = { calls: 0, messages: 0 };
  const publish = (): Promise<true | string> => {
    counters.calls += 1;
    return channel.publish("message", payload).then(
      () => {
        counters.messages += 1;
        return true;
      },
      (error: Ably.ErrorInfo) => `ably ${error.code}`,
    );
  };
  const loop = new ClosedLoop(concurrency, publish);
  const label = `ably REST SDK, 1 publish per message, ${concurrency} in flight`;
  return measureWindow(rig, loop, label, concurrency, async () => ({ ...counters }));
}

async function measureWindow(
  rig: Rig,
  loop: ClosedLoop,
  label: string,
  inflight: number,
  rest: () => Promise<{ calls: number; messages: number }>,
): Promise<AblyThroughputRun> {
  const cpu = new CpuWindow(rig.serverPid);
  try {
    await sleep(rig.opts.throughputWarmupMs);
    const before = { rest: await rest(), published: rig.emulator.stats.published };
    cpu.start();
    loop.count(true);
    const t0 = performance.now();
    await sleep(rig.opts.throughputMs);
    loop.count(false);
    const seconds = (performance.now() - t0) / 1000;
    const cpuPct = cpu.stop();
    const published = rig.emulator.stats.published;
    const after = await rest();
    return {
      label,
      perSec: loop.accepted / seconds,
      accepted: loop.accepted,
      failed: loop.failed,
      failures: Object.fromEntries(loop.failures),
      inflight,
      restCalls: after.calls - before.rest.calls,
      restMessages: after.messages - before.rest.messages,
      emulatorPublished: published - before.published,
      cpuPct,
    };
  } finally {
    await loop.stop();
  }
}

export function formatAbly(result: AblyResult): string {
  const ms = (v: number) => v.toFixed(3);
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const { direct, bridged } = result.latency;
  const { throughput } = result;
  const line = (run: AblyThroughputRun) => {
    const perCall = run.restCalls > 0 ? (run.restMessages / run.restCalls).toFixed(1) : "-";
    const failures = Object.entries(run.failures)
      .map(([reason, n]) => `${f(n)} ${reason}`)
      .join(", ");
    return (
      `    ${run.label.padEnd(50)} ${f(run.perSec).padStart(8)} msg/s` +
      ` (${f(run.accepted)} accepted${run.failed > 0 ? `, ${f(run.failed)} FAILED: ${failures}` : ""};` +
      ` ${f(run.restCalls)} REST calls, ${perCall} messages/call;` +
      ` CPU switchyard ${f(run.cpuPct.switchyard)}%, bench process ${f(run.cpuPct.bench)}%,` +
      ` other processes ${f(run.cpuPct.others)}%)`
    );
  };
  const latencyVerdict =
    result.latency.addedP50Ms <= result.latency.targetAddedP50Ms ? "met" : "MISSED";
  const rateVerdict = throughput.bridged.perSec >= throughput.targetPerSec ? "met" : "MISSED";
  return [
    `Ably backend (emulator on 127.0.0.1; Switchyard as a ${result.switchyard}; ${result.payloadBytes} B payloads)`,
    `  bench-only config changes to ${CONFIG}: ${result.configChanges.join(", ")}`,
    `  backend publish settings: batchSize ${result.backendSettings.batchSize}, maxInflight ${result.backendSettings.maxInflight}`,
    `  latency, one message in flight, REST publish → receiver (ms): p50 / p99 / mean / max over ${direct.samples} samples`,
    `    direct  (ably Realtime subscriber)      ${ms(direct.p50Ms)} / ${ms(direct.p99Ms)} / ${ms(direct.meanMs)} / ${ms(direct.maxMs)}`,
    `    bridged (Switchyard → socket.io-client) ${ms(bridged.p50Ms)} / ${ms(bridged.p99Ms)} / ${ms(bridged.meanMs)} / ${ms(bridged.maxMs)}`,
    `    added by the bridge: p50 ${ms(result.latency.addedP50Ms)} ms (target ≤ ${result.latency.targetAddedP50Ms} ms: ${latencyVerdict}), p99 ${ms(result.latency.addedP99Ms)} ms; other processes used ${f(result.latency.otherCpuPct)}% of a core`,
    `  publish throughput on one hot room (${throughput.room}), closed loop, messages accepted by Ably per second` +
      ` (target ≥ ${f(throughput.targetPerSec)} msg/s: ${rateVerdict}):`,
    line(throughput.bridged),
    ...throughput.sdk.map(line),
  ].join("\n");
}

/** The figures that decide the targets, over every run of the phase. */
export interface AblySummary {
  readonly runs: number;
  readonly addedP50Ms: Spread;
  readonly addedP99Ms: Spread;
  readonly bridgedPerSec: Spread;
  /** One per SDK comparison, in the runs' order. */
  readonly sdkPerSec: readonly (Spread & { readonly label: string })[];
}

/** Medians and ranges of `runs` (at least one). */
export function summarizeAbly(runs: readonly AblyResult[]): AblySummary {
  const first = runs[0]!;
  return {
    runs: runs.length,
    addedP50Ms: spread(runs.map((r) => r.latency.addedP50Ms)),
    addedP99Ms: spread(runs.map((r) => r.latency.addedP99Ms)),
    bridgedPerSec: spread(runs.map((r) => r.throughput.bridged.perSec)),
    sdkPerSec: first.throughput.sdk.map((run, i) => ({
      label: run.label,
      ...spread(runs.map((r) => r.throughput.sdk[i]?.perSec ?? 0)),
    })),
  };
}

export function formatAblySummary(summary: AblySummary): string {
  const ms = (s: Spread) => `${s.median.toFixed(3)} ms (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const rate = (s: Spread) => `${f(s.median)} msg/s (${f(s.min)}–${f(s.max)})`;
  return [
    `Ably backend over ${summary.runs} runs: median (range)`,
    `  added by the bridge: p50 ${ms(summary.addedP50Ms)} (target ≤ ${TARGET_ADDED_P50_MS} ms), p99 ${ms(summary.addedP99Ms)}`,
    `  hot room, switchyard (batched): ${rate(summary.bridgedPerSec)} (target ≥ ${f(TARGET_PER_SEC)} msg/s)`,
    ...summary.sdkPerSec.map((s) => `  ${s.label}: ${rate(s)}`),
  ].join("\n");
}

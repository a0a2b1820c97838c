/**
 * The `websocket` backend benchmark, as `npm run bench` runs it after the Ably one
 * (`--websocket-only` alone, `--no-websocket` to skip). Everything runs on 127.0.0.1 against a
 * real SocketCluster server (the `socketcluster-server` package, test/buses/socketcluster-bus.ts),
 * started in this process as the Pusher and Ably emulators are, with one Switchyard serving
 * examples/websocket/switchyard.yaml (preset `socketcluster`, the bus's URL in `WS_BUS_URL`) as a
 * child process, from dist/ through bin/switchyard.js, pinned to the server CPU (bench/pusher.ts
 * says why a child process).
 *
 * It serves a copy of the example with the benchmark contract's limits (bench/bench-config.ts)
 * and reports every change it made there.
 *
 * 1. Latency, one message in flight, `samples` after `warmup`, at most one every `paceMs`: a
 *    socketcluster-client publisher publishes (`invokePublish`) on `room:bench`; a
 *    socketcluster-client subscribed to `room:bench` (direct) and a socket.io-client member of
 *    `room:bench` in Switchyard (bridged) both receive that same publication. The payload carries
 *    the send time (`performance.now()` of this process); each path's latency is its receive
 *    time minus it, and the bridge's cost is, message by message, the bridged arrival minus the
 *    direct one: its p50, p95 and p99.
 * 2. Throughput on one hot room, closed loops of `publishers` × `window` publications in flight,
 *    each counted once the bus answered it, and `members` receivers:
 *    - floor: socketcluster-client publishers → the bus → socketcluster-client subscribers, on a
 *      channel no route uses (`bench-floor`): what the bus carries without the bridge;
 *    - socket.io publishers → Switchyard → the bus → Switchyard → socket.io members of
 *      `room:hot` (a publication is acked once the bus answered its `#publish`);
 *    - socketcluster-client publishers → the bus → Switchyard → socket.io members of `room:hot`.
 *    Publications delivered to every receiver per second over the measurement window, the ratio
 *    of each bridged path to the floor, failed publications by code, and after the loop stopped,
 *    acknowledged publications a receiver never got (missing) or got twice (duplicates).
 */

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Socket } from "socket.io-client";
import * as socketClusterClient from "socketcluster-client";
import { WEBSOCKET_DEFAULTS } from "../src/egress/websocket/websocket-settings.js";
import { SOCKETCLUSTER_PATH, SocketClusterBus } from "../test/buses/socketcluster-bus.js";
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
  WAIT_MS,
  type WindowCpu,
  waitUntilReady,
  within,
} from "./managed-bench.js";
import { freePort, type RunningServer, stopServer } from "./servers.js";

type ScSocket = ReturnType<typeof socketClusterClient.create>;
type ScChannel = ReturnType<ScSocket["subscribe"]>;

const CONFIG = "examples/websocket/switchyard.yaml";
/** The example's backend. */
const BACKEND = "bus";
/** The room of the latency paths, on the bus channel of the same name. */
const LATENCY_ROOM = "room:bench";
const LATENCY_CHANNEL = "room:bench";
/** The one room of the bridged throughput runs, and its channel. */
const HOT_ROOM = "room:hot";
const HOT_CHANNEL = "room:hot";
/** Not a route's channel: the floor's publishers and subscribers only. */
const FLOOR_CHANNEL = "bench-floor";
/** The issue's target. */
const TARGET_ADDED_P50_MS = 0.5;

/** Settings of the `websocket` backend the run may set in its copy of the example. */
export type WebsocketTuning = BackendTuning;

export interface WebsocketBenchOptions {
  /** The repository root (bin/switchyard.js, the example). */
  readonly root: string;
  /** Latency samples after the warmup; at least 1,000 for a p99 worth quoting. */
  readonly samples: number;
  /** Latency messages sent before measuring. */
  readonly warmup: number;
  /** Latency: a message leaves at least this long after the previous one left, ms. */
  readonly paceMs: number;
  /** Throughput: warmup and measurement windows, milliseconds. */
  readonly throughputWarmupMs: number;
  readonly throughputMs: number;
  /** Throughput: publishers, all on the hot room. */
  readonly publishers: number;
  /** Throughput: publications outstanding per publisher. */
  readonly window: number;
  /** Throughput: receivers of the hot room (socket.io members, or the floor's subscribers). */
  readonly members: number;
  /** Approximate bytes of each message's data. */
  readonly payloadBytes: number;
  /** Backend settings for the run's config; absent ones keep the example's (the defaults). */
  readonly tuning: WebsocketTuning;
  /** CPU to pin Switchyard to (taskset), or null. */
  readonly cpu: number | null;
  /** Switchyard's stdout and stderr. */
  readonly logPath: string;
}

export interface WebsocketThroughputRun {
  readonly label: string;
  /** Publications delivered to every receiver, per second: deliveries ÷ receivers ÷ seconds. */
  readonly perSec: number;
  /** Every delivery in the window, per second. */
  readonly deliveriesPerSec: number;
  /** Publications the bus answered in the window, per second. */
  readonly acceptedPerSec: number;
  readonly accepted: number;
  readonly failed: number;
  /** Failed publications in the window by reason (an error code), when any failed. */
  readonly failures: Readonly<Record<string, number>>;
  /** Publications in flight at once (publishers × window). */
  readonly inflight: number;
  readonly receivers: number;
  /**
   * After the loop stopped and the receivers drained: publications the bus answered, over the
   * whole run (warmup included), that a receiver never got, summed over receivers.
   */
  readonly missing: number;
  /** Publications a receiver got more than once, summed over receivers. */
  readonly duplicates: number;
  /**
   * Publications the bridge's bus connection published in the window (`/metrics`:
   * `switchyard_websocket_published_total`), bridged runs.
   */
  readonly busPublished: number | null;
  /** The measurement window, seconds. */
  readonly seconds: number;
  /** Frames or messages from the bus that reached no member in the run (`/metrics`). */
  readonly receiveErrors: number | null;
  /**
   * CPU used in the window, % of one core: Switchyard's process, and this one (the bus, the
   * clients). One near 100 % is what set the rate. `others`: every other process on the
   * machine (over 10 % disturbs the figures).
   */
  readonly cpuPct: WindowCpu;
}

export interface WebsocketResult {
  readonly switchyard: string;
  /** What the run's copy of the example changed, `path: value` each. */
  readonly configChanges: readonly string[];
  /** The backend's publish settings in effect (the example leaves them at their defaults). */
  readonly backendSettings: { readonly batchSize: number; readonly maxInflight: number };
  readonly payloadBytes: number;
  readonly latency: {
    /** publish → the direct socketcluster-client subscriber. */
    readonly direct: LatencyStats;
    /** publish → the socket.io-client member, through Switchyard. */
    readonly bridged: LatencyStats;
    /** Per message: bridged arrival − direct arrival. */
    readonly added: LatencyStats;
    readonly targetAddedP50Ms: number;
    readonly paceMs: number;
    /** CPU other processes used while sampling, % of one core. */
    readonly otherCpuPct: number;
  };
  readonly throughput: {
    readonly room: string;
    readonly publishers: number;
    readonly window: number;
    readonly members: number;
    /** socketcluster-client → bus → socketcluster-client: the ratios' base. */
    readonly floor: WebsocketThroughputRun;
    /** socket.io → Switchyard → bus → Switchyard → socket.io. */
    readonly socketio: WebsocketThroughputRun;
    /** socketcluster-client → bus → Switchyard → socket.io. */
    readonly bus: WebsocketThroughputRun;
    /** perSec of each bridged run ÷ the floor's. */
    readonly socketioRatio: number;
    readonly busRatio: number;
  };
}

/** Runs both measurements; everything it started is stopped before it returns or throws. */
export async function runWebsocketBench(opts: WebsocketBenchOptions): Promise<WebsocketResult> {
  const closers: (() => unknown)[] = [];
  try {
    const config = tunedBenchConfig({
      root: opts.root,
      example: CONFIG,
      window: opts.window,
      backend: BACKEND,
      tuning: opts.tuning,
      defaults: WEBSOCKET_DEFAULTS,
    });
    closers.push(config.remove);
    const bus = await SocketClusterBus.start();
    closers.push(() => bus.close());
    const port = await freePort();
    const server = await startBridge(opts, config.path, bus, port);
    closers.push(() => stopServer(server));
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(url);

    const scSocket = async (): Promise<ScSocket> => {
      const socket = await connectSocketCluster(bus);
      closers.push(() => socket.disconnect());
      return socket;
    };
    const sioSocket = async (): Promise<Socket> => {
      const socket = await connectSocketIo(url);
      closers.push(() => socket.close());
      return socket;
    };

    const latency = await measureLatency(
      opts,
      await scSocket(),
      await scSocket(),
      await sioSocket(),
      server.pid,
    );

    const rig: Rig = { opts, url, serverPid: server.pid };
    const scPublishers: ScSocket[] = [];
    const sioPublishers: Socket[] = [];
    for (let i = 0; i < opts.publishers; i++) {
      scPublishers.push(await scSocket());
      sioPublishers.push(await sioSocket());
    }
    // The receivers: the floor's subscribers on its own channel, the members of the hot room.
    const floorSubscribers: ScSocket[] = [];
    const members: Socket[] = [];
    for (let i = 0; i < opts.members; i++) {
      floorSubscribers.push(await scSocket());
      members.push(await sioSocket());
    }
    const onFloor = new Receivers(opts.members);
    for (const [i, socket] of floorSubscribers.entries()) {
      const channel = await subscribed(socket, FLOOR_CHANNEL);
      closers.push(() => channel.close());
      consume(channel, (data) => onFloor.current?.receive(i, data));
    }
    const onHot = new Receivers(opts.members);
    for (const [i, member] of members.entries()) {
      await join(member, HOT_ROOM);
      member.on("message", (data: unknown) => onHot.current?.receive(i, data));
    }

    const floor = await measureThroughput(
      rig,
      onFloor,
      "floor: socketcluster-client → bus → socketcluster-client",
      false,
      (payload) => (worker) =>
        scPublishers[worker % scPublishers.length]!.invokePublish(FLOOR_CHANNEL, payload),
    );
    const socketio = await measureThroughput(
      rig,
      onHot,
      "socket.io → switchyard → bus → switchyard → socket.io",
      true,
      (payload) => (worker) =>
        sioPublishers[worker % sioPublishers.length]!.timeout(WAIT_MS)
          .emitWithAck("publish", { room: HOT_ROOM, payload })
          .then((ack: PublishAck) => {
            if (ack?.ok !== true) throw new Refused(ack?.error?.code ?? JSON.stringify(ack));
          }),
    );
    const fromBus = await measureThroughput(
      rig,
      onHot,
      "socketcluster-client → bus → switchyard → socket.io",
      true,
      (payload) => (worker) =>
        scPublishers[worker % scPublishers.length]!.invokePublish(HOT_CHANNEL, payload),
    );
    return {
      switchyard: `child process: node bin/switchyard.js start --config <copy of ${CONFIG}>${opts.cpu === null ? "" : `, pinned to CPU ${opts.cpu}`}`,
      configChanges: config.changes,
      backendSettings: config.settings,
      payloadBytes: opts.payloadBytes,
      latency,
      throughput: {
        room: HOT_ROOM,
        publishers: opts.publishers,
        window: opts.window,
        members: opts.members,
        floor,
        socketio,
        bus: fromBus,
        socketioRatio: socketio.perSec / floor.perSec,
        busRatio: fromBus.perSec / floor.perSec,
      },
    };
  } finally {
    await closeAll(closers);
  }
}

function startBridge(
  opts: WebsocketBenchOptions,
  config: string,
  bus: SocketClusterBus,
  port: number,
): Promise<RunningServer> {
  return startSwitchyard({
    root: opts.root,
    config,
    port,
    env: [`WS_BUS_URL=${bus.url}`],
    label: "switchyard (websocket)",
    cpu: opts.cpu,
    logPath: opts.logPath,
  });
}

/** A connected socketcluster-client socket, never reconnecting. */
async function connectSocketCluster(bus: SocketClusterBus): Promise<ScSocket> {
  const socket = socketClusterClient.create({
    hostname: bus.host,
    port: bus.port,
    path: SOCKETCLUSTER_PATH,
    autoReconnect: false,
  });
  const error = await within(
    Promise.race([
      socket
        .listener("connect")
        .once()
        .then(() => null),
      socket.listener("error").once(),
    ]),
    "a socketcluster-client connection",
  );
  if (error !== null) throw new Error(`socketcluster-client: ${JSON.stringify(error)}`);
  return socket;
}

/** `channel` of `socket`, once the bus confirmed the subscription. */
async function subscribed(socket: ScSocket, name: string): Promise<ScChannel> {
  const channel = socket.subscribe(name);
  await within(channel.listener("subscribe").once(), `a subscription to ${name}`);
  return channel;
}

/** Hands every message of `channel` to `onData` until the channel is closed. */
function consume(channel: ScChannel, onData: (data: unknown) => void): void {
  void (async () => {
    for await (const data of channel) onData(data);
  })();
}

/** Joins `room` through the example's `join` event; its ack comes once the bus confirmed. */
async function join(member: Socket, room: string): Promise<void> {
  const ack = await member.timeout(WAIT_MS).emitWithAck("join", { room });
  if ((ack as { ok?: boolean }).ok !== true) throw new Error(`join: ${JSON.stringify(ack)}`);
}

async function measureLatency(
  opts: WebsocketBenchOptions,
  publisher: ScSocket,
  subscriber: ScSocket,
  member: Socket,
  serverPid: number,
): Promise<WebsocketResult["latency"]> {
  const direct = new Arrivals();
  const channel = await subscribed(subscriber, LATENCY_CHANNEL);
  consume(channel, direct.onMessage);
  const bridged = new Arrivals();
  member.on("message", bridged.onMessage);
  await join(member, LATENCY_ROOM);

  const pad = "x".repeat(Math.max(0, opts.payloadBytes - 40));
  const samples = { direct: [] as number[], bridged: [] as number[], added: [] as number[] };
  const others = new OthersCpu(serverPid);
  let last = 0;
  for (let seq = 1; seq <= opts.warmup + opts.samples; seq++) {
    if (seq === opts.warmup + 1) others.start();
    const wait = last + opts.paceMs - performance.now();
    if (wait > 0) await sleep(wait);
    last = performance.now();
    // One publication for both receivers; the next leaves once both got it and the bus answered.
    const [d, b] = await Promise.all([
      direct.expect(seq),
      bridged.expect(seq),
      publisher.invokePublish(LATENCY_CHANNEL, { seq, t: performance.now(), pad }),
    ]);
    if (seq > opts.warmup) {
      samples.direct.push(d);
      samples.bridged.push(b);
      samples.added.push(b - d);
    }
  }
  channel.close();
  member.off("message", bridged.onMessage);
  return {
    direct: latencyStats(samples.direct),
    bridged: latencyStats(samples.bridged),
    added: latencyStats(samples.added),
    targetAddedP50Ms: TARGET_ADDED_P50_MS,
    paceMs: opts.paceMs,
    otherCpuPct: others.pct(),
  };
}

interface PublishAck {
  readonly ok?: boolean;
  readonly error?: { readonly code?: string };
}

/** A publication Switchyard refused; its message is the code. */
class Refused extends Error {}

/** What a throughput measurement reads: Switchyard's `/metrics` and CPU. */
interface Rig {
  readonly opts: WebsocketBenchOptions;
  readonly url: string;
  readonly serverPid: number;
}

/**
 * Which publications each receiver got, by id: a publication's payload starts with its id
 * (`123:xxxx`). A {@link Tally} per measurement; `current` is the one receiving.
 */
class Receivers {
  current: Tally | null = null;
  constructor(readonly count: number) {}
}

/** Publications of one measurement: ids given, answered by the bus, received by whom. */
class Tally {
  #nextId = 0;
  #acked = new Uint8Array(1 << 16);
  #seen: Uint8Array[];
  /** Deliveries while counting, and every one. */
  inWindow = 0;
  total = 0;
  duplicates = 0;
  counting = false;

  constructor(receivers: number) {
    this.#seen = Array.from({ length: receivers }, () => new Uint8Array(1 << 16));
  }

  /** A new id, room made for it. */
  nextId(): number {
    const id = this.#nextId++;
    if (id >= this.#acked.length) {
      const grow = (a: Uint8Array) => {
        const b = new Uint8Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#acked = grow(this.#acked);
      this.#seen = this.#seen.map(grow);
    }
    return id;
  }

  acked(id: number): void {
    this.#acked[id] = 1;
  }

  receive(receiver: number, data: unknown): void {
    const id = typeof data === "string" ? Number.parseInt(data, 10) : Number.NaN;
    const seen = this.#seen[receiver];
    if (seen === undefined || !(id >= 0 && id < this.#nextId)) return;
    this.total += 1;
    if (this.counting) this.inWindow += 1;
    if (seen[id] === 1) this.duplicates += 1;
    seen[id] = 1;
  }

  /** Acknowledged publications each receiver has not got, summed. */
  missing(): number {
    let missing = 0;
    for (let id = 0; id < this.#nextId; id++) {
      if (this.#acked[id] !== 1) continue;
      for (const seen of this.#seen) if (seen[id] !== 1) missing += 1;
    }
    return missing;
  }
}

/** Switchyard's publication counters so far, from `/metrics`. */
async function bridgeCounters(url: string): Promise<{ published: number; receiveErrors: number }> {
  const text = await scrapeMetrics(url);
  const backend = `backend="${BACKEND}"`;
  return {
    published: metricValue(text, "switchyard_websocket_published_total", backend),
    receiveErrors: metricValue(text, "switchyard_websocket_receive_errors_total", backend),
  };
}

/**
 * One closed loop of `publishers × window` publications on the hot room, `publish(payload)`
 * making one (it resolves once the bus answered, rejects with the reason otherwise).
 */
async function measureThroughput(
  rig: Rig,
  receivers: Receivers,
  label: string,
  bridged: boolean,
  publish: (payload: string) => (worker: number) => Promise<unknown>,
): Promise<WebsocketThroughputRun> {
  const { opts } = rig;
  const tally = new Tally(receivers.count);
  receivers.current = tally;
  const pad = "x".repeat(Math.max(0, opts.payloadBytes - 8));
  const op = (worker: number): Promise<true | string> => {
    const id = tally.nextId();
    return publish(`${id}:${pad}`)(worker).then(
      () => {
        tally.acked(id);
        return true;
      },
      (error: Error) => (error instanceof Refused ? error.message : error?.name || "rejected"),
    );
  };
  const inflight = opts.publishers * opts.window;
  const counters = () =>
    bridged ? bridgeCounters(rig.url) : Promise.resolve({ published: 0, receiveErrors: 0 });
  const start = await counters();
  const loop = new ClosedLoop(inflight, op);
  const cpu = new CpuWindow(rig.serverPid);
  let stopped = false;
  try {
    await sleep(opts.throughputWarmupMs);
    const before = await counters();
    cpu.start();
    tally.counting = true;
    loop.count(true);
    const t0 = performance.now();
    await sleep(opts.throughputMs);
    loop.count(false);
    tally.counting = false;
    const seconds = (performance.now() - t0) / 1000;
    const cpuPct = cpu.stop();
    const after = await counters();
    const inWindow = tally.inWindow;
    await loop.stop();
    stopped = true;
    await drained(tally, receivers.count);
    const end = await counters();
    receivers.current = null;
    return {
      label,
      perSec: inWindow / receivers.count / seconds,
      deliveriesPerSec: inWindow / seconds,
      acceptedPerSec: loop.accepted / seconds,
      accepted: loop.accepted,
      failed: loop.failed,
      failures: Object.fromEntries(loop.failures),
      inflight,
      receivers: receivers.count,
      missing: tally.missing(),
      duplicates: tally.duplicates,
      busPublished: bridged ? after.published - before.published : null,
      receiveErrors: bridged ? end.receiveErrors - start.receiveErrors : null,
      seconds,
      cpuPct,
    };
  } finally {
    if (!stopped) await loop.stop();
    receivers.current = null;
  }
}

/** Waits until deliveries stop growing for 500 ms (at most WAIT_MS): what was on its way. */
async function drained(tally: Tally, receivers: number): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  let seen = -1;
  let quietSince = performance.now();
  while (performance.now() < deadline) {
    if (tally.total !== seen) {
      seen = tally.total;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= 500 || receivers === 0) {
      return;
    }
    await sleep(20);
  }
}

export function formatWebsocket(result: WebsocketResult): string {
  const ms = (v: number) => v.toFixed(3);
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const { direct, bridged, added } = result.latency;
  const { throughput } = result;
  const stats = (s: LatencyStats) =>
    `${ms(s.p50Ms)} / ${ms(s.p95Ms)} / ${ms(s.p99Ms)} / ${ms(s.meanMs)} / ${ms(s.maxMs)}`;
  const line = (run: WebsocketThroughputRun, ratio: number | null) => {
    const failures = Object.entries(run.failures)
      .map(([reason, n]) => `${f(n)} ${reason}`)
      .join(", ");
    const problems = [
      run.failed > 0 ? `${f(run.failed)} FAILED: ${failures}` : "",
      run.missing > 0 ? `${f(run.missing)} MISSING` : "",
      run.duplicates > 0 ? `${f(run.duplicates)} DUPLICATES` : "",
      (run.receiveErrors ?? 0) > 0 ? `${f(run.receiveErrors!)} bus frames reached no member` : "",
    ].filter((p) => p !== "");
    return (
      `    ${run.label.padEnd(56)} ${f(run.perSec).padStart(8)} msg/s` +
      (ratio === null ? " (base)".padEnd(14) : ` (${ratio.toFixed(2)}× floor)`) +
      ` (${f(run.deliveriesPerSec)} deliveries/s to ${run.receivers}; ${f(run.acceptedPerSec)} publications/s answered by the bus` +
      (run.busPublished ? `, ${f(run.busPublished / run.seconds)}/s published by the bridge` : "") +
      `; ${problems.length > 0 ? problems.join(", ") : "no failure, none missing"};` +
      ` CPU switchyard ${f(run.cpuPct.switchyard)}%, bench process ${f(run.cpuPct.bench)}%,` +
      ` other processes ${f(run.cpuPct.others)}%)`
    );
  };
  const verdict = added.p50Ms <= result.latency.targetAddedP50Ms ? "met" : "MISSED";
  return [
    `WebSocket bus backend (socketcluster-server on 127.0.0.1; Switchyard as a ${result.switchyard}; ${result.payloadBytes} B payloads)`,
    `  bench-only config changes to ${CONFIG}: ${result.configChanges.join(", ")}`,
    `  backend publish settings: batchSize ${result.backendSettings.batchSize}, maxInflight ${result.backendSettings.maxInflight}`,
    `  latency, one publication in flight (paced ≥ ${result.latency.paceMs} ms), socketcluster-client publish → receiver (ms): p50 / p95 / p99 / mean / max over ${direct.samples} samples`,
    `    direct  (socketcluster-client subscriber) ${stats(direct)}`,
    `    bridged (Switchyard → socket.io-client)   ${stats(bridged)}`,
    `    added, per message (bridged − direct)     ${stats(added)}`,
    `    added by the bridge: p50 ${ms(added.p50Ms)} ms (target ≤ ${result.latency.targetAddedP50Ms} ms: ${verdict}), p95 ${ms(added.p95Ms)} ms, p99 ${ms(added.p99Ms)} ms; other processes used ${f(result.latency.otherCpuPct)}% of a core`,
    `  throughput on one hot room (${throughput.room}), closed loop, ${throughput.publishers} publishers × ${throughput.window} in flight, ${throughput.members} receivers; publications delivered to every receiver per second:`,
    line(throughput.floor, null),
    line(throughput.socketio, throughput.socketioRatio),
    line(throughput.bus, throughput.busRatio),
  ].join("\n");
}

/** The figures that decide the target and the ratios, over every run of the phase. */
export interface WebsocketSummary {
  readonly runs: number;
  readonly addedP50Ms: Spread;
  readonly addedP95Ms: Spread;
  readonly addedP99Ms: Spread;
  readonly floorPerSec: Spread;
  readonly socketioPerSec: Spread;
  readonly busPerSec: Spread;
  readonly socketioRatio: Spread;
  readonly busRatio: Spread;
  /** Failed, missing and duplicated publications over every run's bridged windows. */
  readonly failed: number;
  readonly missing: number;
  readonly duplicates: number;
}

/** Medians and ranges of `runs` (at least one). */
export function summarizeWebsocket(runs: readonly WebsocketResult[]): WebsocketSummary {
  const of = (pick: (r: WebsocketResult) => number) => spread(runs.map(pick));
  const sum = (pick: (run: WebsocketThroughputRun) => number) =>
    runs.reduce((n, r) => n + pick(r.throughput.socketio) + pick(r.throughput.bus), 0);
  return {
    runs: runs.length,
    addedP50Ms: of((r) => r.latency.added.p50Ms),
    addedP95Ms: of((r) => r.latency.added.p95Ms),
    addedP99Ms: of((r) => r.latency.added.p99Ms),
    floorPerSec: of((r) => r.throughput.floor.perSec),
    socketioPerSec: of((r) => r.throughput.socketio.perSec),
    busPerSec: of((r) => r.throughput.bus.perSec),
    socketioRatio: of((r) => r.throughput.socketioRatio),
    busRatio: of((r) => r.throughput.busRatio),
    failed: sum((run) => run.failed),
    missing: sum((run) => run.missing),
    duplicates: sum((run) => run.duplicates),
  };
}

export function formatWebsocketSummary(summary: WebsocketSummary): string {
  const ms = (s: Spread) => `${s.median.toFixed(3)} ms (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const rate = (s: Spread) => `${f(s.median)} msg/s (${f(s.min)}–${f(s.max)})`;
  const ratio = (s: Spread) => `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  return [
    `WebSocket bus backend over ${summary.runs} runs: median (range)`,
    `  added by the bridge: p50 ${ms(summary.addedP50Ms)} (target ≤ ${TARGET_ADDED_P50_MS} ms), p95 ${ms(summary.addedP95Ms)}, p99 ${ms(summary.addedP99Ms)}`,
    `  hot room, floor (socketcluster-client → socketcluster-client): ${rate(summary.floorPerSec)}`,
    `  hot room, socket.io → switchyard → bus → switchyard → socket.io: ${rate(summary.socketioPerSec)}, ${ratio(summary.socketioRatio)} the floor`,
    `  hot room, socketcluster-client → bus → switchyard → socket.io: ${rate(summary.busPerSec)}, ${ratio(summary.busRatio)} the floor`,
    `  bridged windows: ${f(summary.failed)} failed, ${f(summary.missing)} missing, ${f(summary.duplicates)} duplicated publications`,
  ].join("\n");
}

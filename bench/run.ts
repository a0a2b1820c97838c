/**
 * Switchyard benchmark: one lean load generator, three servers side by side (Switchyard's native
 * core via its CLI, the real socket.io 4.8 server, a naive `ws` broadcast floor), and three
 * variants at one or two sizes: Switchyard with its rooms shadowed, Switchyard with connection
 * state recovery on, socket.io behind a Switchyard relaying every connection to it
 * (`passthrough:`).
 *
 *   npx tsx bench/run.ts [--quick] [--servers socketio,floor] [--sizes '1k/*'] [--repeat 3]
 *   npx tsx bench/run.ts --client-protocol 3    # socket.io 2.x clients (Engine.IO v3)
 *
 * See docs/benchmarks.md for what is measured and how; `--help` for the flags.
 */

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus as osCpus, release, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import {
  type AblyResult,
  type AblySummary,
  formatAbly,
  formatAblySummary,
  runAblyBench,
  summarizeAbly,
} from "./ably.js";
import { writeBenchConfig } from "./bench-config.js";
import {
  type ClusterResult,
  type ClusterSummary,
  formatCluster,
  formatClusterSummary,
  runClusterBench,
  summarizeCluster,
} from "./cluster.js";
import { helperCount, startHelpers } from "./gen-helpers.js";
import {
  type ClientProtocol,
  Fleet,
  type Meter,
  type RampOptions,
  takeAddressBlocks,
} from "./generator.js";
import { formatPusher, type PusherResult, runPusherBench } from "./pusher.js";
import {
  formatTable,
  LIMITED_SIZES,
  type MemoryStats,
  type RelaySplit,
  type RunRecord,
  ratios,
  type ShadowCheck,
  type Size,
  sizeId,
  summarize,
  usPerPing,
} from "./report.js";
import { formatRouting, runRoutingBench } from "./routing.js";
import {
  bashWithLimits,
  cpuAvailability,
  freePort,
  killAllChildrenSync,
  othersCpuSec,
  PASSTHROUGH_TARGET_ENV,
  readCpuSec,
  readCpusAllowed,
  readListenOverflows,
  readRssKiB,
  readSyscalls,
  type ServerId,
  type ServerSpec,
  ServerStartError,
  serverPids,
  serverSpecs,
  startServer,
  stopServer,
  tasksetWorks,
} from "./servers.js";
import { median } from "./stats.js";
import {
  formatWebsocket,
  formatWebsocketSummary,
  runWebsocketBench,
  summarizeWebsocket,
  type WebsocketResult,
  type WebsocketSummary,
} from "./websocket.js";
import type { ClientKind } from "./wsclient.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Descriptors a server process holds besides its connections: listeners, Redis, logs. */
const FDS_BESIDE_CONNECTIONS = 256;
const WORKER_ENV = "SWITCHYARD_BENCH_WORKER";
const BENCH_CONFIG = "examples/bench/switchyard.yaml";
/** The bench mapping with `allowEIO3: true` (may not exist yet: then one is derived). */
const LEGACY_CONFIG = "examples/legacy/switchyard.yaml";
/**
 * The one size switchyard-shadow and socketio-via-passthrough run at unless `--servers` names
 * them (LIMITED_SIZES; switchyard-recovery runs at RECOVERY_SIZES).
 */
const ONE_SIZE = "1k/1r/100B";
const RECOVERY_SIZES = LIMITED_SIZES.get("switchyard-recovery") ?? [];
/** The shadowed server's API token (`GET /api/v1/shadow`): the environment's, else random. */
const SHADOW_TOKEN_ENV = "SWITCHYARD_BENCH_API_TOKEN";

const HELP = `Usage: npx tsx bench/run.ts [options]

Servers and sizes
  --servers LIST       switchyard,switchyard-shadow,switchyard-recovery,socketio,
                       socketio-via-passthrough,floor (default: all six, with switchyard-shadow
                       and socketio-via-passthrough at 1k/1r/100B only, switchyard-recovery at
                       1k/1r/100B and 1k/100r/100B only; named here, at every size):
                       switchyard-shadow is switchyard with its rooms shadowed on a second native
                       backend, and the table adds its ratios to switchyard;
                       switchyard-recovery is switchyard with server.connectionStateRecovery: {}
                       (the defaults), and the table adds its ratios to switchyard;
                       socketio-via-passthrough is the socketio server with a Switchyard in front
                       relaying every connection to it (passthrough: percent 100), and the table
                       adds its ratios to socketio
  --conns LIST         connection counts (default 1000,10000; 50000 and 100000 are opt-in, also by
                       naming them in --sizes, e.g. '100k/*': the clients connect from 127.0.x.y
                       addresses, 10,000 each, and both sides need ulimit -n above the count)
  --rooms LIST         room counts (default 1,100)
  --payloads LIST      payload bytes (default 100,1024)
  --sizes PATTERNS     keep sizes whose id matches, e.g. '1k/*/100B,10k/100r/*'
                       (ids: 1k/1r/100B, 1k/100r/1KiB, 10k/1r/100B, ...; * is a wildcard)
  --quick              1k connections, 1 and 100 rooms, 100 B; 1 s warmup, 3 s measure
  --routing-only       run only the routing micro-benchmark (room lookups with 1,000 routes)
  --no-routing         skip the routing micro-benchmark that runs first
  --pusher-only        run only the Pusher backend benchmark (bridge latency and batched publish
                       throughput against the emulator); with --routing-only, both
  --no-pusher          skip the Pusher backend benchmark that runs after the routing one
  --ably-only          run only the Ably backend benchmark (bridge latency and hot-room publish
                       throughput against the emulator; --repeat N runs it N times, medians
                       reported); combines with the other --X-only flags
  --no-ably            skip the Ably backend benchmark that runs after the Pusher one
  --ably-publishers N  Ably phase: socket.io publishers on the hot room (default 8)
  --ably-window K      Ably phase: acks outstanding per publisher (default 32)
  --ably-batch-size N, --ably-max-inflight N
                       Ably phase: the backend's batchSize and maxInflight in the run's copy of
                       examples/ably/switchyard.yaml (default: the example's, i.e. the defaults)
  --websocket-only     run only the WebSocket bus backend benchmark (a real socketcluster-server:
                       latency the bridge adds over a direct socketcluster-client subscriber, hot-room
                       throughput against the raw socketcluster floor; --repeat N runs it N times,
                       medians reported); combines with the other --X-only flags
  --no-websocket       skip the WebSocket bus backend benchmark that runs after the Ably one
  --websocket-publishers N, --websocket-window K, --websocket-members N
                       WebSocket phase: publishers on the hot room (default 8), publications each
                       keeps in flight (default 32), receivers of the room (default 4)
  --websocket-batch-size N, --websocket-max-inflight N
                       WebSocket phase: the backend's batchSize and maxInflight in the run's copy of
                       examples/websocket/switchyard.yaml (default: the example's, i.e. the defaults)
  --cluster-only       run only the cluster benchmark: fan-out across two nodes through Redis,
                       Switchyard and socket.io (redis adapter), 1,000 connections, 1 and 100 rooms,
                       100 B, next to one node of each; warmup 1 s, measure 3 s unless given
                       (--quick: 0.5 s and 1 s); --repeat N runs it N times, the median and range
                       of every ratio reported); combines with the other --X-only flags
  --no-cluster         skip the cluster benchmark that runs after the WebSocket one
  --redis-url URL      Redis of the cluster benchmark (default redis://127.0.0.1:6379)
Measurement
  --warmup SEC         warmup before each measurement window (default 2)
  --measure SEC        measurement window (default 5)
  --repeat N           runs per server and size, medians reported (default 1)
  --fixed-rate N       offered deliveries/s for the fixed-load latency phase (default 20000)
  --inflight N         closed loop: target deliveries in flight, all rooms (default 8000)
  --window K           closed loop: messages in flight per room (overrides --inflight)
  --ramp               closed loop: double the window while neither process is CPU-bound
  --max-inflight N     closed loop: the ramp stops at this many deliveries in flight (default 131072)
  --publishers N       publishers per room (default 1)
  --idle SEC           after connecting, measure the server's CPU over SEC s with every client
                       connected and silent but for the heartbeat (default 0: skip); the ratio
                       line then compares it with socket.io's
Environment
  --client raw|ws      generator transport: minimal net client or the ws package (default raw)
  --client-protocol 3|4
                       Engine.IO protocol of the clients (default 4). 3 = socket.io 2.x clients:
                       EIO=3, the server connects them to / by itself, the clients ping every
                       pingInterval; socket.io and the floor get allowEIO3, Switchyard a config
                       with server.allowEIO3 (see --config)
  --config PATH        Switchyard config (default examples/bench/switchyard.yaml; with
                       --client-protocol 3: examples/legacy/switchyard.yaml, or when missing a
                       temporary copy of the bench config with allowEIO3: true)
  --path PATH          Socket.IO path (default /socket.io/)
  --server-cpu N       CPU for the servers (default 0)
  --relay-cpu N        CPU for the Switchyard relay of socketio-via-passthrough (default: the
                       server CPU, so the pair gets the CPU socket.io alone gets; the socket.io
                       server behind it is always on the server CPU)
  --gen-cpu N          CPU for the generator (default 1)
  --no-pin             do not pin with taskset
  --batch N            connections opened concurrently, per generator process (default 250)
  --gen-procs N|auto   generator processes (default auto: one per 25,000 connections); the
                       main one keeps the publishers and probes, the others hold passive members
  --out FILE           JSON results (default bench/results/bench-<time>.json)
  --quiet-wait SEC     before each run, wait up to SEC s for other processes to go under
                       10 % of a core (default 0: do not wait; useful on a shared machine)
  --max-minutes N      abort the whole run after N minutes (default 60)
  --node-args=ARGS     extra node flags for every server process (note the =), e.g. '--cpu-prof
                       --cpu-prof-dir /tmp/prof' or '--trace-gc' (the trace lands in the server log)
`;

const { values: args } = parseArgs({
  options: {
    servers: { type: "string" },
    conns: { type: "string", default: "1000,10000" },
    rooms: { type: "string", default: "1,100" },
    payloads: { type: "string", default: "100,1024" },
    sizes: { type: "string" },
    quick: { type: "boolean", default: false },
    "routing-only": { type: "boolean", default: false },
    "no-routing": { type: "boolean", default: false },
    "pusher-only": { type: "boolean", default: false },
    "no-pusher": { type: "boolean", default: false },
    "ably-only": { type: "boolean", default: false },
    "no-ably": { type: "boolean", default: false },
    "ably-publishers": { type: "string", default: "8" },
    "ably-window": { type: "string", default: "32" },
    "ably-batch-size": { type: "string" },
    "ably-max-inflight": { type: "string" },
    "websocket-only": { type: "boolean", default: false },
    "no-websocket": { type: "boolean", default: false },
    "websocket-publishers": { type: "string", default: "8" },
    "websocket-window": { type: "string", default: "32" },
    "websocket-members": { type: "string", default: "4" },
    "websocket-batch-size": { type: "string" },
    "websocket-max-inflight": { type: "string" },
    "cluster-only": { type: "boolean", default: false },
    "no-cluster": { type: "boolean", default: false },
    "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
    warmup: { type: "string" },
    measure: { type: "string" },
    repeat: { type: "string", default: "1" },
    "fixed-rate": { type: "string", default: "20000" },
    inflight: { type: "string", default: "8000" },
    "max-inflight": { type: "string", default: "131072" },
    ramp: { type: "boolean", default: false },
    window: { type: "string" },
    publishers: { type: "string", default: "1" },
    client: { type: "string", default: "raw" },
    "client-protocol": { type: "string", default: "4" },
    config: { type: "string" },
    path: { type: "string", default: "/socket.io/" },
    "server-cpu": { type: "string", default: "0" },
    "relay-cpu": { type: "string" },
    "gen-cpu": { type: "string", default: "1" },
    "no-pin": { type: "boolean", default: false },
    batch: { type: "string", default: "250" },
    out: { type: "string" },
    "max-minutes": { type: "string", default: "60" },
    "quiet-wait": { type: "string", default: "0" },
    idle: { type: "string", default: "0" },
    "gen-procs": { type: "string", default: "auto" },
    "node-args": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

function num(name: string, value: string | undefined, min = 0): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    console.error(`--${name}: expected a number >= ${min}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function list(name: string, value: string): number[] {
  return value.split(",").map((v) => num(name, v.trim(), 1));
}

if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const serverCpu = num("server-cpu", args["server-cpu"]);
const genCpu = num("gen-cpu", args["gen-cpu"]);
const relayCpu = args["relay-cpu"] === undefined ? serverCpu : num("relay-cpu", args["relay-cpu"]);

if (process.env[WORKER_ENV] !== "1") {
  relaunchPinned();
} else {
  await main();
}

/**
 * The harness re-executes itself through bash so that it runs with `ulimit -n` raised and pinned
 * to the generator CPU; this process only waits and forwards signals.
 */
function relaunchPinned(): void {
  let pinNote = "unpinned (--no-pin)";
  let cpu: number | null = null;
  if (!args["no-pin"]) {
    if (availableParallelism() < 2) {
      pinNote = `unpinned: only ${availableParallelism()} CPU available`;
    } else if (!tasksetWorks(genCpu) || !tasksetWorks(serverCpu) || !tasksetWorks(relayCpu)) {
      pinNote = `unpinned: taskset missing or CPU ${serverCpu}/${genCpu}/${relayCpu} not allowed`;
    } else {
      cpu = genCpu;
      pinNote = "pinned";
    }
  }
  if (cpu === null && !args["no-pin"]) console.warn(`WARNING: ${pinNote}; figures will be noisier`);
  const cmd = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  const child = spawn("bash", bashWithLimits(cmd, cpu), {
    stdio: "inherit",
    env: { ...process.env, [WORKER_ENV]: "1", SWITCHYARD_BENCH_PIN: pinNote },
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => child.kill(sig));
  }
  child.on("error", (err) => {
    console.error(`cannot start the harness through bash: ${err.message}`);
    process.exit(1);
  });
  child.on("exit", (code) => process.exit(code ?? 1));
}

interface Conditions {
  cpuModel: string;
  cpus: number;
  /** Share of wall time a spinning thread got on [server CPU, generator CPU], both at once. */
  cpuAvailability: number[] | null;
  /** CPU used by other processes before the run, % of one core. */
  backgroundCpuPct: number;
  node: string;
  kernel: string;
  socketio: string;
  ws: string;
  nofile: string;
  pinning: string;
  generatorCpus: string;
  client: ClientKind;
  clientProtocol: ClientProtocol;
}

/** CPU used by other processes over `ms`, % of one core. */
async function backgroundLoad(ms: number): Promise<number> {
  const exclude = new Set([process.pid, process.ppid]);
  const before = othersCpuSec(exclude);
  const t0 = Date.now();
  await sleep(ms);
  let used = 0;
  for (const [pid, t] of othersCpuSec(exclude)) used += Math.max(0, t - (before.get(pid) ?? 0));
  return (used / ((Date.now() - t0) / 1000)) * 100;
}

/** Wait (up to `maxSec`) until other processes use under 10 % of a core over one second. */
async function waitForQuiet(maxSec: number): Promise<void> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    const load = await backgroundLoad(1000);
    if (load < 10) return;
    if ((Date.now() - t0) / 1000 >= maxSec) {
      console.warn(`  other processes still use ${Math.round(load)}% of a core: going on anyway`);
      return;
    }
    if (!said) {
      console.log(`  waiting for quiet: other processes use ${Math.round(load)}% of a core`);
      said = true;
    }
  }
}

function conditions(
  client: ClientKind,
  clientProtocol: ClientProtocol,
  availability: number[] | null,
  background: number,
): Conditions {
  const cpuinfo = safeRead("/proc/cpuinfo");
  const version = (pkg: string) => {
    try {
      return JSON.parse(readFileSync(`${ROOT}/node_modules/${pkg}/package.json`, "utf8")).version;
    } catch {
      return "?";
    }
  };
  let nofile = "?";
  try {
    nofile = execFileSync("bash", ["-c", "ulimit -n"]).toString().trim();
  } catch {}
  return {
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cpus: osCpus().length,
    cpuAvailability: availability,
    backgroundCpuPct: background,
    node: process.version,
    kernel: release(),
    socketio: version("socket.io"),
    ws: version("ws"),
    nofile,
    pinning:
      process.env.SWITCHYARD_BENCH_PIN === "pinned"
        ? `server on CPU ${serverCpu}, generator on CPU ${genCpu}` +
          (relayCpu !== serverCpu ? `, passthrough relay on CPU ${relayCpu}` : "") +
          " (taskset)"
        : (process.env.SWITCHYARD_BENCH_PIN ?? "unpinned"),
    generatorCpus: readCpusAllowed("self"),
    client,
    clientProtocol,
  };
}

/** Whether a Switchyard config sets `server.allowEIO3: true` (false when unreadable). */
function allowsEIO3(path: string): boolean {
  try {
    const doc = parseYaml(readFileSync(path, "utf8")) as { server?: { allowEIO3?: unknown } };
    return doc?.server?.allowEIO3 === true;
  } catch {
    return false;
  }
}

/**
 * The Switchyard config for a run: `--config` when given; otherwise the bench config (v4), or for
 * v3 the legacy example when it exists and allows EIO3, else a temporary copy of the bench config
 * with `allowEIO3: true` inserted under `server:` (comments and `${PORT}` left as they are),
 * removed when the harness exits.
 */
function switchyardConfig(
  explicit: string | undefined,
  protocol: ClientProtocol,
): { path: string; source: string } {
  if (explicit !== undefined) {
    if (protocol === 3 && !allowsEIO3(resolve(ROOT, explicit))) {
      console.warn(
        `WARNING: ${explicit} does not set server.allowEIO3: true; Switchyard will refuse EIO=3`,
      );
    }
    return { path: explicit, source: "--config" };
  }
  if (protocol === 4) return { path: BENCH_CONFIG, source: "default" };
  if (existsSync(resolve(ROOT, LEGACY_CONFIG))) {
    if (allowsEIO3(resolve(ROOT, LEGACY_CONFIG))) return { path: LEGACY_CONFIG, source: "legacy" };
    console.warn(`WARNING: ${LEGACY_CONFIG} does not set server.allowEIO3: true; not using it`);
  }
  const lines = readFileSync(resolve(ROOT, BENCH_CONFIG), "utf8").split("\n");
  const at = lines.findIndex((l) => /^server:\s*(#.*)?$/.test(l));
  const added = "allowEIO3: true # added by bench/run.ts --client-protocol 3";
  if (at < 0) {
    lines.push("server:", `  ${added}`, "");
  } else {
    const next = lines.slice(at + 1).find((l) => /^\s+[^\s#]/.test(l));
    const indent = next !== undefined ? /^\s+/.exec(next)![0] : "  ";
    lines.splice(at + 1, 0, `${indent}${added}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "switchyard.yaml");
  writeFileSync(path, lines.join("\n"));
  if (!allowsEIO3(path)) {
    console.error(`cannot add allowEIO3 to ${BENCH_CONFIG}: pass a config with --config`);
    process.exit(2);
  }
  return { path, source: `temporary copy of ${BENCH_CONFIG} with allowEIO3: true` };
}

/**
 * The most open files a process here can be given (`ulimit -Hn`, which the servers' and the
 * generator's shells raise their limit to); Infinity when unlimited or unreadable.
 */
function hardOpenFilesLimit(): number {
  try {
    const limit = Number(execFileSync("bash", ["-c", "ulimit -Hn"]).toString().trim());
    return Number.isFinite(limit) ? limit : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function installGuards(maxMinutes: number): void {
  process.on("exit", killAllChildrenSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping servers and exiting`);
      killAllChildrenSync();
      process.exit(130);
    });
  }
  process.on("uncaughtException", (err) => {
    console.error("uncaught:", err);
    killAllChildrenSync();
    process.exit(1);
  });
  setTimeout(() => {
    console.error(`\n--max-minutes ${maxMinutes} reached: aborting`);
    killAllChildrenSync();
    process.exit(3);
  }, maxMinutes * 60_000).unref();
  // Orphaned (the relaunching parent died without a signal reaching us): stop.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      killAllChildrenSync();
      process.exit(1);
    }
  }, 1000).unref();
}

async function medianRss(pid: number, readings = 5, gapMs = 200): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < readings; i++) {
    if (i > 0) await sleep(gapMs);
    v.push(readRssKiB(pid));
  }
  return median(v);
}

/**
 * The Pusher backend benchmark (bench/pusher.ts): Switchyard on the server CPU, the emulator and
 * the clients here. About 16 s; `--quick` about 8 s.
 */
async function pusherBench(quick: boolean): Promise<PusherResult | null> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const logDir = `${ROOT}/bench/results/logs/${stamp}`;
  mkdirSync(logDir, { recursive: true });
  try {
    return await runPusherBench({
      root: ROOT,
      samples: quick ? 500 : 1000,
      warmup: quick ? 50 : 100,
      throughputWarmupMs: quick ? 500 : 1000,
      throughputMs: quick ? 1500 : 3000,
      rooms: 8,
      window: 16,
      payloadBytes: 100,
      cpu: process.env.SWITCHYARD_BENCH_PIN === "pinned" ? serverCpu : null,
      logPath: `${logDir}/switchyard-pusher.log`,
    });
  } catch (err) {
    console.warn(`Pusher benchmark FAILED: ${(err as Error).message}`);
    return null;
  }
}

/** A managed-backend phase: every run of it, and the figures that decide its targets over them. */
interface Phase<R, S> {
  readonly runs: readonly R[];
  readonly summary: S;
}

type AblyPhase = Phase<AblyResult, AblySummary>;
type WebsocketPhase = Phase<WebsocketResult, WebsocketSummary>;
type ClusterPhase = Phase<ClusterResult, ClusterSummary>;

/** How one managed-backend phase runs, prints and sums up. */
interface PhaseSpec<R, S> {
  /** In progress lines and failures, e.g. "ably", and the log file's name. */
  readonly name: string;
  /** In a failure message, e.g. "Ably". */
  readonly title: string;
  run(rep: number, logPath: string, optional: (flag: string) => number | undefined): Promise<R>;
  format(result: R): string;
  summarize(runs: readonly R[]): S;
  formatSummary(summary: S): string;
}

/**
 * A managed-backend phase `--repeat` times, each run with a fresh service and Switchyard
 * (waiting for a quiet machine first with `--quiet-wait`); null when every run failed.
 */
async function repeatPhase<R, S>(spec: PhaseSpec<R, S>): Promise<Phase<R, S> | null> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const logDir = `${ROOT}/bench/results/logs/${stamp}`;
  mkdirSync(logDir, { recursive: true });
  const repeat = num("repeat", args.repeat, 1);
  const optional = (flag: string) => {
    const value = args[flag as keyof typeof args];
    return typeof value === "string" ? num(flag, value, 1) : undefined;
  };
  const quietWaitSec = num("quiet-wait", args["quiet-wait"]);
  const runs: R[] = [];
  for (let rep = 1; rep <= repeat; rep++) {
    if (quietWaitSec > 0) await waitForQuiet(quietWaitSec);
    try {
      const result = await spec.run(rep, `${logDir}/switchyard-${spec.name}-r${rep}.log`, optional);
      runs.push(result);
      if (repeat > 1) console.log(`[${spec.name} #${rep}]`);
      console.log(`${spec.format(result)}\n`);
    } catch (err) {
      console.warn(`${spec.title} benchmark run ${rep} FAILED: ${(err as Error).message}`);
    }
  }
  if (runs.length === 0) return null;
  const summary = spec.summarize(runs);
  if (runs.length > 1) console.log(`${spec.formatSummary(summary)}\n`);
  return { runs, summary };
}

/**
 * The Ably backend benchmark (bench/ably.ts): Switchyard on the server CPU, the emulator and
 * the clients here. About 25 s a run; `--quick` about 14 s.
 */
function ablyBench(quick: boolean): Promise<AblyPhase | null> {
  return repeatPhase({
    name: "ably",
    title: "Ably",
    run: (_rep, logPath, optional) =>
      runAblyBench({
        root: ROOT,
        samples: quick ? 500 : 1000,
        warmup: quick ? 50 : 100,
        throughputWarmupMs: quick ? 500 : 1000,
        throughputMs: quick ? 1500 : 3000,
        publishers: num("ably-publishers", args["ably-publishers"], 1),
        window: num("ably-window", args["ably-window"], 1),
        payloadBytes: 100,
        tuning: {
          batchSize: optional("ably-batch-size"),
          maxInflight: optional("ably-max-inflight"),
        },
        cpu: process.env.SWITCHYARD_BENCH_PIN === "pinned" ? serverCpu : null,
        logPath,
      }),
    format: formatAbly,
    summarize: summarizeAbly,
    formatSummary: formatAblySummary,
  });
}

/**
 * The WebSocket bus backend benchmark (bench/websocket.ts): a fresh socketcluster-server per
 * run, Switchyard on the server CPU, the bus and the clients here. About 20 s a run;
 * `--quick` about 12 s.
 */
function websocketBench(quick: boolean): Promise<WebsocketPhase | null> {
  return repeatPhase({
    name: "websocket",
    title: "WebSocket bus",
    run: (_rep, logPath, optional) =>
      runWebsocketBench({
        root: ROOT,
        samples: quick ? 1000 : 2000,
        warmup: quick ? 100 : 200,
        paceMs: 1,
        throughputWarmupMs: quick ? 500 : 1000,
        throughputMs: quick ? 1500 : 3000,
        publishers: num("websocket-publishers", args["websocket-publishers"], 1),
        window: num("websocket-window", args["websocket-window"], 1),
        members: num("websocket-members", args["websocket-members"], 1),
        payloadBytes: 100,
        tuning: {
          batchSize: optional("websocket-batch-size"),
          maxInflight: optional("websocket-max-inflight"),
        },
        cpu: process.env.SWITCHYARD_BENCH_PIN === "pinned" ? serverCpu : null,
        logPath,
      }),
    format: formatWebsocket,
    summarize: summarizeWebsocket,
    formatSummary: formatWebsocketSummary,
  });
}

/**
 * The cluster benchmark (bench/cluster.ts): two Switchyard nodes and two socket.io nodes on
 * Redis, and one node of each, on the server CPU; the generator here. About 80 s a run;
 * `--quick` about 30 s. `--repeat N` runs it N times and adds the median and range of every
 * ratio: on a shared VM one run's ratios move by ±25 %.
 */
function clusterBench(quick: boolean): Promise<ClusterPhase | null> {
  return repeatPhase({
    name: "cluster",
    title: "Cluster",
    run: async (_rep, logPath) => {
      const logDir = logPath.replace(/\.log$/, "");
      mkdirSync(logDir, { recursive: true });
      const background = await backgroundLoad(1000);
      if (background > 10) {
        console.warn(
          `WARNING: other processes use ${Math.round(background)}% of a core: cluster figures will be disturbed`,
        );
      }
      return runClusterBench({
        root: ROOT,
        redisUrl: args["redis-url"],
        conns: 1000,
        rooms: [1, 100],
        payloadBytes: 100,
        warmupMs: num("warmup", args.warmup ?? (quick ? "0.5" : "1")) * 1000,
        measureMs: num("measure", args.measure ?? (quick ? "1" : "3")) * 1000,
        fixedRate: num("fixed-rate", args["fixed-rate"], 1),
        inflight: num("inflight", args.inflight, 1),
        cpu: process.env.SWITCHYARD_BENCH_PIN === "pinned" ? serverCpu : null,
        logDir,
        batch: num("batch", args.batch, 1),
        backgroundCpuPct: background,
        nodeArgs: args["node-args"]?.split(/\s+/).filter((a) => a !== "") ?? [],
      });
    },
    format: formatCluster,
    summarize: summarizeCluster,
    formatSummary: formatClusterSummary,
  });
}

/** The JSON of a run of micro-benchmarks alone (the full run writes its own, with them in it). */
function writeMicroJson(
  routing: unknown,
  pusher: PusherResult | null,
  ably: AblyPhase | null,
  websocket: WebsocketPhase | null,
  cluster: ClusterPhase | null,
): void {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outPath = resolve(args.out ?? `${ROOT}/bench/results/bench-${stamp}.json`);
  mkdirSync(dirname(outPath), { recursive: true });
  const json = {
    finishedAt: new Date().toISOString(),
    argv: process.argv.slice(2),
    routing,
    pusher,
    ably,
    websocket,
    cluster,
  };
  writeFileSync(outPath, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`JSON: ${relative(process.cwd(), outPath)}`);
}

async function main(): Promise<void> {
  const quick = args.quick;
  // Before any child process starts: they are killed on every way out.
  installGuards(num("max-minutes", args["max-minutes"], 1));
  // --routing-only, --pusher-only, --ably-only, --websocket-only and --cluster-only each run their
  // benchmark alone; together, those named.
  const isOnly =
    args["routing-only"] ||
    args["pusher-only"] ||
    args["ably-only"] ||
    args["websocket-only"] ||
    args["cluster-only"];
  // The routing table is measured in this process, before any server starts.
  const routing =
    args["no-routing"] || (isOnly && !args["routing-only"])
      ? null
      : runRoutingBench(quick ? 500 : 1_000);
  if (routing !== null) console.log(`${formatRouting(routing)}\n`);
  const pusher =
    args["no-pusher"] || (isOnly && !args["pusher-only"]) ? null : await pusherBench(quick);
  if (pusher !== null) console.log(`${formatPusher(pusher)}\n`);
  // ablyBench prints each run as it ends, and the summary of several.
  const ably = args["no-ably"] || (isOnly && !args["ably-only"]) ? null : await ablyBench(quick);
  // websocketBench prints each run too.
  const websocket =
    args["no-websocket"] || (isOnly && !args["websocket-only"])
      ? null
      : await websocketBench(quick);
  const cluster =
    args["no-cluster"] || (isOnly && !args["cluster-only"]) ? null : await clusterBench(quick);
  // clusterBench prints each run as it ends, and the summary of several.
  if (isOnly) {
    if (pusher !== null || ably !== null || websocket !== null || cluster !== null) {
      writeMicroJson(routing, pusher, ably, websocket, cluster);
    }
    process.exit(0);
  }
  const client = args.client as ClientKind;
  if (client !== "raw" && client !== "ws") {
    console.error(`--client: raw or ws, got ${args.client}`);
    process.exit(2);
  }
  const protocolArg = args["client-protocol"].trim();
  if (protocolArg !== "3" && protocolArg !== "4") {
    console.error(`--client-protocol: 3 or 4, got ${args["client-protocol"]}`);
    process.exit(2);
  }
  const clientProtocol: ClientProtocol = protocolArg === "3" ? 3 : 4;
  const warmupMs = num("warmup", args.warmup ?? (quick ? "1" : "2")) * 1000;
  const measureMs = num("measure", args.measure ?? (quick ? "3" : "5")) * 1000;
  const repeat = num("repeat", args.repeat, 1);
  const fixedRate = num("fixed-rate", args["fixed-rate"], 1);
  const inflight = num("inflight", args.inflight, 1);
  const maxInflight = num("max-inflight", args["max-inflight"], 1);
  const fixedWindow = args.window !== undefined ? num("window", args.window, 1) : undefined;
  const publishers = num("publishers", args.publishers, 1);
  const batch = num("batch", args.batch, 1);
  const quietWaitSec = num("quiet-wait", args["quiet-wait"]);
  const idleMs = num("idle", args.idle) * 1000;
  const genProcs: "auto" | number =
    args["gen-procs"] === "auto" ? "auto" : num("gen-procs", args["gen-procs"], 1);

  // --quick trims the sizes only when neither they nor --sizes were given.
  const trim = quick && args.sizes === undefined;
  const conns = trim && args.conns === "1000,10000" ? [1000] : list("conns", args.conns);
  // A connection count named in --sizes (`50k/*`, `100k/100r/100B`) joins the matrix: the large
  // sizes are opt-in that way too.
  for (const p of args.sizes?.split(",") ?? []) {
    const named = /^\s*(\d+)(k?)\//i.exec(p);
    if (named === null) continue;
    const n = Number(named[1]) * (named[2] === "" ? 1 : 1000);
    if (n > 0 && !conns.includes(n)) conns.push(n);
  }
  const rooms = list("rooms", args.rooms);
  const payloads = trim && args.payloads === "100,1024" ? [100] : list("payloads", args.payloads);
  let sizes: Size[] = [];
  for (const c of conns)
    for (const r of rooms)
      for (const p of payloads) sizes.push({ conns: c, rooms: r, payloadBytes: p });
  if (args.sizes) {
    const patterns = args.sizes.split(",").map(
      (p) =>
        new RegExp(
          `^${p
            .trim()
            .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, ".*")}$`,
          "i",
        ),
    );
    sizes = sizes.filter((s) => patterns.some((re) => re.test(sizeId(s))));
  }
  if (sizes.length === 0) {
    console.error("no size left after --sizes; ids look like 1k/1r/100B, 10k/100r/1KiB");
    process.exit(2);
  }
  // A server holds every connection of a size: one whose descriptors would pass the hard
  // limit cannot run here, and is named and left out rather than failing partway.
  const hardNofile = hardOpenFilesLimit();
  const skippedSizes = new Map<string, string>();
  for (const size of sizes) {
    if (size.conns + FDS_BESIDE_CONNECTIONS <= hardNofile) continue;
    skippedSizes.set(
      sizeId(size),
      `needs ${(size.conns + FDS_BESIDE_CONNECTIONS).toLocaleString("en-US")} open files in the` +
        ` server process; the hard limit here is ${hardNofile.toLocaleString("en-US")}` +
        " (ulimit -Hn), which only CAP_SYS_RESOURCE can raise",
    );
  }
  sizes = sizes.filter((s) => !skippedSizes.has(sizeId(s)));

  const aliases: Record<string, ServerId> = {
    switchyard: "switchyard",
    sy: "switchyard",
    "switchyard-shadow": "switchyard-shadow",
    "sy-shadow": "switchyard-shadow",
    shadow: "switchyard-shadow",
    "switchyard-recovery": "switchyard-recovery",
    "sy-recovery": "switchyard-recovery",
    recovery: "switchyard-recovery",
    "socketio-via-passthrough": "socketio-via-passthrough",
    "socket.io-via-passthrough": "socketio-via-passthrough",
    passthrough: "socketio-via-passthrough",
    "sio-pt": "socketio-via-passthrough",
    socketio: "socketio",
    "socket.io": "socketio",
    sio: "socketio",
    floor: "floor",
    "ws-floor": "floor",
    ws: "floor",
  };
  const wanted = (
    args.servers ??
    "switchyard,switchyard-shadow,switchyard-recovery,socketio,socketio-via-passthrough,floor"
  )
    .split(",")
    .map((s) => {
      const id = aliases[s.trim().toLowerCase()];
      if (!id) {
        console.error(
          `--servers: unknown server ${s}; use switchyard, switchyard-shadow, switchyard-recovery, socketio, socketio-via-passthrough, floor`,
        );
        process.exit(2);
      }
      return id;
    });
  // socketio-via-passthrough's relay is a Switchyard too, serving a copy of the run's config.
  const anySwitchyard =
    wanted.includes("switchyard") ||
    wanted.includes("switchyard-shadow") ||
    wanted.includes("switchyard-recovery") ||
    wanted.includes("socketio-via-passthrough");
  const syConfig = anySwitchyard
    ? switchyardConfig(args.config, clientProtocol)
    : { path: args.config ?? BENCH_CONFIG, source: "unused" };
  const shadow = wanted.includes("switchyard-shadow") ? shadowConfig(syConfig.path) : undefined;
  const passthrough = wanted.includes("socketio-via-passthrough")
    ? passthroughConfig(syConfig.path)
    : undefined;
  const recovery = wanted.includes("switchyard-recovery")
    ? recoveryConfig(syConfig.path)
    : undefined;
  const nodeArgs = args["node-args"]?.split(/\s+/).filter((a) => a !== "") ?? [];
  const specs = serverSpecs(
    ROOT,
    syConfig.path,
    clientProtocol,
    shadow?.path,
    passthrough?.path,
    recovery?.path,
    nodeArgs,
  ).filter((s) => wanted.includes(s.id));
  // By default the shadow's and the relay's costs are measured at one size, recovery's at two;
  // named in --servers, at every size.
  const runsAt = (id: ServerId, size: Size) =>
    args.servers !== undefined || (LIMITED_SIZES.get(id)?.includes(sizeId(size)) ?? true);

  const pinned = process.env.SWITCHYARD_BENCH_PIN === "pinned";
  const background = await backgroundLoad(1000);
  const availability = pinned ? await cpuAvailability([serverCpu, genCpu]) : null;
  const cond = conditions(client, clientProtocol, availability, background);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outPath = resolve(args.out ?? `${ROOT}/bench/results/bench-${stamp}.json`);
  const logDir = `${ROOT}/bench/results/logs/${stamp}`;
  mkdirSync(dirname(outPath), { recursive: true });
  mkdirSync(logDir, { recursive: true });

  const needFds = Math.max(0, ...sizes.map((s) => s.conns)) + FDS_BESIDE_CONNECTIONS;
  console.log("Switchyard benchmark");
  console.log(`  CPU      ${cond.cpuModel} (${cond.cpus} CPUs), ${cond.pinning}`);
  console.log(
    `  node     ${cond.node}, linux ${cond.kernel}; socket.io ${cond.socketio}, ws ${cond.ws}`,
  );
  console.log(
    `  client   ${client}; generator CPUs allowed: ${cond.generatorCpus}; ulimit -n ${cond.nofile}`,
  );
  console.log(
    `  protocol EIO${clientProtocol} clients (${
      clientProtocol === 3
        ? "socket.io 2.x: Engine.IO v3 / Socket.IO protocol v4, implicit connect, client pings; servers with allowEIO3"
        : "socket.io 3.x/4.x: Engine.IO v4 / Socket.IO protocol v5"
    })`,
  );
  if (anySwitchyard) {
    console.log(
      `  config   ${relative(process.cwd(), resolve(ROOT, syConfig.path))}` +
        (syConfig.source.startsWith("temporary") ? ` (${syConfig.source})` : ""),
    );
  }
  if (shadow !== undefined) {
    console.log(
      `  shadow   switchyard+shadow serves ${shadow.path}: that config with ${shadow.changes.slice(-3).join("; ")}` +
        (args.servers === undefined ? ` (at ${ONE_SIZE} only)` : ""),
    );
  }
  if (recovery !== undefined) {
    console.log(
      `  recovery switchyard+recovery serves ${recovery.path}: that config with ${recovery.changes.slice(-1).join("; ")}` +
        (args.servers === undefined ? ` (at ${RECOVERY_SIZES.join(" and ")} only)` : ""),
    );
  }
  if (passthrough !== undefined) {
    console.log(
      `  relay    socket.io via switchyard: the socket.io server (CPU ${serverCpu}) behind a Switchyard` +
        ` (CPU ${relayCpu}) serving ${passthrough.path}: that config with ${passthrough.changes.slice(-1).join("; ")}` +
        (args.servers === undefined ? ` (at ${ONE_SIZE} only)` : ""),
    );
  }
  console.log(
    `  phases   fixed load ${fixedRate.toLocaleString("en-US")} deliveries/s then saturation; ` +
      `warmup ${warmupMs / 1000} s, measure ${measureMs / 1000} s, repeat ${repeat}`,
  );
  console.log(
    `  others   ${Math.round(background)}% of a core used by other processes before the run`,
  );
  if (background > 10) {
    console.warn("WARNING: other processes are busy on this machine: figures will be disturbed");
  }
  if (availability !== null) {
    const [a0, a1] = availability.map((a) => `${Math.round(a * 100)}%`);
    console.log(
      `  avail    CPU ${serverCpu} ${a0}, CPU ${genCpu} ${a1}` +
        " (share of wall time a spinning thread gets, both CPUs at once)",
    );
    if (availability.some((a) => !(a >= 0.95))) {
      console.warn("WARNING: the host takes CPU time from this machine: use --repeat");
    }
  }
  console.log(`  sizes    ${sizes.map(sizeId).join(", ")}`);
  for (const [id, why] of skippedSizes) console.warn(`SKIP size ${id}: ${why}`);
  console.log(`  servers  ${specs.map((s) => s.label).join(", ")}`);
  if (Number(cond.nofile) < needFds) {
    console.warn(`WARNING: ulimit -n is ${cond.nofile}, ${needFds} needed for the largest size`);
  }

  const skipped = new Map<ServerId, string>();
  for (const spec of specs) {
    const why = spec.unavailable();
    if (why !== null) {
      skipped.set(spec.id, why);
      console.warn(`SKIP ${spec.label}: ${why}`);
    }
  }

  const records: RunRecord[] = [];
  const started = new Date().toISOString();
  const writeJson = () => {
    const summaries = summarize(records, availability);
    const json = {
      startedAt: started,
      finishedAt: new Date().toISOString(),
      argv: process.argv.slice(2),
      settings: {
        warmupMs,
        measureMs,
        repeat,
        fixedRate,
        inflight,
        maxInflight,
        ramp: args.ramp,
        window: fixedWindow ?? null,
        publishersPerRoom: publishers,
        batch,
        quietWaitSec,
        idleMs,
        genProcs,
        path: args.path,
        clientProtocol,
        switchyardConfig: syConfig.path,
        switchyardConfigSource: syConfig.source,
        shadowConfigChanges: shadow?.changes ?? null,
        recoveryConfigChanges: recovery?.changes ?? null,
        passthroughConfigChanges: passthrough?.changes ?? null,
        serverCpu,
        relayCpu,
        genCpu,
      },
      conditions: cond,
      routing,
      pusher,
      ably,
      websocket,
      cluster,
      skipped: Object.fromEntries(skipped),
      skippedSizes: Object.fromEntries(skippedSizes),
      summaries,
      ratios: ratios(summaries),
      runs: records,
    };
    writeFileSync(outPath, `${JSON.stringify(json, null, 2)}\n`);
  };

  for (let rep = 1; rep <= repeat; rep++) {
    for (const size of sizes) {
      for (const spec of specs) {
        if (skipped.has(spec.id)) continue;
        if (!runsAt(spec.id, size)) continue;
        if (quietWaitSec > 0) await waitForQuiet(quietWaitSec);
        const record = await runOne(spec, size, rep, {
          client,
          clientProtocol,
          warmupMs,
          measureMs,
          fixedRate,
          inflight,
          maxInflight,
          ramp: args.ramp,
          fixedWindow,
          publishers,
          batch,
          idleMs,
          genProcs,
          logDir,
          pinned,
          availability,
        });
        if ("skip" in record) {
          skipped.set(spec.id, record.skip);
          continue;
        }
        records.push(record);
        writeJson();
        await sleep(500);
      }
    }
  }

  writeJson();
  const summaries = summarize(records, availability);
  console.log("");
  console.log(
    `Results (median of ${repeat} run${repeat > 1 ? "s" : ""}): deliv/s and p50/p99 at saturation` +
      ` (closed loop); p99@fixed at ${fixedRate.toLocaleString("en-US")} deliveries/s (open loop);` +
      " KiB/conn = idle RSS growth per connection; CPU = % of one core during saturation.",
  );
  console.log("");
  console.log(formatTable(summaries, sizes.map(sizeId), specs, skipped));
  for (const [id, why] of skipped) console.log(`\n${id} skipped: ${why.split("\n")[0]}`);
  for (const [id, why] of skippedSizes) console.log(`\nsize ${id} skipped: ${why}`);
  const shadowRuns = records.filter((r) => r.server === "switchyard-shadow");
  if (shadowRuns.length > 0) {
    console.log("\nswitchyard+shadow comparator (GET /api/v1/shadow after each run):");
    for (const r of shadowRuns) {
      console.log(
        `  ${r.size} #${r.repeat}: ${r.shadow ? formatShadowCheck(r.shadow) : "no report"}`,
      );
    }
  }
  console.log(
    "\nflags: generator-bound? = the generator, not the server, ran out of CPU;" +
      " server-not-saturated? = neither did (latency-bound loop);" +
      " background-load = other processes used > 10 % of a core;" +
      " syn-drops = connection attempts found the listen queue full and waited for a SYN" +
      " retransmission (1 s or more): the setup rate is the timer's, lower --batch; see docs/benchmarks.md",
  );
  console.log(
    `\nJSON: ${relative(process.cwd(), outPath)}   server logs: ${relative(process.cwd(), logDir)}/`,
  );
  process.exit(0);
}

interface RunSettings {
  client: ClientKind;
  clientProtocol: ClientProtocol;
  warmupMs: number;
  measureMs: number;
  fixedRate: number;
  inflight: number;
  maxInflight: number;
  ramp: boolean;
  fixedWindow: number | undefined;
  publishers: number;
  batch: number;
  /** Idle phase length (0: none). */
  idleMs: number;
  genProcs: "auto" | number;
  logDir: string;
  pinned: boolean;
  availability: number[] | null;
}

async function runOne(
  spec: ServerSpec,
  size: Size,
  rep: number,
  st: RunSettings,
): Promise<RunRecord | { skip: string }> {
  const id = sizeId(size);
  const record: RunRecord = {
    server: spec.id,
    label: spec.label,
    size: id,
    clientProtocol: st.clientProtocol,
    repeat: rep,
    notes: [],
  };
  const port = await freePort();
  record.port = port;
  const tag = `[${id} ${spec.label} EIO${st.clientProtocol} #${rep}]`;
  const logPath = `${st.logDir}/${spec.id}-${id.replace(/\//g, "_")}-r${rep}.log`;
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    // A pair (relay in front, socket.io behind): the relay on --relay-cpu, socket.io on the
    // server CPU.
    server = await startServer(spec, {
      root: ROOT,
      port,
      cpu: st.pinned ? (spec.behind !== undefined ? relayCpu : serverCpu) : null,
      behindCpu: st.pinned ? serverCpu : null,
      logPath,
      client: st.client,
      clientProtocol: st.clientProtocol,
      path: args.path,
      readyTimeoutMs: 20_000,
    });
  } catch (err) {
    if (err instanceof ServerStartError) {
      console.warn(`SKIP ${spec.label}: ${err.message}`);
      return { skip: err.message.split("; log tail:")[0]! };
    }
    throw err;
  }
  // A pair's figures (CPU, RSS) are both processes'; the relay's part is in `record.relay`.
  const pids = serverPids(server);
  record.serverCpus = pids.map((pid) => readCpusAllowed(pid)).join("+");
  const fleetOptions = {
    target: { host: "127.0.0.1", port, path: args.path },
    client: st.client,
    clientProtocol: st.clientProtocol,
    conns: size.conns,
    rooms: size.rooms,
    payloadBytes: size.payloadBytes,
    publishersPerRoom: st.publishers,
    batch: st.batch,
    connectTimeoutMs: 15_000,
    firstAddressBlock: takeAddressBlocks(size.conns),
  };
  const helpers = startHelpers(fleetOptions, helperCount(size.conns, st.genProcs));
  if (helpers.length > 0) record.generatorProcesses = helpers.length + 1;
  const fleet = new Fleet({ ...fleetOptions, helpers });
  const alive = () => {
    for (const s of [server, server.behind]) {
      if (s !== undefined && s.exit !== null) {
        throw new Error(
          `${s === server.behind ? "server behind the relay" : "server"} exited (code ${s.exit.code}, signal ${s.exit.signal})`,
        );
      }
    }
  };
  const exclude = new Set([
    ...pids,
    process.pid,
    process.ppid,
    ...helpers.flatMap((h) => (h.pid === undefined ? [] : [h.pid])),
  ]);
  const pairCpuSec = () => pids.reduce((sum, pid) => sum + readCpuSec(pid), 0);
  const meter: Meter = {
    serverCpuSec: pairCpuSec,
    othersCpuSec: () => othersCpuSec(exclude),
    serverWrites: () => pids.reduce((sum, pid) => sum + readSyscalls(pid).writes, 0),
  };
  /** The relay's CPU seconds and the pair's, to split a phase between them. */
  const relayMark = () => ({ relay: readCpuSec(server.pid), pair: pairCpuSec(), t: Date.now() });
  const rss = async (readings?: number, gapMs?: number) =>
    (await Promise.all(pids.map((pid) => medianRss(pid, readings, gapMs)))).reduce(
      (a, b) => a + b,
      0,
    );
  const drainMs = 10_000;
  try {
    // Memory: baseline with a warm set connected (absorbs one-off costs: JIT, first room), then
    // the rest; per-connection cost is the slope.
    const warm = Math.min(
      fleet.probeStart,
      Math.max(size.rooms * st.publishers, Math.min(Math.floor(size.conns / 10), 200)),
    );
    const t0 = Date.now();
    const initialRssKiB = await rss(3, 100);
    await fleet.connectRange(0, warm);
    await sleep(1000);
    const baseRssKiB = await rss();
    const bulkStart = performance.now();
    const bulkCpu = pairCpuSec();
    const bulkGenCpu = process.cpuUsage();
    const overflows0 = readListenOverflows();
    await fleet.connectRange(warm, fleet.probeStart);
    await fleet.connectRange(fleet.probeStart, size.conns);
    const bulkSec = (performance.now() - bulkStart) / 1000;
    const bulkSrvSec = pairCpuSec() - bulkCpu;
    const genUsage = process.cpuUsage(bulkGenCpu);
    record.connect = {
      conns: size.conns - warm,
      sec: bulkSec,
      perSec: (size.conns - warm) / bulkSec,
      srvCpuPct: (bulkSrvSec / bulkSec) * 100,
      srvCpuUsPerConn: (bulkSrvSec * 1e6) / (size.conns - warm),
      genCpuPct: ((genUsage.user + genUsage.system) / 1e6 / bulkSec) * 100,
      listenOverflows: readListenOverflows() - overflows0,
    };
    const connectSec = (Date.now() - t0) / 1000;
    alive();
    await sleep(1000);
    const fullRssKiB = await rss();
    const relayRssKiB = server.behind !== undefined ? await medianRss(server.pid) : Number.NaN;
    const memory: MemoryStats = {
      initialRssKiB,
      naivePerConnBytes: ((fullRssKiB - initialRssKiB) * 1024) / size.conns,
      warmConns: warm,
      baseRssKiB,
      fullRssKiB,
      perConnBytes: ((fullRssKiB - baseRssKiB) * 1024) / (size.conns - warm),
    };
    record.memory = memory;
    alive();

    if (st.idleMs > 0) {
      // Every client connected and silent: what is left is the heartbeat (v4: the server's
      // pings and their pongs; v3: the clients' pings).
      const e0 = await fleet.totalErrors();
      const pings0 = e0.pingsAnswered + e0.pingsSent;
      const cpu0 = pairCpuSec();
      const others0 = othersCpuSec(exclude);
      const idle0 = performance.now();
      await sleep(st.idleMs);
      const sec = (performance.now() - idle0) / 1000;
      const cpu1 = pairCpuSec();
      let others = 0;
      for (const [pid, t] of othersCpuSec(exclude))
        others += Math.max(0, t - (others0.get(pid) ?? 0));
      const e1 = await fleet.totalErrors();
      record.idle = {
        sec,
        srvCpuPct: ((cpu1 - cpu0) / sec) * 100,
        otherCpuPct: (others / sec) * 100,
        pings: e1.pingsAnswered + e1.pingsSent - pings0,
        rssKiB: await rss(),
      };
      alive();
    }

    const m0 = relayMark();
    record.fixed = await fleet.openLoop(st.fixedRate, st.warmupMs, st.measureMs, drainMs, meter);
    const m1 = relayMark();
    alive();

    const perWindow = size.rooms * fleet.fanout;
    const window = st.fixedWindow ?? Math.min(64, Math.max(2, Math.ceil(st.inflight / perWindow)));
    const ramp: RampOptions | null = !st.ramp
      ? null
      : {
          maxWindow: Math.max(window, Math.min(64, Math.floor(st.maxInflight / perWindow))),
          srvBusyPct: 90 * (st.availability?.[0] ?? 1),
          genBusyPct: 90 * (st.availability?.[1] ?? 1),
          stepMs: 1000,
        };
    record.saturation = await fleet.closedLoop(
      window,
      ramp,
      st.warmupMs,
      st.measureMs,
      drainMs,
      meter,
    );
    record.window = record.saturation.window;
    const m2 = relayMark();
    // What the run left in the server, clients still connected (a recovery log among it).
    memory.afterRunRssKiB = await rss();
    if (server.behind !== undefined) {
      const share = (a: typeof m0, b: typeof m0) => (b.relay - a.relay) / (b.pair - a.pair);
      const split: RelaySplit = {
        fixedCpuShare: share(m0, m1),
        saturationCpuShare: share(m1, m2),
        saturationRelayCpuPct: ((m2.relay - m1.relay) / ((m2.t - m1.t) / 1000)) * 100,
        relayRssKiB,
      };
      record.relay = split;
    }
    alive();

    const e = await fleet.totalErrors();
    let pings = "";
    if (st.clientProtocol === 3) {
      record.heartbeat = {
        pingIntervalMs: fleet.clientPingIntervalMs,
        pingsSent: e.pingsSent,
        pongs: e.pongs,
      };
      pings = ` | pings ${e.pingsSent} sent, ${e.pongs} answered`;
      // The last slice of pings may still be on its way; more than that went unanswered.
      if (e.pingsSent - e.pongs > Math.ceil(size.conns / 100) + 1) {
        record.notes.push(`unanswered pings: ${e.pingsSent - e.pongs} of ${e.pingsSent}`);
      }
    }
    if (spec.id === "switchyard-shadow") {
      record.shadow = await readShadowCheck(port, fleet.published);
      if (record.shadow === undefined) record.notes.push("no shadow report");
    }
    if (e.disconnects > 0) record.notes.push(`disconnects: ${e.disconnects}`);
    if (e.malformed > 0) record.notes.push(`malformed messages: ${e.malformed}`);
    if (e.unexpected > 0) {
      record.notes.push(
        `unexpected frames: ${e.unexpected} e.g. ${e.unexpectedSamples.join(" | ")}`,
      );
    }
    const f = record.fixed;
    const s = record.saturation;
    const c = record.connect;
    const idle = record.idle;
    console.log(
      `${tag} connect ${connectSec.toFixed(1)} s (${Math.round(c.perSec)}/s, srv ${Math.round(c.srvCpuPct)}%` +
        ` ${Math.round(c.srvCpuUsPerConn)} µs/conn, gen ${Math.round(c.genCpuPct)}%` +
        (record.generatorProcesses ? `, ${record.generatorProcesses} generator processes` : "") +
        (c.listenOverflows > 0
          ? `, ${c.listenOverflows} SYNs dropped by a full listen queue`
          : "") +
        ")," +
        ` ${(memory.perConnBytes / 1024).toFixed(2)} KiB/conn` +
        ` (RSS ${(initialRssKiB / 1024).toFixed(0)}/${(baseRssKiB / 1024).toFixed(0)}` +
        ` -> ${(fullRssKiB / 1024).toFixed(0)} MiB, ${((memory.afterRunRssKiB ?? Number.NaN) / 1024).toFixed(0)} after the run;` +
        ` naive ${(memory.naivePerConnBytes / 1024).toFixed(1)})` +
        (idle
          ? ` | idle ${idle.sec.toFixed(0)} s: srv ${idle.srvCpuPct.toFixed(2)}%, ${idle.pings} pings (${usPerPing(idle).toFixed(0)} µs each), other ${Math.round(idle.otherCpuPct)}%`
          : "") +
        ` | fixed ${Math.round(f.deliveredPerSec)}/s p50 ${f.p50Ms.toFixed(2)} p99 ${f.p99Ms.toFixed(2)} ms` +
        ` | sat ${Math.round(s.deliveredPerSec)}/s (K=${s.window}${s.ramp ? ` after ${s.ramp.map((x) => x.window).join(">")}` : ""}) p50 ${s.p50Ms.toFixed(1)} p99 ${s.p99Ms.toFixed(1)} ms` +
        ` srv ${Math.round(s.srvCpuPct)}% gen ${Math.round(s.genCpuPct)}% other ${Math.round(s.otherCpuPct)}%` +
        ` ${s.srvCpuUsPerDelivery.toFixed(2)} µs/deliv ${s.srvWritesPerDelivery.toFixed(2)} writes/deliv` +
        (f.missing || s.missing ? ` MISSING ${f.missing}/${s.missing}` : "") +
        (!f.drained || !s.drained ? " NOT-DRAINED" : "") +
        pings +
        (record.shadow ? ` | shadow ${formatShadowCheck(record.shadow)}` : "") +
        (record.relay
          ? ` | relay ${Math.round(record.relay.saturationCpuShare * 100)}% of the pair's CPU at saturation` +
            ` (${Math.round(record.relay.fixedCpuShare * 100)}% at fixed load), RSS ${(record.relay.relayRssKiB / 1024).toFixed(0)} MiB`
          : "") +
        (record.notes.length ? ` | ${record.notes.join("; ")}` : ""),
    );
  } catch (err) {
    record.error = (err as Error).message;
    console.warn(`${tag} FAILED: ${record.error}`);
  } finally {
    fleet.destroyAll();
    await stopServer(server);
  }
  return record;
}

/**
 * The Switchyard config of `switchyard+shadow`: a copy of `base` whose rooms `room:{id}` (the
 * generator's) live on native as before and are shadowed on `archive`, a second native backend;
 * with the HTTP API on (token from SWITCHYARD_BENCH_API_TOKEN) to read the comparator. The
 * copy replaces the routes of namespace `/`; removed on exit.
 */
function shadowConfig(base: string) {
  process.env[SHADOW_TOKEN_ENV] ||= `bench-${randomBytes(24).toString("hex")}`;
  const config = writeBenchConfig({
    root: ROOT,
    example: base,
    settings: [
      [["api"], { token: `\${${SHADOW_TOKEN_ENV}}` }],
      [["backends", "archive"], { kind: "native" }],
      [
        ["namespaces", "/", "routes"],
        [{ room: "room:{id}", backend: "native", shadow: { backend: "archive" } }],
      ],
    ],
  });
  process.on("exit", config.remove);
  return config;
}

/**
 * The Switchyard config of `switchyard+recovery`: a copy of `base` with
 * `server: { connectionStateRecovery: {} }` (every bound at its default: a 2 min window,
 * 10,000 broadcasts or 16 MiB logged per namespace). Removed on exit.
 */
function recoveryConfig(base: string) {
  const config = writeBenchConfig({
    root: ROOT,
    example: base,
    settings: [[["server", "connectionStateRecovery"], {}]],
  });
  process.on("exit", config.remove);
  return config;
}

/**
 * The Switchyard config of `socket.io via switchyard`: a copy of `base` with
 * `passthrough: { target: "${PASSTHROUGH_TARGET_ENV}", percent: 100 }`, so that every
 * connection is relayed to the socket.io server behind it, whose URL the harness sets in that
 * variable for each run (a fresh port each time). No key: at 100 % every connection goes there.
 * Removed on exit.
 */
function passthroughConfig(base: string) {
  const config = writeBenchConfig({
    root: ROOT,
    example: base,
    settings: [[["passthrough"], { target: `\${${PASSTHROUGH_TARGET_ENV}}`, percent: 100 }]],
  });
  process.on("exit", config.remove);
  return config;
}

/** The shadowed server's comparator report of its one route, or undefined when unreadable. */
async function readShadowCheck(port: number, published: number): Promise<ShadowCheck | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/shadow`, {
      headers: { authorization: `Bearer ${process.env[SHADOW_TOKEN_ENV]}` },
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json()) as {
      routes?: {
        counts: Record<string, number>;
        latencyGap: { p50: number | null; p99: number | null };
        verdict: string;
        reasons: string[];
      }[];
    };
    const route = body.routes?.[0];
    if (!res.ok || route === undefined) return undefined;
    const { counts, latencyGap, verdict, reasons } = route;
    return { published, counts, latencyGap, verdict, reasons };
  } catch {
    return undefined;
  }
}

function formatShadowCheck(c: ShadowCheck): string {
  const others = Object.entries(c.counts)
    .filter(([k, v]) => k !== "matched" && k !== "missing" && v !== 0)
    .map(([k, v]) => `${k} ${v}`);
  const gap = (x: number | null) => (x === null ? "n/a" : x.toFixed(2));
  return (
    `matched ${c.counts.matched} of ${c.published} published, missing ${c.counts.missing}` +
    (others.length ? `, ${others.join(", ")}` : "") +
    `; gap p50 ${gap(c.latencyGap.p50)} p99 ${gap(c.latencyGap.p99)} ms; verdict ${c.verdict}` +
    (c.reasons.length ? ` (${c.reasons.join("; ")})` : "")
  );
}

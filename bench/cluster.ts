/**
 * Fan-out across two nodes through Redis (issue 6), as `npm run bench` runs it after the Pusher
 * benchmark (`--cluster-only` alone, `--no-cluster` to skip). Four set-ups side by side, at the
 * same sizes, each started fresh for every size:
 *
 * - `switchyard`: one Switchyard node, examples/bench/switchyard.yaml (rooms in process);
 * - `switchyard-cluster`: two Switchyard nodes serving examples/cluster/switchyard.yaml (at the
 *   benchmark contract's limits, bench/bench-config.ts), the
 *   native core broadcasting over Redis in @socket.io/redis-adapter's wire format, with a fresh
 *   random SOCKET_IO_KEY and SWITCHYARD_CLUSTER_KEY per run;
 * - `socketio`: one socket.io 4.8 server, bench/socketio-server.ts (in-memory adapter), as in the
 *   main benchmark;
 * - `socketio-cluster`: two of the same with `--redis-url` (@socket.io/redis-adapter on ioredis).
 *
 * Every server is a child process pinned to the server CPU (both nodes of a cluster share it, so
 * a cluster gets the same CPU as a single node: the difference is what crossing Redis costs);
 * this process (the generator) stays on the generator CPU; redis-server runs wherever the system
 * put it and its CPU is reported next to the servers'.
 *
 * Layout of a size (N connections, R rooms, N/R members per room): client i joins room i % R and
 * connects to node ⌊i / R⌋ mod nodes, so the members of every room alternate between node A and
 * node B; the publisher of room r is client r (the room's first member), always on node A. A
 * publish is owed to the other N/R − 1 members: ⌈N/R / 2⌉ − 1 of them on node A (local), ⌊N/R / 2⌋
 * on node B (remote: through Redis). Every delivery's latency goes into the local or the remote
 * histogram by the receiver's node.
 *
 * Why not bench/generator.ts: its Fleet has one target, and its closed loop is driven by a probe
 * per room that connects last so as to come last in the server's fan-out order. Across two nodes
 * there is no such order (the remote half arrives on its own schedule), so a probe says nothing
 * about the rest of the room, and teaching the Fleet two targets would change the main
 * benchmark's generator. This one reuses its transport (bench/wsclient.ts, the raw client) and
 * histogram (bench/stats.ts) and counts deliveries per room instead:
 *
 * 1. Fixed load (open loop): publishes on a fixed schedule, round robin over the rooms, at
 *    `fixedRate / fan-out` publishes/s, each stamped with its scheduled time (no coordinated
 *    omission). Reported: p50/p99, local and remote.
 * 2. Saturation (a bounded closed loop): a room may have at most K × fan-out deliveries owed
 *    (published, not yet received by its members); every delivery in the room may release the
 *    next publish. K = max(2, ⌈8000 / (R × fan-out)⌉), as in the main benchmark: about 8–9k
 *    deliveries in flight at 1,000 connections. Reported: delivered msg/s, deliveries per
 *    server CPU-second (both nodes' CPU; Redis's apart), p50/p99.
 *
 * Before measuring, one publish per room must reach every member (on both nodes) within 10 s,
 * or the run fails: the cluster is really one. Keys: everything this benchmark names in Redis
 * starts with one random prefix per invocation; the adapters' channels are pub/sub only, and
 * the Switchyard node registry hash `<SWITCHYARD_CLUSTER_KEY>:nodes` is deleted after each
 * run, then anything left under the prefix is deleted and counted.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { writeBenchConfig } from "./bench-config.js";
import { roomName } from "./generator.js";
import {
  freePort,
  othersCpuSec,
  type RunningServer,
  readContextSwitches,
  readCpuSec,
  readSyscalls,
  type ServerSpec,
  startServer,
  stopServer,
} from "./servers.js";
import { Histogram, median } from "./stats.js";
import { type Conn, openConn } from "./wsclient.js";

const SINGLE_CONFIG = "examples/bench/switchyard.yaml";
const CLUSTER_CONFIG = "examples/cluster/switchyard.yaml";
const PATH = "/socket.io/";
/** `42["message","` — the payload string starts right after it. */
const MESSAGE_PREFIX_LEN = 14;

export type ClusterVariant = "switchyard" | "switchyard-cluster" | "socketio" | "socketio-cluster";

const VARIANTS: readonly { id: ClusterVariant; label: string; nodes: number }[] = [
  { id: "switchyard", label: "Switchyard, 1 node", nodes: 1 },
  { id: "switchyard-cluster", label: "Switchyard, 2 nodes + Redis", nodes: 2 },
  { id: "socketio", label: "socket.io, 1 node", nodes: 1 },
  { id: "socketio-cluster", label: "socket.io, 2 nodes + Redis", nodes: 2 },
];

export interface ClusterBenchOptions {
  /** The repository root (bin/switchyard.js, the examples, bench/socketio-server.ts). */
  readonly root: string;
  readonly redisUrl: string;
  readonly conns: number;
  readonly rooms: readonly number[];
  readonly payloadBytes: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Offered deliveries/s of the fixed-load phase. */
  readonly fixedRate: number;
  /** Closed loop: target deliveries in flight over all rooms (K is derived from it). */
  readonly inflight: number;
  /** CPU the servers are pinned to (taskset), or null. */
  readonly cpu: number | null;
  /** Server logs go to `<logDir>/cluster-<variant>-<size>-<node>.log`. */
  readonly logDir: string;
  /** Connections opened concurrently. */
  readonly batch: number;
  /** Other processes' CPU before the phase (% of one core), from the harness's check. */
  readonly backgroundCpuPct: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Extra node flags for every server process (`--node-args`: profiles, GC traces). */
  readonly nodeArgs?: readonly string[];
}

export interface LatencySplit {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface ClusterPhase {
  readonly kind: "open-loop" | "closed-loop";
  readonly offeredPerSec?: number;
  /** Closed loop: publishes in flight per room. */
  readonly window?: number;
  readonly measureSec: number;
  readonly deliveredPerSec: number;
  readonly publishesPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly local: LatencySplit;
  /** Null on one node. */
  readonly remote: LatencySplit | null;
  /** % of one core over the window: every node together, redis-server, this process, the rest. */
  readonly srvCpuPct: number;
  /** The same per node: [A] or [A, B]. */
  readonly nodeCpuPct: readonly number[];
  /**
   * Each node's write system calls (/proc/PID/io `syscw`) per delivery to its own members:
   * [A] or [A, B]. A node coalesces what a socket is owed in one turn into one write, so this
   * tells how many messages its flushes carried.
   */
  readonly nodeWritesPerDelivery: readonly number[];
  /** Each node's event-loop thread's context switches per second: [A] or [A, B]. */
  readonly nodeSwitchesPerSec: readonly number[];
  readonly redisCpuPct: number;
  readonly genCpuPct: number;
  readonly otherCpuPct: number;
  /** Deliveries per second of the nodes' CPU (Redis's not included). */
  readonly deliveredPerSrvCpuSec: number;
  /** Every member received every message before the drain deadline. */
  readonly drained: boolean;
  /** Deliveries owed for the whole phase minus deliveries seen. */
  readonly missing: number;
}

export interface ClusterRun {
  readonly variant: ClusterVariant;
  readonly label: string;
  readonly nodes: number;
  readonly size: string;
  readonly conns: number;
  readonly rooms: number;
  readonly payloadBytes: number;
  readonly fanout: number;
  readonly localPerPublish: number;
  readonly remotePerPublish: number;
  fixed?: ClusterPhase;
  saturation?: ClusterPhase;
  readonly notes: string[];
  error?: string;
}

export interface ClusterRatios {
  readonly size: string;
  /** Switchyard / socket.io, one node each and two nodes each. */
  readonly single: { deliveredPerSec: number; perCpuSec: number; fixedP99: number };
  readonly cluster: { deliveredPerSec: number; perCpuSec: number; fixedP99: number };
  /** Two nodes / one node (delivered msg/s at saturation), per server. */
  readonly redisCost: { switchyard: number; socketio: number };
}

export interface ClusterResult {
  /** What the run changed in its copy of examples/cluster (bench/bench-config.ts). */
  readonly configChanges: readonly string[];
  readonly redisUrl: string;
  readonly redisPid: number | null;
  readonly keyPrefix: string;
  /** Keys found under the prefix after the runs (and deleted). */
  readonly leftoverKeys: number;
  readonly settings: {
    conns: number;
    rooms: readonly number[];
    payloadBytes: number;
    warmupMs: number;
    measureMs: number;
    fixedRate: number;
    inflight: number;
    serverCpu: number | null;
    backgroundCpuPct: number;
  };
  readonly runs: ClusterRun[];
  readonly ratios: ClusterRatios[];
}

/** Runs every set-up at every size; every process it started is stopped before it returns. */
export async function runClusterBench(opts: ClusterBenchOptions): Promise<ClusterResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const prefix = `swy-bench-${randomBytes(4).toString("hex")}`;
  const admin = new Redis(opts.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  const runs: ClusterRun[] = [];
  let leftoverKeys = 0;
  let redisPid: number | null = null;
  // The cluster example at the benchmark contract's limits (the single node serves the contract).
  const clusterConfig = writeBenchConfig({ root: opts.root, example: CLUSTER_CONFIG });
  try {
    const pid = /^process_id:(\d+)/m.exec(await admin.info("server"))?.[1];
    // Only when that process is visible here (a Redis in another container is not).
    redisPid = pid !== undefined && Number.isFinite(readCpuSec(pid)) ? Number(pid) : null;
    let n = 0;
    for (const rooms of opts.rooms) {
      for (const variant of VARIANTS) {
        n++;
        const key = `${prefix}-${n}`;
        const run = await runOne(
          opts,
          variant,
          rooms,
          clusterConfig.path,
          key,
          redisPid,
          admin,
          log,
        );
        runs.push(run);
        await sleep(300);
      }
    }
  } finally {
    clusterConfig.remove();
    leftoverKeys = await deleteUnder(admin, prefix);
    admin.disconnect();
  }
  return {
    configChanges: clusterConfig.changes,
    redisUrl: opts.redisUrl,
    redisPid,
    keyPrefix: prefix,
    leftoverKeys,
    settings: {
      conns: opts.conns,
      rooms: opts.rooms,
      payloadBytes: opts.payloadBytes,
      warmupMs: opts.warmupMs,
      measureMs: opts.measureMs,
      fixedRate: opts.fixedRate,
      inflight: opts.inflight,
      serverCpu: opts.cpu,
      backgroundCpuPct: opts.backgroundCpuPct,
    },
    runs,
    ratios: clusterRatios(runs),
  };
}

/** Deletes every key under `prefix` (SCAN, never KEYS); returns how many there were. */
async function deleteUnder(admin: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let found = 0;
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) {
      found += keys.length;
      await admin.del(...keys);
    }
  } while (cursor !== "0");
  return found;
}

function sizeLabel(conns: number, rooms: number, payloadBytes: number): string {
  const c = conns >= 1000 && conns % 1000 === 0 ? `${conns / 1000}k` : String(conns);
  const p =
    payloadBytes >= 1024 && payloadBytes % 1024 === 0
      ? `${payloadBytes / 1024}KiB`
      : `${payloadBytes}B`;
  return `${c}/${rooms}r/${p}`;
}

function nodeSpecs(
  opts: ClusterBenchOptions,
  variant: ClusterVariant,
  clusterConfig: string,
  keys: { socketIo: string; cluster: string },
): ServerSpec[] {
  const node = [process.execPath, ...(opts.nodeArgs ?? [])];
  const count = variant.endsWith("-cluster") ? 2 : 1;
  const specs: ServerSpec[] = [];
  for (let i = 0; i < count; i++) {
    const label = `${variant} node ${"AB"[i]}`;
    if (variant === "switchyard" || variant === "switchyard-cluster") {
      const config = variant === "switchyard" ? SINGLE_CONFIG : clusterConfig;
      const env =
        variant === "switchyard"
          ? []
          : [
              `REDIS_URL=${opts.redisUrl}`,
              `SOCKET_IO_KEY=${keys.socketIo}`,
              `SWITCHYARD_CLUSTER_KEY=${keys.cluster}`,
              "LOG_LEVEL=warn",
            ];
      specs.push({
        id: "switchyard",
        label,
        unavailable: () => null,
        command: (port) => [
          "env",
          ...env,
          ...node,
          "bin/switchyard.js",
          "start",
          "--config",
          config,
          "--port",
          String(port),
          "--host",
          "127.0.0.1",
          "--no-watch",
        ],
      });
    } else {
      const redis =
        variant === "socketio" ? [] : ["--redis-url", opts.redisUrl, "--redis-key", keys.socketIo];
      specs.push({
        id: "socketio",
        label,
        unavailable: () => null,
        command: (port) => [
          ...node,
          "--import",
          "tsx",
          "bench/socketio-server.ts",
          "--port",
          String(port),
          "--host",
          "127.0.0.1",
          ...redis,
        ],
      });
    }
  }
  return specs;
}

/** Waits for `/readyz` to answer 200 (Switchyard: its Redis connections are up). */
async function waitUntilReady(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch((error: Error) => error);
    if (!(res instanceof Error) && res.status === 200) return;
    last = res instanceof Error ? res.message : `${res.status} ${await res.text()}`;
    await sleep(50);
  }
  throw new Error(`node on port ${port} not ready within ${timeoutMs} ms: ${last}`);
}

async function runOne(
  opts: ClusterBenchOptions,
  variant: (typeof VARIANTS)[number],
  rooms: number,
  clusterConfig: string,
  keyBase: string,
  redisPid: number | null,
  admin: Redis,
  log: (line: string) => void,
): Promise<ClusterRun> {
  const size = sizeLabel(opts.conns, rooms, opts.payloadBytes);
  const members = opts.conns / rooms;
  const run: ClusterRun = {
    variant: variant.id,
    label: variant.label,
    nodes: variant.nodes,
    size,
    conns: opts.conns,
    rooms,
    payloadBytes: opts.payloadBytes,
    fanout: members - 1,
    localPerPublish: variant.nodes === 1 ? members - 1 : Math.ceil(members / 2) - 1,
    remotePerPublish: variant.nodes === 1 ? 0 : Math.floor(members / 2),
    notes: [],
  };
  const tag = `[cluster ${size} ${variant.label}]`;
  const keys = { socketIo: `${keyBase}-sio`, cluster: `${keyBase}-nodes` };
  const servers: RunningServer[] = [];
  let fleet: ClusterFleet | null = null;
  try {
    if (!Number.isInteger(members) || members < 2) {
      throw new Error(`${opts.conns} connections do not split into ${rooms} rooms of 2 or more`);
    }
    const specs = nodeSpecs(opts, variant.id, clusterConfig, keys);
    const started = await Promise.allSettled(
      specs.map(async (spec, i) => {
        const port = await freePort();
        const server = await startServer(spec, {
          root: opts.root,
          port,
          cpu: opts.cpu,
          logPath: `${opts.logDir}/cluster-${variant.id}-${size.replace(/\//g, "_")}-${"AB"[i]}.log`,
          client: "raw",
          path: PATH,
          readyTimeoutMs: 20_000,
        });
        servers.push(server);
        return server;
      }),
    );
    for (const s of started) if (s.status === "rejected") throw s.reason;
    // In the order of the specs (node A first), whichever finished starting first.
    servers.sort((a, b) => specs.indexOf(a.spec) - specs.indexOf(b.spec));
    if (variant.id.startsWith("switchyard")) {
      await Promise.all(servers.map((s) => waitUntilReady(s.port, 10_000)));
    }
    const alive = () => {
      for (const s of servers) {
        if (s.exit !== null) {
          throw new Error(
            `${s.spec.label} exited (code ${s.exit.code}, signal ${s.exit.signal}); log ${s.logPath}`,
          );
        }
      }
    };
    fleet = new ClusterFleet({
      ports: servers.map((s) => s.port),
      conns: opts.conns,
      rooms,
      payloadBytes: opts.payloadBytes,
      batch: opts.batch,
    });
    const t0 = Date.now();
    await fleet.connectAll(15_000);
    const connectSec = (Date.now() - t0) / 1000;
    alive();
    await fleet.checkFanout(10_000);
    alive();
    const pids = servers.map((s) => s.pid);
    const exclude = new Set([...pids, process.pid, process.ppid]);
    if (redisPid !== null) exclude.add(redisPid);
    const meter: ClusterMeter = {
      serverCpuSec: () => pids.map((pid) => readCpuSec(pid)),
      serverWrites: () => pids.map((pid) => readSyscalls(pid).writes),
      serverSwitches: () => pids.map((pid) => readContextSwitches(pid)),
      redisCpuSec: () => (redisPid === null ? Number.NaN : readCpuSec(redisPid)),
      othersCpuSec: () => othersCpuSec(exclude),
    };
    run.fixed = await fleet.openLoop(opts.fixedRate, opts.warmupMs, opts.measureMs, meter);
    alive();
    const window = Math.min(64, Math.max(2, Math.ceil(opts.inflight / (rooms * run.fanout))));
    run.saturation = await fleet.closedLoop(window, opts.warmupMs, opts.measureMs, meter);
    alive();
    const e = fleet.errors;
    if (e.disconnects > 0) run.notes.push(`disconnects: ${e.disconnects}`);
    if (e.malformed > 0) run.notes.push(`malformed messages: ${e.malformed}`);
    if (e.unexpected > 0) {
      run.notes.push(`unexpected frames: ${e.unexpected} e.g. ${e.unexpectedSamples.join(" | ")}`);
    }
    const f = run.fixed;
    const s = run.saturation;
    const split = (p: ClusterPhase) =>
      p.remote === null
        ? ""
        : ` (local ${p.local.p50Ms.toFixed(1)}/${p.local.p99Ms.toFixed(1)}, remote ${p.remote.p50Ms.toFixed(1)}/${p.remote.p99Ms.toFixed(1)})`;
    log(
      `${tag} connect ${connectSec.toFixed(1)} s` +
        ` | fixed ${Math.round(f.deliveredPerSec)}/s p50/p99 ${f.p50Ms.toFixed(2)}/${f.p99Ms.toFixed(2)} ms${split(f)}` +
        ` | sat ${Math.round(s.deliveredPerSec)}/s (K=${s.window}) p50/p99 ${s.p50Ms.toFixed(1)}/${s.p99Ms.toFixed(1)} ms${split(s)}` +
        ` srv ${Math.round(s.srvCpuPct)}%${s.nodeCpuPct.length > 1 ? ` (A ${Math.round(s.nodeCpuPct[0]!)}%, B ${Math.round(s.nodeCpuPct[1]!)}%)` : ""}` +
        ` writes/deliv ${s.nodeWritesPerDelivery.map((w) => w.toFixed(2)).join(", ")}` +
        ` switches/s ${s.nodeSwitchesPerSec.map((n) => Math.round(n)).join(", ")} redis ${fmtPct(s.redisCpuPct)} gen ${Math.round(s.genCpuPct)}% other ${Math.round(s.otherCpuPct)}%` +
        (f.missing || s.missing ? ` MISSING ${f.missing}/${s.missing}` : "") +
        (!f.drained || !s.drained ? " NOT-DRAINED" : "") +
        (run.notes.length > 0 ? ` | ${run.notes.join("; ")}` : ""),
    );
  } catch (err) {
    run.error = (err as Error).message;
    log(`${tag} FAILED: ${run.error}`);
  } finally {
    fleet?.destroyAll();
    await Promise.all(servers.map((s) => stopServer(s)));
    if (variant.id === "switchyard-cluster") {
      try {
        await admin.del(`${keys.cluster}:nodes`);
      } catch {
        // deleteUnder() at the end tries again.
      }
    }
  }
  return run;
}

function fmtPct(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v)}%` : "?";
}

interface ClusterMeter {
  /** Each node's CPU time, seconds: [A] or [A, B]. */
  serverCpuSec(): number[];
  /** Each node's write system calls so far: [A] or [A, B]. */
  serverWrites(): number[];
  /** Each node's event-loop thread's context switches so far: [A] or [A, B]. */
  serverSwitches(): number[];
  redisCpuSec(): number;
  othersCpuSec(): Map<number, number>;
}

enum State {
  Connecting = 0,
  EioOpen = 1,
  SioConnected = 2,
  Joined = 3,
}

interface Member {
  index: number;
  room: number;
  node: number;
  remote: boolean;
  conn: Conn | null;
  state: State;
  settle: ((error?: Error) => void) | null;
}

interface ClusterFleetOptions {
  /** One port per node; publishers connect to the first. */
  ports: readonly number[];
  conns: number;
  rooms: number;
  payloadBytes: number;
  batch: number;
}

/** A focused generator for this phase (see the header for why not bench/generator.ts). */
class ClusterFleet {
  private readonly opts: ClusterFleetOptions;
  private readonly fanout: number;
  private readonly members: Member[] = [];
  private readonly sent: number[];
  private readonly received: number[];
  /** Closed loop: deliveries a room was owed and never got before the loop started. */
  private readonly lost: number[];
  private readonly prefixes: string[];
  private readonly padding: string;
  private delivered = 0;
  private recording = false;
  private readonly localHist = new Histogram();
  private readonly remoteHist = new Histogram();
  private readonly allHist = new Histogram();
  private closed = false;
  private window = 0;
  private closing = false;
  readonly errors = {
    disconnects: 0,
    malformed: 0,
    unexpected: 0,
    unexpectedSamples: [] as string[],
  };

  constructor(opts: ClusterFleetOptions) {
    this.opts = opts;
    this.fanout = opts.conns / opts.rooms - 1;
    this.sent = new Array<number>(opts.rooms).fill(0);
    this.received = new Array<number>(opts.rooms).fill(0);
    this.lost = new Array<number>(opts.rooms).fill(0);
    this.prefixes = [];
    for (let r = 0; r < opts.rooms; r++) {
      this.prefixes.push(`42["publish",{"room":"${roomName(r)}","payload":"`);
    }
    this.padding = "x".repeat(opts.payloadBytes);
    const nodes = opts.ports.length;
    for (let i = 0; i < opts.conns; i++) {
      const node = Math.floor(i / opts.rooms) % nodes;
      this.members.push({
        index: i,
        room: i % opts.rooms,
        node,
        remote: node !== 0,
        conn: null,
        state: State.Connecting,
        settle: null,
      });
    }
  }

  async connectAll(timeoutMs: number): Promise<void> {
    for (let b = 0; b < this.members.length; b += this.opts.batch) {
      const batch = this.members.slice(b, b + this.opts.batch);
      await Promise.all(batch.map((m) => this.connectWithRetry(m, timeoutMs)));
    }
  }

  private async connectWithRetry(m: Member, timeoutMs: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connectOne(m, timeoutMs);
        return;
      } catch (err) {
        if (attempt >= 3 || this.closing) {
          throw new Error(`client ${m.index}: ${(err as Error).message} (${attempt} attempts)`);
        }
        await sleep(100 * attempt);
      }
    }
  }

  private connectOne(m: Member, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      m.state = State.Connecting;
      const timer = setTimeout(
        () => m.settle?.(new Error(`handshake timed out in state ${m.state}`)),
        timeoutMs,
      );
      m.settle = (error?: Error) => {
        m.settle = null;
        clearTimeout(timer);
        if (error) {
          m.conn?.destroy();
          m.conn = null;
          reject(error);
        } else {
          resolve();
        }
      };
      m.conn = openConn(
        "raw",
        {
          host: "127.0.0.1",
          port: this.opts.ports[m.node]!,
          path: `${PATH}?EIO=4&transport=websocket`,
        },
        {
          onOpen: () => {},
          onText: (buf, s, e, now) => this.onText(m, buf, s, e, now),
          onClose: (error) => {
            if (m.settle !== null) {
              m.settle(error ?? new Error("connection closed during handshake"));
              return;
            }
            m.conn = null;
            if (!this.closing) this.errors.disconnects++;
          },
        },
      );
    });
  }

  /** The hot path: one call per text frame any member receives. */
  private onText(m: Member, buf: Buffer, s: number, e: number, nowMs: number): void {
    if (
      e - s > MESSAGE_PREFIX_LEN &&
      buf[s] === 0x34 && // 4
      buf[s + 1] === 0x32 && // 2
      buf[s + 2] === 0x5b && // [
      buf[s + 3] === 0x22 && // "
      buf[s + 4] === 0x6d // m
    ) {
      this.delivered++;
      this.received[m.room]!++;
      if (this.recording) {
        let i = s + MESSAGE_PREFIX_LEN;
        let ts = 0;
        while (i < e) {
          const c = buf[i]!;
          if (c < 48 || c > 57) break;
          ts = ts * 10 + (c - 48);
          i++;
        }
        if (i === s + MESSAGE_PREFIX_LEN) {
          this.errors.malformed++;
        } else {
          const us = nowMs * 1000 - ts;
          this.allHist.record(us);
          (m.remote ? this.remoteHist : this.localHist).record(us);
        }
      }
      if (this.closed) this.pump(m.room);
      return;
    }
    const len = e - s;
    const c0 = buf[s];
    if (len === 1 && c0 === 0x32) {
      m.conn?.send("3"); // Engine.IO ping → pong
      return;
    }
    const c1 = len > 1 ? buf[s + 1] : -1;
    if (c0 === 0x30 && c1 === 0x7b && m.state === State.Connecting) {
      m.state = State.EioOpen;
      m.conn?.send("40");
      return;
    }
    if (c0 === 0x34 && c1 === 0x30 && m.state === State.EioOpen) {
      m.state = State.SioConnected;
      m.conn?.send(`420["join",{"room":"${roomName(m.room)}"}]`);
      return;
    }
    if (c0 === 0x34 && c1 === 0x33 && m.state === State.SioConnected) {
      m.state = State.Joined;
      m.settle?.();
      return;
    }
    const text = buf.toString("utf8", s, Math.min(e, s + 120));
    if (m.settle !== null && (c0 === 0x31 || (c0 === 0x34 && (c1 === 0x34 || c1 === 0x31)))) {
      m.settle(new Error(`server refused: ${text}`));
      return;
    }
    this.errors.unexpected++;
    if (this.errors.unexpectedSamples.length < 5) this.errors.unexpectedSamples.push(text);
  }

  private publish(room: number, stampMs: number): void {
    const n = this.sent[room]!;
    const head = `${Math.round(stampMs * 1000)}:${room}:${n}:`;
    const pad = this.opts.payloadBytes - head.length;
    const payload = pad > 0 ? head + this.padding.slice(0, pad) : head;
    // The publisher of room r is member r: on node A.
    this.members[room]!.conn?.send(`${this.prefixes[room]}${payload}"}]`);
    this.sent[room] = n + 1;
  }

  /** Closed loop: publish while the room owes at most (K − 1) × fan-out deliveries. */
  private pump(room: number): void {
    const limit = (this.window - 1) * this.fanout;
    while (this.sent[room]! * this.fanout - this.received[room]! - this.lost[room]! <= limit) {
      this.publish(room, performance.now());
    }
  }

  private owed(): number {
    let t = 0;
    for (let r = 0; r < this.opts.rooms; r++) t += this.sent[r]! * this.fanout - this.received[r]!;
    return t;
  }

  private totalSent(): number {
    let t = 0;
    for (const n of this.sent) t += n;
    return t;
  }

  /** One publish per room, then every member must have it: both nodes serve every room. */
  async checkFanout(timeoutMs: number): Promise<void> {
    const before = this.owed();
    for (let r = 0; r < this.opts.rooms; r++) this.publish(r, performance.now());
    const deadline = performance.now() + timeoutMs;
    while (this.owed() > before && performance.now() < deadline) await sleep(10);
    const missing = this.owed() - before;
    if (missing > 0) {
      throw new Error(
        `fan-out check: ${missing} of ${this.opts.rooms * this.fanout} deliveries missing after ${timeoutMs} ms`,
      );
    }
  }

  async openLoop(
    deliveriesPerSec: number,
    warmupMs: number,
    measureMs: number,
    meter: ClusterMeter,
  ): Promise<ClusterPhase> {
    const phase = { sent: this.totalSent(), delivered: this.delivered };
    const intervalMs = (1000 * this.fanout) / deliveriesPerSec;
    const start = performance.now();
    const rooms = this.opts.rooms;
    let k = 0;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      const now = performance.now();
      let due = start + k * intervalMs;
      while (due <= now) {
        this.publish(k % rooms, due);
        k++;
        due = start + k * intervalMs;
      }
      timer = setTimeout(tick, Math.max(0, Math.min(1, due - performance.now())));
    };
    tick();
    try {
      await sleep(warmupMs);
      const m = this.beginMeasure(meter);
      await sleep(measureMs);
      const stats = this.endMeasure(m, meter);
      clearTimeout(timer);
      const { drained, missing } = await this.drain(phase);
      return { kind: "open-loop", offeredPerSec: deliveriesPerSec, ...stats, drained, missing };
    } finally {
      clearTimeout(timer);
    }
  }

  async closedLoop(
    window: number,
    warmupMs: number,
    measureMs: number,
    meter: ClusterMeter,
  ): Promise<ClusterPhase> {
    const phase = { sent: this.totalSent(), delivered: this.delivered };
    for (let r = 0; r < this.opts.rooms; r++) {
      this.lost[r] = this.sent[r]! * this.fanout - this.received[r]!;
    }
    this.window = window;
    this.closed = true;
    for (let r = 0; r < this.opts.rooms; r++) this.pump(r);
    await sleep(warmupMs);
    const m = this.beginMeasure(meter);
    await sleep(measureMs);
    const stats = this.endMeasure(m, meter);
    this.closed = false;
    const { drained, missing } = await this.drain(phase);
    return { kind: "closed-loop", window, ...stats, drained, missing };
  }

  private async drain(phase: { sent: number; delivered: number }, drainMs = 10_000) {
    const deadline = performance.now() + drainMs;
    const owedAtStart = (this.totalSent() - phase.sent) * this.fanout;
    const done = () => this.delivered - phase.delivered >= owedAtStart;
    while (!done() && performance.now() < deadline) await sleep(10);
    const drained = done();
    const owed = (this.totalSent() - phase.sent) * this.fanout;
    return { drained, missing: owed - (this.delivered - phase.delivered) };
  }

  private beginMeasure(meter: ClusterMeter) {
    this.localHist.reset();
    this.remoteHist.reset();
    this.allHist.reset();
    this.recording = true;
    return {
      t: performance.now(),
      delivered: this.delivered,
      sent: this.totalSent(),
      cpu: process.cpuUsage(),
      srv: meter.serverCpuSec(),
      writes: meter.serverWrites(),
      switches: meter.serverSwitches(),
      redis: meter.redisCpuSec(),
      others: meter.othersCpuSec(),
    };
  }

  private endMeasure(m: ReturnType<ClusterFleet["beginMeasure"]>, meter: ClusterMeter) {
    this.recording = false;
    const sec = (performance.now() - m.t) / 1000;
    const cpu = process.cpuUsage(m.cpu);
    const nodeSec = meter.serverCpuSec().map((t, i) => t - m.srv[i]!);
    const srv = nodeSec.reduce((a, b) => a + b, 0);
    const redis = meter.redisCpuSec() - m.redis;
    let others = 0;
    for (const [pid, t] of meter.othersCpuSec())
      others += Math.max(0, t - (m.others.get(pid) ?? 0));
    const split = (h: Histogram): LatencySplit => ({
      samples: h.count,
      p50Ms: h.quantileUs(0.5) / 1000,
      p99Ms: h.quantileUs(0.99) / 1000,
    });
    const deliveredPerSec = (this.delivered - m.delivered) / sec;
    const nodeWrites = meter.serverWrites().map((w, i) => w - m.writes[i]!);
    // Deliveries to each node's members: every one on a single node; local (A) and remote (B).
    const nodeDeliveries =
      nodeWrites.length === 1
        ? [this.delivered - m.delivered]
        : [this.localHist.count, this.remoteHist.count];
    return {
      measureSec: sec,
      deliveredPerSec,
      publishesPerSec: (this.totalSent() - m.sent) / sec,
      p50Ms: this.allHist.quantileUs(0.5) / 1000,
      p99Ms: this.allHist.quantileUs(0.99) / 1000,
      local: split(this.localHist),
      remote: this.opts.ports.length > 1 ? split(this.remoteHist) : null,
      srvCpuPct: (srv / sec) * 100,
      nodeCpuPct: nodeSec.map((t) => (t / sec) * 100),
      nodeWritesPerDelivery: nodeWrites.map((w, i) => w / nodeDeliveries[i]!),
      nodeSwitchesPerSec: meter.serverSwitches().map((n, i) => (n - m.switches[i]!) / sec),
      redisCpuPct: (redis / sec) * 100,
      genCpuPct: ((cpu.user + cpu.system) / 1e6 / sec) * 100,
      otherCpuPct: (others / sec) * 100,
      deliveredPerSrvCpuSec: srv > 0 ? (deliveredPerSec * sec) / srv : Number.NaN,
    };
  }

  destroyAll(): void {
    this.closing = true;
    this.closed = false;
    for (const m of this.members) {
      m.settle?.(new Error("fleet closed"));
      m.conn?.destroy();
      m.conn = null;
    }
  }
}

function clusterRatios(runs: readonly ClusterRun[]): ClusterRatios[] {
  const out: ClusterRatios[] = [];
  const sizes = [...new Set(runs.map((r) => r.size))];
  for (const size of sizes) {
    const get = (v: ClusterVariant) => runs.find((r) => r.size === size && r.variant === v);
    const sy1 = get("switchyard");
    const sy2 = get("switchyard-cluster");
    const io1 = get("socketio");
    const io2 = get("socketio-cluster");
    const pair = (a: ClusterRun | undefined, b: ClusterRun | undefined) => ({
      deliveredPerSec: div(a?.saturation?.deliveredPerSec, b?.saturation?.deliveredPerSec),
      perCpuSec: div(a?.saturation?.deliveredPerSrvCpuSec, b?.saturation?.deliveredPerSrvCpuSec),
      fixedP99: div(a?.fixed?.p99Ms, b?.fixed?.p99Ms),
    });
    out.push({
      size,
      single: pair(sy1, io1),
      cluster: pair(sy2, io2),
      redisCost: {
        switchyard: div(sy2?.saturation?.deliveredPerSec, sy1?.saturation?.deliveredPerSec),
        socketio: div(io2?.saturation?.deliveredPerSec, io1?.saturation?.deliveredPerSec),
      },
    });
  }
  return out;
}

/** One ratio over several runs: the median, and the lowest and highest. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** The ratios of `--repeat` runs of the cluster benchmark, per size. */
export interface ClusterSummary {
  readonly runs: number;
  readonly sizes: {
    readonly size: string;
    /** Switchyard / socket.io, one node each and two nodes each: deliv/s and p99 at the fixed load. */
    readonly single: { readonly deliveredPerSec: Spread; readonly fixedP99: Spread };
    readonly cluster: { readonly deliveredPerSec: Spread; readonly fixedP99: Spread };
    /** Two nodes / one node (delivered msg/s at saturation). */
    readonly redisCost: { readonly switchyard: Spread; readonly socketio: Spread };
  }[];
}

/** The median and range of every ratio over the runs (a failed set-up's NaN left out). */
export function summarizeCluster(results: readonly ClusterResult[]): ClusterSummary {
  const sizes = [...new Set(results.flatMap((result) => result.ratios.map((r) => r.size)))];
  const spread = (pick: (ratios: ClusterRatios) => number, size: string): Spread => {
    const values = results
      .map((result) => result.ratios.find((r) => r.size === size))
      .filter((ratios) => ratios !== undefined)
      .map(pick)
      .filter(Number.isFinite);
    return values.length === 0
      ? { median: Number.NaN, min: Number.NaN, max: Number.NaN }
      : { median: median(values), min: Math.min(...values), max: Math.max(...values) };
  };
  return {
    runs: results.length,
    sizes: sizes.map((size) => ({
      size,
      single: {
        deliveredPerSec: spread((r) => r.single.deliveredPerSec, size),
        fixedP99: spread((r) => r.single.fixedP99, size),
      },
      cluster: {
        deliveredPerSec: spread((r) => r.cluster.deliveredPerSec, size),
        fixedP99: spread((r) => r.cluster.fixedP99, size),
      },
      redisCost: {
        switchyard: spread((r) => r.redisCost.switchyard, size),
        socketio: spread((r) => r.redisCost.socketio, size),
      },
    })),
  };
}

export function formatClusterSummary(summary: ClusterSummary): string {
  const x = (s: Spread) =>
    Number.isFinite(s.median)
      ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`
      : "-";
  const lines = [
    `Cluster, median (lowest–highest) of ${summary.runs} runs: Switchyard / socket.io, deliv/s at saturation and p99 at the fixed load; 2 nodes / 1 node deliv/s`,
  ];
  for (const s of summary.sizes) {
    lines.push(
      `  ${s.size.padEnd(12)} 1 node: ${x(s.single.deliveredPerSec)}, p99 ${x(s.single.fixedP99)}`,
      `  ${"".padEnd(12)} 2 nodes + Redis: ${x(s.cluster.deliveredPerSec)}, p99 ${x(s.cluster.fixedP99)}`,
      `  ${"".padEnd(12)} 2 nodes / 1 node: Switchyard ${x(s.redisCost.switchyard)}, socket.io ${x(s.redisCost.socketio)}`,
    );
  }
  return lines.join("\n");
}

function div(a: number | undefined, b: number | undefined): number {
  return a !== undefined && b !== undefined && b > 0 ? a / b : Number.NaN;
}

export function formatCluster(result: ClusterResult): string {
  const st = result.settings;
  const f = (n: number | undefined) =>
    n === undefined || !Number.isFinite(n) ? "-" : Math.round(n).toLocaleString("en-US");
  const ms = (n: number | undefined) =>
    n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(1);
  const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : "-");
  const lines = [
    `Cluster: two nodes on Redis (${result.redisUrl}${result.redisPid === null ? ", redis-server CPU not visible" : `, redis-server pid ${result.redisPid}`});` +
      ` ${st.conns.toLocaleString("en-US")} connections, ${st.payloadBytes} B payloads; members of every room split evenly` +
      " over the nodes, publishers on node A only (half the deliveries cross Redis)",
    `  servers ${st.serverCpu === null ? "unpinned" : `pinned to CPU ${st.serverCpu} (both nodes of a cluster share it)`};` +
      ` warmup ${st.warmupMs / 1000} s, measure ${st.measureMs / 1000} s;` +
      ` fixed load ${st.fixedRate.toLocaleString("en-US")} deliveries/s (open loop); saturation: bounded closed loop,` +
      ` K publishes in flight per room; other processes used ${Math.round(st.backgroundCpuPct)}% of a core before the phase`,
    `  bench-only config changes to ${CLUSTER_CONFIG}: ${result.configChanges.join(", ")}`,
    "",
    `  ${"size".padEnd(12)} ${"set-up".padEnd(28)} ${"deliv/s".padStart(9)} ${"deliv/CPU-s".padStart(11)}` +
      ` ${"p50/p99 sat".padStart(13)} ${"p50/p99 @fixed".padStart(14)} ${"local p99".padStart(9)} ${"remote p99".padStart(10)}` +
      ` ${"srv CPU".padStart(7)} ${"redis".padStart(5)} ${"gen".padStart(4)} ${"other".padStart(5)}`,
  ];
  for (const run of result.runs) {
    const s = run.saturation;
    const fx = run.fixed;
    if (run.error !== undefined || s === undefined || fx === undefined) {
      lines.push(`  ${run.size.padEnd(12)} ${run.label.padEnd(28)} FAILED: ${run.error ?? "?"}`);
      continue;
    }
    const flags =
      (s.missing || fx.missing ? ` MISSING ${fx.missing}/${s.missing}` : "") +
      (!s.drained || !fx.drained ? " NOT-DRAINED" : "") +
      (run.notes.length > 0 ? ` (${run.notes.join("; ")})` : "");
    lines.push(
      `  ${run.size.padEnd(12)} ${run.label.padEnd(28)} ${f(s.deliveredPerSec).padStart(9)} ${f(s.deliveredPerSrvCpuSec).padStart(11)}` +
        ` ${`${ms(s.p50Ms)}/${ms(s.p99Ms)}`.padStart(13)} ${`${ms(fx.p50Ms)}/${ms(fx.p99Ms)}`.padStart(14)}` +
        ` ${ms(fx.local.p99Ms).padStart(9)} ${(fx.remote === null ? "" : ms(fx.remote.p99Ms)).padStart(10)}` +
        ` ${`${f(s.srvCpuPct)}%`.padStart(7)} ${fmtPct(s.redisCpuPct).padStart(5)} ${`${f(s.genCpuPct)}%`.padStart(4)} ${`${f(s.otherCpuPct)}%`.padStart(5)}` +
        flags,
    );
  }
  lines.push("");
  lines.push(
    "  Switchyard / socket.io (deliv/s at saturation, deliv/CPU-s, p99 at the fixed load):",
  );
  for (const r of result.ratios) {
    lines.push(
      `    ${r.size.padEnd(12)} 1 node: ${x(r.single.deliveredPerSec)}, ${x(r.single.perCpuSec)}, p99 ${x(r.single.fixedP99)}` +
        ` | 2 nodes + Redis: ${x(r.cluster.deliveredPerSec)}, ${x(r.cluster.perCpuSec)}, p99 ${x(r.cluster.fixedP99)}` +
        ` | 2 nodes / 1 node deliv/s: Switchyard ${x(r.redisCost.switchyard)}, socket.io ${x(r.redisCost.socketio)}`,
    );
  }
  lines.push(
    `  Redis keys left under ${result.keyPrefix}*: ${result.leftoverKeys}${result.leftoverKeys > 0 ? " (deleted)" : ""}`,
  );
  return lines.join("\n");
}

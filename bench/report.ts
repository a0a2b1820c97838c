/** Result records, medians over repeats, and the printed comparison table. */
import type { ClientProtocol, PhaseStats } from "./generator.js";
import type { ServerId } from "./servers.js";
import { median } from "./stats.js";

export interface Size {
  conns: number;
  rooms: number;
  payloadBytes: number;
}

export interface MemoryStats {
  /** RSS with no client connected (after the readiness probe), KiB. */
  initialRssKiB: number;
  /** (full − initial) / conns, bytes: the textbook figure, one-off warm-up costs included. */
  naivePerConnBytes: number;
  /** Connections open when the baseline was read (they absorb one-off warm-up costs). */
  warmConns: number;
  baseRssKiB: number;
  fullRssKiB: number;
  /** (full − base) / (conns − warmConns), bytes. */
  perConnBytes: number;
  /**
   * RSS after the last phase (saturation, drained), every client still connected, KiB: what the
   * run left in the server (a recovery log among it, not yet collected garbage too).
   */
  afterRunRssKiB?: number;
}

/** v3 heartbeat of one run: the clients ping, the server answers. */
export interface HeartbeatStats {
  /** pingInterval read from the open packet, ms. */
  pingIntervalMs: number;
  pingsSent: number;
  pongs: number;
}

/** What the shadowed server's comparator found (`GET /api/v1/shadow`), read after the run. */
export interface ShadowCheck {
  /** Messages the generator published in the run (every phase). */
  published: number;
  /** The counts of its one shadowed route (matched, missing, extra, ...). */
  counts: Record<string, number>;
  /** Shadow delivery time minus primary delivery time, ms. */
  latencyGap: { p50: number | null; p99: number | null };
  verdict: string;
  reasons: string[];
}

/**
 * socketio-via-passthrough only: how the pair's resources split between the Switchyard relay in
 * front and the socket.io server behind it (the run's CPU and RSS figures are the pair's).
 */
export interface RelaySplit {
  /** The relay's share of the pair's CPU time over the fixed-load phase, 0–1. */
  fixedCpuShare: number;
  /** The same over the saturation phase (warmup and drain included). */
  saturationCpuShare: number;
  /** CPU of the relay alone over the saturation phase, % of one core. */
  saturationRelayCpuPct: number;
  /** The relay's RSS with every client connected, KiB. */
  relayRssKiB: number;
}

/** Connecting the bulk of the fleet (every client but the warm set), one batch at a time. */
export interface ConnectStats {
  conns: number;
  sec: number;
  /** Connections opened, Socket.IO-connected and joined per second. */
  perSec: number;
  /** Server CPU meanwhile, % of one core. */
  srvCpuPct: number;
  /** Server CPU per connection set up, µs. */
  srvCpuUsPerConn: number;
  /** The main generator process's CPU meanwhile, % of one core (helpers not included). */
  genCpuPct: number;
  /**
   * Connection attempts the kernel dropped meanwhile because the listen queue was full
   * (machine-wide, so another process's can count too); NaN where unreadable.
   */
  listenOverflows: number;
}

/** Server CPU per heartbeat (a ping and its pong) in an idle window, µs. */
export function usPerPing(idle: IdleStats): number {
  return ((idle.srvCpuPct / 100) * idle.sec * 1e6) / idle.pings;
}

/**
 * What the heartbeat of `conns` idle connections would cost at `usPerPing`, % of one core,
 * every connection pinged once per `pingIntervalMs` (25 s for every server of the benchmark).
 */
export function heartbeatCorePct(
  usPerPing: number,
  conns: number,
  pingIntervalMs = 25_000,
): number {
  return (usPerPing * conns) / (pingIntervalMs * 10);
}

/** `--idle`: every client connected and silent but for the heartbeat. */
export interface IdleStats {
  sec: number;
  /** Server CPU over the window, % of one core. */
  srvCpuPct: number;
  /** CPU every other process used meanwhile, % of one core (generator helper processes included). */
  otherCpuPct: number;
  /** Pings the clients answered (v4) or sent (v3) in the window. */
  pings: number;
  /** RSS at the end of the window, KiB. */
  rssKiB: number;
}

export interface RunRecord {
  server: ServerId;
  label: string;
  size: string;
  /** Engine.IO protocol of the generator's clients (3: socket.io 2.x clients; 4: 3.x/4.x). */
  clientProtocol: ClientProtocol;
  repeat: number;
  port?: number;
  serverCpus?: string;
  /** Generator processes, when more than one (`--gen-procs`). */
  generatorProcesses?: number;
  window?: number;
  memory?: MemoryStats;
  connect?: ConnectStats;
  idle?: IdleStats;
  fixed?: PhaseStats;
  saturation?: PhaseStats;
  /** Protocol 3 only. */
  heartbeat?: HeartbeatStats;
  /** switchyard-shadow only: its comparator's report after the run. */
  shadow?: ShadowCheck;
  /** socketio-via-passthrough only: the relay's part of the pair's CPU and memory. */
  relay?: RelaySplit;
  notes: string[];
  error?: string;
}

export interface Summary {
  server: ServerId;
  label: string;
  size: string;
  clientProtocol: ClientProtocol;
  runs: number;
  deliveredPerSec: number;
  p50Ms: number;
  p99Ms: number;
  fixedP50Ms: number;
  fixedP99Ms: number;
  fixedDeliveredPerSec: number;
  memPerConnBytes: number;
  genCpuPct: number;
  srvCpuPct: number;
  /** Saturation deliveries per second of server CPU time: immune to CPU time stolen by a host. */
  perSrvCpuSec: number;
  /** Bulk connection setup rate, connections/s (ConnectStats.perSec). */
  connectPerSec: number;
  /** Server CPU per connection set up, µs (ConnectStats.srvCpuUsPerConn). */
  connectCpuUs: number;
  /** Server CPU with every client idle (`--idle`), % of one core; NaN when not measured. */
  idleSrvCpuPct: number;
  /** That CPU per heartbeat (a ping and its pong), µs; NaN when not measured. */
  idleCpuUsPerPing: number;
  /** Closed-loop window (messages in flight per room) the saturation figures were taken at. */
  window: number;
  /** RSS after the last phase, clients connected (MemoryStats.afterRunRssKiB), KiB. */
  afterRunRssKiB: number;
  /** socketio-via-passthrough: the relay's share of the pair's CPU at saturation (median). */
  relayCpuShare?: number;
  flags: string[];
  error?: string;
}

export function sizeId(s: Size): string {
  const c = s.conns % 1000 === 0 ? `${s.conns / 1000}k` : String(s.conns);
  const p = s.payloadBytes % 1024 === 0 ? `${s.payloadBytes / 1024}KiB` : `${s.payloadBytes}B`;
  return `${c}/${s.rooms}r/${p}`;
}

/**
 * Medians per size and server. `availability` ([server CPU, generator CPU] share of wall time a
 * spinning thread gets) scales the CPU thresholds behind the saturation flags.
 */
export function summarize(
  records: readonly RunRecord[],
  availability: readonly number[] | null = null,
): Summary[] {
  const srvMax = 100 * (availability?.[0] ?? 1);
  const genMax = 100 * (availability?.[1] ?? 1);
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const key = `${r.size}\u0000${r.server}\u0000${r.clientProtocol}`;
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
  }
  const out: Summary[] = [];
  for (const runs of groups.values()) {
    const first = runs[0]!;
    const ok = runs.filter((r) => r.error === undefined && r.saturation && r.fixed && r.memory);
    const m = (f: (r: RunRecord) => number | undefined) =>
      median(ok.map((r) => f(r) ?? Number.NaN));
    const flagCounts = new Map<string, number>();
    for (const r of ok) {
      for (const flag of runFlags(r, srvMax, genMax)) {
        flagCounts.set(flag, (flagCounts.get(flag) ?? 0) + 1);
      }
    }
    out.push({
      server: first.server,
      label: first.label,
      size: first.size,
      clientProtocol: first.clientProtocol,
      runs: ok.length,
      deliveredPerSec: m((r) => r.saturation?.deliveredPerSec),
      p50Ms: m((r) => r.saturation?.p50Ms),
      p99Ms: m((r) => r.saturation?.p99Ms),
      fixedP50Ms: m((r) => r.fixed?.p50Ms),
      fixedP99Ms: m((r) => r.fixed?.p99Ms),
      fixedDeliveredPerSec: m((r) => r.fixed?.deliveredPerSec),
      memPerConnBytes: m((r) => r.memory?.perConnBytes),
      genCpuPct: m((r) => r.saturation?.genCpuPct),
      srvCpuPct: m((r) => r.saturation?.srvCpuPct),
      perSrvCpuSec: m((r) =>
        r.saturation ? r.saturation.deliveredPerSec / (r.saturation.srvCpuPct / 100) : undefined,
      ),
      window: m((r) => r.saturation?.window),
      connectPerSec: m((r) => r.connect?.perSec),
      connectCpuUs: m((r) => r.connect?.srvCpuUsPerConn),
      idleSrvCpuPct: m((r) => r.idle?.srvCpuPct),
      idleCpuUsPerPing: m((r) => (r.idle ? usPerPing(r.idle) : undefined)),
      afterRunRssKiB: m((r) => r.memory?.afterRunRssKiB),
      ...(ok.some((r) => r.relay) ? { relayCpuShare: m((r) => r.relay?.saturationCpuShare) } : {}),
      // A flag raised by some runs only says so: `background-load(1/3)`.
      flags: [...flagCounts].map(([f, n]) => (n === ok.length ? f : `${f}(${n}/${ok.length})`)),
      ...(ok.length === 0 ? { error: runs.find((r) => r.error)?.error ?? "no run" } : {}),
    });
  }
  return out;
}

/** What may be wrong with one run's figures. */
function runFlags(r: RunRecord, srvMax: number, genMax: number): Set<string> {
  const flags = new Set<string>();
  const sat = r.saturation!;
  const fixed = r.fixed!;
  if (sat.genCpuPct >= 0.9 * genMax && sat.srvCpuPct < 0.9 * srvMax) flags.add("generator-bound?");
  if (sat.srvCpuPct < 0.8 * srvMax && sat.genCpuPct < 0.8 * genMax) {
    flags.add("server-not-saturated?");
  }
  if (!sat.drained || !fixed.drained) flags.add("not-drained");
  if (sat.missing !== 0 || fixed.missing !== 0) flags.add("missing-deliveries");
  if (fixed.deliveredPerSec < 0.95 * (fixed.offeredPerSec ?? 0)) flags.add("fixed-load-not-met");
  if (r.notes.some((n) => n.startsWith("disconnects"))) flags.add("disconnects");
  if (sat.otherCpuPct > 10 || fixed.otherCpuPct > 10) flags.add("background-load");
  if ((r.connect?.listenOverflows ?? 0) > 0) flags.add("syn-drops");
  return flags;
}

export interface Ratios {
  size: string;
  /** Engine.IO protocol of the clients in both runs compared (the same for every server). */
  clientProtocol?: ClientProtocol;
  /** Switchyard / socket.io. */
  switchyard?: RatioSet;
  /** ws floor / socket.io. */
  floor?: RatioSet;
  /** Switchyard with its rooms shadowed / Switchyard: what the shadow costs the primary path. */
  shadow?: { throughput: number; efficiency: number; p99: number; fixedP99: number };
  /** socket.io behind a Switchyard relaying every connection / socket.io alone. */
  passthrough?: PassthroughRatios;
  /** Switchyard with connection state recovery on / off: what the broadcast log costs. */
  recovery?: RecoveryRatios;
}

/** What `server.connectionStateRecovery` costs Switchyard, measured in the same run. */
export interface RecoveryRatios {
  /** Delivered msg/s at saturation (target >= 0.8). */
  throughput: number;
  /** Deliveries per server CPU-second at saturation. */
  efficiency: number;
  /** p50 and p99 at saturation, and at the fixed offered load. */
  p50: number;
  p99: number;
  fixedP50: number;
  fixedP99: number;
  /** Memory per connection, idle and joined, before any broadcast (target <= 1.2). */
  memory: number;
  /** RSS after the last phase, on − off (the broadcast log among it), KiB. */
  addedAfterRunRssKiB: number;
}

/** What the passthrough relay costs clients of socket.io, measured in the same run. */
export interface PassthroughRatios {
  /** Delivered msg/s at saturation (target >= 0.8). */
  throughput: number;
  /** Deliveries per CPU-second of the pair (relay + socket.io) / of socket.io alone. */
  efficiency: number;
  /** p50 and p99 at the fixed offered load. */
  fixedP50: number;
  fixedP99: number;
  /** p50 and p99 at the fixed load, via − direct, ms (added p50: target <= 0.3 ms). */
  addedFixedP50Ms: number;
  addedFixedP99Ms: number;
  /** Memory per connection, via − direct (the relay's two sockets per client), bytes. */
  addedMemPerConnBytes: number;
}

export interface RatioSet {
  /** Delivered msg/s at saturation (higher is better). */
  throughput: number;
  /** Deliveries per server CPU-second at saturation (higher is better). */
  efficiency: number;
  /** Memory per connection (lower is better). */
  memory: number;
  /** p99 latency at the fixed offered load (lower is better). */
  fixedP99: number;
  /** Connection setup rate (higher is better). */
  setup: number;
  /** Connections set up per server CPU-second (higher is better). */
  setupPerCpu: number;
  /** Server CPU with every client idle, `--idle` (lower is better; NaN when not measured). */
  idleCpu: number;
}

export const TARGETS = { throughput: 1.5, memory: 0.6, fixedP99: 1.0 };
/** Issue 18: connection setup rate against socket.io, at least. */
export const SETUP_TARGET = 1.5;
/** Switchyard with a native shadow against without: throughput at least, p99 at most. */
export const SHADOW_TARGETS = { throughput: 0.7, p99: 1.3 };
/** socket.io via the passthrough relay against directly: throughput at least, added p50 at most. */
export const PASSTHROUGH_TARGETS = { throughput: 0.8, addedFixedP50Ms: 0.3 };
/** Switchyard with connection state recovery against without: throughput at least, memory at most. */
export const RECOVERY_TARGETS = { throughput: 0.8, memory: 1.2 };

export function ratios(summaries: readonly Summary[]): Ratios[] {
  const sizes = [...new Set(summaries.map((s) => s.size))];
  return sizes.map((size) => {
    const get = (id: ServerId) =>
      summaries.find((s) => s.size === size && s.server === id && s.error === undefined);
    const sio = get("socketio");
    const r: Ratios = { size };
    const protocol = summaries.find((s) => s.size === size)?.clientProtocol;
    if (protocol !== undefined) r.clientProtocol = protocol;
    const vs = (x: Summary | undefined): RatioSet | undefined =>
      x && sio
        ? {
            throughput: x.deliveredPerSec / sio.deliveredPerSec,
            efficiency: x.perSrvCpuSec / sio.perSrvCpuSec,
            memory: x.memPerConnBytes / sio.memPerConnBytes,
            fixedP99: x.fixedP99Ms / sio.fixedP99Ms,
            setup: x.connectPerSec / sio.connectPerSec,
            setupPerCpu: sio.connectCpuUs / x.connectCpuUs,
            idleCpu: x.idleSrvCpuPct / sio.idleSrvCpuPct,
          }
        : undefined;
    const sy = vs(get("switchyard"));
    const fl = vs(get("floor"));
    if (sy) r.switchyard = sy;
    if (fl) r.floor = fl;
    const plain = get("switchyard");
    const shadowed = get("switchyard-shadow");
    if (plain && shadowed) {
      r.shadow = {
        throughput: shadowed.deliveredPerSec / plain.deliveredPerSec,
        efficiency: shadowed.perSrvCpuSec / plain.perSrvCpuSec,
        p99: shadowed.p99Ms / plain.p99Ms,
        fixedP99: shadowed.fixedP99Ms / plain.fixedP99Ms,
      };
    }
    const recovering = get("switchyard-recovery");
    if (plain && recovering) {
      r.recovery = {
        throughput: recovering.deliveredPerSec / plain.deliveredPerSec,
        efficiency: recovering.perSrvCpuSec / plain.perSrvCpuSec,
        p50: recovering.p50Ms / plain.p50Ms,
        p99: recovering.p99Ms / plain.p99Ms,
        fixedP50: recovering.fixedP50Ms / plain.fixedP50Ms,
        fixedP99: recovering.fixedP99Ms / plain.fixedP99Ms,
        memory: recovering.memPerConnBytes / plain.memPerConnBytes,
        addedAfterRunRssKiB: recovering.afterRunRssKiB - plain.afterRunRssKiB,
      };
    }
    const via = get("socketio-via-passthrough");
    if (sio && via) {
      r.passthrough = {
        throughput: via.deliveredPerSec / sio.deliveredPerSec,
        efficiency: via.perSrvCpuSec / sio.perSrvCpuSec,
        fixedP50: via.fixedP50Ms / sio.fixedP50Ms,
        fixedP99: via.fixedP99Ms / sio.fixedP99Ms,
        addedFixedP50Ms: via.fixedP50Ms - sio.fixedP50Ms,
        addedFixedP99Ms: via.fixedP99Ms - sio.fixedP99Ms,
        addedMemPerConnBytes: via.memPerConnBytes - sio.memPerConnBytes,
      };
    }
    return r;
  });
}

const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const ms = (x: number) =>
  !Number.isFinite(x) ? "n/a" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x)}%` : "n/a");
const kib = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 1024).toFixed(1) : "n/a");
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "n/a");

/**
 * Servers that run at these sizes only unless `--servers` names them (bench/run.ts); the others
 * run at every size.
 */
export const LIMITED_SIZES: ReadonlyMap<ServerId, readonly string[]> = new Map<
  ServerId,
  readonly string[]
>([
  ["switchyard-shadow", ["1k/1r/100B"]],
  ["socketio-via-passthrough", ["1k/1r/100B"]],
  ["switchyard-recovery", ["1k/1r/100B", "1k/100r/100B"]],
]);

export function formatTable(
  summaries: readonly Summary[],
  sizes: readonly string[],
  servers: readonly { id: ServerId; label: string }[],
  skipped: ReadonlyMap<ServerId, string>,
): string {
  const header = [
    "size",
    "server",
    "proto",
    "deliv/s",
    "K",
    "p50 ms",
    "p99 ms",
    "p99@fixed",
    "KiB/conn",
    "srv CPU",
    "gen CPU",
    "deliv/CPU-s",
    "flags",
  ];
  const rows: string[][] = [];
  const rs = ratios(summaries);
  for (const size of sizes) {
    let firstRow = true;
    for (const { id, label } of servers) {
      const s = summaries.find((x) => x.size === size && x.server === id);
      const why = skipped.get(id);
      // Not run at this size by choice (switchyard-shadow, switchyard-recovery and
      // socketio-via-passthrough run at some sizes only by default).
      if (!s && why === undefined && LIMITED_SIZES.has(id)) continue;
      const sizeCell = firstRow ? size : "";
      firstRow = false;
      if (!s) {
        rows.push([
          sizeCell,
          label,
          `skipped${why ? `: ${why.split("\n")[0]!.slice(0, 80)}` : ""}`,
        ]);
        continue;
      }
      if (s.error !== undefined) {
        rows.push([sizeCell, label, `failed: ${s.error.split("\n")[0]!.slice(0, 90)}`]);
        continue;
      }
      rows.push([
        sizeCell,
        label,
        `EIO${s.clientProtocol}`,
        int(s.deliveredPerSec),
        int(s.window),
        ms(s.p50Ms),
        ms(s.p99Ms),
        ms(s.fixedP99Ms),
        kib(s.memPerConnBytes),
        pct(s.srvCpuPct),
        pct(s.genCpuPct),
        int(s.perSrvCpuSec),
        s.flags.join(","),
      ]);
    }
    const r = rs.find((x) => x.size === size);
    const parts: string[] = [];
    const idleCpu = (at: string) => {
      const of = (id: ServerId) => summaries.find((x) => x.size === at && x.server === id);
      const pct = (id: ServerId) => (of(id)?.idleSrvCpuPct ?? Number.NaN).toFixed(2);
      const perPing = (id: ServerId) => of(id)?.idleCpuUsPerPing ?? Number.NaN;
      const at100k = (id: ServerId) => heartbeatCorePct(perPing(id), 100_000).toFixed(1);
      const floor = Number.isFinite(perPing("floor"))
        ? `, ws floor ${perPing("floor").toFixed(0)} (${at100k("floor")} %)`
        : "";
      return (
        `${pct("socketio")} -> ${pct("switchyard")} % of a core; µs per ping: socket.io ` +
        `${perPing("socketio").toFixed(0)}, switchyard ${perPing("switchyard").toFixed(0)}` +
        ` (${at100k("switchyard")} % of a core at 100k)${floor}`
      );
    };
    const clients = r?.clientProtocol !== undefined ? `, EIO${r.clientProtocol} clients` : "";
    if (r?.switchyard) {
      const t = r.switchyard;
      const mark = (ok: boolean) => (ok ? "ok" : "MISS");
      parts.push(
        `switchyard/socket.io${clients}: thr ${ratio(t.throughput)} [${mark(t.throughput >= TARGETS.throughput)}]` +
          ` (per CPU-s ${ratio(t.efficiency)})` +
          ` mem ${ratio(t.memory)} [${mark(t.memory <= TARGETS.memory)}]` +
          ` p99@fixed ${ratio(t.fixedP99)} [${mark(t.fixedP99 <= TARGETS.fixedP99)}]` +
          ` setup ${ratio(t.setup)} [${mark(t.setup >= SETUP_TARGET)}] (per CPU-s ${ratio(t.setupPerCpu)})` +
          (Number.isFinite(t.idleCpu) ? ` idle CPU ${ratio(t.idleCpu)} (${idleCpu(size)})` : ""),
      );
    }
    if (r?.shadow) {
      const t = r.shadow;
      const mark = (ok: boolean) => (ok ? "ok" : "MISS");
      parts.push(
        `switchyard+shadow/switchyard${clients}: thr ${ratio(t.throughput)} [${mark(t.throughput >= SHADOW_TARGETS.throughput)}]` +
          ` (per CPU-s ${ratio(t.efficiency)})` +
          ` p99 ${ratio(t.p99)} [${mark(t.p99 <= SHADOW_TARGETS.p99)}]` +
          ` p99@fixed ${ratio(t.fixedP99)} [${mark(t.fixedP99 <= SHADOW_TARGETS.p99)}]`,
      );
    }
    if (r?.recovery) {
      const t = r.recovery;
      const mark = (ok: boolean) => (ok ? "ok" : "MISS");
      const at = (id: ServerId) => summaries.find((x) => x.size === size && x.server === id);
      const off = at("switchyard");
      const on = at("switchyard-recovery");
      const mib = (kib: number) =>
        Number.isFinite(kib) ? `${kib >= 0 ? "+" : ""}${(kib / 1024).toFixed(1)}` : "n/a";
      parts.push(
        `switchyard+recovery/switchyard${clients}: thr ${ratio(t.throughput)} [${mark(t.throughput >= RECOVERY_TARGETS.throughput)}]` +
          ` (per CPU-s ${ratio(t.efficiency)})` +
          ` p50@fixed ${ratio(t.fixedP50)} p99@fixed ${ratio(t.fixedP99)}` +
          ` mem ${ratio(t.memory)} (${kib(off?.memPerConnBytes ?? Number.NaN)} -> ${kib(on?.memPerConnBytes ?? Number.NaN)} KiB/conn)` +
          ` [${mark(t.memory <= RECOVERY_TARGETS.memory)}]` +
          `; RSS after the run ${mib(t.addedAfterRunRssKiB)} MiB`,
      );
    }
    if (r?.passthrough) {
      const t = r.passthrough;
      const mark = (ok: boolean) => (ok ? "ok" : "MISS");
      const plus = (x: number) =>
        Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(2)}` : "n/a";
      const at = (id: ServerId) => summaries.find((x) => x.size === size && x.server === id);
      const via = at("socketio-via-passthrough");
      const direct = at("socketio");
      parts.push(
        `socket.io via switchyard/socket.io${clients}: thr ${ratio(t.throughput)} [${mark(t.throughput >= PASSTHROUGH_TARGETS.throughput)}]` +
          ` (per CPU-s ${ratio(t.efficiency)})` +
          ` p50@fixed ${ms(direct?.fixedP50Ms ?? Number.NaN)} -> ${ms(via?.fixedP50Ms ?? Number.NaN)} ms` +
          ` ${ratio(t.fixedP50)} (${plus(t.addedFixedP50Ms)} ms) [${mark(t.addedFixedP50Ms <= PASSTHROUGH_TARGETS.addedFixedP50Ms)}]` +
          ` p99@fixed ${ratio(t.fixedP99)} (${plus(t.addedFixedP99Ms)} ms)` +
          ` mem ${plus(t.addedMemPerConnBytes / 1024)} KiB/conn` +
          (via?.relayCpuShare !== undefined
            ? `; relay ${pct(via.relayCpuShare * 100)} of the pair's CPU`
            : ""),
      );
    }
    if (r?.floor) {
      const t = r.floor;
      parts.push(
        `floor/socket.io${clients}: thr ${ratio(t.throughput)} (per CPU-s ${ratio(t.efficiency)})` +
          ` mem ${ratio(t.memory)} p99@fixed ${ratio(t.fixedP99)}`,
      );
    }
    for (const p of parts) rows.push(["", `  ${p}`]);
  }
  const widths = header.map((h, i) =>
    Math.max(
      h.length,
      ...rows.filter((r) => r.length === header.length).map((r) => (r[i] ?? "").length),
    ),
  );
  const numeric = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const line = (cells: string[]) =>
    cells.length <= 3 && cells !== header
      ? cells
          .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c))
          .join("  ")
          .trimEnd()
      : cells
          .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join("  ")
          .trimEnd();
  return [line(header), ...rows.map((r) => (r[0] === "" && r.length === 2 ? r[1]! : line(r)))].join(
    "\n",
  );
}

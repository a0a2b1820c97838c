/**
 * What the managed-backend benchmarks share (bench/ably.ts, bench/websocket.ts): Switchyard as a
 * child process and its readiness and `/metrics`, socket.io clients, latency samples and their
 * statistics, a closed loop of operations, the CPU used meanwhile, and figures over several runs.
 * Everything waits at most {@link WAIT_MS} and then fails with the name of what it waited for.
 */

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { io, type Socket } from "socket.io-client";
import { type BenchConfig, writeBenchConfig } from "./bench-config.js";
import {
  othersCpuSec,
  type RunningServer,
  readCpuSec,
  type ServerSpec,
  startServer,
} from "./servers.js";
import { median } from "./stats.js";

/** How long any single wait may take before the run fails with its name. */
export const WAIT_MS = 10_000;

/** Rejects with `no <what> within WAIT_MS ms` when `promise` takes longer. */
export function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** What Switchyard as a benchmark's child process needs. */
export interface SwitchyardChild {
  /** The repository root (bin/switchyard.js). */
  readonly root: string;
  /** The config to serve (a copy, bench/bench-config.ts). */
  readonly config: string;
  readonly port: number;
  /** `NAME=value` settings of its environment (the backend's address). */
  readonly env: readonly string[];
  /** Its label in errors (`switchyard (ably)`). */
  readonly label: string;
  /** CPU to pin it to (taskset), or null. */
  readonly cpu: number | null;
  /** Its stdout and stderr. */
  readonly logPath: string;
}

/**
 * Starts Switchyard from dist/ through bin/switchyard.js on 127.0.0.1 as a child process (see
 * bench/pusher.ts for why), once it answers a Socket.IO handshake.
 */
export function startSwitchyard(child: SwitchyardChild): Promise<RunningServer> {
  const spec: ServerSpec = {
    id: "switchyard",
    label: child.label,
    unavailable: () => null,
    command: (p) => [
      "env",
      ...child.env,
      process.execPath,
      "bin/switchyard.js",
      "start",
      "--config",
      child.config,
      "--port",
      String(p),
      "--host",
      "127.0.0.1",
      "--no-watch",
    ],
  };
  return startServer(spec, {
    root: child.root,
    port: child.port,
    cpu: child.cpu,
    logPath: child.logPath,
    client: "raw",
    path: "/socket.io/",
    readyTimeoutMs: 20_000,
  });
}

/** Resolves once Switchyard's `/readyz` answers 200 (its backends are connected). */
export async function waitUntilReady(url: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last = "";
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/readyz`).catch((error: Error) => error);
    if (!(res instanceof Error) && res.status === 200) return;
    last = res instanceof Error ? res.message : `${res.status} ${await res.text()}`;
    await sleep(50);
  }
  throw new Error(`Switchyard not ready within ${WAIT_MS} ms: ${last}`);
}

/** Switchyard's `/metrics` text. */
export async function scrapeMetrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/**
 * The sum of the samples of `name` in a `/metrics` text whose labels include every one of
 * `labels` (`backend="ably"`); 0 when there is none.
 */
export function metricValue(text: string, name: string, ...labels: readonly string[]): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) || !labels.every((label) => line.includes(label))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** A connected socket.io-client socket over WebSocket only, never reconnecting. */
export async function connectSocketIo(url: string): Promise<Socket> {
  const socket = io(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    "a socket.io-client connection",
  );
  return socket;
}

/** Resolves once `isDone()` holds, checking every 10 ms; rejects naming `what` after WAIT_MS. */
export async function until(isDone: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!isDone()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${WAIT_MS} ms`);
    await sleep(10);
  }
}

export interface LatencyStats {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

/** Nearest-rank percentiles of `values` (milliseconds). */
export function latencyStats(values: readonly number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return {
    samples: sorted.length,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    meanMs: sorted.reduce((sum, v) => sum + v, 0) / sorted.length,
    maxMs: sorted.at(-1)!,
  };
}

/** What a latency message carries: its sequence number and `performance.now()` at sending. */
export interface Stamp {
  readonly seq: number;
  readonly t: number;
  readonly pad: string;
}

/** Resolves the waiter of each arriving sequence number with its latency in ms. */
export class Arrivals {
  #waiting = new Map<number, (ms: number) => void>();

  onMessage = (data: unknown): void => {
    const stamp = data as Partial<Stamp> | undefined;
    if (typeof stamp?.seq !== "number" || typeof stamp.t !== "number") return;
    const now = performance.now();
    this.#waiting.get(stamp.seq)?.(now - stamp.t);
    this.#waiting.delete(stamp.seq);
  };

  expect(seq: number): Promise<number> {
    return within(
      new Promise<number>((resolve) => this.#waiting.set(seq, resolve)),
      `message ${seq}`,
    );
  }
}

/**
 * Keeps `inflight` operations going until `stop()`, counting the ones that settle while the
 * window is open. `count(true)` opens the window; settles before it are warmup. An operation
 * resolves `true` when it was accepted, or with the reason it was not.
 */
export class ClosedLoop {
  accepted = 0;
  failed = 0;
  /** Failed operations in the window, by reason (an error code). */
  readonly failures = new Map<string, number>();
  #isCounting = false;
  #isRunning = true;
  #pending = new Set<Promise<void>>();

  constructor(
    inflight: number,
    private readonly op: (worker: number) => Promise<true | string>,
  ) {
    for (let worker = 0; worker < inflight; worker++) this.#next(worker);
  }

  #next(worker: number): void {
    if (!this.#isRunning) return;
    const run = this.op(worker).then(
      (outcome) => this.#settle(outcome),
      (error: Error) => this.#settle(error?.message ?? "rejected"),
    );
    const tracked = run.then(() => {
      this.#pending.delete(tracked);
      this.#next(worker);
    });
    this.#pending.add(tracked);
  }

  #settle(outcome: true | string): void {
    if (!this.#isCounting) return;
    if (outcome === true) {
      this.accepted += 1;
      return;
    }
    this.failed += 1;
    this.failures.set(outcome, (this.failures.get(outcome) ?? 0) + 1);
  }

  count(on: boolean): void {
    this.#isCounting = on;
  }

  /** Stops issuing and waits (bounded) for what is in flight. */
  async stop(): Promise<void> {
    this.#isRunning = false;
    await within(
      Promise.all([...this.#pending]).then(() => undefined),
      "the last operations",
    );
  }
}

/** CPU used by every process but this one, its parent and Switchyard, % of one core. */
export class OthersCpu {
  readonly #exclude: ReadonlySet<number>;
  #before = new Map<number, number>();
  #t0 = 0;

  constructor(serverPid: number) {
    this.#exclude = new Set([process.pid, process.ppid, serverPid]);
  }

  start(): void {
    this.#before = othersCpuSec(this.#exclude);
    this.#t0 = performance.now();
  }

  pct(): number {
    let used = 0;
    for (const [pid, t] of othersCpuSec(this.#exclude)) {
      used += Math.max(0, t - (this.#before.get(pid) ?? 0));
    }
    return (used / ((performance.now() - this.#t0) / 1000)) * 100;
  }
}

/** This process's CPU time so far, seconds (user + system). */
export function ownCpuSec(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** CPU used over a measurement window, % of one core. */
export interface WindowCpu {
  /** Switchyard's process. */
  readonly switchyard: number;
  /** This process: the emulator or bus, the clients, the SDK. */
  readonly bench: number;
  /** Every other process on the machine (over 10 % disturbs the figures). */
  readonly others: number;
}

/** Measures {@link WindowCpu} from `start()` to `stop()`. */
export class CpuWindow {
  readonly #serverPid: number;
  readonly #others: OthersCpu;
  #before = { switchyard: 0, bench: 0 };
  #t0 = 0;

  constructor(serverPid: number) {
    this.#serverPid = serverPid;
    this.#others = new OthersCpu(serverPid);
  }

  start(): void {
    this.#before = { switchyard: readCpuSec(this.#serverPid), bench: ownCpuSec() };
    this.#others.start();
    this.#t0 = performance.now();
  }

  stop(): WindowCpu {
    const seconds = (performance.now() - this.#t0) / 1000;
    const pct = (after: number, before: number) => ((after - before) / seconds) * 100;
    return {
      switchyard: pct(readCpuSec(this.#serverPid), this.#before.switchyard),
      bench: pct(ownCpuSec(), this.#before.bench),
      others: this.#others.pct(),
    };
  }
}

/** A figure over several runs. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Closes what a run opened, last first; one that fails does not stop the rest. */
export async function closeAll(closers: (() => unknown)[]): Promise<void> {
  for (const close of closers.reverse()) {
    try {
      await close();
    } catch {
      // Keep closing the rest.
    }
  }
}

/** A backend's publish settings a run may change (`--X-batch-size`, `--X-max-inflight`). */
export interface BackendTuning {
  readonly batchSize?: number;
  readonly maxInflight?: number;
}

/**
 * An example as the bench serves it (bench/bench-config.ts), with `tuning` set on backend
 * `backend`, and the publish settings in effect (the file's, else the kind's `defaults`).
 */
export function tunedBenchConfig(opts: {
  readonly root: string;
  readonly example: string;
  readonly window: number;
  readonly backend: string;
  readonly tuning: BackendTuning;
  readonly defaults: { readonly batchSize: number; readonly maxInflight: number };
}): BenchConfig & { settings: { batchSize: number; maxInflight: number } } {
  const path = (name: string) => ["backends", opts.backend, "settings", name];
  const settings: [string[], number][] = [];
  for (const [name, value] of Object.entries(opts.tuning)) {
    if (value !== undefined) settings.push([path(name), value]);
  }
  const config = writeBenchConfig({
    root: opts.root,
    example: opts.example,
    window: opts.window,
    settings,
  });
  const setting = (name: keyof BackendTuning): number => {
    const value = config.doc.getIn(path(name));
    return typeof value === "number" ? value : opts.defaults[name];
  };
  return {
    ...config,
    settings: { batchSize: setting("batchSize"), maxInflight: setting("maxInflight") },
  };
}

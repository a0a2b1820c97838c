/**
 * Generator helper processes: past what one process holds (its `ulimit -n`, and one event loop
 * reading every socket), the fleet's passive members are spread over helpers, each a
 * bench/gen-helper.ts process on the generator's CPUs (it inherits the harness's affinity and
 * raised `ulimit -n`). Publishers and probes stay in the main process, which drives the loop.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FleetHelper, FleetOptions, HelperCounts } from "./generator.js";

export type HelperRequest =
  | { id: number; type: "connect"; indices: readonly number[] }
  | { id: number; type: "counts"; record?: boolean };

export type HelperResponse =
  | { id: number; ok: true; counts?: HelperCounts }
  | { id: number; ok: false; error: string };

/** Connections one generator process holds by default (`--gen-procs auto`). */
export const CONNS_PER_GENERATOR = 25_000;

/** Helpers for a fleet of `conns` under `--gen-procs` (`auto`: one process per 25,000). */
export function helperCount(conns: number, genProcs: "auto" | number): number {
  const procs = genProcs === "auto" ? Math.ceil(conns / CONNS_PER_GENERATOR) : genProcs;
  return Math.max(0, procs - 1);
}

const HELPER = join(dirname(fileURLToPath(import.meta.url)), "gen-helper.ts");

class Helper implements FleetHelper {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (r: HelperResponse) => void>();
  #next = 0;
  #exit: string | undefined;

  get pid(): number | undefined {
    return this.#child.pid;
  }

  constructor(options: FleetOptions) {
    const { helpers: _, ...plain } = options;
    this.#child = spawn(process.execPath, [...process.execArgv, HELPER], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: {
        ...process.env,
        SWITCHYARD_BENCH_FLEET: JSON.stringify({
          ...plain,
          clockOriginMs: plain.clockOriginMs ?? performance.timeOrigin,
        }),
      },
    });
    this.#child.on("message", (r: HelperResponse) => {
      this.#pending.get(r.id)?.(r);
      this.#pending.delete(r.id);
    });
    this.#child.on("exit", (code, signal) => {
      this.#exit = `generator helper exited (code ${code}, signal ${signal})`;
      for (const settle of this.#pending.values()) {
        settle({ id: -1, ok: false, error: this.#exit });
      }
      this.#pending.clear();
    });
  }

  #request(request: HelperRequest): Promise<HelperResponse> {
    if (this.#exit !== undefined) return Promise.reject(new Error(this.#exit));
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, (r) =>
        r.ok ? resolve(r) : reject(new Error(`generator helper: ${r.error}`)),
      );
      this.#child.send(request);
    });
  }

  async connect(indices: readonly number[]): Promise<void> {
    await this.#request({ id: this.#next++, type: "connect", indices });
  }

  async record(on: boolean): Promise<HelperCounts> {
    return this.#counts(on);
  }

  counts(): Promise<HelperCounts> {
    return this.#counts(undefined);
  }

  async #counts(record: boolean | undefined): Promise<HelperCounts> {
    const r = await this.#request({
      id: this.#next++,
      type: "counts",
      ...(record !== undefined ? { record } : {}),
    });
    if (!r.ok || r.counts === undefined) throw new Error("generator helper: no counts");
    return r.counts;
  }

  close(): void {
    if (this.#child.connected) this.#child.disconnect();
    // Its sockets close with it; a helper that hangs is not waited for.
    setTimeout(() => this.#child.kill("SIGKILL"), 2000).unref();
  }
}

/** Starts `count` helper processes for a fleet of `options`. */
export function startHelpers(options: FleetOptions, count: number): FleetHelper[] {
  return Array.from({ length: count }, () => new Helper(options));
}

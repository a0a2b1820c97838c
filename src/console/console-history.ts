import type { Metrics } from "../metrics.js";
import {
  type ConsoleError,
  type ConsoleSample,
  MAX_RECENT_ERRORS,
  MAX_SAMPLES,
} from "./console-types.js";

/** What the history reads besides the metrics: cheap, synchronous counts. */
export interface HistorySources {
  /** Open Engine.IO sessions. */
  connections(): number;
  /** Each shadowed route's latency gap p95 in ms, by route id. */
  shadowGaps(): Record<string, number | null>;
}

type Labels = Readonly<Record<string, string | number>>;

/** A counter's (or a histogram's `_count`) values by their labels, read from prom-client. */
async function countsOf(
  metric: { get(): Promise<{ values: { value: number; labels: Labels; metricName?: string }[] }> },
  key: (labels: Labels) => string | undefined,
  suffix?: string,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { value, labels, metricName } of (await metric.get()).values) {
    if (suffix !== undefined && metricName?.endsWith(suffix) !== true) continue;
    const name = key(labels);
    if (name !== undefined) counts.set(name, (counts.get(name) ?? 0) + value);
  }
  return counts;
}

/**
 * The migration console's memory of the last minutes, kept whether a console is open or
 * not, so its charts have history when the page loads: one {@link ConsoleSample} per
 * tick (at most {@link MAX_SAMPLES}, ten minutes), the coded errors of recent ticks
 * (at most {@link MAX_RECENT_ERRORS}), the last reload's result, and each backend's
 * publish rate. Everything is derived from the process's metrics between two ticks, so
 * nothing on a message's path knows the console exists; memory is bounded by the two
 * rings and the number of codes, backends and shadowed routes (all from the file or
 * the catalogue).
 */
export class ConsoleHistory {
  readonly #metrics: Metrics;
  readonly #sources: HistorySources;
  readonly #samples: ConsoleSample[] = [];
  readonly #errors: ConsoleError[] = [];
  #previous:
    | {
        readonly t: number;
        readonly packetsOut: number;
        readonly errors: Map<string, number>;
        readonly reloads: Map<string, number>;
        readonly accepted: Map<string, number>;
      }
    | undefined;
  #errorTotals = new Map<string, number>();
  #publishRates = new Map<string, number>();
  #refused = new Map<string, number>();
  #appliedReloads = 0;
  #lastReload: { result: string; at: number } | null = null;
  #isSampling = false;

  constructor(metrics: Metrics, sources: HistorySources) {
    this.#metrics = metrics;
    this.#sources = sources;
  }

  /**
   * Takes one sample. A call while the previous one still reads the metrics does
   * nothing. The first call only sets the baseline of the rates and counts (the metrics
   * are the process's, counted before this node started too), and is not charted.
   */
  async sample(now = Date.now()): Promise<void> {
    if (this.#isSampling) return;
    this.#isSampling = true;
    try {
      await this.#sample(now);
    } finally {
      this.#isSampling = false;
    }
  }

  async #sample(now: number): Promise<void> {
    const m = this.#metrics;
    const [packetsOut, errors, reloads, publishes, refused] = await Promise.all([
      m.packetsOut.get().then(({ values }) => values.reduce((sum, v) => sum + v.value, 0)),
      countsOf(m.errors, (labels) => String(labels.code)),
      countsOf(m.reloads, (labels) => String(labels.result)),
      countsOf(
        m.backendPublishLatency,
        (labels) => (labels.outcome === "accepted" ? String(labels.backend) : undefined),
        "_count",
      ),
      countsOf(
        m.backendPublishLatency,
        (labels) => (labels.outcome === "refused" ? String(labels.backend) : undefined),
        "_count",
      ),
    ]);
    const previous = this.#previous;
    this.#previous = { t: now, packetsOut, errors, reloads, accepted: publishes };
    if (previous === undefined) return;
    const seconds = Math.max((now - previous.t) / 1000, 0.001);

    this.#push(this.#samples, MAX_SAMPLES, {
      t: now,
      connections: this.#sources.connections(),
      deliveries: round((packetsOut - previous.packetsOut) / seconds),
      gaps: this.#sources.shadowGaps(),
    });
    for (const [code, count] of errors) {
      const rise = count - (previous.errors.get(code) ?? 0);
      if (rise <= 0) continue;
      this.#errorTotals.set(code, (this.#errorTotals.get(code) ?? 0) + rise);
      this.#push(this.#errors, MAX_RECENT_ERRORS, { at: now, code, count: rise });
    }
    // Two reloads of different results within one tick: the later in the catalogue
    // order wins, which at one tick a second is what an operator would read anyway.
    for (const [result, count] of reloads) {
      const rise = count - (previous.reloads.get(result) ?? 0);
      if (rise <= 0) continue;
      if (result === "applied") this.#appliedReloads += rise;
      this.#lastReload = { result, at: now };
    }
    const rates = new Map<string, number>();
    for (const [backend, count] of publishes) {
      rates.set(backend, round((count - (previous.accepted.get(backend) ?? 0)) / seconds));
    }
    this.#publishRates = rates;
    this.#refused = refused;
  }

  /** Appends to a ring of at most `max` entries (the oldest goes). */
  #push<T>(ring: T[], max: number, entry: T): void {
    ring.push(entry);
    if (ring.length > max) ring.shift();
  }

  /** The samples, oldest first (a copy). */
  get samples(): readonly ConsoleSample[] {
    return [...this.#samples];
  }

  get latest(): ConsoleSample | null {
    return this.#samples.at(-1) ?? null;
  }

  /** Recent coded errors, newest first. */
  get errors(): readonly ConsoleError[] {
    return [...this.#errors].reverse();
  }

  /** Codes counted since this node's console started. */
  get errorTotals(): Record<string, number> {
    return Object.fromEntries(this.#errorTotals);
  }

  /** Publications `backend` got accepted per second over the last tick. */
  publishRate(backend: string): number {
    return this.#publishRates.get(backend) ?? 0;
  }

  /** Publications `backend` refused, counted by the process. */
  refused(backend: string): number {
    return this.#refused.get(backend) ?? 0;
  }

  /** Reloads applied since start. */
  get appliedReloads(): number {
    return this.#appliedReloads;
  }

  get lastReload(): { result: string; at: number } | null {
    return this.#lastReload;
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

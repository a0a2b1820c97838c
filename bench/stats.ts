/**
 * A log-linear latency histogram (integer microseconds, 64 sub-buckets per power of two: about
 * 1.6 % relative precision, exact below 128 µs) so that every delivery can be recorded without
 * keeping millions of samples.
 */
const SUB = 64;
const EXACT = 2 * SUB;
const MAX_US = 2 ** 31 - 1;

function bucketOf(us: number): number {
  if (us < EXACT) return us;
  const e = 31 - Math.clz32(us);
  const shift = e - 6;
  return EXACT + (shift - 1) * SUB + ((us >>> shift) - SUB);
}

function bucketMid(idx: number): number {
  if (idx < EXACT) return idx;
  const shift = Math.floor((idx - EXACT) / SUB) + 1;
  const m = ((idx - EXACT) % SUB) + SUB;
  return m * 2 ** shift + 2 ** (shift - 1);
}

/** A histogram's content, as it crosses a process boundary (JSON). */
export interface HistogramSnapshot {
  counts: number[];
  count: number;
  sumUs: number;
  maxUs: number;
}

export class Histogram {
  private counts = new Float64Array(bucketOf(MAX_US) + 1);
  count = 0;
  sumUs = 0;
  maxUs = 0;

  record(us: number): void {
    let v = us < 0 ? 0 : Math.round(us);
    if (v > MAX_US) v = MAX_US;
    this.counts[bucketOf(v)]! += 1;
    this.count++;
    this.sumUs += v;
    if (v > this.maxUs) this.maxUs = v;
  }

  /** The counts, to add to another process's histogram with {@link merge}. */
  snapshot(): HistogramSnapshot {
    return {
      counts: Array.from(this.counts),
      count: this.count,
      sumUs: this.sumUs,
      maxUs: this.maxUs,
    };
  }

  /** Adds a snapshot of another histogram (a generator helper process's) to this one. */
  merge(other: HistogramSnapshot): void {
    for (let i = 0; i < other.counts.length && i < this.counts.length; i++) {
      this.counts[i]! += other.counts[i]!;
    }
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumUs = 0;
    this.maxUs = 0;
  }

  /** The q-quantile (0..1) in microseconds, or NaN when empty. */
  quantileUs(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketMid(i), this.maxUs);
    }
    return this.maxUs;
  }
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

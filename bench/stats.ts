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

/** The shape of a capped exponential back-off; durations in milliseconds. */
export interface Backoff {
  /** The ceiling of the first delay. */
  readonly initialDelay: number;
  /** The largest ceiling; the ceiling doubles per attempt until it reaches it. */
  readonly maxDelay: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): a ceiling of
 * `initialDelay · 2^(attempt−1)`, capped at `maxDelay`, of which a random half is
 * taken off ("equal jitter"). The jitter spreads the retries of many nodes that lost
 * the same service at the same moment; keeping half of the ceiling keeps the retries
 * of one node from bunching up at zero.
 *
 * @param random a source in [0, 1), `Math.random` by default (tests pass their own).
 */
export function backoffDelay(
  backoff: Backoff,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(backoff.maxDelay, backoff.initialDelay * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * How many lines of one kind may be logged: at most `max` per window of `windowMs`, so
 * that a client repeating what gets logged cannot flood the log. What is left out is
 * still counted (in metrics, by the caller) and reported by the next line allowed.
 */
export class LogBudget {
  readonly #max: number;
  readonly #windowMs: number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #used = 0;
  #suppressed = 0;

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /**
   * Takes one line: undefined when the window's lines are spent (the line is counted as
   * left out), else how many lines were left out since the last one allowed.
   *
   * @param now ms, `Date.now()` by default.
   */
  take(now = Date.now()): number | undefined {
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#used = 0;
    }
    if (this.#used >= this.#max) {
      this.#suppressed += 1;
      return undefined;
    }
    this.#used += 1;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

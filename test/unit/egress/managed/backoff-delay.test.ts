import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../../../src/egress/managed/backoff-delay.js";

const BACKOFF = { initialDelay: 100, maxDelay: 1000 };

describe("the back-off delay", () => {
  it("doubles its ceiling per attempt up to maxDelay", () => {
    const top = () => 0.999_999;
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(BACKOFF, n, top))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it("takes off at most half of the ceiling at random", () => {
    expect(backoffDelay(BACKOFF, 3, () => 0)).toBe(200);
    expect(backoffDelay(BACKOFF, 3, () => 0.5)).toBe(300);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(BACKOFF, 10);
      expect(delay).toBeGreaterThanOrEqual(500);
      expect(delay).toBeLessThanOrEqual(1000);
    }
  });

  it("stays finite for any attempt count", () => {
    expect(backoffDelay(BACKOFF, 10_000, () => 0.999_999)).toBe(1000);
  });
});

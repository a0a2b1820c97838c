import { describe, expect, it } from "vitest";
import { LogBudget } from "../../../src/log-budget.js";

describe("LogBudget", () => {
  it("allows max lines per window, then none until the next window", () => {
    const budget = new LogBudget(2, 1000);
    expect([budget.take(0), budget.take(10), budget.take(20), budget.take(999)]).toEqual([
      0,
      0,
      undefined,
      undefined,
    ]);
  });

  it("tells the first line of the next window how many were left out", () => {
    const budget = new LogBudget(1, 1000);
    budget.take(0);
    budget.take(1);
    budget.take(2);
    expect(budget.take(1000)).toBe(2);
    expect(budget.take(1001)).toBeUndefined();
    expect(budget.take(2500)).toBe(1);
  });
});

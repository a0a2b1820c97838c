import { describe, expect, it } from "vitest";
import { Budgets, type SocketBudget } from "../../../src/router/budgets.js";

const LIMITS = {
  eventsPerSecond: 10,
  eventBurst: 3,
  maxRoomsPerSocket: 2,
  maxForwardsPerSocket: 2,
  maxForwards: 3,
};

/** A new socket's budget, as the router's per-socket state holds it. */
function opened(budgets: Budgets): SocketBudget {
  const budget = { tokens: 0, refilledAt: 0, forwards: 0 };
  budgets.open(budget);
  return budget;
}

describe("the router's budgets", () => {
  it("lets a socket send its burst at once, then one event per 1/rate seconds", () => {
    let now = 0;
    const budgets = new Budgets(LIMITS, () => now);
    const budget = opened(budgets);
    const take = () => budgets.takeEvent(budget)?.code ?? "ok";
    expect([take(), take(), take(), take()]).toEqual(["ok", "ok", "ok", "SWY_RATE_LIMITED"]);
    now += 99;
    expect(take()).toBe("SWY_RATE_LIMITED");
    now += 1; // 100 ms after the last refused event: one token
    expect([take(), take()]).toEqual(["ok", "SWY_RATE_LIMITED"]);
    now += 10_000; // a long pause refills the burst, no more
    expect([take(), take(), take(), take()]).toEqual(["ok", "ok", "ok", "SWY_RATE_LIMITED"]);
  });

  it("gives every socket its own bucket", () => {
    const budgets = new Budgets(LIMITS, () => 0);
    const first = opened(budgets);
    for (let i = 0; i < 3; i++) budgets.takeEvent(first);
    expect(budgets.takeEvent(first)?.code).toBe("SWY_RATE_LIMITED");
    expect(budgets.takeEvent(opened(budgets))).toBeUndefined();
  });

  it("refuses a room past maxRoomsPerSocket", () => {
    const budgets = new Budgets(LIMITS);
    expect(budgets.checkRooms(1)).toBeUndefined();
    expect(budgets.checkRooms(2)?.code).toBe("SWY_ROOM_LIMIT");
  });

  it("counts forwards per socket and in total, and frees them when they end", () => {
    const budgets = new Budgets(LIMITS);
    const a = opened(budgets);
    const b = opened(budgets);
    expect(budgets.startForward(a)).toBeUndefined();
    expect(budgets.startForward(a)).toBeUndefined();
    expect(budgets.startForward(a)?.message).toBe(
      "Too many events are waiting for the app (2); try again",
    );
    expect(budgets.startForward(b)).toBeUndefined();
    expect(budgets.startForward(b)?.message).toBe(
      "Too many events are waiting for the app (3); try again",
    );
    budgets.endForward(a);
    expect(budgets.startForward(b)).toBeUndefined();
  });
});

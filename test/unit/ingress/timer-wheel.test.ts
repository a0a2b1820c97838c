import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TimerWheel, WheelTimer } from "../../../src/ingress/engine/timer-wheel.js";

describe("TimerWheel (the sessions' heartbeat deadlines)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function recorder() {
    const fired: { name: string; at: number }[] = [];
    const timer = (name: string) =>
      new WheelTimer(() => fired.push({ name, at: performance.now() }));
    return { fired, timer };
  }

  it("fires a timer once, never before its deadline and at most one tick after it", () => {
    const wheel = new TimerWheel(10, 1000);
    const { fired, timer } = recorder();
    const start = performance.now();
    wheel.schedule(timer("a"), 95);
    vi.advanceTimersByTime(94);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.at - start).toBeGreaterThanOrEqual(95);
    expect(fired[0]!.at - start).toBeLessThanOrEqual(95 + 10);
    expect(wheel.size).toBe(0);
  });

  it("a timer scheduled again moves to its new deadline; a cancelled one never fires", () => {
    const wheel = new TimerWheel(10, 1000);
    const { fired, timer } = recorder();
    const a = timer("a");
    const b = timer("b");
    wheel.schedule(a, 50);
    wheel.schedule(b, 50);
    wheel.schedule(a, 300);
    wheel.cancel(b);
    expect(b.isScheduled).toBe(false);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(fired.map((f) => f.name)).toEqual(["a"]);
  });

  it("a callback may schedule its own timer again (the ping that awaits its pong)", () => {
    const wheel = new TimerWheel(10, 1000);
    const times: number[] = [];
    const start = performance.now();
    const t = new WheelTimer((self) => {
      times.push(performance.now() - start);
      if (times.length < 3) wheel.schedule(self, 100);
    });
    wheel.schedule(t, 100);
    vi.advanceTimersByTime(1000);
    expect(times).toHaveLength(3);
    for (const [i, at] of times.entries()) expect(at).toBeGreaterThanOrEqual(100 * (i + 1));
    expect(wheel.size).toBe(0);
  });

  it("runs its interval only while a timer is scheduled", () => {
    const wheel = new TimerWheel(10, 1000);
    const { timer } = recorder();
    expect(vi.getTimerCount()).toBe(0);
    const a = timer("a");
    wheel.schedule(a, 500);
    expect(vi.getTimerCount()).toBe(1);
    wheel.cancel(a);
    expect(vi.getTimerCount()).toBe(0);
    wheel.schedule(a, 20);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("many timers of one tick fire in the same turn, each once", () => {
    const wheel = new TimerWheel(10, 1000);
    let count = 0;
    const timers = Array.from({ length: 1000 }, () => new WheelTimer(() => count++));
    for (const [i, t] of timers.entries()) wheel.schedule(t, 500 + (i % 7));
    vi.advanceTimersByTime(499);
    expect(count).toBe(0);
    vi.advanceTimersByTime(30);
    expect(count).toBe(1000);
    expect(wheel.size).toBe(0);
  });
});

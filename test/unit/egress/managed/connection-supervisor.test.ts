import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type ConnectionDriver,
  ConnectionSupervisor,
} from "../../../../src/egress/managed/connection-supervisor.js";

/** A driver that records what the supervisor asked for; probes are settled by the test. */
class TestDriver implements ConnectionDriver {
  readonly calls: string[] = [];
  readonly probes: { resolve(): void; reject(error: Error): void }[] = [];

  connect(): void {
    this.calls.push(`connect@${Date.now()}`);
  }

  disconnect(): void {
    this.calls.push(`disconnect@${Date.now()}`);
  }

  probe(): Promise<void> {
    this.calls.push(`probe@${Date.now()}`);
    return new Promise((resolve, reject) => this.probes.push({ resolve, reject }));
  }

  connects(): number[] {
    return this.calls.filter((c) => c.startsWith("connect@")).map((c) => Number(c.slice(8)));
  }
}

/** Jitter source at its top: every delay is its ceiling. */
const NO_JITTER = () => 0.999_999;

function supervised(attemptTimeout = 500) {
  const driver = new TestDriver();
  const events: string[] = [];
  const supervisor = new ConnectionSupervisor({
    service: "svc",
    driver,
    reconnect: { initialDelay: 100, maxDelay: 1000 },
    attemptTimeout: () => attemptTimeout,
    log: pino({ level: "silent" }),
    random: NO_JITTER,
    events: {
      up: (isReconnect) => events.push(isReconnect ? "reconnected" : "up"),
      down: (reason) => events.push(`down: ${reason}`),
      attemptFailed: (reason) => events.push(`attempt failed: ${reason}`),
      refused: (reason) => events.push(`refused: ${reason}`),
    },
  });
  return { driver, supervisor, events };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("the connection supervisor", () => {
  it("is not ready until the first connection, then ready", () => {
    const { supervisor, driver } = supervised();
    supervisor.start();
    expect(driver.connects()).toEqual([0]);
    expect(supervisor.health()).toEqual({ isReady: false, reason: "svc connection connecting" });
    expect(supervisor.isOpen).toBe(false);
    supervisor.connected();
    expect(supervisor.health()).toEqual({ isReady: true });
    expect(supervisor.isOpen).toBe(true);
  });

  it("turns unready the moment the connection is lost and reconnects on a capped back-off, abandoning attempts with no outcome", async () => {
    const { supervisor, driver, events } = supervised(500);
    supervisor.start();
    supervisor.connected();
    supervisor.lost("closed by peer");
    expect(supervisor.health()).toMatchObject({ isReady: false });
    expect(driver.calls.at(-1)).toBe("disconnect@0");
    // Attempts at 100; then +500 window +200; +500 +400; +500 +800; +500 +1000 (capped)...
    await vi.advanceTimersByTimeAsync(6000);
    expect(driver.connects()).toEqual([0, 100, 800, 1700, 3000, 4500, 6000]);
    expect(events.filter((e) => e.startsWith("attempt failed"))).toHaveLength(5);
    supervisor.connected();
    expect(supervisor.health()).toEqual({ isReady: true });
    expect(events.at(-1)).toBe("reconnected");
    // Nothing more is scheduled once connected.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(driver.connects()).toHaveLength(7);
  });

  it("bounds the wait after the service is back by one attempt window plus the largest delay", async () => {
    const { supervisor, driver } = supervised(500);
    supervisor.start();
    supervisor.connected();
    supervisor.lost("gone");
    await vi.advanceTimersByTimeAsync(60_000);
    const connects = driver.connects();
    const gaps = connects.slice(2).map((at, i) => at - connects[i + 1]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(500 + 1000);
  });

  it("asks a probe why when an attempt times out without a reason, and gives its answer as the reason", async () => {
    const { supervisor, driver, events } = supervised(500);
    supervisor.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(driver.calls).toContain("probe@500");
    driver.probes[0]!.reject(new Error("connect ECONNREFUSED 127.0.0.1:6001"));
    await vi.advanceTimersByTimeAsync(0);
    expect(supervisor.health()).toEqual({
      isReady: false,
      reason: "svc connection connecting (connect ECONNREFUSED 127.0.0.1:6001)",
    });
    // The next attempt that times out keeps the explanation rather than "no connection".
    await vi.advanceTimersByTimeAsync(700);
    expect(events.at(-1)).toBe("attempt failed: connect ECONNREFUSED 127.0.0.1:6001");
  });

  it("starts the next attempt after a back-off when the kind reports a failed attempt", async () => {
    const { supervisor, driver } = supervised(10_000);
    supervisor.start();
    supervisor.attemptFailed("ECONNREFUSED");
    expect(supervisor.health()).toEqual({
      isReady: false,
      reason: "svc connection connecting (ECONNREFUSED)",
    });
    await vi.advanceTimersByTimeAsync(200);
    expect(driver.connects()).toEqual([0, 200]);
  });

  it("spreads reconnects with jitter between half and the whole of each delay", async () => {
    const driver = new TestDriver();
    const supervisor = new ConnectionSupervisor({
      service: "svc",
      driver,
      reconnect: { initialDelay: 100, maxDelay: 1000 },
      attemptTimeout: () => 500,
      log: pino({ level: "silent" }),
      random: () => 0,
    });
    supervisor.start();
    supervisor.connected();
    supervisor.lost("gone");
    await vi.advanceTimersByTimeAsync(1000);
    expect(driver.connects()).toEqual([0, 50, 650]);
  });

  it("stops trying after a refusal, and reports it", async () => {
    const { supervisor, driver, events } = supervised();
    supervisor.start();
    supervisor.refused("4001: unknown app key");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(driver.connects()).toEqual([0]);
    expect(supervisor.health()).toEqual({
      isReady: false,
      reason: "svc refused: 4001: unknown app key",
    });
    expect(events).toEqual(["refused: 4001: unknown app key"]);
  });

  it("turns unready on a failed call, probes on the back-off while connected, and is ready again on the first success", async () => {
    const { supervisor, driver } = supervised();
    const openings: number[] = [];
    supervisor.onOpen(() => openings.push(Date.now()));
    supervisor.start();
    supervisor.connected();
    supervisor.callFailed("the request failed");
    expect(supervisor.health()).toEqual({
      isReady: false,
      reason: "svc calls failing: the request failed",
    });
    expect(supervisor.isOpen).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(driver.calls.filter((c) => c.startsWith("probe"))).toEqual(["probe@100"]);
    driver.probes[0]!.reject(new Error("still refused"));
    await vi.advanceTimersByTimeAsync(200);
    expect(driver.calls.filter((c) => c.startsWith("probe"))).toEqual(["probe@100", "probe@300"]);
    driver.probes[1]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(supervisor.health()).toEqual({ isReady: true });
    expect(openings).toEqual([0, 300]);
  });

  it("is ready again on a successful call without waiting for the probe", () => {
    const { supervisor } = supervised();
    supervisor.start();
    supervisor.connected();
    supervisor.callFailed("no answer in time");
    supervisor.callSucceeded();
    expect(supervisor.health()).toEqual({ isReady: true });
  });

  it("probes at once after a reconnect when calls were failing", async () => {
    const { supervisor, driver } = supervised();
    supervisor.start();
    supervisor.connected();
    supervisor.lost("gone");
    supervisor.callFailed("the request failed");
    await vi.advanceTimersByTimeAsync(100);
    expect(driver.calls.filter((c) => c.startsWith("probe"))).toEqual([]);
    supervisor.connected();
    expect(supervisor.isOpen).toBe(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(driver.calls.filter((c) => c.startsWith("probe"))).toEqual(["probe@100"]);
    driver.probes[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(supervisor.isOpen).toBe(true);
  });

  it("settles start: up, refused, or the state at the timeout", async () => {
    const up = supervised();
    up.supervisor.start();
    const connected = up.supervisor.whenSettled(1000);
    up.supervisor.connected();
    expect(await connected).toBe("up");

    const refused = supervised();
    refused.supervisor.start();
    const refusal = refused.supervisor.whenSettled(1000);
    refused.supervisor.refused("4001");
    expect(await refusal).toBe("refused");

    const slow = supervised(10_000);
    slow.supervisor.start();
    const pending = slow.supervisor.whenSettled(1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await pending).toBe("connecting");
  });

  it("treats a new connection while one is up as a reconnection: what the old one held is gone", () => {
    const { supervisor, events } = supervised();
    supervisor.start();
    supervisor.connected();
    supervisor.connected();
    expect(events).toEqual(["up", "down: replaced by a new connection", "reconnected"]);
    expect(supervisor.health()).toEqual({ isReady: true });
  });

  it("does nothing more once closed", async () => {
    const { supervisor, driver } = supervised();
    supervisor.start();
    supervisor.connected();
    supervisor.lost("gone");
    supervisor.close();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(driver.connects()).toEqual([0]);
    expect(supervisor.health()).toEqual({ isReady: false, reason: "closed" });
  });
});

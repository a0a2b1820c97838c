import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ChannelSubscriptions,
  type SubscribeCause,
  type SubscriptionDriver,
} from "../../../../src/egress/managed/channel-subscriptions.js";

/** A driver that records the requests the subscriptions make. */
class TestDriver implements SubscriptionDriver {
  readonly requests: string[] = [];

  subscribe(channel: string, cause: SubscribeCause): void {
    this.requests.push(`${cause} ${channel}@${Date.now()}`);
  }

  unsubscribe(channel: string): void {
    this.requests.push(`unsubscribe ${channel}@${Date.now()}`);
  }
}

function subscriptions() {
  const driver = new TestDriver();
  const counts: [number, number][] = [];
  const failures: string[] = [];
  const held = new ChannelSubscriptions({
    service: "svc",
    driver,
    confirmTimeout: 1000,
    retry: { initialDelay: 100, maxDelay: 400 },
    failure: (channel, detail) => new Error(`${channel}: ${detail}`),
    log: pino({ level: "silent" }),
    random: () => 0.999_999,
    events: {
      failed: (channel, reason) => failures.push(`${channel} ${reason}`),
      counts: (confirmed, pending) => counts.push([confirmed, pending]),
    },
  });
  return { held, driver, counts, failures };
}

/** The outcome of an add(), as a string, without an unhandled rejection meanwhile. */
function outcome(settled: Promise<void>): Promise<string> {
  return settled.then(
    () => "ok",
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("channel subscriptions", () => {
  it("requests a channel once connected and resolves every add() on the confirmation", async () => {
    const { held, driver, counts } = subscriptions();
    const first = outcome(held.add("a"));
    const second = outcome(held.add("a"));
    expect(driver.requests).toEqual([]);
    held.connectionUp();
    expect(driver.requests).toEqual(["reconnect a@0"]);
    held.confirmed("a");
    expect(await Promise.all([first, second])).toEqual(["ok", "ok"]);
    expect(await outcome(held.add("a"))).toBe("ok");
    expect(driver.requests).toHaveLength(1);
    expect(counts.at(-1)).toEqual([1, 0]);
  });

  it("fails the waiting add() when the confirmation does not come in time, and retries with a growing, capped back-off while wanted", async () => {
    const { held, driver, failures } = subscriptions();
    held.connectionUp();
    const waited = outcome(held.add("a"));
    await vi.advanceTimersByTimeAsync(1000);
    expect(await waited).toBe("a: no confirmation within 1000 ms");
    // Failures at 1000, 2100, 3300, 4700, 6100: retries 100, 200, 400, 400 ms after each.
    await vi.advanceTimersByTimeAsync(5100);
    expect(driver.requests).toEqual([
      "new a@0",
      "retry a@1100",
      "retry a@2300",
      "retry a@3700",
      "retry a@5100",
    ]);
    expect(failures).toEqual(["a timeout", "a timeout", "a timeout", "a timeout", "a timeout"]);
    held.confirmed("a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(driver.requests).toHaveLength(5);
  });

  it("passes the kind's own error to the waiting add() on a refusal", async () => {
    const { held } = subscriptions();
    held.connectionUp();
    const waited = outcome(held.add("a"));
    held.failed("a", "refused", "40160", new Error("capability refused"));
    expect(await waited).toBe("capability refused");
  });

  it("resolves a waiting add() when the channel is removed first, and stops retrying it", async () => {
    const { held, driver } = subscriptions();
    held.connectionUp();
    const waited = outcome(held.add("a"));
    held.remove("a");
    expect(await waited).toBe("ok");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(driver.requests).toEqual(["new a@0", "unsubscribe a@0"]);
    held.remove("a");
    expect(driver.requests).toHaveLength(2);
  });

  it("turns every channel pending when the connection goes, and requests them all again when it is back", async () => {
    const { held, driver, counts } = subscriptions();
    held.connectionUp();
    void held.add("a");
    void held.add("b");
    held.confirmed("a");
    held.confirmed("b");
    held.connectionDown();
    expect(counts.at(-1)).toEqual([0, 2]);
    // No confirmation deadline runs while there is no connection.
    await vi.advanceTimersByTimeAsync(5000);
    held.connectionUp();
    expect(driver.requests.slice(2)).toEqual(["reconnect a@5000", "reconnect b@5000"]);
    held.confirmed("a");
    held.confirmed("b");
    expect(counts.at(-1)).toEqual([2, 0]);
  });

  it("waits for the connection before retrying a failed channel", async () => {
    const { held, driver } = subscriptions();
    held.connectionUp();
    void outcome(held.add("a"));
    held.failed("a", "refused", "no");
    held.connectionDown();
    await vi.advanceTimersByTimeAsync(1000);
    expect(driver.requests).toEqual(["new a@0"]);
    held.connectionUp();
    expect(driver.requests).toEqual(["new a@0", "reconnect a@1000"]);
  });

  it("rejects waiting add() calls when closed", async () => {
    const { held } = subscriptions();
    const waited = outcome(held.add("a"));
    held.close(new Error("closed"));
    expect(await waited).toBe("closed");
    expect(held.size).toBe(0);
  });
});

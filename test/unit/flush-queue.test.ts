import { describe, expect, it } from "vitest";
import { type Flushable, FlushQueue } from "../../src/flush-queue.js";

/** A flushable that records its flushes in a shared log. */
function recorder(name: string, log: string[]): Flushable {
  return {
    isFlushScheduled: false,
    flush() {
      log.push(name);
    },
  };
}

/** Resolves after the check phase of the current turn (where the queue runs). */
function afterTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("FlushQueue", () => {
  it("flushes each scheduled item once at the end of the turn, however often it was scheduled", async () => {
    const queue = new FlushQueue();
    const log: string[] = [];
    const a = recorder("a", log);
    const b = recorder("b", log);

    queue.schedule(a);
    queue.schedule(b);
    queue.schedule(a);
    expect(log).toEqual([]);
    await afterTurn();

    expect(log).toEqual(["a", "b"]);
    expect(a.isFlushScheduled).toBe(false);
  });

  it("flushes the items scheduled first before the others, whenever they were scheduled", async () => {
    const queue = new FlushQueue();
    const log: string[] = [];

    queue.schedule(recorder("socket 1", log));
    queue.schedule(recorder("redis", log), { first: true });
    queue.schedule(recorder("socket 2", log));
    await afterTurn();

    expect(log).toEqual(["redis", "socket 1", "socket 2"]);
  });

  it("takes an item again in the next turn once it was flushed", async () => {
    const queue = new FlushQueue();
    const log: string[] = [];
    const a = recorder("a", log);

    queue.schedule(a);
    await afterTurn();
    queue.schedule(a);
    await afterTurn();

    expect(log).toEqual(["a", "a"]);
  });
});

import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type ExpiryStage,
  PublishQueue,
  type PublishQueueOptions,
  type SendGate,
} from "../../../src/egress/publish-queue.js";

interface Item {
  readonly channel: string;
  readonly n: number;
  readonly origin?: string;
}

interface Call {
  readonly batch: readonly Item[];
  /** Settles the call; with `outcomes`, one per item (undefined: accepted). */
  resolve(outcomes?: readonly unknown[]): void;
  reject(error: unknown): void;
}

/** A gate the test opens and closes. */
class TestGate implements SendGate {
  isOpen = true;
  readonly #listeners = new Set<() => void>();

  onOpen(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  open(): void {
    this.isOpen = true;
    for (const listener of this.#listeners) listener();
  }
}

const UNSENT = new Error("refused before sending");

/** A queue whose sends stay pending until the test settles them. */
function controlled(
  batchSize: number,
  maxInflight: number,
  options: Partial<PublishQueueOptions<Item>> = {},
) {
  const calls: Call[] = [];
  const queue = new PublishQueue<Item>({
    batchSize,
    maxInflight,
    timeout: 1000,
    expired: (item: Item, stage: ExpiryStage) => new Error(`expired ${item.n} ${stage}`),
    isUnsent: (error) => error === UNSENT,
    send: (batch) =>
      new Promise<readonly unknown[] | undefined>((resolve, reject) => {
        calls.push({ batch, resolve: (outcomes) => resolve(outcomes), reject });
      }),
    ...options,
  });
  return { queue, calls };
}

const ns = (batch: readonly Item[]) => batch.map((item) => `${item.channel}${item.n}`);

/** The outcome of a push, as a string, without an unhandled rejection meanwhile. */
function outcome(settled: Promise<void>): Promise<string> {
  return settled.then(
    () => "ok",
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the publish queue", () => {
  it("sends up to batchSize items per call, in queue order", async () => {
    const { queue, calls } = controlled(3, 1);
    const done = Array.from({ length: 5 }, (_, n) => queue.push({ channel: "a", n }));
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"]]);
    calls[0]!.resolve();
    await done[0];
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"], ["a1", "a2", "a3"]]);
    calls[1]!.resolve();
    await done[3];
    calls[2]!.resolve();
    await Promise.all(done);
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"], ["a1", "a2", "a3"], ["a4"]]);
  });

  it("never has two calls in flight for one channel, while other channels overtake", async () => {
    const { queue, calls } = controlled(10, 4);
    const first = queue.push({ channel: "a", n: 0 });
    const later = [queue.push({ channel: "a", n: 1 }), queue.push({ channel: "b", n: 0 })];
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"], ["b0"]]);
    calls[1]!.resolve();
    await later[1];
    calls[0]!.resolve();
    await first;
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"], ["b0"], ["a1"]]);
    calls[2]!.resolve();
    await later[0];
  });

  it("fails every item of a batch whose call fails, and goes on with the next", async () => {
    const { queue, calls } = controlled(2, 1);
    const results = [0, 1, 2].map((n) => outcome(queue.push({ channel: "a", n })));
    calls[0]!.reject(new Error("down"));
    await results[0];
    calls[1]!.resolve();
    expect(await Promise.all(results)).toEqual(["down", "ok", "ok"]);
  });

  it("settles each item of a call by its own outcome when the service answers each", async () => {
    const gate = new TestGate();
    gate.isOpen = false;
    const { queue, calls } = controlled(3, 1, { gate });
    const done = [0, 1, 2].map((n) => outcome(queue.push({ channel: "a", n })));
    gate.open();
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0", "a1", "a2"]]);
    calls[0]!.resolve([undefined, new Error("refused 1"), undefined]);
    expect(await Promise.all(done)).toEqual(["ok", "refused 1", "ok"]);
    expect(queue.size).toBe(0);
  });

  it("fails waiting items on failWaiting, and counts waiting and in-flight items", async () => {
    const { queue, calls } = controlled(1, 1);
    const a = queue.push({ channel: "a", n: 0 });
    const b = outcome(queue.push({ channel: "a", n: 1 }));
    expect([queue.waiting, queue.size]).toEqual([1, 2]);
    queue.failWaiting(new Error("closed"));
    expect(await b).toBe("closed");
    calls[0]!.resolve();
    await a;
    expect(queue.size).toBe(0);
  });
});

describe("the publish queue's deadlines", () => {
  it("fails items waiting behind their channel's slow call at their own deadline, one timeout for all, not one per batch", async () => {
    vi.useFakeTimers();
    const { queue, calls } = controlled(2, 4);
    const results = [0, 1, 2, 3, 4].map((n) => outcome(queue.push({ channel: "a", n })));
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await Promise.all(results)).toEqual([
      "expired 0 sending",
      "expired 1 queued",
      "expired 2 queued",
      "expired 3 queued",
      "expired 4 queued",
    ]);
    expect(queue.waiting).toBe(0);
  });

  it("keeps a channel busy until its timed-out call really ends, so a later item cannot overtake it", async () => {
    vi.useFakeTimers();
    const { queue, calls } = controlled(10, 4);
    const timedOut = outcome(queue.push({ channel: "a", n: 0 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(await timedOut).toBe("expired 0 sending");
    const later = outcome(queue.push({ channel: "a", n: 1 }));
    expect(calls).toHaveLength(1);
    expect(queue.size).toBe(2);
    // The service answers the first call after all: only now may the second go.
    calls[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"], ["a1"]]);
    calls[1]!.resolve();
    expect(await later).toBe("ok");
  });

  it("holds items while the gate is closed, sends them when it opens, and fails those still blocked at their deadline", async () => {
    vi.useFakeTimers();
    const gate = new TestGate();
    gate.isOpen = false;
    const { queue, calls } = controlled(10, 4, { gate });
    const early = outcome(queue.push({ channel: "a", n: 0 }));
    await vi.advanceTimersByTimeAsync(600);
    const late = outcome(queue.push({ channel: "a", n: 1 }));
    await vi.advanceTimersByTimeAsync(400);
    expect(await early).toBe("expired 0 blocked");
    expect(calls).toHaveLength(0);
    gate.open();
    expect(calls.map((c) => ns(c.batch))).toEqual([["a1"]]);
    calls[0]!.resolve();
    expect(await late).toBe("ok");
  });

  it("puts a batch the service never saw back in its place, to go out in order once the gate opens again", async () => {
    vi.useFakeTimers();
    const gate = new TestGate();
    const { queue, calls } = controlled(2, 1, { gate });
    const results = [
      queue.push({ channel: "a", n: 0 }),
      queue.push({ channel: "a", n: 1 }),
      queue.push({ channel: "a", n: 2 }),
    ].map(outcome);
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"]]);
    gate.isOpen = false;
    calls[0]!.reject(UNSENT);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    expect(queue.waiting).toBe(3);
    gate.open();
    expect(calls.map((c) => ns(c.batch))).toEqual([["a0"], ["a0", "a1"]]);
    calls[1]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    calls[2]!.resolve();
    expect(await Promise.all(results)).toEqual(["ok", "ok", "ok"]);
  });

  it("releases a sender's share when its item settles by deadline", async () => {
    vi.useFakeTimers();
    const gate = new TestGate();
    gate.isOpen = false;
    const { queue } = controlled(10, 4, { gate });
    const result = outcome(queue.push({ channel: "a", n: 0, origin: "s1" }));
    expect(queue.countOf("s1")).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await result;
    expect(queue.countOf("s1")).toBe(0);
  });

  it("reports its size as it changes", async () => {
    const sizes: number[] = [];
    const { queue, calls } = controlled(1, 1, { sizeChanged: (size) => sizes.push(size) });
    const a = queue.push({ channel: "a", n: 0 });
    const b = queue.push({ channel: "a", n: 1 });
    calls[0]!.resolve();
    await a;
    calls[1]!.resolve();
    await b;
    expect(sizes).toEqual([1, 2, 1, 0]);
  });
});

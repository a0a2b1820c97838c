import { describe, expect, it } from "vitest";
import { PublishQueue } from "../../../src/egress/publish-queue.js";

interface Item {
  readonly channel: string;
  readonly n: number;
}

/** A queue whose sends stay pending until the test settles them. */
function controlled(batchSize: number, maxInflight: number) {
  const calls: { batch: readonly Item[]; resolve(): void; reject(error: unknown): void }[] = [];
  const queue = new PublishQueue<Item>({
    batchSize,
    maxInflight,
    send: (batch) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ batch, resolve, reject });
      }),
  });
  return { queue, calls };
}

const ns = (batch: readonly Item[]) => batch.map((item) => `${item.channel}${item.n}`);

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
    const results = [0, 1, 2].map((n) => queue.push({ channel: "a", n }).then(() => "ok", String));
    calls[0]!.reject(new Error("down"));
    await results[0];
    calls[1]!.resolve();
    expect(await Promise.all(results)).toEqual(["Error: down", "ok", "ok"]);
  });

  it("fails waiting items on failWaiting, and counts waiting and in-flight items", async () => {
    const { queue, calls } = controlled(1, 1);
    const a = queue.push({ channel: "a", n: 0 });
    const b = queue.push({ channel: "a", n: 1 }).catch(String);
    expect([queue.waiting, queue.size]).toEqual([1, 2]);
    queue.failWaiting(new Error("closed"));
    expect(await b).toBe("Error: closed");
    calls[0]!.resolve();
    await a;
    expect(queue.size).toBe(0);
  });
});

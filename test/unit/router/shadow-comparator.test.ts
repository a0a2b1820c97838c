import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../../src/mapping/schema.js";
import type { ShadowRoute } from "../../../src/mapping/types.js";
import {
  keyOf,
  normalised,
  ShadowComparator,
  zeroCounts,
} from "../../../src/router/shadow/comparator.js";

const WINDOW = 100;

const ROUTE: ShadowRoute = {
  id: "/ room:{id}",
  namespace: "/",
  room: "room:{id}",
  primary: "native",
  shadow: "pusher",
  role: "route",
  window: WINDOW,
  verdict: DEFAULTS.shadow.verdict,
};

/** A comparator on a clock the test moves. */
function comparator(options: { maxPending?: number } = {}) {
  let now = 0;
  const gaps: number[] = [];
  const counted: Record<string, number> = {};
  const c = new ShadowComparator({
    now: () => now,
    ...options,
    listener: {
      counted: (_route, outcome, count) => {
        counted[outcome] = (counted[outcome] ?? 0) + count;
      },
      gap: (_route, gap) => gaps.push(gap),
      shed: () => {
        counted.shed = (counted.shed ?? 0) + 1;
      },
    },
  });
  const at = (ms: number) => {
    now = ms;
  };
  /** Moves past every window and decides. */
  const settle = () => {
    now += 3 * WINDOW;
    c.sweep();
  };
  const counts = () => c.evidence()[0]?.counts ?? zeroCounts();
  return { c, at, settle, counts, gaps, counted };
}

const P = (c: ShadowComparator, data: unknown, channel = "room:1", event = "message") =>
  c.primary(ROUTE, channel, { event, args: [data] });
const S = (c: ShadowComparator, data: unknown, channel = "room:1", event = "message") =>
  c.shadow(ROUTE, channel, { event, args: [data] });
/** A stamped delivery on either side. */
const stamped = (side: "primary" | "shadow", c: ShadowComparator, data: unknown, stamp: string) =>
  c[side](ROUTE, "room:1", { event: "message", args: [data], stamp });

describe("the shadow comparator", () => {
  it("matches every message both sides delivered, whichever came first, with the gap", () => {
    const { c, at, settle, counts, gaps } = comparator();
    at(0);
    P(c, 1);
    at(5);
    S(c, 1);
    at(10);
    S(c, 2);
    at(12);
    P(c, 2);
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 2 });
    expect(gaps).toEqual([5, -2]);
    expect(c.pending).toBe(0);
  });

  it("pairs repeated identical messages by their occurrence", () => {
    const { c, settle, counts } = comparator();
    for (let i = 0; i < 3; i++) P(c, "ping");
    for (let i = 0; i < 3; i++) S(c, "ping");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 3 });
  });

  it("counts a message the shadow never delivered as missing once its window passed", () => {
    const { c, at, counts } = comparator();
    at(0);
    P(c, 1);
    P(c, 2);
    S(c, 1);
    at(WINDOW - 1);
    c.sweep();
    expect(counts().missing).toBe(0);
    at(WINDOW);
    c.sweep();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 1, missing: 1 });
  });

  it("counts shadow-only messages as extra and second copies as duplicates", () => {
    const { c, settle, counts } = comparator();
    P(c, 1);
    S(c, 1);
    S(c, 1);
    S(c, { other: true }, "room:1", "other-event");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 1, duplicates: 1, extra: 1 });
  });

  it("counts a message whose payload changed as mismatched, not missing and extra", () => {
    const { c, settle, counts } = comparator();
    P(c, { text: "hi" });
    S(c, { text: "HI" });
    P(c, { text: "bye" });
    S(c, { text: "bye" });
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 1, mismatched: 1 });
  });

  it("counts a swapped pair once as reordered, and one late message once", () => {
    const own = (c: ShadowComparator, n: number) => {
      P(c, n);
      c.written(ROUTE, "room:1", { event: "message", args: [n] });
    };
    const swapped = comparator();
    for (const n of [1, 2, 3, 4]) own(swapped.c, n);
    for (const n of [1, 3, 2, 4]) S(swapped.c, n);
    swapped.settle();
    expect(swapped.counts()).toEqual({ ...zeroCounts(), matched: 4, reordered: 1 });

    const late = comparator();
    for (const n of [1, 2, 3, 4, 5]) own(late.c, n);
    for (const n of [2, 3, 4, 5, 1]) S(late.c, n);
    late.settle();
    expect(late.counts()).toEqual({ ...zeroCounts(), matched: 5, reordered: 1 });
  });

  it("checks the order of this node's own writes only: other publishers may interleave", () => {
    const { c, settle, counts } = comparator();
    P(c, "mine-1");
    c.written(ROUTE, "room:1", { event: "message", args: ["mine-1"] });
    P(c, "theirs");
    P(c, "mine-2");
    c.written(ROUTE, "room:1", { event: "message", args: ["mine-2"] });
    for (const data of ["theirs", "mine-1", "mine-2"]) S(c, data);
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 3 });
  });

  it("keeps channels apart: the same message on two channels is two messages", () => {
    const { c, settle, counts, c: comp } = comparator();
    P(c, 1, "room:1");
    S(c, 1, "room:2");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), missing: 1, extra: 1 });
    const channels = comp.evidence()[0]!.channels;
    expect(channels.get("room:1")).toEqual({ ...zeroCounts(), missing: 1 });
    expect(channels.get("room:2")).toEqual({ ...zeroCounts(), extra: 1 });
  });

  it("does not count missing what this node could not write to the shadow", () => {
    const { c, settle, counts } = comparator();
    P(c, 1);
    c.notWritten(ROUTE, "room:1", { event: "message", args: [1] }, "shadowDropped");
    P(c, 2);
    c.notWritten(ROUTE, "room:1", { event: "message", args: [2] }, "shadowErrors");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), shadowDropped: 1, shadowErrors: 1 });
  });

  it("reports percentiles of the gap", () => {
    const { c, at, settle } = comparator();
    for (let i = 0; i < 100; i++) {
      at(i * 10);
      P(c, i);
      at(i * 10 + (i + 1) / 10);
      S(c, i);
    }
    settle();
    expect(c.evidence()[0]!.latencyGap).toEqual({ p50: 5, p95: 9.5, p99: 9.9 });
  });

  it("tracks at most maxPending messages and counts what it sheds", () => {
    const { c, settle, counts } = comparator({ maxPending: 10 });
    for (let i = 0; i < 15; i++) P(c, i);
    expect(c.pending).toBe(10);
    expect(c.evidence()[0]!.shed).toBe(5);
    settle();
    expect(c.pending).toBe(0);
    expect(counts().missing).toBe(10);
  });

  it("forgets everything on reset, and keeps nothing once messages are decided", () => {
    const { c, settle, counts } = comparator();
    P(c, 1);
    S(c, 1);
    settle();
    expect(counts().matched).toBe(1);
    c.reset();
    expect(counts()).toEqual(zeroCounts());
    P(c, 2);
    c.reset();
    settle();
    expect(counts()).toEqual(zeroCounts());
    expect(c.pending).toBe(0);
  });

  it("reports every decision to its listener, as counted", () => {
    const { c, settle, counted } = comparator();
    P(c, 1);
    S(c, 1);
    P(c, 2);
    S(c, 3);
    settle();
    expect(counted).toEqual({ matched: 1, mismatched: 1 });
  });
});

describe("the shadow comparator with stamps on both sides", () => {
  it("pairs by stamp: a changed payload is mismatched at once, equal payloads stay apart", () => {
    const { c, settle, counts } = comparator();
    stamped("primary", c, "same", "a");
    stamped("primary", c, "same", "b");
    stamped("primary", c, { text: "hi" }, "c");
    stamped("shadow", c, "same", "b");
    stamped("shadow", c, { text: "HI" }, "c");
    expect(counts()).toEqual({ ...zeroCounts(), matched: 1, mismatched: 1 });
    stamped("shadow", c, "same", "a");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 2, mismatched: 1 });
  });

  it("counts a second copy of a stamp as a duplicate, a message of another stamp as extra", () => {
    const { c, settle, counts } = comparator();
    stamped("primary", c, "ping", "a");
    stamped("shadow", c, "ping", "a");
    stamped("shadow", c, "ping", "a");
    stamped("shadow", c, "ping", "z");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 1, duplicates: 1, extra: 1 });
  });

  it("pairs a stamped delivery with an unstamped one by content (a kind without stamps)", () => {
    const { c, settle, counts } = comparator();
    stamped("primary", c, 1, "a");
    S(c, 1);
    S(c, 2);
    stamped("primary", c, 3, "c");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 1, mismatched: 1 });
  });

  it("sees the swap of two equal payloads by their stamps", () => {
    const { c, settle, counts } = comparator();
    for (const stamp of ["a", "b"]) {
      stamped("primary", c, "same", stamp);
      c.written(ROUTE, "room:1", { event: "message", args: ["same"], stamp });
    }
    stamped("shadow", c, "same", "b");
    stamped("shadow", c, "same", "a");
    settle();
    expect(counts()).toEqual({ ...zeroCounts(), matched: 2, reordered: 1 });
  });
});

describe("message identity", () => {
  it("ignores key order and the container of binary data", () => {
    expect(normalised({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(
      normalised({ a: [1, { c: 3, d: 2 }], b: 1 }),
    );
    const bytes = [1, 2, 255];
    expect(normalised(Buffer.from(bytes))).toBe(normalised(new Uint8Array(bytes)));
    expect(normalised(Buffer.from(bytes))).toBe(normalised(new Uint8Array(bytes).buffer));
    expect(keyOf("message", [{ x: 1, y: 2 }])).toBe(keyOf("message", [{ y: 2, x: 1 }]));
  });

  it("tells apart what differs: values, types, events, argument counts", () => {
    const keys = [
      keyOf("message", [1]),
      keyOf("message", ["1"]),
      keyOf("message", [[1]]),
      keyOf("message", [1, 1]),
      keyOf("other", [1]),
      keyOf("message", [Buffer.from("1")]),
      keyOf("message", [{ $bin: "31" }]),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});

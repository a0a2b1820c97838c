import { describe, expect, it } from "vitest";
import { ConsoleHistory } from "../../../src/console/console-history.js";
import { MAX_RECENT_ERRORS, MAX_SAMPLES } from "../../../src/console/console-types.js";
import { Metrics } from "../../../src/metrics.js";

function history(connections = () => 3) {
  const metrics = new Metrics();
  const gaps = { "/ room:{id}: native → pusher": 4.5 };
  return { metrics, history: new ConsoleHistory(metrics, { connections, shadowGaps: () => gaps }) };
}

describe("the migration console's history", () => {
  it("sets its baseline at the first sample, then charts rates per second from the metrics", async () => {
    const { metrics, history: h } = history();
    metrics.packetsOut.inc(1000);
    await h.sample(10_000);
    expect(h.samples).toEqual([]);
    metrics.packetsOut.inc(50);
    metrics.backendPublishLatency.observe(
      { backend: "pusher", kind: "pusher", outcome: "accepted" },
      0.01,
    );
    metrics.backendPublishLatency.observe(
      { backend: "pusher", kind: "pusher", outcome: "accepted" },
      0.01,
    );
    metrics.backendPublishLatency.observe(
      { backend: "pusher", kind: "pusher", outcome: "refused" },
      0.01,
    );
    await h.sample(12_000);
    expect(h.samples).toEqual([
      { t: 12_000, connections: 3, deliveries: 25, gaps: { "/ room:{id}: native → pusher": 4.5 } },
    ]);
    expect(h.latest).toEqual(h.samples[0]);
    expect(h.publishRate("pusher")).toBe(1);
    expect(h.refused("pusher")).toBe(1);
    expect(h.publishRate("native")).toBe(0);
  });

  it("lists the codes counted in each interval, newest first, and the last reload's result", async () => {
    const { metrics, history: h } = history();
    metrics.errors.inc({ code: "SWY_RATE_LIMITED" }, 7);
    await h.sample(1000);
    metrics.errors.inc({ code: "SWY_API_UNAUTHORIZED" });
    metrics.reloads.inc({ result: "applied" });
    await h.sample(2000);
    metrics.errors.inc({ code: "SWY_RATE_LIMITED" }, 2);
    metrics.reloads.inc({ result: "invalid" });
    await h.sample(3000);
    expect(h.errors).toEqual([
      { at: 3000, code: "SWY_RATE_LIMITED", count: 2 },
      { at: 2000, code: "SWY_API_UNAUTHORIZED", count: 1 },
    ]);
    expect(h.errorTotals).toEqual({ SWY_API_UNAUTHORIZED: 1, SWY_RATE_LIMITED: 2 });
    expect(h.appliedReloads).toBe(1);
    expect(h.lastReload).toEqual({ result: "invalid", at: 3000 });
  });

  it("keeps ten minutes of samples and the last errors, no more", async () => {
    const { metrics, history: h } = history();
    for (let i = 0; i <= MAX_SAMPLES + 10; i++) {
      metrics.errors.inc({ code: "SWY_RATE_LIMITED" });
      await h.sample(i * 1000);
    }
    expect(h.samples).toHaveLength(MAX_SAMPLES);
    expect(h.samples[0]!.t).toBe(11_000);
    expect(h.errors).toHaveLength(MAX_RECENT_ERRORS);
    expect(h.errors[0]!.at).toBe((MAX_SAMPLES + 10) * 1000);
  });
});

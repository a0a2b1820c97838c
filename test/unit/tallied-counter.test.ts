import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { TalliedCounter } from "../../src/metrics.js";

function counterIn(registry: Registry): TalliedCounter<"backend" | "type"> {
  return new TalliedCounter({
    name: "test_received_total",
    help: "Received messages, by backend and type.",
    labelNames: ["backend", "type"],
    registers: [registry],
  });
}

describe("a tallied counter", () => {
  it("shows in a scrape what its tallies counted, by label values, beside plain inc()", async () => {
    const registry = new Registry();
    const counter = counterIn(registry);
    const broadcasts = counter.tally({ backend: "native", type: "broadcast" });
    for (let i = 0; i < 5; i++) broadcasts.add();
    counter.tally({ backend: "native", type: "join" }).add(3);
    counter.inc({ backend: "native", type: "broadcast" }, 2);

    const text = await registry.metrics();
    expect(text).toContain('test_received_total{backend="native",type="broadcast"} 7');
    expect(text).toContain('test_received_total{backend="native",type="join"} 3');
  });

  it("hands out one tally per set of label values, whatever their order", () => {
    const counter = counterIn(new Registry());
    const a = counter.tally({ backend: "native", type: "broadcast" });
    expect(counter.tally({ type: "broadcast", backend: "native" })).toBe(a);
    expect(counter.tally({ backend: "native", type: "join" })).not.toBe(a);
  });

  it("counts each add once across scrapes, and keeps counting after a read", async () => {
    const registry = new Registry();
    const counter = counterIn(registry);
    const tally = counter.tally({ backend: "native", type: "broadcast" });
    tally.add(4);
    expect((await counter.get()).values[0]?.value).toBe(4);
    expect((await counter.get()).values[0]?.value).toBe(4);
    tally.add();
    expect(await registry.metrics()).toContain(
      'test_received_total{backend="native",type="broadcast"} 5',
    );
  });

  it("counts without labels too", async () => {
    const registry = new Registry();
    const counter = new TalliedCounter({
      name: "test_packets_total",
      help: "Packets.",
      registers: [registry],
    });
    counter.tally().add(10);
    counter.tally().add(1);
    expect(await registry.metrics()).toContain("test_packets_total 11");
  });
});

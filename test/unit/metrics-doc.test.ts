import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";

const DOCS = new URL("../../docs/", import.meta.url);

/** Every page of docs/ and docs/backends/, as one text. */
function allDocs(): string {
  const pages: string[] = [];
  for (const dir of [DOCS, new URL("backends/", DOCS)]) {
    for (const name of readdirSync(dir)) {
      if (name.endsWith(".md")) pages.push(readFileSync(new URL(name, dir), "utf8"));
    }
  }
  return pages.join("\n");
}

describe("the metrics docs", () => {
  it("name every switchyard_ metric the registry holds, in backticks", () => {
    const docs = allDocs();
    const missing = metrics.registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .filter((name) => name.startsWith("switchyard_"))
      .filter((name) => !new RegExp(`\`${name}[\`{]`).test(docs));
    expect(missing).toEqual([]);
  });

  it("list the latency histograms and the build info in docs/metrics.md", () => {
    const page = readFileSync(new URL("metrics.md", DOCS), "utf8");
    for (const name of [
      "switchyard_build_info",
      "switchyard_ack_latency_seconds",
      "switchyard_forward_seconds",
      "switchyard_backend_publish_seconds",
      "switchyard_join_subscribe_seconds",
    ]) {
      expect(page, name).toMatch(new RegExp(`^\\| \`${name}\` `, "m"));
    }
  });
});

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../src/mapping/schema.js";

const docs = readFileSync(new URL("../../docs/security.md", import.meta.url), "utf8");

describe("docs/security.md", () => {
  it("lists every server limit with its default", () => {
    for (const [key, value] of Object.entries(DEFAULTS.server.limits)) {
      const row = docs.split("\n").find((line) => line.startsWith(`| \`limits.${key}\` |`));
      expect(row, `limits.${key}`).toBeDefined();
      expect(row).toContain(`\`${value}\``);
    }
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import type { ForwardRule } from "../../../src/mapping/types.js";

const yaml = (rule: string) => `namespaces:\n  /:\n    events:\n      ask: ${rule}\n`;

function diagnose(text: string, env: Record<string, string> = {}): string[] {
  return loadConfigFromString(text, "t.yaml", env).diagnostics.map(formatDiagnostic);
}

describe("action: forward in the mapping", () => {
  it("compiles url, the default 5000 ms timeout and headers kept as secrets", () => {
    const { config, diagnostics } = loadConfigFromString(
      yaml('{ action: forward, url: "${APP_URL}", headers: { X-Key: "${KEY}" } }'),
      "t.yaml",
      { APP_URL: "http://app.internal:8080/events", KEY: "hunter2" },
    );
    expect(diagnostics).toEqual([]);
    const rule = config!.namespaces.get("/")!.events.get("ask") as ForwardRule;
    expect(rule).toMatchObject({
      action: "forward",
      url: "http://app.internal:8080/events",
      timeout: 5000,
    });
    expect(rule.headers.get("X-Key")!.reveal()).toBe("hunter2");
    expect(inspect(rule)).not.toContain("hunter2");
    expect(JSON.stringify([...rule.headers])).not.toContain("hunter2");
  });

  it("requires an http or https url and refuses room and the keys of other actions", () => {
    const lines = diagnose(yaml("{ action: forward, url: ftp://x, room: lobby }"));
    expect(lines).toHaveLength(2);
    expect(lines.join("\n")).toContain("must be an http:// or https:// URL");
    expect(lines.join("\n")).toContain("SWY_CFG_UNKNOWN_KEY Unknown key 'room'");
    expect(diagnose(yaml("{ action: forward }"))[0]).toContain("SWY_CFG_REQUIRED");
  });

  it("never prints a header value that is not a string", () => {
    const lines = diagnose(
      yaml("{ action: forward, url: http://a, headers: { X-Key: [s3cr3t] } }"),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("s3cr3t");
  });
});

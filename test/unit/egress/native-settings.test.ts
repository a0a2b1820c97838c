import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { NativeBackend } from "../../../src/egress/native/native-backend.js";
import { nativeFactory } from "../../../src/egress/native/native-factory.js";
import {
  NATIVE_REDIS_DEFAULTS,
  nativeRedisSettingsSchema,
  resolveNativeRedisSettings,
} from "../../../src/egress/native/redis/redis-settings.js";
import { loadConfigFromString } from "../../../src/mapping/compile.js";

function load(settings: string): readonly string[] {
  const text = `namespaces:\n  /: {}\nbackends:\n  native:\n    kind: native\n${settings}`;
  return loadConfigFromString(text, "t.yaml", {
    REDIS_URL: "redis://10.0.0.1:6380",
  }).diagnostics.map((d) => `${d.code} ${d.message}`);
}

describe("native settings", () => {
  it("accepts a redis block with an environment default and every option", () => {
    expect(
      load(`    settings:
      redis:
        url: "\${REDIS_URL:-redis://127.0.0.1:6379}"
        key: socket.io
        mode: sharded
        subscriptionMode: dynamic-private
        requestsTimeout: 2000
`),
    ).toEqual([]);
    expect(load("")).toEqual([]);
  });

  it("refuses unknown keys and wrong values inside the redis block", () => {
    const problems = load(`    settings:
      redis:
        mode: cluster
        retries: 3
        requestsTimeout: 0
`);
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.join("\n")).toMatch(/retries/);
  });

  it("documents every property and fills in the adapter's defaults", () => {
    const properties = nativeRedisSettingsSchema.properties as Record<
      string,
      { description?: string }
    >;
    for (const [name, property] of Object.entries(properties)) {
      expect(property.description, name).toEqual(expect.any(String));
    }
    expect(nativeRedisSettingsSchema.additionalProperties).toBe(false);
    expect(resolveNativeRedisSettings({})).toEqual(NATIVE_REDIS_DEFAULTS);
    expect(NATIVE_REDIS_DEFAULTS).toEqual({
      url: "redis://127.0.0.1:6379",
      key: "socket.io",
      mode: "classic",
      subscriptionMode: "dynamic",
      requestsTimeout: 5000,
    });
  });

  it("builds an in-process backend without redis settings", async () => {
    const backend = nativeFactory.create("native", {}, { log: pino({ level: "silent" }) });
    expect(backend).toBeInstanceOf(NativeBackend);
    expect(backend.health().isReady).toBe(false);
    await backend.start({ deliver: () => {} });
    expect(backend.health().isReady).toBe(true);
    expect(await backend.serverCount("/")).toBe(1);
    await backend.close();
  });
});

import { describe, expect, it } from "vitest";
import { ablyChannelProblem } from "../../../src/egress/ably/ably-channel-naming.js";
import { ABLY_DEFAULTS, resolveAblySettings } from "../../../src/egress/ably/ably-settings.js";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";

const KEY = "app.key:secret";

describe("ably settings", () => {
  it("fill in the defaults, and read a host as an Ably-compatible server's endpoint", () => {
    expect(resolveAblySettings({ key: KEY })).toEqual({
      ...ABLY_DEFAULTS,
      key: KEY,
      isCustomHost: false,
    });
    expect(
      resolveAblySettings({ key: KEY, host: "127.0.0.1", port: "8080", tls: false }),
    ).toMatchObject({
      endpoint: "127.0.0.1",
      port: 8080,
      tls: false,
      isCustomHost: true,
    });
    // Empty environment defaults count as absent.
    expect(resolveAblySettings({ key: KEY, host: "", port: "" })).toEqual({
      ...ABLY_DEFAULTS,
      key: KEY,
      isCustomHost: false,
    });
  });

  it("are checked at load: the key's shape, with the position of the problem", () => {
    const { diagnostics } = loadConfigFromString(
      "backends:\n  ably: { kind: ably, settings: { key: not-a-key } }\nnamespaces: { /: {} }\n",
      "t.yaml",
      {},
    );
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:2:40 SWY_CFG_VALUE backends.ably.settings.key must be an Ably API key: appId.keyId:secret, got a value not shown here (it is a secret)",
    ]);
  });
});

describe("ably channel names", () => {
  it("refuse what Ably refuses: empty, a leading [ or :, a newline", () => {
    expect(ablyChannelProblem("room:1")).toBeUndefined();
    expect(ablyChannelProblem("")).toBe("it is empty");
    expect(ablyChannelProblem("[meta]x")).toBe("it begins with '[' or ':'");
    expect(ablyChannelProblem(":x")).toBe("it begins with '[' or ':'");
    expect(ablyChannelProblem("a\nb")).toBe("it holds a newline");
  });

  it("refuse a route template that begins with [ or : at load", () => {
    const { diagnostics } = loadConfigFromString(
      [
        "backends:",
        `  ably: { kind: ably, settings: { key: "${KEY}" } }`,
        "namespaces:",
        "  /:",
        "    routes:",
        '      - { room: "room:{id}", backend: ably, channel: ":room-{id}" }',
      ].join("\n"),
      "t.yaml",
      {},
    );
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:6:54 SWY_CFG_CHANNEL Channel template ':room-{id}' begins with ':', which ably channel names cannot",
    ]);
  });
});

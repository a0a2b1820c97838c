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

describe("a route's presence mirror", () => {
  function diagnosticsOf(route: string): string[] {
    return loadConfigFromString(
      [
        "backends:",
        `  ably: { kind: ably, settings: { key: "${KEY}" } }`,
        '  pusher: { kind: pusher, settings: { appId: "1", key: k, secret: s } }',
        "namespaces:",
        "  /:",
        "    routes:",
        `      - ${route}`,
      ].join("\n"),
      "t.yaml",
      {},
    ).diagnostics.map(formatDiagnostic);
  }

  it("is accepted on a kind with presence, with the socket id or a template as clientId", () => {
    expect(
      diagnosticsOf('{ room: "room:{id}", backend: ably, channel: "room:{id}", presence: true }'),
    ).toEqual([]);
    expect(
      diagnosticsOf(
        '{ room: "room:{id}", backend: ably, channel: "room:{id}", presence: { clientId: "{claims.sub}" } }',
      ),
    ).toEqual([]);
  });

  it("is refused where no backend of the route has presence, and when it reads event data", () => {
    expect(
      diagnosticsOf('{ room: "room:{id}", backend: pusher, channel: "room-{id}", presence: true }'),
    ).toEqual([
      "t.yaml:7:69 SWY_CFG_VALUE No backend of this route has presence: kind pusher has none (presence mirrors members on ably; remove presence)",
    ]);
    expect(
      diagnosticsOf(
        '{ room: "room:{id}", backend: ably, channel: "room:{id}", presence: { clientId: "{data.user}" } }',
      ),
    ).toEqual([
      "t.yaml:7:89 SWY_CFG_TEMPLATE The presence clientId reads {data.user}, which a member of the room has no value for (it can read {socket.id}, {claims.…}, {auth.…}, {nsp} and {room})",
    ]);
  });
});

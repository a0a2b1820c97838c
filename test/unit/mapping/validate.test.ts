// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold ${VAR} references on purpose.
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import type { Env } from "../../../src/mapping/load.js";
import { describePath } from "../../../src/mapping/reporter.js";

/** The formatted diagnostics of a YAML string named t.yaml. */
function diagnose(yaml: string, env: Env = {}): string[] {
  return loadConfigFromString(yaml, "t.yaml", env).diagnostics.map(formatDiagnostic);
}

/** A file whose only namespace holds `rules` (YAML lines indented under `events:`). */
function withRules(...rules: string[]): string {
  return ["namespaces:", "  /:", "    events:", ...rules.map((r) => `      ${r}`)].join("\n");
}

describe("validation: structure", () => {
  it("accepts a minimal file", () => {
    expect(diagnose("namespaces:\n  /: {}\n")).toEqual([]);
  });

  it("names unknown keys at the key, with a suggestion or the known keys", () => {
    const yaml = [
      "server:", //               1
      "  prot: 3000", //          2
      "  limits:", //             3
      "    maxRoomLenght: 9", //  4
      "  banana: 1", //           5
      "namespaces:", //           6
      "  /:", //                  7
      "    event: {}", //         8
    ].join("\n");
    expect(diagnose(yaml)).toEqual([
      "t.yaml:2:3 SWY_CFG_UNKNOWN_KEY Unknown key 'prot' (did you mean 'port'?)",
      "t.yaml:4:5 SWY_CFG_UNKNOWN_KEY Unknown key 'maxRoomLenght' (did you mean 'maxRoomLength'?)",
      "t.yaml:5:3 SWY_CFG_UNKNOWN_KEY Unknown key 'banana' (known keys: port, host, backlog, path, transports, allowEIO3, connectionStateRecovery, cors, cookie, heartbeat, connectTimeout, joinTimeout, upgradeTimeout, drainTimeout, limits)",
      "t.yaml:8:5 SWY_CFG_UNKNOWN_KEY Unknown key 'event' (did you mean 'events'?)",
    ]);
  });

  it("says which action a misplaced rule key belongs to", () => {
    const yaml = withRules(
      "join:",
      "  action: join",
      "  room: x",
      "  exceptSender: false", // 7
      "  allow: [x]",
    );
    expect(diagnose(yaml)).toEqual([
      "t.yaml:7:9 SWY_CFG_UNKNOWN_KEY Unknown key 'exceptSender' ('exceptSender' belongs to action broadcast)",
    ]);
  });

  it("reports missing keys at the mapping that lacks them", () => {
    expect(diagnose("server: {}\n")).toEqual([
      "t.yaml:1:1 SWY_CFG_REQUIRED Missing required key 'namespaces'",
    ]);
    const yaml = [
      "server:",
      "  cors: { credentials: true }",
      ...withRules("a:", "  action: leave", "b:", "  room: x").split("\n"),
    ].join("\n");
    expect(diagnose(yaml)).toEqual([
      "t.yaml:2:9 SWY_CFG_REQUIRED Missing required key 'origin' (in server.cors)",
      "t.yaml:6:7 SWY_CFG_REQUIRED Missing required key 'room' (in namespaces[\"/\"].events.a)",
      "t.yaml:8:7 SWY_CFG_REQUIRED Missing required key 'action' (in namespaces[\"/\"].events.b)",
    ]);
  });

  it("reports wrong types once, with what was found", () => {
    const yaml = [
      "server:",
      "  port: '3000'", //       2
      "  transports: websocket", // 3
      "  cors: true", //         4
      "  cookie: yes", //        5
      "  heartbeat: { interval: 1.5 }", // 6
      "log: info", //            7
      "namespaces:",
      "  /chat:", //             9
    ].join("\n");
    expect(diagnose(yaml)).toEqual(
      [
        "t.yaml:2:9 SWY_CFG_TYPE server.port must be an integer, got '3000'",
        "t.yaml:3:15 SWY_CFG_TYPE server.transports must be a list, got 'websocket'",
        "t.yaml:4:9 SWY_CFG_TYPE server.cors must be false or a mapping with an origin, got true",
        "t.yaml:5:11 SWY_CFG_TYPE server.cookie must be true, false or a mapping of cookie settings, got 'yes'",
        "t.yaml:6:26 SWY_CFG_TYPE server.heartbeat.interval must be an integer, got 1.5",
        "t.yaml:7:6 SWY_CFG_TYPE log must be a mapping, got 'info'",
        'namespaces["/chat"] must be a mapping (write {} for a namespace without events), got an empty value',
      ].map((line, i) => (i === 6 ? `t.yaml:9:3 SWY_CFG_TYPE ${line}` : line)),
    );
  });

  it("reports a file that is not a mapping", () => {
    expect(diagnose("- a\n- b\n")).toEqual([
      "t.yaml:1:1 SWY_CFG_TYPE The file must be a mapping with a namespaces key, got a list",
    ]);
    expect(diagnose("")).toEqual(["t.yaml:1:1 SWY_CFG_REQUIRED Missing required key 'namespaces'"]);
  });

  it("reports values out of range, off the list or of the wrong form", () => {
    const yaml = [
      "server:",
      "  port: 70000", //                        2
      "  path: '/socket io'", //                 3
      "  transports: [polling, websockets, polling]", // 4
      "  cors:",
      "    origin: [https://a.example.com/]", // 6
      "    methods: [get]", //                   7
      "  cookie: { sameSite: lax, name: '' }", // 8
      "  heartbeat: { timeout: 0 }", //          9
      "  connectTimeout: 3000000000", //        10
      "log: { level: verbose }", //             11
      "namespaces: {}", //                      12
    ].join("\n");
    expect(diagnose("server: { backlog: 0 }\nnamespaces: { /: {} }")).toEqual([
      "t.yaml:1:20 SWY_CFG_VALUE server.backlog must be at least 1, got 0",
    ]);
    expect(diagnose(yaml)).toEqual([
      "t.yaml:2:9 SWY_CFG_VALUE server.port must be at most 65535, got 70000",
      "t.yaml:3:9 SWY_CFG_VALUE server.path must be a URL path without '?', '#' or spaces, got '/socket io'",
      "t.yaml:4:25 SWY_CFG_VALUE server.transports[1] must be one of polling, websocket, got 'websockets' (did you mean 'websocket'?)",
      "t.yaml:4:37 SWY_CFG_VALUE server.transports lists 'polling' twice",
      "t.yaml:6:14 SWY_CFG_VALUE server.cors.origin[0] must be an origin such as https://app.example.com (no path), got 'https://a.example.com/'",
      "t.yaml:7:15 SWY_CFG_VALUE server.cors.methods[0] must be an HTTP method in upper case, such as GET, got 'get'",
      "t.yaml:8:23 SWY_CFG_VALUE server.cookie.sameSite must be one of Strict, Lax, None, got 'lax' (did you mean 'Lax'?)",
      "t.yaml:8:34 SWY_CFG_VALUE server.cookie.name must be a cookie name (letters, digits and !#$%&'*+.^_`|~-), got ''",
      "t.yaml:9:25 SWY_CFG_VALUE server.heartbeat.timeout must be at least 1, got 0",
      "t.yaml:10:19 SWY_CFG_VALUE server.connectTimeout must be at most 2147483647, got 3000000000",
      "t.yaml:11:15 SWY_CFG_VALUE log.level must be one of fatal, error, warn, info, debug, trace, silent, got 'verbose'",
      "t.yaml:12:13 SWY_CFG_VALUE namespaces must not be empty",
    ]);
  });

  it("checks namespace and event names", () => {
    const yaml = [
      "namespaces:",
      "  chat: {}", //          2
      "  '/a b': {}", //        3
      "  /ok:",
      "    events:",
      "      '':", //           6
      "        action: leave",
      "        room: x",
    ].join("\n");
    expect(diagnose(yaml)).toEqual([
      "t.yaml:2:3 SWY_CFG_VALUE Namespace name 'chat' must start with '/' and contain no spaces, ',', '?' or '#' (did you mean '/chat'?)",
      "t.yaml:3:3 SWY_CFG_VALUE Namespace name '/a b' must start with '/' and contain no spaces, ',', '?' or '#'",
      't.yaml:6:7 SWY_CFG_VALUE Event name in namespaces["/ok"].events must not be empty',
    ]);
  });

  it("accepts pingTimeout at or above pingInterval", () => {
    expect(
      diagnose("server:\n  heartbeat: { interval: 1000, timeout: 5000 }\nnamespaces: { /: {} }\n"),
    ).toEqual([]);
  });
});

describe("validation: semantics", () => {
  it("refuses reserved event names as rule events and as emitted events", () => {
    const yaml = withRules(
      "disconnect:", //  4
      "  action: leave",
      "  room: x",
      "newListener: { action: join, room: x, allow: [x] }", // 7
      "say:",
      "  action: broadcast",
      "  room: x",
      "  emit: connect", // 11
    );
    expect(diagnose(yaml)).toEqual([
      "t.yaml:4:7 SWY_CFG_RESERVED_EVENT Event name 'disconnect' is reserved by Socket.IO (clients cannot send it; pick another name)",
      "t.yaml:7:7 SWY_CFG_RESERVED_EVENT Event name 'newListener' is reserved by Socket.IO (clients cannot send it; pick another name)",
      "t.yaml:11:15 SWY_CFG_RESERVED_EVENT Event name 'connect' is reserved by Socket.IO (Socket.IO clients would not receive it as an event)",
    ]);
  });

  it("checks templates in room, args and ack, including nested ack values", () => {
    const yaml = withRules(
      "join:",
      "  action: join",
      '  room: "{data.rom.id}x{dat}"', // 6
      "  ack:",
      "    ok: true",
      '    nested: [{ who: "{socket.ip}" }]', // 9
      "  allow: ['room:{id}']",
      "say:",
      "  action: broadcast",
      '  room: "{data.room}"',
      '  args: ["{data}", { a: "{args.one}" }]', // 14
    );
    expect(diagnose(yaml)).toEqual([
      "t.yaml:6:15 SWY_CFG_TEMPLATE Unknown template variable '{dat}' (did you mean '{data}'?)",
      "t.yaml:9:27 SWY_CFG_TEMPLATE '{socket.ip}': socket has only 'id' ({socket.id})",
      "t.yaml:14:31 SWY_CFG_TEMPLATE '{args.one}': args takes an index first, such as {args.0} or {args.1.name}",
    ]);
  });

  it("allows {room} and {captures.NAME} only in ack", () => {
    const yaml = withRules(
      "say:",
      "  action: broadcast",
      '  room: "{room}"', // 6
      "  allow: ['room:{id}']",
      '  args: ["{captures.id}", "{captures}"]', // 8
      '  ack: { room: "{room}", id: "{captures.id}" }',
    );
    expect(diagnose(yaml)).toEqual([
      "t.yaml:6:15 SWY_CFG_TEMPLATE '{room}' is only known in ack, not in room",
      "t.yaml:8:16 SWY_CFG_TEMPLATE '{captures.id}' is only known in ack, not in args",
      "t.yaml:8:33 SWY_CFG_TEMPLATE '{captures}' is only known in ack, not in args",
    ]);
  });

  it("checks that an ack's captures come from the rule's allow patterns", () => {
    const yaml = withRules(
      "join:",
      "  action: join",
      "  room: '{data.room}'",
      "  allow: ['room:{id}', 'user:{uid}', lobby]",
      "  ack: { a: '{captures.idd}', b: '{captures.id}', c: '{captures}' }", // 8
      "leave:",
      "  action: leave",
      "  room: '{data.room}'",
      "  ack: { id: '{captures.id}' }", // 12
      "any:",
      "  action: join",
      "  room: '{data.room}'",
      "  allow: ['*']",
      "  ack: '{captures.x}'", // 17
    );
    expect(diagnose(yaml)).toEqual([
      "t.yaml:8:19 SWY_CFG_TEMPLATE '{captures.idd}' reads a capture no allow pattern of this rule has (did you mean '{captures.id}'?)",
      "t.yaml:8:40 SWY_CFG_TEMPLATE warning: '{captures.id}' reads a capture only some allow patterns have; it is empty for the others",
      "t.yaml:12:20 SWY_CFG_TEMPLATE '{captures.id}' reads a capture no allow pattern of this rule has (add a pattern such as 'room:{id}' to allow)",
      "t.yaml:17:14 SWY_CFG_TEMPLATE '{captures.x}' reads a capture no allow pattern of this rule has (add a pattern such as 'room:{x}' to allow)",
    ]);
  });

  it("checks room patterns and warns about literals no room can match", () => {
    const yaml = [
      "server: { limits: { maxRoomLength: 5 } }",
      ...withRules(
        "join:",
        "  action: join",
        "  room: '{data.room}'",
        "  allow: ['{a}{b}', 'x:{1}', 'ok:{id}', toolong, 'a:{id}:{id}']", // 8
      ).split("\n"),
    ].join("\n");
    expect(diagnose(yaml)).toEqual([
      "t.yaml:8:17 SWY_CFG_PATTERN Room pattern '{a}{b}': captures {a} and {b} need literal text between them",
      "t.yaml:8:27 SWY_CFG_PATTERN Room pattern 'x:{1}': capture name '{1}' is not an identifier (letters, digits and _, not first a digit)",
      "t.yaml:8:47 SWY_CFG_PATTERN warning: Room pattern 'toolong' is longer than maxRoomLength (5) (no room can match it)",
      "t.yaml:8:56 SWY_CFG_PATTERN Room pattern 'a:{id}:{id}': capture {id} appears twice",
    ]);
  });

  it("warns about credentials with origin '*' but still compiles", () => {
    const result = loadConfigFromString(
      "server:\n  cors: { origin: '*', credentials: true }\nnamespaces: { /: {} }\n",
      "t.yaml",
      {},
    );
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:2:37 SWY_CFG_VALUE warning: Browsers refuse credentials from a server that allows origin '*' (list the origins instead)",
    ]);
    expect(result.config).toBeDefined();
  });

  it("warns about a SameSite=None cookie that is not Secure, but still compiles", () => {
    const result = loadConfigFromString(
      "server:\n  cookie: { sameSite: None }\nnamespaces: { /: {} }\n",
      "t.yaml",
      {},
    );
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:2:23 SWY_CFG_VALUE warning: Browsers drop a SameSite=None cookie that is not Secure (set secure: true and serve HTTPS)",
    ]);
    expect(result.config).toBeDefined();
    expect(
      diagnose("server:\n  cookie: { sameSite: None, secure: true }\nnamespaces: { /: {} }"),
    ).toEqual([]);
  });

  it("refuses an admin port that is the server's port, and admin without a port", () => {
    expect(
      diagnose("server: { port: 8080 }\nadmin: { port: 8080 }\nnamespaces: { /: {} }"),
    ).toEqual([
      "t.yaml:2:16 SWY_CFG_VALUE admin.port is server.port (8080): the admin listener needs a port of its own",
    ]);
    expect(diagnose("admin: { port: 3000 }\nnamespaces: { /: {} }")).toEqual([
      "t.yaml:1:16 SWY_CFG_VALUE admin.port is server.port (3000): the admin listener needs a port of its own",
    ]);
    expect(diagnose("admin: { host: 127.0.0.1 }\nnamespaces: { /: {} }")).toEqual([
      "t.yaml:1:8 SWY_CFG_REQUIRED Missing required key 'port' (in admin)",
    ]);
    expect(diagnose("server: { port: 0 }\nadmin: { port: 0 }\nnamespaces: { /: {} }")).toEqual([]);
  });

  it("skips the semantic checks of a rule whose action is unknown", () => {
    const yaml = withRules("x:", "  action: jion", "  room: '{nope}'");
    expect(diagnose(yaml)).toEqual([
      "t.yaml:5:17 SWY_CFG_VALUE namespaces[\"/\"].events.x.action must be one of join, leave, broadcast, forward, got 'jion' (did you mean 'join'?)",
    ]);
  });
});

describe("validation: reporting", () => {
  it("reports every problem at once, sorted by position", () => {
    const yaml = [
      "log: { level: loud }", // 1
      "server:",
      "  hots: x", // 3
      ...withRules("connect: { action: join, room: '{x}', allow: [x] }").split("\n"), // 7
    ].join("\n");
    const lines = diagnose(yaml);
    expect(lines.map((l) => l.split(" ")[0])).toEqual([
      "t.yaml:1:15",
      "t.yaml:3:3",
      "t.yaml:7:7",
      "t.yaml:7:38",
    ]);
  });

  it("reports an unset variable once, not again as a wrong type", () => {
    expect(diagnose("server:\n  port: ${PORT}\nnamespaces: { /: {} }\n")).toEqual([
      "t.yaml:2:9 SWY_CFG_ENV Environment variable PORT is not set (set it, or write ${PORT:-default})",
    ]);
  });

  it("never prints a value that came from the environment", () => {
    const secret = "hunter2";
    const env = { S: secret, T: `{${secret}`, U: `${secret}:*`, P: "a b" };
    const yaml = [
      "server:",
      "  port: ${S}",
      "  path: ${P}",
      "  transports: ['${S}', '${S}']",
      "  cookie: { sameSite: '${S}' }",
      "log: { level: '${S}' }",
      ...withRules(
        "join:",
        "  action: join",
        "  room: '${T}'",
        "  allow: ['${U}', 'room:${T}']",
        "  ack: 'x{${S}}'",
      ).split("\n"),
    ].join("\n");
    const lines = diagnose(yaml, env);
    expect(lines).toEqual([
      "t.yaml:2:9 SWY_CFG_TYPE server.port must be an integer, got the value of ${S}",
      "t.yaml:3:9 SWY_CFG_VALUE server.path must be a URL path without '?', '#' or spaces, got the value of ${P}",
      "t.yaml:4:16 SWY_CFG_VALUE server.transports[0] must be one of polling, websocket, got the value of ${S}",
      "t.yaml:4:24 SWY_CFG_VALUE server.transports lists the value of ${S} twice",
      "t.yaml:4:24 SWY_CFG_VALUE server.transports[1] must be one of polling, websocket, got the value of ${S}",
      "t.yaml:5:23 SWY_CFG_VALUE server.cookie.sameSite must be one of Strict, Lax, None, got the value of ${S}",
      "t.yaml:6:15 SWY_CFG_VALUE log.level must be one of fatal, error, warn, info, debug, trace, silent, got the value of ${S}",
      "t.yaml:12:15 SWY_CFG_TEMPLATE The value of ${T} is not a valid template: unclosed '{'",
      "t.yaml:13:17 SWY_CFG_PATTERN The value of ${U} is not a valid room pattern: '*' in a pattern",
      "t.yaml:13:25 SWY_CFG_PATTERN The value of ${T} is not a valid room pattern: unclosed '{'",
      "t.yaml:14:14 SWY_CFG_TEMPLATE The value of ${S} is not a valid template: unknown variable",
    ]);
    for (const line of lines) expect(line).not.toContain(secret);
  });

  it("prints paths the way YAML readers spell them", () => {
    expect(describePath([])).toBe("the file");
    expect(describePath(["server", "cors", "origin", 0])).toBe("server.cors.origin[0]");
    expect(describePath(["namespaces", "/chat", "events", "my-event"])).toBe(
      'namespaces["/chat"].events.my-event',
    );
    expect(describePath(["namespaces", "/", "events", "a b"])).toBe(
      'namespaces["/"].events["a b"]',
    );
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { describe, expect, it } from "vitest";
import type { ChannelNaming } from "../../../src/egress/channel-naming.js";
import { NativeBackend } from "../../../src/egress/native/native-backend.js";
import { nativeFactory } from "../../../src/egress/native/native-factory.js";
import { BackendRegistry, roomChannel } from "../../../src/egress/registry.js";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import { rolloutBucket } from "../../../src/mapping/route-table.js";
import type { SwitchyardConfig } from "../../../src/mapping/types.js";

/** Pusher's rules, as a kind of this test's own: the mapping learns them from the registry. */
const BUS_NAMING: ChannelNaming = {
  maxLength: 40,
  allowedText: "A-Z a-z 0-9 _ - = @ , . ;",
  escapeChar: "=",
  isAllowed: (char) => /^[A-Za-z0-9_\-=@,.;]$/.test(char),
};

const KINDS = new BackendRegistry().register(nativeFactory).register({
  kind: "bus",
  settingsSchema: {
    type: "object",
    additionalProperties: false,
    required: ["url"],
    properties: { url: { description: "Where the bus is.", type: "string" } },
  },
  channelNaming: BUS_NAMING,
  create: (name) => new NativeBackend(name),
});

const BACKENDS = ["backends:", "  bus: { kind: bus, settings: { url: ws://bus } }"];

function load(lines: readonly string[]) {
  return loadConfigFromString(lines.join("\n"), "t.yaml", {}, KINDS);
}

function compile(lines: readonly string[]): SwitchyardConfig {
  const { config, diagnostics } = load(lines);
  const errors = diagnostics.filter((d) => d.severity === "error");
  expect(errors.map(formatDiagnostic)).toEqual([]);
  return config!;
}

function diagnose(lines: readonly string[]): string[] {
  return load(lines).diagnostics.map(formatDiagnostic);
}

function routesOf(lines: readonly string[], nsp = "/") {
  return compile(lines).namespaces.get(nsp)!.routes;
}

describe("routes: which backend and channel carry a room", () => {
  it("puts rooms no route matches on the native backend, by their own names", () => {
    const config = compile(["namespaces:", "  /chat: {}"]);
    expect([...config.backends.keys()]).toEqual(["native"]);
    expect(config.namespaces.get("/chat")!.routes.resolve("room:1")).toMatchObject({
      ok: true,
      backend: "native",
      channel: roomChannel("/chat", "room:1"),
    });
  });

  it("prefers the exact room, then the pattern with the most literal text, then *", () => {
    const routes = routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "*", backend: bus, channel: "all-{room}" }',
      '      - { room: "room:{id}", backend: bus, channel: "room-{id}" }',
      '      - { room: "room:vip-{id}", backend: bus, channel: "vip-{id}" }',
      '      - { room: "room:vip-0", backend: native }',
    ]);
    expect(routes.resolve("room:vip-0")).toMatchObject({ backend: "native" });
    expect(routes.resolve("room:vip-7")).toMatchObject({ backend: "bus", channel: "vip-7" });
    expect(routes.resolve("room:7")).toMatchObject({ backend: "bus", channel: "room-7" });
    expect(routes.resolve("lobby")).toMatchObject({ backend: "bus", channel: "all-lobby" });
  });

  it("takes the route written first when two patterns have as much literal text", () => {
    const routes = routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "{a}:x", backend: bus, channel: "first-{a}" }',
      '      - { room: "x:{b}", backend: bus, channel: "second-{b}" }',
    ]);
    expect(routes.resolve("x:x")).toMatchObject({ channel: "first-x" });
    expect(routes.resolve("x:y")).toMatchObject({ channel: "second-y" });
  });

  it("escapes every character of referenced text but letters and digits, so distinct rooms keep distinct channels", () => {
    const routes = routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "dm:{pair}", backend: bus, channel: "private-dm-{pair}" }',
      '      - { room: "room:{id}", backend: bus, channel: "private-room-{id}" }',
      '      - { room: "staff:{id}", backend: bus, channel: "private-room-{id}-staff" }',
      '      - { room: "*", backend: bus, channel: "{nsp}{room}" }',
    ]);
    expect(routes.resolve("dm:ann+bob")).toMatchObject({ channel: "private-dm-ann=2Bbob" });
    expect(routes.resolve("dm:ann=2Bbob")).toMatchObject({ channel: "private-dm-ann=3D2Bbob" });
    expect(routes.resolve("dm:zoë")).toMatchObject({ channel: "private-dm-zo=C3=AB" });
    expect(routes.resolve("dm:ann_bob.x")).toMatchObject({ channel: "private-dm-ann=5Fbob=2Ex" });
    expect(routes.resolve("room:42-staff")).toMatchObject({ channel: "private-room-42=2Dstaff" });
    expect(routes.resolve("staff:42")).toMatchObject({ channel: "private-room-42-staff" });
    expect(routes.resolve("a b")).toMatchObject({ channel: "=2Fa=20b" });
  });

  it("answers a room whose escaped channel is too long with the lengths, not a channel", () => {
    const routes = routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "room:{id}", backend: bus, channel: "room-{id}" }',
    ]);
    expect(routes.resolve(`room:${"x".repeat(35)}`)).toMatchObject({ ok: true });
    expect(routes.resolve(`room:${"x".repeat(36)}`)).toEqual({
      ok: false,
      backend: "bus",
      length: 41,
      maxLength: 40,
    });
  });

  it("carries the route's renames with every room it places", () => {
    const routes = routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "room:{id}", backend: bus, channel: "room-{id}", rename: { client-message: message } }',
    ]);
    const placed = routes.resolve("room:1");
    expect(placed.ok && [...placed.rename]).toEqual([["client-message", "message"]]);
  });

  it("keeps namespaces apart: the same room name routes by its own namespace's table", () => {
    const config = compile([
      ...BACKENDS,
      "namespaces:",
      "  /a:",
      '    routes: [{ room: "lobby", backend: bus, channel: "a-lobby" }]',
      "  /b: {}",
    ]);
    expect(config.namespaces.get("/a")!.routes.resolve("lobby")).toMatchObject({
      backend: "bus",
      channel: "a-lobby",
    });
    expect(config.namespaces.get("/b")!.routes.resolve("lobby")).toMatchObject({
      backend: "native",
    });
  });
});

describe("rollout: a share of a route's rooms on another backend", () => {
  const withPercent = (percent: number) =>
    routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      "      - room: room:{id}",
      "        backend: native",
      `        rollout: { backend: bus, channel: "room-{id}", percent: ${percent} }`,
    ]);
  const rooms = Array.from({ length: 10_000 }, (_, i) => `room:${i}`);
  const moved = (percent: number) => {
    const routes = withPercent(percent);
    return new Set(rooms.filter((room) => routes.resolve(room).backend === "bus"));
  };

  it("hashes room names with FNV-1a into 10000 buckets, the same on every node", () => {
    // FNV-1a 32-bit test vectors: "" → 0x811c9dc5, "a" → 0xe40c292c, "foobar" → 0xbf9cf968.
    expect(rolloutBucket("")).toBe(0x811c9dc5 % 10_000);
    expect(rolloutBucket("a")).toBe(0xe40c292c % 10_000);
    expect(rolloutBucket("foobar")).toBe(0xbf9cf968 % 10_000);
  });

  it("moves about the given share of rooms, and raising it only adds rooms", () => {
    const at10 = moved(10);
    const at30 = moved(30);
    expect(at10.size).toBeGreaterThan(900);
    expect(at10.size).toBeLessThan(1_100);
    expect(at30.size).toBeGreaterThan(2_850);
    expect(at30.size).toBeLessThan(3_150);
    expect([...at10].filter((room) => !at30.has(room))).toEqual([]);
    expect(moved(0).size).toBe(0);
    expect(moved(100).size).toBe(rooms.length);
  });
});

describe("shadow: a second target a route's rooms are also written to", () => {
  const table = (shadow: string, rollout = "") =>
    routesOf([
      ...BACKENDS,
      "  archive: { kind: native }",
      "namespaces:",
      "  /:",
      "    routes:",
      "      - room: room:{id}",
      "        backend: native",
      `        shadow: ${shadow}`,
      ...(rollout === "" ? [] : [`        rollout: ${rollout}`]),
    ]);
  const rooms = Array.from({ length: 10_000 }, (_, i) => `room:${i}`);

  it("binds a shadowed room to its shadow's backend and channel, the route named once", () => {
    const routes = table('{ backend: bus, channel: "shadow-{id}", window: 2000 }');
    const binding = routes.resolve("room:42");
    expect(binding).toMatchObject({
      ok: true,
      backend: "native",
      channel: roomChannel("/", "room:42"),
      shadow: { backend: "bus", channel: "shadow-42" },
    });
    const route = binding.ok ? binding.shadow?.route : undefined;
    expect(route).toMatchObject({
      id: "/ room:{id}",
      namespace: "/",
      room: "room:{id}",
      primary: "native",
      shadow: "bus",
      role: "route",
      window: 2000,
    });
    expect(route?.verdict.minMessages).toBe(1000);
    expect(routes.shadows).toEqual([route]);
    // Every room of the route shares the one description.
    const other = routes.resolve("room:7");
    expect(other.ok && other.shadow?.route).toBe(route);
  });

  it("shadows the rooms a rollout of the same percent would move", () => {
    const shadowed = table("{ backend: archive, percent: 10 }");
    const moved = routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "room:{id}", backend: native, rollout: { backend: bus, channel: "r-{id}", percent: 10 } }',
    ]);
    for (const room of rooms) {
      const binding = shadowed.resolve(room);
      expect(binding.ok && binding.shadow !== undefined).toBe(
        moved.resolve(room).backend === "bus",
      );
    }
  });

  it("gives a rollout's rooms the rollout's shadow, the route's others the route's", () => {
    const routes = table(
      "{ backend: archive }",
      '{ backend: bus, channel: "r-{id}", percent: 50, shadow: { backend: archive } }',
    );
    const roles = new Set<string>();
    for (const room of rooms.slice(0, 200)) {
      const binding = routes.resolve(room);
      if (!binding.ok || binding.shadow === undefined) throw new Error(`${room} not shadowed`);
      roles.add(`${binding.backend} ${binding.shadow.route.role} ${binding.shadow.route.primary}`);
    }
    expect([...roles].sort()).toEqual(["bus rollout bus", "native route native"]);
    expect(routes.shadows.map((route) => route.id)).toEqual([
      "/ room:{id}",
      "/ room:{id} (rollout)",
    ]);
  });

  it("leaves a room unshadowed when the shadow cannot name its channel", () => {
    const routes = table('{ backend: bus, channel: "s-{id}" }');
    const long = `room:${"x".repeat(60)}`;
    const binding = routes.resolve(long);
    expect(binding).toMatchObject({ ok: true, backend: "native" });
    expect(binding.ok && binding.shadow).toBeUndefined();
  });
});

describe("routes and backends: diagnostics", () => {
  it("names an unknown backend, with the one it probably meant", () => {
    expect(
      diagnose([
        ...BACKENDS,
        "namespaces:",
        "  /:",
        "    routes:",
        '      - { room: "a", backend: buss, channel: "a" }',
        '      - { room: "b", backend: nope, channel: "b" }',
      ]),
    ).toEqual([
      "t.yaml:6:31 SWY_CFG_REF Unknown backend 'buss' (did you mean 'bus'?)",
      "t.yaml:7:31 SWY_CFG_REF Unknown backend 'nope' (backends: native, bus)",
    ]);
  });

  it("lists the known kinds for an unknown kind and checks settings with the kind's schema", () => {
    expect(
      diagnose([
        "backends:",
        "  a: { kind: buss }",
        "  b: { kind: bus, settings: { url: 5, extra: 1 } }",
        "  native: { kind: bus, settings: { url: x } }",
        "namespaces: { /: {} }",
      ]),
    ).toEqual([
      "t.yaml:2:14 SWY_CFG_VALUE backends.a.kind must be one of bus, native, got 'buss' (did you mean 'bus'?)",
      "t.yaml:3:36 SWY_CFG_TYPE backends.b.settings.url must be a string, got 5",
      "t.yaml:3:39 SWY_CFG_UNKNOWN_KEY Unknown key 'extra' (known keys: url)",
      "t.yaml:4:19 SWY_CFG_VALUE The backend named native must be of kind native (rooms no route matches live on it; give this backend another name)",
    ]);
  });

  it("asks for a channel on kinds that name channels, and refuses one on native", () => {
    expect(
      diagnose([
        ...BACKENDS,
        "namespaces:",
        "  /:",
        "    routes:",
        '      - { room: "a", backend: bus }',
        '      - { room: "b", backend: native, channel: "b" }',
      ]),
    ).toEqual([
      `t.yaml:6:9 SWY_CFG_REQUIRED Missing required key 'channel' (backend 'bus' is of kind bus, which names channels: e.g. channel: "room-{room}")`,
      "t.yaml:7:39 SWY_CFG_CHANNEL Backend 'native' is of kind native, which carries rooms by their own names (remove channel)",
    ]);
  });

  it("checks channel templates: captured names, allowed characters and length", () => {
    expect(
      diagnose([
        ...BACKENDS,
        "namespaces:",
        "  /:",
        "    routes:",
        '      - { room: "room:{id}", backend: bus, channel: "room-{di}" }',
        '      - { room: "dm:{a}", backend: bus, channel: "dm:{a}/x" }',
        `      - { room: "x:{a}", backend: bus, channel: "${"x".repeat(41)}{a}" }`,
        '      - { room: "y:{a}", backend: bus, channel: "y-{a" }',
      ]),
    ).toEqual([
      "t.yaml:6:53 SWY_CFG_TEMPLATE Channel template 'room-{di}' reads {di}, which room pattern 'room:{id}' does not capture (did you mean '{id}'?)",
      `t.yaml:7:50 SWY_CFG_CHANNEL Channel template 'dm:{a}/x' holds ":", "/", which bus channel names cannot (allowed: A-Z a-z 0-9 _ - = @ , . ;; text a {capture} brings in is escaped, literal text is not)`,
      `t.yaml:8:49 SWY_CFG_CHANNEL Channel template '${"x".repeat(41)}{a}' is longer than the 40 characters bus channel names allow`,
      "t.yaml:9:49 SWY_CFG_TEMPLATE Channel template 'y-{a': unclosed '{' (write '{{' for a literal '{')",
    ]);
  });

  it("flags routes no room can take and rollouts that move nothing or everything", () => {
    expect(
      diagnose([
        ...BACKENDS,
        "namespaces:",
        "  /:",
        "    routes:",
        '      - { room: "room:{id}", backend: native }',
        '      - { room: "room:{n}", backend: bus, channel: "r-{n}" }',
        '      - { room: "*", backend: native }',
        '      - { room: "*", backend: native }',
        '      - { room: "a", backend: native, rollout: { backend: bus, channel: "a", percent: 0 } }',
        '      - { room: "b", backend: native, rollout: { backend: native, percent: 100 } }',
        '      - { room: "c", backend: native, rollout: { backend: bus, channel: "c", percent: 101 } }',
      ]),
    ).toEqual([
      "t.yaml:7:17 SWY_CFG_UNREACHABLE No room can take this route: the route at line 6 has the same room pattern and comes first (remove one of them, or merge their rollouts)",
      "t.yaml:9:17 SWY_CFG_UNREACHABLE No room can take this route: the route at line 8 has the same room pattern and comes first (remove one of them, or merge their rollouts)",
      "t.yaml:10:87 SWY_CFG_UNREACHABLE warning: A rollout of 0 % moves no room to bus; every room stays on native (fine for a moment of a migration; remove the rollout once it is over)",
      "t.yaml:11:59 SWY_CFG_UNREACHABLE warning: The rollout moves rooms to the backend and channel they already have",
      "t.yaml:11:76 SWY_CFG_UNREACHABLE warning: A rollout of 100 % moves every room to native; no room stays on native (fine for a moment of a migration; remove the rollout once it is over)",
      't.yaml:12:87 SWY_CFG_VALUE namespaces["/"].routes[6].rollout.percent must be at most 100, got 101',
    ]);
  });

  it("refuses a rename to an event name Socket.IO reserves", () => {
    expect(
      diagnose([
        "namespaces:",
        "  /:",
        '    routes: [{ room: "a", backend: native, rename: { hello: disconnect } }]',
      ]),
    ).toEqual([
      "t.yaml:3:61 SWY_CFG_RESERVED_EVENT Event name 'disconnect' is reserved by Socket.IO (Socket.IO clients would not receive it as an event)",
    ]);
  });
});

describe("allow lists: patterns that can never be the one a room matches", () => {
  it("warns about a pattern after '*' and a pattern repeated with other capture names", () => {
    expect(
      diagnose([
        "namespaces:",
        "  /:",
        "    events:",
        '      a: { action: join, room: "{data.room}", allow: ["room:{id}", "room:{n}", "*", "lobby"] }',
      ]),
    ).toEqual([
      "t.yaml:4:68 SWY_CFG_UNREACHABLE warning: Room pattern 'room:{n}' allows only rooms an earlier pattern of this list allows (its captures are never read; remove it)",
      "t.yaml:4:85 SWY_CFG_UNREACHABLE warning: Room pattern 'lobby' comes after '*', which already allows every room (its captures are never read; remove it)",
    ]);
  });
});

describe("channel names: one channel per room across the whole file", () => {
  const PUSHER = [
    "backends:",
    '  pusher: { kind: pusher, settings: { appId: "1", key: k, secret: "${PUSHER_SECRET}" } }',
    "namespaces:",
  ];
  const ENV = { PUSHER_SECRET: "pusher-secret-0123456789abcdef", CHANNEL: "room-{id}" };
  const diagnosePusher = (lines: readonly string[]) =>
    loadConfigFromString([...PUSHER, ...lines].join("\n"), "t.yaml", ENV).diagnostics.map(
      formatDiagnostic,
    );

  it("refuses two routes of one backend whose channels can meet, naming the other route's line", () => {
    expect(
      diagnosePusher([
        "  /:",
        "    routes:",
        '      - { room: "room:{id}", backend: pusher, channel: "private-room-{id}" }',
        '      - { room: "staff:{id}", backend: pusher, channel: "private-room-{id}-staff" }',
        '      - { room: "vip:{id}", backend: pusher, channel: "private-room-vip{id}" }',
      ]),
    ).toEqual([
      "t.yaml:8:55 SWY_CFG_CHANNEL Channel template 'private-room-vip{id}' can produce the same channel as the route at line 6, such as 'private-room-vipx' (two rooms would share a channel on backend 'pusher': make the literal text of one tell them apart)",
    ]);
  });

  it("compares routes of every namespace, and {nsp} tells namespaces apart", () => {
    expect(
      diagnosePusher([
        "  /a:",
        '    routes: [{ room: "room:{id}", backend: pusher, channel: "room-{id}" }]',
        "  /b:",
        '    routes: [{ room: "room:{id}", backend: pusher, channel: "room-{id}" }]',
        "  /c:",
        '    routes: [{ room: "room:{id}", backend: pusher, channel: "{nsp}-room-{id}" }]',
        "  /d:",
        '    routes: [{ room: "room:{id}", backend: pusher, channel: "{nsp}-room-{id}" }]',
      ]),
    ).toEqual([
      "t.yaml:7:61 SWY_CFG_CHANNEL Channel template 'room-{id}' can produce the same channel as the route at line 5, such as 'room-x' (two rooms would share a channel on backend 'pusher': make the literal text of one tell them apart)",
    ]);
  });

  it("counts rollout targets, but a route's own target and rollout may share a template", () => {
    expect(
      diagnosePusher([
        "  /:",
        "    routes:",
        "      - room: room:{id}",
        "        backend: native",
        '        rollout: { backend: pusher, channel: "room-{id}", percent: 10 }',
        '      - { room: "chat:{id}", backend: pusher, channel: "room-{id}" }',
        '      - { room: "dm:{id}", backend: pusher, channel: "dm-{id}", rollout: { backend: pusher, channel: "dm-{id}", percent: 5 } }',
      ]),
    ).toEqual([
      "t.yaml:9:56 SWY_CFG_CHANNEL Channel template 'room-{id}' can produce the same channel as the rollout at line 8, such as 'room-x' (two rooms would share a channel on backend 'pusher': make the literal text of one tell them apart)",
      "t.yaml:10:85 SWY_CFG_UNREACHABLE warning: The rollout moves rooms to the backend and channel they already have",
    ]);
  });

  it("does not quote a template from the environment, nor a channel it gives", () => {
    expect(
      diagnosePusher([
        "  /:",
        "    routes:",
        '      - { room: "room:{id}", backend: pusher, channel: "room-{id}" }',
        '      - { room: "chat:{id}", backend: pusher, channel: "${CHANNEL}" }',
      ]),
    ).toEqual([
      "t.yaml:7:56 SWY_CFG_CHANNEL The value of ${CHANNEL} can produce the same channel as the route at line 6 (two rooms would share a channel on backend 'pusher': make the literal text of one tell them apart)",
    ]);
  });

  it("keeps the reserved prefixes for literal text: a template cannot begin with a room's text", () => {
    expect(
      diagnosePusher([
        "  /:",
        "    routes:",
        '      - { room: "*", backend: pusher, channel: "{room}" }',
        '      - { room: "a:{id}", backend: pusher, channel: "pr{id}-a" }',
        '      - { room: "b:{id}", backend: pusher, channel: "{nsp}-b-{id}" }',
        '      - { room: "c:{id}", backend: pusher, channel: "presence-c-{id}" }',
      ]),
    ).toEqual([
      "t.yaml:6:48 SWY_CFG_CHANNEL Channel template '{room}' begins with {room}, so a room could choose the channel's prefix (pusher reserves 'private-', 'presence-', 'private-encrypted-') (begin the template with literal text, such as 'room-{room}')",
      "t.yaml:7:53 SWY_CFG_CHANNEL Channel template 'pr{id}-a' gives a channel starting with 'private-' for some rooms, a prefix pusher reserves for the file's literal text to choose (end the literal text before the first reference with '-')",
    ]);
  });

  it("refuses references a room could split two ways, and allows one route to merge rooms on purpose", () => {
    expect(
      diagnosePusher([
        "  /:",
        "    routes:",
        '      - { room: "dm:{a}:{b}", backend: pusher, channel: "dm-{a}x{b}" }',
        '      - { room: "pm:{a}:{b}", backend: pusher, channel: "pm-{a}-{b}" }',
        '      - { room: "team:{t}:{user}", backend: pusher, channel: "team-{t}" }',
      ]),
    ).toEqual([
      "t.yaml:6:57 SWY_CFG_CHANNEL Channel template 'dm-{a}x{b}' reads {a} and {b} with nothing between them that escaped text cannot hold, so two rooms could share a channel (put a character other than letters, digits and '=' between them, such as '-')",
    ]);
  });
});

describe("the routes as written: what the migration console lists", () => {
  const table = () =>
    routesOf([
      ...BACKENDS,
      "namespaces:",
      "  /:",
      "    routes:",
      '      - { room: "lobby", backend: bus, channel: "lobby" }',
      "      - room: room:{id}",
      "        backend: native",
      '        rollout: { backend: bus, channel: "room-{id}", percent: 30, shadow: { backend: native } }',
      '        shadow: { backend: bus, channel: "shadow-{id}", percent: 5 }',
    ]);

  it("keeps each route's targets in file order, with the shadows' default share", () => {
    expect(table().rules).toEqual([
      { room: "lobby", backend: "bus", channel: "lobby" },
      {
        room: "room:{id}",
        backend: "native",
        rollout: {
          backend: "bus",
          channel: "room-{id}",
          percent: 30,
          shadow: { backend: "native", percent: 100 },
        },
        shadow: { backend: "bus", channel: "shadow-{id}", percent: 5 },
      },
    ]);
  });

  it("names the route that places a room, and whether its rollout moved it", () => {
    const routes = table();
    expect(routes.ruleOf("nowhere")).toBeUndefined();
    expect(routes.ruleOf("lobby")).toEqual({ rule: routes.rules[0], isRollout: false });
    for (const room of Array.from({ length: 200 }, (_, i) => `room:${i}`)) {
      const found = routes.ruleOf(room)!;
      expect(found.rule).toBe(routes.rules[1]);
      expect(found.isRollout, room).toBe(routes.resolve(room).backend === "bus");
    }
  });
});

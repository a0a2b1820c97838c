// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold ${VAR} references on purpose.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig, loadConfigFromString } from "../../../src/mapping/compile.js";
import { normalisePath } from "../../../src/mapping/schema.js";
import type {
  BroadcastRule,
  CorsConfig,
  JoinRule,
  LeaveRule,
  SwitchyardConfig,
  TemplateContext,
} from "../../../src/mapping/types.js";

function compile(yaml: string, env: Record<string, string> = {}): SwitchyardConfig {
  const result = loadConfigFromString(yaml, "t.yaml", env);
  expect(result.diagnostics).toEqual([]);
  return result.config!;
}

const ctx = (data: unknown, extra: Partial<TemplateContext> = {}): TemplateContext => ({
  args: [data],
  auth: {},
  socketId: "sid",
  nsp: "/",
  ...extra,
});

describe("compileConfig", () => {
  it("applies every default to a minimal file", () => {
    const config = compile("namespaces:\n  /: {}\n");
    expect(config.source).toBe("t.yaml");
    expect(config.server).toEqual({
      port: 3000,
      host: "0.0.0.0",
      backlog: 511,
      path: "/socket.io/",
      transports: ["polling", "websocket"],
      allowEIO3: false,
      cors: false,
      cookie: false,
      pingInterval: 25000,
      pingTimeout: 20000,
      connectTimeout: 45000,
      joinTimeout: 10000,
      upgradeTimeout: 10000,
      drainTimeout: 10000,
      maxHttpBufferSize: 1000000,
      maxAttachments: 10,
      maxQueuedBytes: 1048576,
      maxRoomLength: 256,
      maxDepth: 32,
      maxRoomsPerSocket: 1000,
      eventsPerSecond: 100,
      eventBurst: 200,
      maxPublishesPerSocket: 64,
      maxForwardsPerSocket: 4,
      maxForwards: 256,
      maxShadowPending: 100_000,
      maxShadowWrites: 10_000,
      maxConsoleStreams: 16,
    });
    expect(config.log).toEqual({ level: "info" });
    expect([...config.namespaces.keys()]).toEqual(["/"]);
    expect(config.namespaces.get("/")!.name).toBe("/");
    expect(config.namespaces.get("/")!.events.size).toBe(0);
  });

  it("maps every server key", () => {
    const config = compile(
      [
        "server:",
        "  port: 8080",
        "  host: 127.0.0.1",
        "  backlog: 4096",
        "  path: ws",
        "  transports: [websocket]",
        "  allowEIO3: true",
        "  cors:",
        "    origin: [https://a.example.com, 'http://localhost:5173']",
        "    credentials: true",
        "    methods: [GET]",
        "    allowedHeaders: [authorization]",
        "    maxAge: 60",
        "  cookie: { name: sid, sameSite: Strict }",
        "  heartbeat: { interval: 1000, timeout: 5000 }",
        "  connectTimeout: 1",
        "  joinTimeout: 7",
        "  upgradeTimeout: 2",
        "  drainTimeout: 4",
        "  limits:",
        "    { maxHttpBufferSize: 3, maxAttachments: 0, maxQueuedBytes: 5, maxRoomLength: 6,",
        "      maxDepth: 7, maxRoomsPerSocket: 8, eventsPerSecond: 0.5, eventBurst: 9,",
        "      maxPublishesPerSocket: 10, maxForwardsPerSocket: 11, maxForwards: 12,",
        "      maxShadowPending: 13, maxShadowWrites: 14, maxConsoleStreams: 15 }",
        "log: { level: silent }",
        "namespaces: { /: {} }",
      ].join("\n"),
    );
    expect(config.server).toEqual({
      port: 8080,
      host: "127.0.0.1",
      backlog: 4096,
      path: "/ws/",
      transports: ["websocket"],
      allowEIO3: true,
      cors: {
        origin: ["https://a.example.com", "http://localhost:5173"],
        credentials: true,
        methods: ["GET"],
        allowedHeaders: ["authorization"],
        maxAge: 60,
      },
      cookie: { name: "sid", path: "/", httpOnly: true, secure: false, sameSite: "Strict" },
      pingInterval: 1000,
      pingTimeout: 5000,
      connectTimeout: 1,
      joinTimeout: 7,
      upgradeTimeout: 2,
      drainTimeout: 4,
      maxHttpBufferSize: 3,
      maxAttachments: 0,
      maxQueuedBytes: 5,
      maxRoomLength: 6,
      maxDepth: 7,
      maxRoomsPerSocket: 8,
      eventsPerSecond: 0.5,
      eventBurst: 9,
      maxPublishesPerSocket: 10,
      maxForwardsPerSocket: 11,
      maxForwards: 12,
      maxShadowPending: 13,
      maxShadowWrites: 14,
      maxConsoleStreams: 15,
    });
    expect(config.log.level).toBe("silent");
  });

  it("reads the short forms of cors and cookie", () => {
    const any = compile("server: { cors: { origin: '*' }, cookie: true }\nnamespaces: { /: {} }");
    expect(any.server.cors).toEqual({
      origin: "*",
      credentials: false,
      methods: ["GET", "POST"],
      allowedHeaders: [],
      maxAge: 600,
    });
    expect(any.server.cookie).toEqual({
      name: "io",
      path: "/",
      httpOnly: true,
      secure: false,
      sameSite: "Lax",
    });
    const one = compile("server: { cors: { origin: 'https://x.example' } }\nnamespaces: { /: {} }");
    expect(one.server.cors).toMatchObject({ origin: ["https://x.example"] });
  });

  it("reads cookie.secure", () => {
    const config = compile("server: { cookie: { secure: true } }\nnamespaces: { /: {} }");
    expect(config.server.cookie).toMatchObject({ secure: true });
  });

  it("has no admin listener by default, and reads admin with host 127.0.0.1 by default", () => {
    expect(compile("namespaces: { /: {} }").admin).toBeUndefined();
    expect(compile("admin: { port: 9100 }\nnamespaces: { /: {} }").admin).toEqual({
      host: "127.0.0.1",
      port: 9100,
    });
    const config = compile("admin: { host: 10.0.0.5, port: 0 }\nnamespaces: { /: {} }");
    expect(config.admin).toEqual({ host: "10.0.0.5", port: 0 });
  });

  it("normalises the endpoint path to a leading and a trailing slash", () => {
    expect(normalisePath("socket.io")).toBe("/socket.io/");
    expect(normalisePath("/socket.io")).toBe("/socket.io/");
    expect(normalisePath("socket.io/")).toBe("/socket.io/");
    expect(normalisePath("/")).toBe("/");
  });

  it("compiles rules with their defaults and where they were written", () => {
    const config = compile(
      [
        "namespaces:",
        "  /chat:",
        "    events:",
        "      join:",
        "        action: join",
        "        room: 'room:{data.id}'",
        "        allow: ['room:{id}', 'vip:{id}']",
        "        ack: { ok: true, room: '{room}', id: '{captures.id}' }",
        "      leave: { action: leave, room: '{data.room}' }",
        "      say:",
        "        action: broadcast",
        "        room: '{data.room}'",
        "      shout:",
        "        action: broadcast",
        "        room: '{data.room}'",
        "        emit: message",
        "        args: ['{data.payload}', '{socket.id}']",
        "        exceptSender: false",
        "        requireMembership: false",
      ].join("\n"),
    );
    const events = config.namespaces.get("/chat")!.events;
    expect([...events.keys()]).toEqual(["join", "leave", "say", "shout"]);

    const join = events.get("join") as JoinRule;
    expect(join).toMatchObject({ event: "join", action: "join", at: "t.yaml:4:7" });
    expect(join.room(ctx({ id: 42 }))).toBe("room:42");
    expect(join.allow.map((p) => p.source)).toEqual(["room:{id}", "vip:{id}"]);
    const captures = join.allow[0]!.match("room:42");
    expect(join.ack!(ctx({}, { room: "room:42", captures }))).toEqual({
      ok: true,
      room: "room:42",
      id: "42",
    });

    const leave = events.get("leave") as LeaveRule;
    expect(leave).toMatchObject({ action: "leave", at: "t.yaml:9:7" });
    expect(leave.ack).toBeUndefined();
    expect("allow" in leave).toBe(false);

    const say = events.get("say") as BroadcastRule;
    expect(say).toMatchObject({
      emit: "say",
      allow: [],
      exceptSender: true,
      requireMembership: true,
    });
    expect(say.args).toBeUndefined();
    expect(say.ack).toBeUndefined();

    const shout = events.get("shout") as BroadcastRule;
    expect(shout).toMatchObject({ emit: "message", exceptSender: false, requireMembership: false });
    expect(shout.args!.map((t) => t(ctx({ payload: [1, 2] })))).toEqual([[1, 2], "sid"]);
  });

  it("freezes everything, maps included", () => {
    const config = compile(
      "server: { cors: { origin: [https://a.example] } }\n" +
        "namespaces: { /: { events: { j: { action: join, room: x, allow: [a] } } } }",
    );
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.server)).toBe(true);
    expect(Object.isFrozen(config.server.transports)).toBe(true);
    expect(Object.isFrozen((config.server.cors as CorsConfig).origin)).toBe(true);
    const rule = config.namespaces.get("/")!.events.get("j") as JoinRule;
    expect(Object.isFrozen(rule)).toBe(true);
    expect(Object.isFrozen(rule.allow)).toBe(true);
    expect(() => (config.namespaces as Map<string, unknown>).set("/x", {})).toThrow(TypeError);
    expect(() => (config.namespaces as Map<string, unknown>).delete("/")).toThrow(TypeError);
    const events = config.namespaces.get("/")!.events as Map<string, unknown>;
    expect(() => events.clear()).toThrow(TypeError);
    expect(events.size).toBe(1);
  });

  it("reads ${VAR} values, typed, from the environment it is given", () => {
    const yaml = "server: { port: '${PORT}', host: '${HOST:-::}' }\nnamespaces: { /: {} }";
    expect(loadConfigFromString(yaml, "t.yaml", { PORT: "1" }).config).toBeUndefined();
    const plain = "server:\n  port: ${PORT}\n  host: ${HOST:-::}\nnamespaces: { /: {} }";
    const config = compile(plain, { PORT: "4000" });
    expect(config.server.port).toBe(4000);
    expect(config.server.host).toBe("::");
  });

  it("returns no config when there is an error", () => {
    const result = loadConfigFromString("namespaces: { /: { events: { x: {} } } }", "t.yaml", {});
    expect(result.config).toBeUndefined();
    expect(result.diagnostics.length).toBe(1);
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-compile-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("names the file as given in diagnostics and absolutely in config.source", () => {
    const file = join(dir, "a.yaml");
    writeFileSync(file, "namespaces: { /: {} }\n");
    const result = loadConfig(file, {});
    expect(result.config!.source).toBe(file);
    expect(loadConfig(join(dir, "nope.yaml"), {}).diagnostics[0]!.code).toBe("SWY_CFG_READ");
  });
});

describe("escapes", () => {
  it("keeps $${ and {{ }} literal through both expansions", () => {
    const config = compile(
      'namespaces: { /: { events: { j: { action: join, room: x, allow: [x], ack: "$${{literal}}" } } } }',
    );
    const rule = config.namespaces.get("/")!.events.get("j") as JoinRule;
    expect(rule.ack!(ctx(undefined))).toBe("${literal}");
  });
});

/**
 * The Socket.IO Admin UI's protocol (`@socket.io/admin-ui` 0.5) on Switchyard, spoken by
 * a real socket.io-client the way the UI speaks it: basic auth and session ids,
 * `config`, `server_stats`, `all_sockets`, the socket and room events, and the `join`,
 * `leave` and `_disconnect` operations; across two nodes of a cluster on Redis.
 */
import { randomBytes } from "node:crypto";
import { hashSync } from "bcryptjs";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import { useCleanup } from "../helpers/cleanup.js";
import { PollingSession } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { dropKeysAfter, itWithRedis, REDIS_URL, redisWatcher } from "../helpers/redis-server.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { waitFor, waitForMatch, within } from "../helpers/wait-for.js";

/** Cost 4: the lowest bcrypt takes, so that logging in costs the tests nothing. */
const HASH = hashSync("s3cret-admin", 4);

const RULES = `
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
      leave: { action: leave, room: "{data.room}", ack: { ok: true } }
  /chat:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
`;

function yaml(adminUi: string, cluster = ""): string {
  return `${cluster}adminUi:\n${adminUi}\n${RULES}`;
}

const WITH_AUTH = `  auth: { username: admin, password: "\${HASH}" }`;

interface AdminSocketShape {
  id: string;
  clientId: string;
  transport: string;
  nsp: string;
  data: unknown;
  handshake: { address: string; headers: unknown; query: unknown; issued: number };
  rooms: string[];
}

interface ServerStats {
  serverId: string;
  hostname: string;
  pid: number;
  uptime: number;
  clientsCount: number;
  pollingClientsCount: number;
  aggregatedEvents: { timestamp: number; type: string; subType?: string; count: number }[];
  namespaces: { name: string; socketsCount: number }[];
}

describe("the Admin UI namespace", () => {
  const cleanup = useCleanup();

  async function start(adminUi = WITH_AUTH, cluster = ""): Promise<Harness> {
    const harness = await Harness.start(yaml(adminUi, cluster), { HASH });
    cleanup.add(() => harness.close());
    return harness;
  }

  /**
   * Connects to the admin namespace as the UI does, listening for what the server sends
   * right after the connection before it is made.
   */
  async function admin(harness: Harness, auth: Record<string, unknown> = LOGIN) {
    const socket = io(`${harness.url}/admin`, { forceNew: true, reconnection: false, auth });
    cleanup.add(() => socket.close());
    const first = {
      session: waitFor<[string]>(socket, "session"),
      config: waitFor<[{ supportedFeatures: string[] }]>(socket, "config"),
      stats: waitFor<[ServerStats]>(socket, "server_stats"),
      allSockets: waitFor<[AdminSocketShape[]]>(socket, "all_sockets"),
    };
    // Unwatched ones must not fail the test when they never come.
    for (const promise of Object.values(first)) promise.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    return { socket, ...first };
  }

  async function client(harness: Harness, nsp = "/"): Promise<Socket> {
    const socket = await harness.connect({}, nsp);
    cleanup.add(() => socket.close());
    return socket;
  }

  it("logs in with the password, and lists every socket of the mapping with its rooms", async () => {
    const harness = await start();
    const alice = await client(harness);
    expect(await alice.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    const bob = await client(harness, "/chat");

    const ui = await admin(harness);
    const [session] = await ui.session;
    expect(session).toMatch(/^[\w-]{24}$/);
    const [config] = await ui.config;
    expect(config.supportedFeatures).toEqual([
      "JOIN",
      "LEAVE",
      "DISCONNECT",
      "MJOIN",
      "MLEAVE",
      "MDISCONNECT",
      "AGGREGATED_EVENTS",
      "ALL_EVENTS",
    ]);
    const [stats] = await ui.stats;
    expect(stats).toMatchObject({ pid: process.pid, clientsCount: 3 });
    expect(stats.namespaces).toEqual([
      { name: "/", socketsCount: 1 },
      { name: "/chat", socketsCount: 1 },
    ]);
    const [sockets] = await ui.allSockets;
    expect(sockets).toHaveLength(2);
    const listed = sockets.find((s) => s.id === alice.id)!;
    expect(listed).toMatchObject({
      nsp: "/",
      transport: "websocket",
      rooms: [alice.id, "room:1"],
      data: {},
      handshake: { address: "127.0.0.1", headers: {}, query: {} },
    });
    expect(listed.clientId).toMatch(/^[\w-]{12}$/);
    // The session id drives the transport: it is never shown.
    expect(JSON.stringify(sockets)).not.toContain(
      (alice.io.engine as unknown as { id: string }).id,
    );
    expect(sockets.find((s) => s.id === bob.id)).toMatchObject({ nsp: "/chat" });
  });

  it("keeps its namespace out of the HTTP API's list of the mapping's namespaces", async () => {
    const token = randomBytes(16).toString("hex");
    const harness = await Harness.start(`api: { token: "\${TOKEN}" }\n${yaml(WITH_AUTH)}`, {
      HASH,
      TOKEN: token,
    });
    cleanup.add(() => harness.close());
    await client(harness);
    const ui = await admin(harness);
    await ui.session;
    const reply = await fetch(`${harness.url}/api/v1/namespaces`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(reply.status).toBe(200);
    expect(await reply.json()).toEqual({
      namespaces: [
        { namespace: "/", connections: 1, rooms: 0 },
        { namespace: "/chat", connections: 0, rooms: 0 },
      ],
    });
    // Nor does the API read its rooms or take a publication for it.
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const rooms = await fetch(`${harness.url}/api/v1/rooms?namespace=/admin`, { headers });
    expect(rooms.status).toBe(400);
    expect(await rooms.json()).toMatchObject({ code: "SWY_API_NAMESPACE_UNKNOWN" });
    const publish = await fetch(`${harness.url}/api/v1/publish`, {
      method: "POST",
      headers,
      body: JSON.stringify({ namespace: "/admin", room: "x", event: "server_stats", args: [] }),
    });
    expect(publish.status).toBe(400);
    expect(await publish.json()).toMatchObject({ code: "SWY_API_NAMESPACE_UNKNOWN" });
  });

  it("lets a UI back in with the session id of its login, without the password", async () => {
    const harness = await start();
    const first = await admin(harness);
    const [session] = await first.session;
    const again = await admin(harness, { sessionId: session });
    expect((await again.config)[0].supportedFeatures).toContain("DISCONNECT");
    expect(await harness.refusal({ auth: { sessionId: "not-a-session" } }, "/admin")).toMatchObject(
      { message: "invalid credentials", data: { code: "SWY_ADMIN_UI_AUTH_INVALID" } },
    );
  });

  it("tells the UI of each socket's connection, rooms, events and disconnection", async () => {
    const harness = await start();
    const ui = await admin(harness);
    await ui.allSockets;
    const connected = waitFor<[AdminSocketShape, string]>(ui.socket, "socket_connected");
    const alice = await client(harness);
    const [shown, at] = await connected;
    expect(shown).toMatchObject({ id: alice.id, nsp: "/", rooms: [alice.id] });
    expect(Date.parse(at)).not.toBeNaN();

    const joined = waitFor<[string, string, string, string]>(ui.socket, "room_joined");
    const received = waitFor<[string, string, unknown[], string]>(ui.socket, "event_received");
    expect(await alice.emitWithAck("join", { room: "room:7" })).toEqual({ ok: true });
    expect((await received).slice(0, 3)).toEqual(["/", alice.id, ["join", { room: "room:7" }]]);
    expect((await joined).slice(0, 3)).toEqual(["/", "room:7", alice.id]);

    const left = waitFor<[string, string, string]>(ui.socket, "room_left");
    await alice.emitWithAck("leave", { room: "room:7" });
    expect((await left).slice(0, 3)).toEqual(["/", "room:7", alice.id]);

    const gone = waitFor<[string, string, string]>(ui.socket, "socket_disconnected");
    const id = alice.id;
    alice.disconnect();
    expect((await gone).slice(0, 3)).toEqual(["/", id, "client namespace disconnect"]);
  });

  it("tells the UI when a socket's session moves from polling to WebSocket, as socket_updated", async () => {
    const harness = await start();
    const ui = await admin(harness);
    await ui.allSockets;
    // By hand, so that the socket connects over polling before the upgrade: a client that
    // upgrades first is listed on its WebSocket from the start.
    const connected = waitFor<[AdminSocketShape, string]>(ui.socket, "socket_connected");
    const session = await PollingSession.open(harness.url, "/socket.io/");
    const { socketId } = await session.connectNamespace();
    expect((await connected)[0]).toMatchObject({ id: socketId, transport: "polling" });

    const updated = waitFor<[{ id: string; nsp: string; transport: string }]>(
      ui.socket,
      "socket_updated",
    );
    const ws = await RawWs.open(cleanup, wsUrl(harness.url, "/socket.io/", { sid: session.sid }));
    ws.send("2probe");
    expect(await ws.next()).toBe("3probe");
    ws.send("5");
    expect((await updated)[0]).toEqual({ id: socketId, nsp: "/", transport: "websocket" });
  });

  it("reports an event sent to one socket alone as event_sent", async () => {
    const harness = await start();
    const ui = await admin(harness);
    await ui.allSockets;
    const alice = await client(harness);
    const sent = waitFor<[string, string, unknown[]]>(ui.socket, "event_sent");
    harness.server.sio.namespace("/")!.sockets.get(alice.id!)!.emit("hello", 1, "two");
    expect((await sent).slice(0, 3)).toEqual(["/", alice.id, ["hello", 1, "two"]]);
  });

  it("makes sockets join and leave rooms, and disconnects them, as the UI asks", async () => {
    const harness = await start();
    const ui = await admin(harness);
    await ui.allSockets;
    const alice = await client(harness);
    const bob = await client(harness);
    expect(await bob.emitWithAck("join", { room: "team" })).toEqual({ ok: true });
    const local = harness.server.sio.namespace("/")!;

    // `join` of one socket (the filter is its id), as the socket page does.
    expect(await ui.socket.emitWithAck("join", "/", "vip", alice.id)).toEqual({ ok: true });
    expect([...local.sockets.get(alice.id!)!.rooms]).toEqual(["vip"]);
    // `leave` of a whole room, as the rooms page does: no filter.
    expect(await ui.socket.emitWithAck("leave", "/", "team")).toEqual({ ok: true });
    expect([...local.sockets.get(bob.id!)!.rooms]).toEqual([]);

    // The sockets page's disconnect button: `_disconnect(nsp, false, id)`.
    const disconnected = waitFor<[string]>(alice, "disconnect");
    ui.socket.emit("_disconnect", "/", false, alice.id);
    expect((await disconnected)[0]).toBe("io server disconnect");
    expect(bob.connected).toBe(true);
  });

  it("refuses operations it cannot apply, naming why", async () => {
    const harness = await start();
    const ui = await admin(harness);
    await ui.config;
    const refused = async (...args: unknown[]) =>
      (await ui.socket.emitWithAck(...(args as [string, ...unknown[]]))) as {
        ok: false;
        error: { code: string; message: string };
      };
    expect(await refused("join", "/nowhere", "room")).toMatchObject({
      ok: false,
      error: {
        code: "SWY_ADMIN_UI_OPERATION_INVALID",
        message: expect.stringContaining("no namespace /nowhere"),
      },
    });
    // The admin namespace is not the UI's to act on.
    expect((await refused("_disconnect", "/admin", false)).error.code).toBe(
      "SWY_ADMIN_UI_OPERATION_INVALID",
    );
    expect((await refused("join", "/", "")).error.code).toBe("SWY_ADMIN_UI_OPERATION_INVALID");
    expect((await refused("join", "/", "x".repeat(257))).error.code).toBe(
      "SWY_ADMIN_UI_OPERATION_INVALID",
    );
    expect((await refused("_disconnect", "/", "yes")).error.code).toBe(
      "SWY_ADMIN_UI_OPERATION_INVALID",
    );
    expect((await refused("emit", "/", null, "hello")).error.code).toBe(
      "SWY_ADMIN_UI_OPERATION_INVALID",
    );
    expect(ui.socket.connected).toBe(true);
  });

  it("read-only: offers no operation and refuses join, leave and _disconnect", async () => {
    const harness = await start(`${WITH_AUTH}\n  readonly: true`);
    const alice = await client(harness);
    const ui = await admin(harness);
    expect((await ui.config)[0].supportedFeatures).toEqual(["AGGREGATED_EVENTS", "ALL_EVENTS"]);
    for (const args of [
      ["join", "/", "vip", alice.id],
      ["leave", "/", "vip"],
      ["_disconnect", "/", true, alice.id],
    ] as const) {
      expect(await ui.socket.emitWithAck(...(args as unknown as [string, ...unknown[]]))).toEqual({
        ok: false,
        error: {
          code: "SWY_ADMIN_UI_READONLY",
          message: `The Admin UI is read-only (adminUi.readonly): '${args[0]}' is refused`,
        },
      });
    }
    expect(alice.connected).toBe(true);
    expect([...harness.server.sio.namespace("/")!.sockets.get(alice.id!)!.rooms]).toEqual([]);
  });

  it("production mode: stats with counts and aggregated events, no socket list or events", async () => {
    const harness = await start(`${WITH_AUTH}\n  mode: production`);
    const ui = await admin(harness);
    expect((await ui.config)[0].supportedFeatures).not.toContain("ALL_EVENTS");
    const alice = await client(harness);
    await alice.emitWithAck("join", { room: "room:1" });
    // The next stats count alice's session and packets; nothing about her socket came before.
    const [stats] = await waitForMatch<[ServerStats]>(ui.socket, "server_stats", (s) =>
      s.aggregatedEvents.some((e) => e.type === "rawConnection"),
    );
    expect(stats.namespaces).toContainEqual({ name: "/", socketsCount: 1 });
    expect(stats.aggregatedEvents.map((e) => e.type)).toEqual(
      expect.arrayContaining(["rawConnection", "packetsIn", "bytesIn", "packetsOut", "bytesOut"]),
    );
    const events: string[] = [];
    ui.socket.onAny((event: string) => events.push(event));
    await waitFor(ui.socket, "server_stats");
    expect(events).toEqual(["server_stats"]);
    await expect(within(ui.allSockets, "all_sockets", 100)).rejects.toThrow(/timed out/);
  });

  it("auth: false lets any client in, with no session id", async () => {
    const harness = await start("  auth: false");
    const ui = await admin(harness, {});
    expect((await ui.config)[0].supportedFeatures).toContain("JOIN");
    await expect(within(ui.session, "session", 100)).rejects.toThrow(/timed out/);
  });

  it("serves the UI's own files at /admin-ui/, with no CDN left in the page", async () => {
    const harness = await start();
    const index = await fetch(`${harness.url}/admin-ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("x-frame-options")).toBe("DENY");
    const html = await index.text();
    expect(html).toContain("<title>Socket.IO Admin UI</title>");
    expect(html).not.toMatch(/https?:\/\//);
    const script = /src="(js\/app\.[0-9a-f]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${harness.url}/admin-ui/${script}`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toContain("immutable");
    const css = await fetch(`${harness.url}/admin-ui/mdi/css/materialdesignicons.min.css`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    const font = await fetch(`${harness.url}/admin-ui/mdi/fonts/materialdesignicons-webfont.woff2`);
    expect(font.headers.get("content-type")).toBe("font/woff2");
    const redirect = await fetch(`${harness.url}/admin-ui`, { redirect: "manual" });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get("location")).toBe("/admin-ui/");
    const missing = await fetch(`${harness.url}/admin-ui/nothing.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "SWY_HTTP_NOT_FOUND" });
  });

  it("serves no files with path: false, and nothing of it without the block", async () => {
    const off = await start(`${WITH_AUTH}\n  path: false`);
    expect((await fetch(`${off.url}/admin-ui/`)).status).toBe(404);
    const plain = await Harness.start(RULES);
    cleanup.add(() => plain.close());
    expect((await fetch(`${plain.url}/admin-ui/`)).status).toBe(404);
    expect(await plain.refusal({}, "/admin")).toEqual({
      message: "Invalid namespace",
      data: undefined,
    });
  });

  it("refuses a password in place of its hash, without printing it", () => {
    const { config, diagnostics } = loadConfigFromString(
      `adminUi:\n  auth: { username: admin, password: "\${PASSWORD}" }\n${RULES}`,
      "t.yaml",
      { PASSWORD: "s3cret-admin" },
    );
    expect(config).toBeUndefined();
    const printed = diagnostics.map(formatDiagnostic);
    expect(printed).toContain(
      "t.yaml:2:38 SWY_CFG_VALUE adminUi.auth.password must be a bcrypt hash, not the " +
        `password (docs/admin-ui.md: making one), got the value of \${PASSWORD}`,
    );
    expect(printed.join("\n")).not.toContain("s3cret-admin");
  });

  it("keeps its namespace and UIs across a reload, which cannot give its name to the mapping", async () => {
    const harness = await start();
    const ui = await admin(harness);
    await ui.config;
    const reload = (text: string) => {
      const { config, diagnostics } = loadConfigFromString(text, "t.yaml", { HASH });
      if (config === undefined) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
      return harness.server.reload(config);
    };
    await reload(yaml(WITH_AUTH).replace("  /chat:", "  /other:"));
    expect(ui.socket.connected).toBe(true);
    expect(harness.server.sio.namespace("/chat")).toBeUndefined();
    const taken = `${yaml(WITH_AUTH)}  /admin:\n    events: {}\n`;
    await expect(reload(taken)).rejects.toMatchObject({ code: "SWY_ADMIN_UI_NAMESPACE_TAKEN" });
    expect(ui.socket.connected).toBe(true);
    const alice = await client(harness, "/other");
    expect(await ui.socket.emitWithAck("_disconnect", "/other", false, alice.id)).toEqual({
      ok: true,
    });
  });

  it("refuses to start when the mapping has a namespace of the admin namespace's name", async () => {
    await expect(
      Harness.start(`adminUi:\n  auth: false\n  namespace: /chat\n${RULES}`),
    ).rejects.toMatchObject({ code: "SWY_ADMIN_UI_NAMESPACE_TAKEN" });
  });

  // Two nodes of one cluster, on this test's own registry key.
  itWithRedis(
    "lets a UI that logged in on one node of a cluster in on another with its session id",
    async () => {
      const key = `swy-admin-${randomBytes(4).toString("hex")}`;
      const cluster = `cluster: { redis: "${REDIS_URL}", key: ${key}, nodeTtl: 3000 }\n`;
      dropKeysAfter(cleanup, key);
      const a = await start(WITH_AUTH, cluster);
      const b = await start(WITH_AUTH, cluster);
      const [session] = await (await admin(a)).session;
      // Kept in the cluster's Redis under a hash of it, for the session's 24 hours.
      const redis = redisWatcher(cleanup);
      const keys = await redis.keys(`${key}:admin-ui:session:*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).not.toContain(session);
      const ttl = await redis.pttl(keys[0]!);
      expect(ttl).toBeGreaterThan(23 * 3_600_000);
      expect(ttl).toBeLessThanOrEqual(24 * 3_600_000);
      // The load balancer sends the UI's reconnection to node B.
      const onB = await admin(b, { sessionId: session });
      expect((await onB.config)[0].supportedFeatures).toContain("DISCONNECT");
      // Ids B was never told of, of the right shape or not, still need the password.
      for (const sessionId of [randomBytes(18).toString("base64url"), "x".repeat(5000)]) {
        expect(await b.refusal({ auth: { sessionId } }, "/admin")).toMatchObject({
          message: "invalid credentials",
          data: { code: "SWY_ADMIN_UI_AUTH_INVALID" },
        });
      }
    },
  );

  itWithRedis("shows every node of a cluster to a UI connected to one of them", async () => {
    const key = `swy-admin-${randomBytes(4).toString("hex")}`;
    const cluster = `cluster: { redis: "${REDIS_URL}", key: ${key}, nodeTtl: 3000 }\n`;
    dropKeysAfter(cleanup, key);
    const a = await start(WITH_AUTH, cluster);
    const b = await start(WITH_AUTH, cluster);
    const onA = await client(a);
    const onB = await client(b);
    expect(await onB.emitWithAck("join", { room: "room:b" })).toEqual({ ok: true });

    const ui = await admin(a);
    const [sockets] = await ui.allSockets;
    expect(sockets.map((s) => s.id).sort()).toEqual([onA.id, onB.id].sort());
    expect(sockets.find((s) => s.id === onB.id)!.rooms).toEqual([onB.id, "room:b"]);
    // Each node's stats, under its own serverId: the node tags tell them apart.
    const servers = new Set<string>();
    await waitForMatch<[ServerStats]>(ui.socket, "server_stats", (stats) => {
      servers.add(stats.serverId);
      return servers.size === 2;
    });
    expect([...servers].every((id) => id.includes("#"))).toBe(true);

    // Node B's sockets' news reaches the UI on node A.
    const connected = waitFor<[AdminSocketShape]>(ui.socket, "socket_connected");
    const late = await client(b);
    expect((await connected)[0].id).toBe(late.id);

    // And the UI's disconnect reaches node B's socket.
    const disconnected = waitFor<[string]>(onB, "disconnect");
    const id = onB.id;
    const gone = waitForMatch<[string, string]>(
      ui.socket,
      "socket_disconnected",
      (_n, i) => i === id,
    );
    ui.socket.emit("_disconnect", "/", false, id);
    expect((await disconnected)[0]).toBe("io server disconnect");
    await gone;
    expect(onA.connected).toBe(true);
  });
});

const LOGIN = { username: "admin", password: "s3cret-admin" };

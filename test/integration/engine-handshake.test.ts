import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { errorBody, fetchText, PollingSession, pollingUrl } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import {
  startEchoServer,
  startTestServer,
  useConformanceServer,
  whenRequest,
} from "../helpers/test-server.js";

describe("Engine.IO handshake (conformance server)", () => {
  const conformance = useConformanceServer();
  const cleanup = useCleanup();

  it("a polling handshake answers the open packet with exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", async () => {
    const reply = await fetchText(pollingUrl(conformance.url, "/socket.io/"));
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    expect(reply.body[0]).toBe("0");
    const open = JSON.parse(reply.body.slice(1)) as Record<string, unknown>;
    expect(Object.keys(open).sort()).toEqual([
      "maxPayload",
      "pingInterval",
      "pingTimeout",
      "sid",
      "upgrades",
    ]);
    expect(open).toEqual({
      sid: expect.stringMatching(/^[\w-]{20}$/),
      upgrades: ["websocket"],
      pingInterval: 300,
      pingTimeout: 200,
      maxPayload: 1_000_000,
    });
  });

  it("every handshake gets a different sid", async () => {
    const [a, b] = await Promise.all([
      PollingSession.open(conformance.url, "/socket.io/"),
      PollingSession.open(conformance.url, "/socket.io/"),
    ]);
    expect(a.sid).not.toBe(b.sid);
  });

  it("a WebSocket handshake's first frame is the open packet with no upgrades", async () => {
    const ws = await RawWs.open(cleanup, wsUrl(conformance.url, "/socket.io/"));
    const frame = await ws.next();
    expect(typeof frame).toBe("string");
    const open = JSON.parse((frame as string).slice(1)) as Record<string, unknown>;
    expect((frame as string)[0]).toBe("0");
    expect(open).toEqual({
      sid: expect.any(String),
      upgrades: [],
      pingInterval: 300,
      pingTimeout: 200,
      maxPayload: 1_000_000,
    });
  });

  describe("the handshake error table: 400 with {code, message}", () => {
    it.each([
      ["EIO missing", {}, 5, "Unsupported protocol version"],
      ["EIO=5", { EIO: "5" }, 5, "Unsupported protocol version"],
      ["EIO=abc", { EIO: "abc" }, 5, "Unsupported protocol version"],
      ["transport missing", { EIO: "4" }, 0, "Transport unknown"],
      ["transport=flashsocket", { EIO: "4", transport: "flashsocket" }, 0, "Transport unknown"],
      [
        "transport=websocket on a plain GET",
        { EIO: "4", transport: "websocket" },
        0,
        "Transport unknown",
      ],
      [
        "an unknown sid",
        { EIO: "4", transport: "polling", sid: "AAAAAAAAAAAAAAAAAAAA" },
        1,
        "Session ID unknown",
      ],
    ])("%s → code %s", async (_, query, code, message) => {
      const reply = await fetchText(`${conformance.url}/socket.io/?${new URLSearchParams(query)}`);
      expect(reply.status).toBe(400);
      expect(reply.headers.get("content-type")).toBe("application/json");
      expect(errorBody(reply)).toEqual({ code, message });
    });

    it("EIO=3 → code 5 when socket.io 2.x clients are not allowed (the default)", async () => {
      const legacyOff = await startTestServer(cleanup);
      const query = new URLSearchParams({ EIO: "3", transport: "polling" });
      const reply = await fetchText(`${legacyOff.url}/socket.io/?${query}`);
      expect(reply.status).toBe(400);
      expect(errorBody(reply)).toEqual({ code: 5, message: "Unsupported protocol version" });
    });

    it.each(["POST", "PUT"])("a %s handshake → code 2", async (method) => {
      const reply = await fetchText(pollingUrl(conformance.url, "/socket.io/"), {
        method,
        body: "40",
      });
      expect(reply.status).toBe(400);
      expect(errorBody(reply)).toEqual({ code: 2, message: "Bad handshake method" });
    });

    it("a WebSocket upgrade with a bad EIO is refused with a raw 400 and code 5", async () => {
      const refusal = await RawWs.refusal(wsUrl(conformance.url, "/socket.io/", { EIO: "5" }));
      expect(refusal.status).toBe(400);
      expect(JSON.parse(refusal.body)).toEqual({
        code: 5,
        message: "Unsupported protocol version",
      });
    });

    it("a WebSocket upgrade with transport=polling is refused with code 0", async () => {
      const refusal = await RawWs.refusal(
        wsUrl(conformance.url, "/socket.io/", { transport: "polling" }),
      );
      expect(refusal.status).toBe(400);
      expect(JSON.parse(refusal.body)).toEqual({ code: 0, message: "Transport unknown" });
    });

    it("a WebSocket upgrade for an unknown sid is refused with code 1", async () => {
      const refusal = await RawWs.refusal(
        wsUrl(conformance.url, "/socket.io/", { sid: "AAAAAAAAAAAAAAAAAAAA" }),
      );
      expect(refusal.status).toBe(400);
      expect(JSON.parse(refusal.body)).toEqual({ code: 1, message: "Session ID unknown" });
    });
  });
});

describe("the transports option", () => {
  const cleanup = useCleanup();

  it("a WebSocket-only server refuses polling with code 0", async () => {
    const server = await startEchoServer(cleanup, { transports: ["websocket"] });
    const reply = await fetchText(pollingUrl(server.url, "/engine.io/"));
    expect(reply.status).toBe(400);
    expect(errorBody(reply)).toEqual({ code: 0, message: "Transport unknown" });
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/"));
    expect(await ws.next()).toMatch(/^0\{.*"upgrades":\[\]/);
  });

  it("a polling-only server offers no upgrade and refuses WebSocket with code 0", async () => {
    const server = await startEchoServer(cleanup, { transports: ["polling"] });
    const session = await PollingSession.open(server.url, "/engine.io/");
    expect(session.handshake.upgrades).toEqual([]);
    const refusal = await RawWs.refusal(wsUrl(server.url, "/engine.io/"));
    expect(refusal.status).toBe(400);
    expect(JSON.parse(refusal.body)).toEqual({ code: 0, message: "Transport unknown" });
    const upgrade = await RawWs.refusal(wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    expect(upgrade.status).toBe(400);
  });
});

describe("Engine.IO messages and upgrade, raw (echo server)", () => {
  const cleanup = useCleanup();

  it("echoes a polling POST of several packets in one GET, binary as base64", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const post = await session.post("4hello\x1ebAQIDBA==\x1e4€uro");
    expect(post).toMatchObject({ status: 200, body: "ok" });
    const get = await session.get();
    expect(get.status).toBe(200);
    expect(get.headers.get("cache-control")).toBe("no-store");
    expect(get.body).toBe("4hello\x1ebAQIDBA==\x1e4€uro");
  });

  it("echoes text frames as text and binary frames as binary without a type byte over WebSocket", async () => {
    const server = await startEchoServer(cleanup);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/"));
    await ws.next();
    ws.send("4hello");
    ws.send(Buffer.from([1, 2, 3, 4]));
    expect(await ws.next()).toBe("4hello");
    expect(await ws.next()).toEqual(Buffer.from([1, 2, 3, 4]));
  });

  it("upgrades polling to WebSocket: 3probe, the pending GET gets a noop, then polling that sid is refused", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const getArrived = whenRequest(server.http, "GET", session.sid);
    const pendingGet = session.get();
    await getArrived;
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    ws.send("2probe");
    expect(await ws.next()).toBe("3probe");
    expect(await pendingGet).toMatchObject({ status: 200, body: "6" });
    ws.send("5");
    ws.send("4after upgrade");
    expect(await ws.next()).toBe("4after upgrade");
    const late = await session.get();
    expect(late.status).toBe(400);
    // The session now belongs to the WebSocket: polling it is a bad request.
    expect(errorBody(late)).toEqual({ code: 3, message: "Bad request" });
  });

  it("a GET made while the probe is in flight is answered with a noop", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    ws.send("2probe");
    expect(await ws.next()).toBe("3probe");
    expect(await session.get()).toMatchObject({ status: 200, body: "6" });
    ws.send("5");
    ws.send("4still here");
    expect(await ws.next()).toBe("4still here");
  });

  it("packets queued on polling before the upgrade completes are delivered on the WebSocket", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    ws.send("2probe");
    expect(await ws.next()).toBe("3probe");
    // Echoed while the session still polls: it waits in the polling queue.
    expect(await session.post("4queued")).toMatchObject({ status: 200, body: "ok" });
    ws.send("5");
    expect(await ws.next()).toBe("4queued");
  });

  it("a second WebSocket for an upgraded sid is closed while the first keeps working", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const first = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    first.send("2probe");
    expect(await first.next()).toBe("3probe");
    first.send("5");
    const second = await RawWs.open(
      cleanup,
      wsUrl(server.url, "/engine.io/", { sid: session.sid }),
    );
    await second.whenClosed();
    first.send("4first");
    expect(await first.next()).toBe("4first");
  });

  it("a probe that sends anything but 2probe is dropped and the session keeps polling", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    ws.send("4not a probe");
    await ws.whenClosed();
    expect(await session.post("4polling")).toMatchObject({ status: 200, body: "ok" });
    expect(await session.get()).toMatchObject({ status: 200, body: "4polling" });
  });

  it("an upgrade not completed within upgradeTimeout is dropped and the session keeps polling", async () => {
    const server = await startEchoServer(cleanup, { upgradeTimeout: 100 });
    const session = await PollingSession.open(server.url, "/engine.io/");
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/", { sid: session.sid }));
    ws.send("2probe");
    expect(await ws.next()).toBe("3probe");
    // No "5": the probe times out.
    await ws.whenClosed();
    expect(await session.post("4polling")).toMatchObject({ status: 200, body: "ok" });
    expect(await session.get()).toMatchObject({ status: 200, body: "4polling" });
  });

  it("the engine path also answers without its trailing slash", async () => {
    const server = await startEchoServer(cleanup);
    const reply = await fetchText(`${server.url}/engine.io?EIO=4&transport=polling`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^0\{"sid"/);
  });

  it("a client close packet over polling answers the pending GET with a noop and ends the session", async () => {
    const server = await startEchoServer(cleanup);
    const session = await PollingSession.open(server.url, "/engine.io/");
    const getArrived = whenRequest(server.http, "GET", session.sid);
    const pendingGet = session.get();
    await getArrived;
    expect(await session.post("1")).toMatchObject({ status: 200, body: "ok" });
    expect(await pendingGet).toMatchObject({ status: 200, body: "6" });
    const after = await session.get();
    expect(after.status).toBe(400);
    expect(errorBody(after)).toEqual({ code: 1, message: "Session ID unknown" });
  });

  it("a client close packet over WebSocket closes the connection", async () => {
    const server = await startEchoServer(cleanup);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/engine.io/"));
    await ws.next();
    ws.send("1");
    expect((await ws.whenClosed()).code).toBe(1000);
  });
});

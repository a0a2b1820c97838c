import { describe, expect, it } from "vitest";
import { startConformanceServer } from "../../src/conformance.js";
import { useCleanup } from "../helpers/cleanup.js";
import { errorBody, fetchText, PollingSession, pollingUrl } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";

const APP = "http://app.test";
const OTHER = "http://evil.test";

describe("CORS with an explicit origin and credentials", () => {
  const cleanup = useCleanup();
  const start = (): Promise<TestServer> =>
    startTestServer(cleanup, {
      options: {
        cors: {
          origin: [APP],
          credentials: true,
          methods: ["GET", "POST"],
          allowedHeaders: [],
          maxAge: 600,
        },
      },
    });

  const preflight = (server: TestServer, origin: string) =>
    fetchText(pollingUrl(server.url, "/socket.io/"), {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
    });

  it("answers the preflight from the allowed origin with 204, the origin and credentials", async () => {
    const server = await start();
    const reply = await preflight(server, APP);
    expect(reply.status).toBe(204);
    expect(reply.headers.get("access-control-allow-origin")).toBe(APP);
    expect(reply.headers.get("access-control-allow-credentials")).toBe("true");
    expect(reply.headers.get("access-control-allow-methods")).toBe("GET,POST");
    expect(reply.headers.get("access-control-max-age")).toBe("600");
    expect(reply.headers.get("vary")).toMatch(/Origin/);
  });

  it("gives the allowed origin the CORS headers on the handshake and on later requests", async () => {
    const server = await start();
    const headers = { Origin: APP };
    const session = await PollingSession.open(server.url, "/socket.io/", { headers });
    expect(session.handshakeReply.headers.get("access-control-allow-origin")).toBe(APP);
    expect(session.handshakeReply.headers.get("access-control-allow-credentials")).toBe("true");
    const post = await fetchText(session.url, { method: "POST", body: "40", headers });
    expect(post.status).toBe(200);
    expect(post.headers.get("access-control-allow-origin")).toBe(APP);
    const get = await session.get({ headers });
    expect(get.body).toMatch(/^40\{/);
    expect(get.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("gives the allowed origin the CORS headers on an Engine.IO error too, so the page can read it", async () => {
    const server = await start();
    const reply = await fetchText(`${server.url}/socket.io/?EIO=5&transport=polling`, {
      headers: { Origin: APP },
    });
    expect(reply.status).toBe(400);
    expect(reply.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("gives another origin no Access-Control-Allow-Origin, on the preflight or the request", async () => {
    const server = await start();
    const pre = await preflight(server, OTHER);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const reply = await fetchText(pollingUrl(server.url, "/socket.io/"), {
      headers: { Origin: OTHER },
    });
    expect(reply.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("the conformance server allows any origin with *", async () => {
    const server = await startConformanceServer(0);
    cleanup.add(() => server.close());
    const reply = await fetchText(pollingUrl(`http://127.0.0.1:${server.port}`, "/socket.io/"), {
      headers: { Origin: OTHER },
    });
    expect(reply.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("an origin list is enforced, not only advertised", () => {
  const cleanup = useCleanup();
  const start = (origin: "*" | string[]): Promise<TestServer> =>
    startTestServer(cleanup, {
      options: {
        cors: {
          origin,
          credentials: false,
          methods: ["GET", "POST"],
          allowedHeaders: [],
          maxAge: 0,
        },
      },
    });
  const FORBIDDEN = { code: "SWY_EIO_ORIGIN_FORBIDDEN", message: "Origin not allowed" };

  const forbiddenCount = async (server: TestServer): Promise<number> => {
    const { body } = await fetchText(`${server.url}/metrics`);
    const line = /^switchyard_errors_total\{code="SWY_EIO_ORIGIN_FORBIDDEN"\} (\d+)$/m.exec(body);
    return Number(line?.[1] ?? 0);
  };

  it("refuses a polling handshake from another origin with 403 and opens no session", async () => {
    const server = await start([APP]);
    const before = await forbiddenCount(server);
    const reply = await fetchText(pollingUrl(server.url, "/socket.io/"), {
      headers: { Origin: OTHER },
    });
    expect(reply.status).toBe(403);
    expect(errorBody(reply)).toEqual(FORBIDDEN);
    expect(server.sio.engine.size).toBe(0);
    expect(await forbiddenCount(server)).toBe(before + 1);
  });

  it("refuses a POST from another origin to a live session without delivering its packets", async () => {
    const server = await start([APP]);
    const headers = { Origin: APP };
    const session = await PollingSession.open(server.url, "/socket.io/", { headers });
    const forged = await fetchText(session.url, {
      method: "POST",
      body: '42["message","forged"]',
      headers: { Origin: OTHER },
    });
    expect(forged.status).toBe(403);
    expect(errorBody(forged)).toEqual(FORBIDDEN);
    // Had the forged POST been read, this CONNECT would follow an event for an
    // unconnected namespace and the session would be closed as a parse error.
    expect((await fetchText(session.url, { method: "POST", body: "40", headers })).status).toBe(
      200,
    );
    expect((await session.get({ headers })).body).toMatch(/^40\{/);
  });

  it("refuses a GET from another origin without taking what the session's client is owed", async () => {
    const server = await start([APP]);
    const headers = { Origin: APP };
    const session = await PollingSession.open(server.url, "/socket.io/", { headers });
    await fetchText(session.url, { method: "POST", body: "40", headers });
    const stolen = await fetchText(session.url, { headers: { Origin: OTHER } });
    expect(stolen.status).toBe(403);
    expect((await session.get({ headers })).body).toMatch(/^40\{/);
  });

  it("refuses a WebSocket handshake from another origin with a raw 403 and opens no session", async () => {
    const server = await start([APP]);
    const before = await forbiddenCount(server);
    const refusal = await RawWs.refusal(wsUrl(server.url, "/socket.io/"), {
      headers: { Origin: OTHER },
    });
    expect(refusal.status).toBe(403);
    expect(JSON.parse(refusal.body)).toEqual(FORBIDDEN);
    expect(server.sio.engine.size).toBe(0);
    expect(await forbiddenCount(server)).toBe(before + 1);
  });

  it("refuses to upgrade a polling session to a WebSocket from another origin; the session keeps polling", async () => {
    const server = await start([APP]);
    const headers = { Origin: APP };
    const session = await PollingSession.open(server.url, "/socket.io/", { headers });
    const refusal = await RawWs.refusal(wsUrl(server.url, "/socket.io/", { sid: session.sid }), {
      headers: { Origin: OTHER },
    });
    expect(refusal.status).toBe(403);
    await fetchText(session.url, { method: "POST", body: "40", headers });
    expect((await session.get({ headers })).body).toMatch(/^40\{/);
  });

  it("serves the listed origin and clients that send no Origin, over both transports", async () => {
    const server = await start([APP]);
    const listed = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"), {
      headers: { Origin: APP },
    });
    expect(await listed.next()).toMatch(/^0\{/);
    const bare = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    expect(await bare.next()).toMatch(/^0\{/);
    const polling = await PollingSession.open(server.url, "/socket.io/");
    expect(polling.sid).toHaveLength(20);
  });

  it('with origin "*" any origin may open a WebSocket or poll', async () => {
    const server = await start("*");
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"), {
      headers: { Origin: OTHER },
    });
    expect(await ws.next()).toMatch(/^0\{/);
    const session = await PollingSession.open(server.url, "/socket.io/", {
      headers: { Origin: OTHER },
    });
    expect(session.handshakeReply.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("without cors every origin is served, as before", async () => {
    const server = await startTestServer(cleanup);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"), {
      headers: { Origin: OTHER },
    });
    expect(await ws.next()).toMatch(/^0\{/);
    await PollingSession.open(server.url, "/socket.io/", { headers: { Origin: OTHER } });
  });
});

describe("the sticky-session cookie", () => {
  const cleanup = useCleanup();
  const start = (): Promise<TestServer> =>
    startTestServer(cleanup, {
      options: {
        cookie: { name: "io", path: "/", httpOnly: true, secure: false, sameSite: "Lax" },
      },
    });

  it("the polling handshake response sets io=<sid>; Path=/; HttpOnly; SameSite=Lax", async () => {
    const server = await start();
    const session = await PollingSession.open(server.url, "/socket.io/");
    expect(session.handshakeReply.headers.getSetCookie()).toEqual([
      `io=${session.sid}; Path=/; HttpOnly; SameSite=Lax`,
    ]);
  });

  it("later polling responses do not set the cookie again", async () => {
    const server = await start();
    const session = await PollingSession.open(server.url, "/socket.io/");
    const post = await session.post("40");
    const get = await session.get();
    expect(post.headers.getSetCookie()).toEqual([]);
    expect(get.headers.getSetCookie()).toEqual([]);
  });

  it("the WebSocket 101 of a WebSocket handshake sets io=<sid>; Path=/; HttpOnly; SameSite=Lax", async () => {
    const server = await start();
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    const open = await ws.next();
    const { sid } = JSON.parse((open as string).slice(1)) as { sid: string };
    expect(ws.upgradeHeaders["set-cookie"]).toEqual([`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
  });

  it("secure: true adds Secure, on the polling handshake and on the WebSocket 101", async () => {
    const server = await startTestServer(cleanup, {
      options: {
        cookie: { name: "io", path: "/", httpOnly: true, secure: true, sameSite: "None" },
      },
    });
    const session = await PollingSession.open(server.url, "/socket.io/");
    expect(session.handshakeReply.headers.getSetCookie()).toEqual([
      `io=${session.sid}; Path=/; HttpOnly; Secure; SameSite=None`,
    ]);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    const { sid } = JSON.parse(((await ws.next()) as string).slice(1)) as { sid: string };
    expect(ws.upgradeHeaders["set-cookie"]).toEqual([
      `io=${sid}; Path=/; HttpOnly; Secure; SameSite=None`,
    ]);
  });

  it("no cookie is set when the option is off", async () => {
    const server = await startTestServer(cleanup);
    const session = await PollingSession.open(server.url, "/socket.io/");
    expect(session.handshakeReply.headers.getSetCookie()).toEqual([]);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    expect(ws.upgradeHeaders["set-cookie"]).toBeUndefined();
  });
});

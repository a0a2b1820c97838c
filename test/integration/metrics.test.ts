import { beforeAll, describe, expect, it } from "vitest";
import { useCleanup, useFileCleanup } from "../helpers/cleanup.js";
import { fetchText, PollingSession, pollingUrl } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { connectClient } from "../helpers/sio-client.js";
import { startTestServer, type TestServer, whenRequest } from "../helpers/test-server.js";

// Metrics live in one registry per process; vitest runs each file in its own
// process and the tests of a file one after the other, so deltas are exact.

async function metricsText(server: TestServer): Promise<string> {
  const reply = await fetchText(`${server.url}/metrics`);
  expect(reply.status).toBe(200);
  return reply.body;
}

function sample(text: string, name: string, labels = ""): number {
  const escaped = `${name}${labels}`.replace(/[{}"]/g, (c) => `\\${c}`);
  const match = new RegExp(`^${escaped} (\\d+(?:\\.\\d+)?)$`, "m").exec(text);
  return match === null ? 0 : Number(match[1]);
}

async function errorCount(server: TestServer, code: string): Promise<number> {
  return sample(await metricsText(server), "switchyard_errors_total", `{code="${code}"}`);
}

/** Runs `cause` and resolves with how much the error counter of `code` grew. */
async function errorsCounted(
  server: TestServer,
  code: string,
  cause: () => Promise<void>,
): Promise<number> {
  const before = await errorCount(server, code);
  await cause();
  return (await errorCount(server, code)) - before;
}

const fileCleanup = useFileCleanup();
const cleanup = useCleanup();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(fileCleanup, { options: { maxHttpBufferSize: 1000 } });
});

async function openWs(target: TestServer = server): Promise<RawWs> {
  const ws = await RawWs.open(cleanup, wsUrl(target.url, "/socket.io/"));
  await ws.next();
  return ws;
}

describe("switchyard_connections and switchyard_sockets", () => {
  it("count a connected client and return to their previous values once it leaves", async () => {
    const before = await metricsText(server);
    const socket = await connectClient(cleanup, server.url, "websocket");
    const during = await metricsText(server);
    expect(sample(during, "switchyard_connections")).toBe(
      sample(before, "switchyard_connections") + 1,
    );
    expect(sample(during, "switchyard_sockets", '{namespace="/"}')).toBe(
      sample(before, "switchyard_sockets", '{namespace="/"}') + 1,
    );
    const id = socket.id;
    const gone = server.whenDisconnected((s) => s.id === id);
    socket.disconnect();
    await gone;
    const after = await metricsText(server);
    expect(sample(after, "switchyard_sockets", '{namespace="/"}')).toBe(
      sample(before, "switchyard_sockets", '{namespace="/"}'),
    );
  });
});

describe("switchyard_errors_total counts each error by its code", () => {
  it("SWY_EIO_SESSION_UNKNOWN for a request with an unknown sid", async () => {
    const counted = await errorsCounted(server, "SWY_EIO_SESSION_UNKNOWN", async () => {
      const reply = await fetchText(pollingUrl(server.url, "/socket.io/", { sid: "nope" }));
      expect(reply.status).toBe(400);
    });
    expect(counted).toBe(1);
  });

  it("SWY_NAMESPACE_INVALID for a CONNECT to an unknown namespace", async () => {
    const counted = await errorsCounted(server, "SWY_NAMESPACE_INVALID", async () => {
      const ws = await openWs();
      ws.send("40/random,");
      expect(await ws.next()).toMatch(/^44\/random,/);
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_PARSE_ERROR for an invalid Socket.IO packet", async () => {
    const counted = await errorsCounted(server, "SWY_SESSION_PARSE_ERROR", async () => {
      const ws = await openWs();
      ws.send("42{}");
      await ws.whenClosed();
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_TOO_MANY_ATTACHMENTS for a packet announcing more than maxAttachments", async () => {
    const counted = await errorsCounted(server, "SWY_SESSION_TOO_MANY_ATTACHMENTS", async () => {
      const ws = await openWs();
      ws.send('4511-["message"]');
      await ws.whenClosed();
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_PARSE_ERROR for an undecodable Engine.IO packet on a WebSocket", async () => {
    const counted = await errorsCounted(server, "SWY_SESSION_PARSE_ERROR", async () => {
      const ws = await openWs();
      ws.send("abc");
      await ws.whenClosed();
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_PARSE_ERROR for a ping sent by a v4 client", async () => {
    const counted = await errorsCounted(server, "SWY_SESSION_PARSE_ERROR", async () => {
      const ws = await openWs();
      ws.send("2");
      await ws.whenClosed();
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_CONCURRENT_POLL for a second concurrent GET", async () => {
    const counted = await errorsCounted(server, "SWY_SESSION_CONCURRENT_POLL", async () => {
      const session = await PollingSession.open(server.url, "/socket.io/");
      const arrived = whenRequest(server.http, "GET", session.sid);
      const first = session.get();
      await arrived;
      expect((await session.get()).status).toBe(400);
      expect((await first).body).toBe("1");
    });
    expect(counted).toBe(1);
  });

  it("SWY_EIO_PAYLOAD_TOO_LARGE for a POST over maxHttpBufferSize", async () => {
    const counted = await errorsCounted(server, "SWY_EIO_PAYLOAD_TOO_LARGE", async () => {
      const session = await PollingSession.open(server.url, "/socket.io/");
      expect((await session.post(`4${"x".repeat(1000)}`)).status).toBe(413);
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_CONNECT_TIMEOUT for a session that never connects to a namespace", async () => {
    const quick = await startTestServer(cleanup, { options: { connectTimeout: 50 } });
    const counted = await errorsCounted(quick, "SWY_SESSION_CONNECT_TIMEOUT", async () => {
      const ws = await openWs(quick);
      await ws.whenClosed();
    });
    expect(counted).toBe(1);
  });

  it("SWY_SESSION_PING_TIMEOUT for a client that never answers a ping", async () => {
    const quick = await startTestServer(cleanup, {
      options: { pingInterval: 50, pingTimeout: 50 },
    });
    const counted = await errorsCounted(quick, "SWY_SESSION_PING_TIMEOUT", async () => {
      const ws = await openWs(quick);
      await ws.whenClosed();
    });
    expect(counted).toBe(1);
  });
});

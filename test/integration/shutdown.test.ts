import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import {
  errorBody,
  fetchText,
  PollingSession,
  pollingUrl,
  SEPARATOR,
} from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { startTestServer, type TestServer, whenRequest } from "../helpers/test-server.js";

/** A raw polling session connected to `/`, its CONNECT reply and `auth` event collected. */
async function connectedPolling(server: TestServer): Promise<PollingSession> {
  const session = await PollingSession.open(server.url, "/socket.io/");
  expect((await session.connectNamespace()).rest).toEqual(['42["auth",{}]']);
  return session;
}

/** GETs until a close packet arrives; the records of every response, in order. */
async function recordsUntilClose(session: PollingSession): Promise<string[]> {
  const records: string[] = [];
  while (records.at(-1) !== "1") {
    const reply = await session.get();
    if (reply.status !== 200)
      throw new Error(
        `GET answered ${reply.status} ${reply.body} after ${JSON.stringify(records)}`,
      );
    records.push(...reply.body.split(SEPARATOR));
  }
  return records;
}

describe("server shutdown (the engine closes while the HTTP host still answers)", () => {
  const cleanup = useCleanup();

  it("a polling client with a pending GET receives the close packet", async () => {
    const server = await startTestServer(cleanup);
    const session = await connectedPolling(server);
    const arrived = whenRequest(server.http, "GET", session.sid);
    const pending = session.get();
    await arrived;
    server.sio.close();
    expect(await pending).toMatchObject({ status: 200, body: "1" });
  });

  it("a polling client between two GETs collects what was queued, then the close packet", async () => {
    const server = await startTestServer(cleanup);
    const session = await connectedPolling(server);
    // The echo is queued: no GET is pending to carry it.
    expect(await session.post('42["message","queued"]')).toMatchObject({ status: 200, body: "ok" });
    server.sio.close();
    expect(await recordsUntilClose(session)).toEqual(['42["message-back","queued"]', "1"]);
  });

  it("a WebSocket client receives what was queued before the shutdown, then a normal close", async () => {
    const server = await startTestServer(cleanup);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    await ws.next();
    const sid = await ws.connectNamespace("/");
    expect(await ws.next()).toBe('42["auth",{}]');
    server.socketOf({ id: sid }).emit("last words", 1);
    server.sio.close();
    expect(await ws.next()).toBe('42["last words",1]');
    expect((await ws.whenClosed()).code).toBe(1000);
  });

  it("the handler hears server shutting down for every connected socket", async () => {
    const server = await startTestServer(cleanup);
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    await ws.next();
    const sid = await ws.connectNamespace("/custom");
    const gone = server.whenDisconnected((socket) => socket.id === sid);
    server.sio.close();
    expect(await gone).toBe("server shutting down");
  });

  it("a new handshake is refused with 403 and code 4 once the server is closing", async () => {
    const server = await startTestServer(cleanup);
    server.sio.close();
    const reply = await fetchText(pollingUrl(server.url, "/socket.io/"));
    expect(reply.status).toBe(403);
    expect(errorBody(reply)).toEqual({ code: 4, message: "Forbidden" });
    const refusal = await RawWs.refusal(wsUrl(server.url, "/socket.io/"));
    expect(refusal.status).toBe(403);
    expect(JSON.parse(refusal.body)).toEqual({ code: 4, message: "Forbidden" });
  });
});

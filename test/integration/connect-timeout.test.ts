import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { errorBody, PollingSession } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { startTestServer } from "../helpers/test-server.js";

const CONNECT_TIMEOUT = 250;
/**
 * Clocks start before the handshake request, so before the server's timer: the
 * measured time can only be longer. The slack covers millisecond rounding of timers.
 */
const SLACK = 2;

describe("connectTimeout: a session must connect to a namespace in time", () => {
  const cleanup = useCleanup();
  const start = () => startTestServer(cleanup, { options: { connectTimeout: CONNECT_TIMEOUT } });

  it("a raw WebSocket session that never sends a Socket.IO CONNECT is closed after connectTimeout", async () => {
    const server = await start();
    const openedAt = performance.now();
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    expect(await ws.next()).toMatch(/^0\{/);
    const { code } = await ws.whenClosed();
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(CONNECT_TIMEOUT - SLACK);
    expect(code).toBe(1000);
    expect(ws.received).toHaveLength(1);
    expect(server.sio.engine.size).toBe(0);
  });

  it("a raw polling session that never sends a Socket.IO CONNECT gets the close packet after connectTimeout", async () => {
    const server = await start();
    const openedAt = performance.now();
    const session = await PollingSession.open(server.url, "/socket.io/");
    expect(await session.get()).toMatchObject({ status: 200, body: "1" });
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(CONNECT_TIMEOUT - SLACK);
    const after = await session.get();
    expect(after.status).toBe(400);
    expect(errorBody(after)).toEqual({ code: 1, message: "Session ID unknown" });
  });

  it("a session whose only CONNECT was refused is still closed after connectTimeout", async () => {
    const server = await start();
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    await ws.next();
    ws.send("40/random,");
    expect(await ws.next()).toBe('44/random,{"message":"Invalid namespace"}');
    await ws.whenClosed();
  });

  it("a session that connected in time outlives connectTimeout", async () => {
    // The first ping comes after connectTimeout: answering it and then getting an
    // echo proves the session survived the timeout.
    const server = await startTestServer(cleanup, {
      options: {
        connectTimeout: CONNECT_TIMEOUT,
        pingInterval: CONNECT_TIMEOUT + 100,
        pingTimeout: 5000,
      },
    });
    const openedAt = performance.now();
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    await ws.next();
    await ws.connectNamespace("/");
    expect(await ws.next()).toBe('42["auth",{}]');
    expect(await ws.next()).toBe("2");
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(CONNECT_TIMEOUT + 100 - SLACK);
    ws.send("3");
    ws.send('42["message","alive"]');
    expect(await ws.next()).toBe('42["message-back","alive"]');
  });

  it("a session that left its last namespace has connectTimeout to join one again", async () => {
    const server = await startTestServer(cleanup, {
      options: { connectTimeout: 300, pingInterval: 100, pingTimeout: 5000 },
    });
    const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
    await ws.next();
    await ws.connectNamespace("/");
    expect(await ws.next()).toBe('42["auth",{}]');
    ws.send("41");
    // No reply to a DISCONNECT: the next frame is the ping, well within connectTimeout.
    expect(await ws.next()).toBe("2");
    ws.send("3");
    await ws.connectNamespace("/custom");
    expect(await ws.next()).toBe('42/custom,["auth",{}]');
    ws.send("41/custom,");
    // Out of every namespace again, and staying out: closed once connectTimeout passes.
    await ws.whenClosed();
  });
});

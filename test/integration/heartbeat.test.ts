import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { errorBody, PollingSession } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { connectClient, roundTrip, TRANSPORT_MODES } from "../helpers/sio-client.js";
import { startTestServer, useConformanceServer } from "../helpers/test-server.js";
import { waitFor } from "../helpers/wait-for.js";

// The conformance server pings every 300 ms and waits 200 ms for the pong.
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
/**
 * Clocks start before the handshake request, so before the server's timer: the
 * measured time can only be longer. The slack covers millisecond rounding of timers.
 */
const SLACK = 2;

describe("Engine.IO heartbeat, raw clients (conformance echo server, 300/200)", () => {
  const conformance = useConformanceServer();
  const cleanup = useCleanup();

  it("a WebSocket client that never answers pings is dropped after pingInterval + pingTimeout", async () => {
    const openedAt = performance.now();
    const ws = await RawWs.open(cleanup, wsUrl(conformance.url, "/engine.io/"));
    expect(await ws.next()).toMatch(/^0\{/);
    expect(await ws.next()).toBe("2");
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(PING_INTERVAL - SLACK);
    const { code } = await ws.whenClosed();
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(
      PING_INTERVAL + PING_TIMEOUT - SLACK,
    );
    // Dropped without a closing handshake: the peer is not answering anyway.
    expect(code).toBe(1006);
    expect(ws.received).toHaveLength(2);
  });

  it("a WebSocket client that answers every ping stays open across several pings", async () => {
    const openedAt = performance.now();
    const ws = await RawWs.open(cleanup, wsUrl(conformance.url, "/engine.io/"));
    await ws.next();
    for (let i = 0; i < 3; i++) {
      expect(await ws.next()).toBe("2");
      ws.send("3");
    }
    // Three intervals have passed, well beyond one interval plus the timeout.
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(3 * PING_INTERVAL - SLACK);
    ws.send("4still open");
    expect(await ws.next()).toBe("4still open");
    expect(ws.isOpen).toBe(true);
  });

  it("a polling client that answers every ping keeps its session", async () => {
    const session = await PollingSession.open(conformance.url, "/engine.io/");
    for (let i = 0; i < 3; i++) {
      expect(await session.get()).toMatchObject({ status: 200, body: "2" });
      expect(await session.post("3")).toMatchObject({ status: 200, body: "ok" });
    }
    expect(await session.post("4still here")).toMatchObject({ status: 200, body: "ok" });
    expect(await session.get()).toMatchObject({ status: 200, body: "4still here" });
  });

  it("a polling client that never answers a ping gets the close packet, then its sid is unknown", async () => {
    const openedAt = performance.now();
    const session = await PollingSession.open(conformance.url, "/engine.io/");
    expect(await session.get()).toMatchObject({ status: 200, body: "2" });
    // Held until the ping times out.
    expect(await session.get()).toMatchObject({ status: 200, body: "1" });
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(
      PING_INTERVAL + PING_TIMEOUT - SLACK,
    );
    const after = await session.get();
    expect(after.status).toBe(400);
    expect(errorBody(after)).toEqual({ code: 1, message: "Session ID unknown" });
  });
});

describe.each(TRANSPORT_MODES)("socket.io-client heartbeat over %s", (mode) => {
  const cleanup = useCleanup();

  it("answers pings by itself and stays connected across several of them", async () => {
    const server = await startTestServer(cleanup, {
      options: { pingInterval: 100, pingTimeout: 200 },
    });
    const socket = await connectClient(cleanup, server.url, mode);
    const disconnects: unknown[] = [];
    socket.on("disconnect", (reason) => disconnects.push(reason));
    for (let i = 0; i < 3; i++) await waitFor(socket.io.engine, "ping");
    expect(await roundTrip(socket, "after three pings")).toEqual(["after three pings"]);
    expect(disconnects).toEqual([]);
    expect(server.sio.engine.size).toBe(1);
  });
});

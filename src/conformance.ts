import type { AddressInfo } from "node:net";
import { createHttpHost } from "./http-host.js";
import { Outbound } from "./ingress/engine/outbound.js";
import { EngineServer } from "./ingress/engine/server.js";
import { type SioOptions, SioServer, type SocketHandler } from "./ingress/sio/server.js";

/**
 * The reference behaviour of the official Engine.IO and Socket.IO protocol test
 * suites (socket.io repository, docs/engine.io-protocol/v4-test-suite and
 * docs/socket.io-protocol/v5-test-suite), served by Switchyard's own ingress:
 *
 * - `/socket.io/`: namespaces `/` and `/custom`; on connection emit `auth` with the
 *   CONNECT payload; `message` → `message-back` with the same arguments;
 *   `message-with-ack` → ack with the same arguments; other namespaces refused.
 * - `/engine.io/`: a raw Engine.IO server that echoes every message.
 *
 * Heartbeat 300/200 ms, connectTimeout 1000 ms, maxPayload 1000000, CORS `*`.
 */
export const CONFORMANCE_OPTIONS = {
  path: "/socket.io/",
  transports: ["polling", "websocket"],
  allowEIO3: true,
  pingInterval: 300,
  pingTimeout: 200,
  upgradeTimeout: 10_000,
  maxHttpBufferSize: 1_000_000,
  maxQueuedBytes: 16 * 1024 * 1024,
  cors: {
    origin: "*",
    credentials: false,
    methods: ["GET", "POST"],
    allowedHeaders: [],
    maxAge: 600,
  },
  cookie: false,
  connectTimeout: 1000,
  maxAttachments: 10,
  maxDepth: 32,
} as const satisfies SioOptions;

const handler: SocketHandler = {
  onConnect: () => undefined,
  onConnected(socket) {
    socket.emit("auth", socket.auth);
  },
  onEvent(socket, event, args, ack) {
    if (event === "message") socket.emit("message-back", ...args);
    else if (event === "message-with-ack") ack?.(...args);
  },
  onDisconnect() {},
};

/** Starts the conformance server; resolves with its port and a close function. */
export async function startConformanceServer(
  port: number,
  host = "127.0.0.1",
): Promise<{ port: number; close(): Promise<void> }> {
  const sio = new SioServer(CONFORMANCE_OPTIONS, ["/", "/custom"], handler);
  const echo = new EngineServer({ ...CONFORMANCE_OPTIONS, path: "/engine.io/" }, (session) => {
    session.listener = {
      onMessage: (data) => session.send(Outbound.message(data)),
      onClose: () => {},
    };
  });
  const http = createHttpHost(
    [
      { path: "/socket.io/", engine: sio.engine },
      { path: "/engine.io/", engine: echo },
    ],
    () => ({ isReady: true, checks: {} }),
  );
  await new Promise<void>((resolve) => http.listen(port, host, resolve));
  return {
    port: (http.address() as AddressInfo).port,
    async close() {
      sio.close();
      echo.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

import { EventEmitter } from "node:events";
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";
import { CONFORMANCE_OPTIONS, startConformanceServer } from "../../src/conformance.js";
import { createHttpHost } from "../../src/http-host.js";
import type { EngineOptions } from "../../src/ingress/engine/options.js";
import { Outbound } from "../../src/ingress/engine/outbound.js";
import { EngineServer } from "../../src/ingress/engine/server.js";
import { type SioOptions, SioServer, type SocketHandler } from "../../src/ingress/sio/server.js";
import type { DisconnectReason, Socket } from "../../src/ingress/sio/socket.js";
import type { Cleanup } from "./cleanup.js";
import { waitForMatch } from "./wait-for.js";

/**
 * The conformance options with heartbeats and connect timeout long enough that
 * they never close a session during a test that is not about them.
 */
export const TEST_OPTIONS: SioOptions = {
  ...CONFORMANCE_OPTIONS,
  pingInterval: 10_000,
  pingTimeout: 5_000,
  connectTimeout: 10_000,
  // The conformance server serves socket.io 2.x clients too; these tests start without.
  allowEIO3: false,
};

export interface TestServerEvents {
  /** A socket was accepted in a namespace (its CONNECT reply is queued). */
  connection: [socket: Socket];
  /** A socket left its namespace. */
  disconnect: [socket: Socket, reason: DisconnectReason];
  /** Any event a client sent. */
  event: [socket: Socket, event: string, args: unknown[]];
}

export interface TestServerSpec {
  /** 0 (default) for any free port. */
  readonly port?: number;
  readonly options?: Partial<SioOptions>;
  /** Default `/` and `/custom`. */
  readonly namespaces?: readonly string[];
  /** Default accepts everyone. */
  readonly onConnect?: SocketHandler["onConnect"];
}

export interface TestServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly sio: SioServer;
  /** The HTTP host; its `request` event fires after the engine has taken the request in. */
  readonly http: Server;
  readonly events: EventEmitter<TestServerEvents>;
  /** The server side of a connected socket.io-client socket (same id). */
  socketOf(clientSocket: { id?: string | undefined }, nsp?: string): Socket;
  /** Resolves with the reason of the next socket to disconnect that matches. */
  whenDisconnected(match?: (socket: Socket) => boolean): Promise<DisconnectReason>;
  /** Resolves with the server socket and arguments of the next client event called `event`. */
  whenEvent(event: string): Promise<{ socket: Socket; args: unknown[] }>;
  close(): Promise<void>;
}

/**
 * Starts a Socket.IO server on the ingress under `/socket.io/` with the conformance
 * behaviour: on connection it emits `auth` with the CONNECT payload; `message` →
 * `message-back` with the same arguments; `message-with-ack` → ack with the same
 * arguments. Plus, for tests: `broadcast` → the namespace broadcasts `news` with the
 * same arguments to every socket; `kick` → the server disconnects the socket.
 *
 * The server is closed by `cleanup`.
 */
export async function startTestServer(
  cleanup: Cleanup,
  spec: TestServerSpec = {},
): Promise<TestServer> {
  const events = new EventEmitter<TestServerEvents>();
  const handler: SocketHandler = {
    onConnect: spec.onConnect ?? (() => undefined),
    onConnected(socket) {
      events.emit("connection", socket);
      socket.emit("auth", socket.auth);
    },
    onEvent(socket, event, args, ack) {
      events.emit("event", socket, event, args);
      if (event === "message") socket.emit("message-back", ...args);
      else if (event === "message-with-ack") ack?.(...args);
      else if (event === "broadcast") socket.nsp.broadcast({ rooms: [] }, "news", args);
      else if (event === "kick") socket.disconnect();
    },
    onDisconnect(socket, reason) {
      events.emit("disconnect", socket, reason);
    },
  };
  const sio = new SioServer(
    { ...TEST_OPTIONS, ...spec.options },
    spec.namespaces ?? ["/", "/custom"],
    handler,
  );
  const http = createHttpHost([{ path: "/socket.io/", engine: sio.engine }], () => ({
    isReady: true,
    checks: {},
  }));
  const port = await listen(http, spec.port ?? 0);
  let isClosed = false;
  const server: TestServer = {
    port,
    url: `http://127.0.0.1:${port}`,
    sio,
    http,
    events,
    socketOf(clientSocket, nsp = "/") {
      const socket =
        clientSocket.id === undefined ? undefined : findSocket(sio, nsp, clientSocket.id);
      if (socket === undefined) throw new Error(`no server socket ${clientSocket.id} in ${nsp}`);
      return socket;
    },
    async whenDisconnected(match = () => true) {
      const [, reason] = await waitForMatch<[Socket, DisconnectReason]>(
        events,
        "disconnect",
        (socket) => match(socket),
      );
      return reason;
    },
    async whenEvent(event) {
      const [socket, , args] = await waitForMatch<[Socket, string, unknown[]]>(
        events,
        "event",
        (_, name) => name === event,
      );
      return { socket, args };
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      sio.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  cleanup.add(() => server.close());
  return server;
}

export interface EchoServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>`; the engine is under `/engine.io/`. */
  readonly url: string;
  readonly engine: EngineServer;
  readonly http: Server;
  close(): Promise<void>;
}

/**
 * Starts a raw Engine.IO server under `/engine.io/` that echoes every message (text
 * or binary) on the same session, with {@link TEST_OPTIONS} unless overridden.
 * Closed by `cleanup`.
 */
export async function startEchoServer(
  cleanup: Cleanup,
  options: Partial<EngineOptions> = {},
): Promise<EchoServer> {
  const engine = new EngineServer(
    { ...TEST_OPTIONS, path: "/engine.io/", ...options },
    (session) => {
      session.listener = {
        onMessage: (data) => session.send(Outbound.message(data)),
        onClose: () => {},
      };
    },
  );
  const http = createHttpHost([{ path: "/engine.io/", engine }], () => ({
    isReady: true,
    checks: {},
  }));
  const port = await listen(http, 0);
  let isClosed = false;
  const server: EchoServer = {
    port,
    url: `http://127.0.0.1:${port}`,
    engine,
    http,
    async close() {
      if (isClosed) return;
      isClosed = true;
      engine.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  cleanup.add(() => server.close());
  return server;
}

/**
 * Resolves once `http` has handed a request of `method` for session `sid` to the
 * engine: the host's own listener runs first, so the engine has taken it in.
 */
export async function whenRequest(http: Server, method: string, sid: string): Promise<void> {
  await waitForMatch<[IncomingMessage]>(
    http,
    "request",
    (req) => req.method === method && req.url?.includes(`sid=${sid}`) === true,
  );
}

async function listen(http: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, "127.0.0.1", () => {
      http.off("error", reject);
      resolve();
    });
  });
  return (http.address() as AddressInfo).port;
}

/**
 * The conformance server (src/conformance.ts) for every test of the calling
 * `describe`: started before the first, closed after the last. `url` is
 * `http://127.0.0.1:<port>` once started.
 */
export function useConformanceServer(): { readonly url: string } {
  let server: Awaited<ReturnType<typeof startConformanceServer>> | undefined;
  beforeAll(async () => {
    server = await startConformanceServer(0);
  });
  afterAll(() => server?.close());
  return {
    get url() {
      if (server === undefined) throw new Error("the conformance server has not started yet");
      return `http://127.0.0.1:${server.port}`;
    },
  };
}

/**
 * The server socket a client knows as `clientId`: its id, or for a socket.io 2.x client
 * (which takes its engine id, or `<nsp>#<engine id>`, for its socket id while the server
 * gives it another) the socket of that session.
 */
function findSocket(sio: SioServer, nsp: string, clientId: string): Socket | undefined {
  const namespace = sio.namespace(nsp);
  const byId = namespace?.sockets.get(clientId);
  if (byId !== undefined) return byId;
  const sid = clientId.slice(clientId.indexOf("#") + 1);
  for (const socket of namespace?.sockets.values() ?? []) {
    if (socket.client.session.id === sid && socket.client.session.protocol === 3) return socket;
  }
  return undefined;
}

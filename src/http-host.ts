import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { SwitchyardError } from "./errors.js";
import type { EngineServer } from "./ingress/engine/server.js";
import { metrics } from "./metrics.js";

/** An Engine.IO server served under a path prefix (with trailing slash). */
export interface Mount {
  readonly path: string;
  readonly engine: EngineServer;
}

/** What `/readyz` reports: ready, or why not. */
export type ReadinessProbe = () => { isReady: boolean; checks: Record<string, string> };

/** Hands a request for a session another node owns to that node (src/cluster/session-relay.ts). */
export interface Relay {
  /** Relays the request, or calls `local` when this node should answer it. */
  web(req: IncomingMessage, res: ServerResponse, local: () => void): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void): void;
  /**
   * Whether the relay takes requests under `path` though no mount serves it (a
   * passthrough's other legacy paths); `local` is then the host's 404.
   */
  claims?(path: string): boolean;
}

/** The Engine.IO session a request names (`sid` in its query); none when absent or empty. */
export function sessionIdOf(url: string): string | undefined {
  const at = url.indexOf("?");
  if (at < 0) return undefined;
  const sid = new URLSearchParams(url.slice(at + 1)).get("sid");
  return sid === null || sid === "" ? undefined : sid;
}

/** Whether a relay's target is an HTTP response (a polling request), not an upgraded socket. */
export function isResponse(target: unknown): target is ServerResponse {
  return typeof (target as Partial<ServerResponse> | undefined)?.writeHead === "function";
}

/**
 * More routes on the same port (the HTTP API). Sees each request no mount claims,
 * with its path (no query); answers it and returns true, or returns false untouched.
 */
export type HttpRoutes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/** The operational endpoints: liveness, readiness, Prometheus metrics. */
const ALL_PROBES: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);
/** What the public port keeps when an admin listener serves the rest: load balancers probe it. */
const PUBLIC_PROBES: ReadonlySet<string> = new Set(["/healthz"]);

export interface HostOptions {
  /**
   * An admin listener ({@link createAdminHost}) serves `/readyz` and `/metrics`, so this
   * host answers them 404 and keeps only `/healthz`. Default false.
   */
  readonly hasAdminListener?: boolean;
  /**
   * Static files under a prefix (the Admin UI's, docs/admin-ui.md): asked before `routes`,
   * after the mounts and the relay.
   */
  readonly files?: { handle: HttpRoutes };
}

/**
 * The HTTP server on Switchyard's public port: Engine.IO mounts (whose requests for
 * another node's sessions `relay` takes first), `/healthz`, `/readyz` and `/metrics`
 * (GET and HEAD; the last two unless `options.hasAdminListener`), and whatever `routes` answer.
 * Anything else is 404 with a coded body.
 */
export function createHttpHost(
  mounts: readonly Mount[],
  readiness: ReadinessProbe,
  routes?: HttpRoutes,
  relay?: Relay,
  options: HostOptions = {},
): Server {
  const probes = options.hasAdminListener === true ? PUBLIC_PROBES : ALL_PROBES;
  const find = (url: string | undefined): EngineServer | undefined => {
    const path = pathOf(url);
    for (const mount of mounts) {
      if (path === mount.path || `${path}/` === mount.path) return mount.engine;
    }
    return undefined;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const engine = find(req.url);
    if (engine !== undefined) {
      if (relay === undefined) engine.handleRequest(req, res);
      else relay.web(req, res, () => engine.handleRequest(req, res));
      return;
    }
    const path = pathOf(req.url);
    if (relay?.claims?.(path) === true) {
      relay.web(req, res, () => notFound(res));
      return;
    }
    if (options.files?.handle(req, res, path) === true) return;
    if (routes?.(req, res, path) === true) return;
    if (!answerProbe(req, res, path, readiness, probes)) notFound(res);
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", destroySocket);
    const engine = find(req.url);
    if (engine === undefined) {
      if (relay?.claims?.(pathOf(req.url)) === true) {
        relay.upgrade(req, socket, head, () => refuseUpgrade(socket));
      } else {
        refuseUpgrade(socket);
      }
      return;
    }
    if (relay === undefined) engine.handleUpgrade(req, socket, head);
    else relay.upgrade(req, socket, head, () => engine.handleUpgrade(req, socket, head));
  });
  // Polling clients keep connections alive across long GETs; Node's default
  // keep-alive timeout (5 s) would otherwise cut idle sockets between polls.
  server.keepAliveTimeout = 65_000;
  return server;
}

/**
 * The admin listener (`admin:` in the file): `/healthz`, `/readyz` and `/metrics`
 * (GET and HEAD), and the migration console when given (`options.files` for its page,
 * `options.routes` for its API routes); nothing else (404 with a coded body; upgrades
 * are refused with 404).
 */
export function createAdminHost(
  readiness: ReadinessProbe,
  options: { readonly files?: { handle: HttpRoutes }; readonly routes?: HttpRoutes } = {},
): Server {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (options.files?.handle(req, res, path) === true) return;
    if (options.routes?.(req, res, path) === true) return;
    if (!answerProbe(req, res, path, readiness, ALL_PROBES)) notFound(res);
  });
  server.on("upgrade", (_req: IncomingMessage, socket: Duplex) => {
    socket.on("error", destroySocket);
    refuseUpgrade(socket);
  });
  return server;
}

/**
 * Answers a GET or HEAD for one of `probes` and returns true; returns false, untouched,
 * otherwise. A HEAD gets the GET's status and headers (Content-Length included) and
 * no body: load balancers and uptime checkers probe with either.
 */
function answerProbe(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  readiness: ReadinessProbe,
  probes: ReadonlySet<string>,
): boolean {
  if ((req.method !== "GET" && req.method !== "HEAD") || !probes.has(path)) return false;
  if (path === "/healthz") {
    json(res, 200, { status: "ok" });
  } else if (path === "/readyz") {
    const { isReady, checks } = readiness();
    json(res, isReady ? 200 : 503, { status: isReady ? "ready" : "not ready", checks });
  } else {
    metrics.registry.metrics().then(
      (text) => {
        res
          .writeHead(200, {
            "Content-Type": metrics.registry.contentType,
            "Content-Length": String(Buffer.byteLength(text)),
          })
          .end(text);
      },
      () => json(res, 500, { code: "SWY_INTERNAL", message: "metrics unavailable" }),
    );
  }
  return true;
}

function notFound(res: ServerResponse): void {
  json(res, 404, new SwitchyardError("SWY_HTTP_NOT_FOUND").toJSON());
}

function refuseUpgrade(socket: Duplex): void {
  socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/** A request's path, without its query. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

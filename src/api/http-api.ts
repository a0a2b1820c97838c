import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { MigrationConsole } from "../console/migration-console.js";
import type { ClusterView } from "../egress/cluster.js";
import { SwitchyardError } from "../errors.js";
import { pathOf } from "../http-host.js";
import { RESERVED_EVENTS } from "../ingress/sio/parser.js";
import type { SioServer } from "../ingress/sio/server.js";
import { reportInternalError } from "../internal-errors.js";
import { textExceedsDepth } from "../json-depth.js";
import { requestIdOf } from "../log.js";
import { LogBudget } from "../log-budget.js";
import type { ApiConfig } from "../mapping/types.js";
import { metrics } from "../metrics.js";
import type { PassthroughStatus } from "../passthrough/passthrough-relay.js";
import type { ShadowReport } from "../router/shadow/report.js";

/** Where a room lives, as the API shows it. */
export interface RoomPlacement {
  readonly backend: string;
  /** The channel, for backends that name channels; absent for the native core. */
  readonly channel?: string;
}

/** The router as the API sees it. */
export interface RoomPublisher {
  /**
   * Publishes to a room as a client broadcast would: resolves when the room's backend
   * accepted the message, rejects with a coded error (SWY_PUBLISH_FAILED…) otherwise.
   */
  publish(
    nsp: string,
    room: string,
    event: string,
    args: readonly unknown[],
    options?: { readonly except?: string | undefined },
  ): Promise<void>;
  /** The backend and channel that carry a room; `undefined` when it cannot have one. */
  placement(nsp: string, room: string): RoomPlacement | undefined;
  /** The whole cluster as the native core on Redis sees it; `undefined` on a single node. */
  cluster(): ClusterView | undefined;
  /** This node's shadow comparison (docs/shadow.md); `channels`: per channel too. */
  shadowReport(options?: { readonly channels?: boolean }): ShadowReport;
  /** Starts a new window of shadow evidence on this node. */
  resetShadow(): void;
}

/** The passthrough's view and control (src/passthrough/passthrough-relay.ts). */
export interface PassthroughControl {
  /** `undefined` when the file has no `passthrough:`. */
  status(): PassthroughStatus | undefined;
  /** Ends `percent` of the relayed connections over `spreadMs`; how many. */
  drain(percent: number, spreadMs: number): number;
  /** The default spread of a drain, ms. */
  readonly drainSpread: number | undefined;
}

export interface HttpApiOptions {
  readonly api: ApiConfig;
  /** Largest request body, bytes (`server.limits.maxHttpBufferSize`). */
  readonly maxBodyBytes: number;
  /** Longest room name, characters (`server.limits.maxRoomLength`). */
  readonly maxRoomLength: number;
  /** How deep a publish's arguments may nest (`server.limits.maxDepth`). */
  readonly maxDepth: number;
  readonly publisher: RoomPublisher;
  /** `GET /api/v1/passthrough` and its drain; absent: both 404 SWY_API_PASSTHROUGH_OFF. */
  readonly passthrough?: PassthroughControl;
  /** The configured namespaces with this node's sockets and rooms: the ingress's server. */
  readonly sio: Pick<SioServer, "mappedNamespace" | "namespaces">;
  /** `GET /api/v1/console/snapshot` and `/stream`; absent: those paths are not the API's. */
  readonly console?: Pick<MigrationConsole, "snapshot" | "openStream">;
  readonly log: Logger;
}

type Method = "GET" | "POST";
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Which of the API's routes a listener serves: all of them; the migration console's only
 * (the admin listener, when there is one); or all but the console's (the public port then).
 */
export type ApiScope = "all" | "console" | "public";

interface Route {
  readonly method: Method;
  readonly handler: Handler;
  readonly isConsole?: boolean;
}

/** The fields a publish body may hold. */
const PUBLISH_FIELDS: ReadonlySet<string> = new Set([
  "namespace",
  "room",
  "event",
  "args",
  "except",
]);

const CHALLENGE = 'Bearer realm="switchyard"';

/**
 * Switchyard's HTTP API on the server's port, behind a bearer token (docs/api.md):
 *
 * - `POST /api/v1/publish` publishes an event to a room through the router, exactly
 *   as a client broadcast does, and answers 202 once the backend accepted it;
 * - `GET /api/v1/rooms?namespace=/` lists this node's rooms of a namespace with their
 *   local member counts;
 * - `GET /api/v1/namespaces` lists the configured namespaces with their local socket
 *   and room counts;
 * - `GET /api/v1/shadow` reports this node's shadow comparison, and
 *   `POST /api/v1/shadow/reset` starts a new window of its evidence;
 * - `GET /api/v1/console/snapshot` and `GET /api/v1/console/stream` (Server-Sent
 *   Events) feed the migration console (src/console/), when it is given.
 *
 * Every error is a `{code, message}` body of the catalogue, counted in
 * `switchyard_errors_total`. The token is compared in constant time and never logged.
 */
export class HttpApi {
  readonly #options: HttpApiOptions;
  /** Refused requests logged at most: 100 per 10 s (a client repeating one cannot flood the log). */
  readonly #refusalLines = new LogBudget(100, 10_000);
  /** SHA-256 of the token: equal-length digests let `timingSafeEqual` hide the token's length. */
  readonly #tokenDigest: Buffer;
  readonly #routes: ReadonlyMap<string, Route>;

  constructor(options: HttpApiOptions) {
    this.#options = options;
    this.#tokenDigest = digest(options.api.token.reveal());
    const migrationConsole = options.console;
    const consoleRoutes: [string, Route][] =
      migrationConsole === undefined
        ? []
        : [
            [
              "/api/v1/console/snapshot",
              {
                method: "GET",
                handler: (req, res) => this.#onConsoleSnapshot(req, res, migrationConsole),
                isConsole: true,
              },
            ],
            [
              "/api/v1/console/stream",
              {
                method: "GET",
                handler: (req, res) => this.#onConsoleStream(req, res, migrationConsole),
                isConsole: true,
              },
            ],
          ];
    this.#routes = new Map<string, Route>([
      ["/api/v1/publish", { method: "POST", handler: (req, res) => this.#onPublish(req, res) }],
      ["/api/v1/rooms", { method: "GET", handler: (req, res) => this.#onRooms(req, res) }],
      ["/api/v1/namespaces", { method: "GET", handler: (_req, res) => this.#onNamespaces(res) }],
      ["/api/v1/cluster", { method: "GET", handler: (req, res) => this.#onCluster(req, res) }],
      ["/api/v1/shadow", { method: "GET", handler: (req, res) => this.#onShadow(req, res) }],
      [
        "/api/v1/passthrough",
        { method: "GET", handler: (req, res) => this.#onPassthrough(req, res) },
      ],
      [
        "/api/v1/passthrough/drain",
        { method: "POST", handler: (req, res) => this.#onDrain(req, res) },
      ],
      [
        "/api/v1/shadow/reset",
        { method: "POST", handler: (_req, res) => this.#onShadowReset(res) },
      ],
      ...consoleRoutes,
    ]);
  }

  /**
   * Answers a request for one of the API's paths and returns true; returns false,
   * touching nothing, for any other path, and for a path `scope` leaves to the other
   * listener.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    scope: ApiScope = "all",
  ): boolean {
    const route = this.#routes.get(path);
    if (route === undefined) return false;
    if (scope !== "all" && (route.isConsole === true) !== (scope === "console")) return false;
    // The caller's request id comes back, so its logs and ours can be matched.
    const reqId = requestIdOf(req);
    if (reqId !== undefined) res.setHeader("X-Request-Id", reqId);
    const authorised = this.#authorise(req.headers.authorization);
    if (authorised !== true) {
      this.#fail(req, res, new SwitchyardError("SWY_API_UNAUTHORIZED"), {
        "WWW-Authenticate":
          authorised === "missing" ? CHALLENGE : `${CHALLENGE}, error="invalid_token"`,
      });
      return true;
    }
    if (req.method !== route.method) {
      this.#fail(
        req,
        res,
        new SwitchyardError("SWY_API_METHOD_NOT_ALLOWED", [req.method ?? "?", route.method]),
        { Allow: route.method },
      );
      return true;
    }
    route.handler(req, res);
    return true;
  }

  /** `true`, or why not: no usable `Authorization: Bearer` header, or another token. */
  #authorise(header: string | undefined): true | "missing" | "wrong" {
    if (header === undefined) return "missing";
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) return "missing";
    return timingSafeEqual(digest(match[1]!), this.#tokenDigest) ? true : "wrong";
  }

  // --- POST /api/v1/publish ------------------------------------------------------

  #onPublish(req: IncomingMessage, res: ServerResponse): void {
    readBody(req, this.#options.maxBodyBytes, (body) => {
      try {
        this.#publish(req, res, body);
      } catch (error) {
        // A bug, not the caller's fault: reported, and answered rather than left hanging.
        reportInternalError(this.#options.log, "api", error);
        if (!res.headersSent) {
          this.#fail(req, res, new SwitchyardError("SWY_INTERNAL", ["publish failed"]), {}, true);
        }
      }
    });
  }

  #publish(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void {
    if (body === undefined) {
      this.#fail(
        req,
        res,
        new SwitchyardError("SWY_API_PAYLOAD_TOO_LARGE", [this.#options.maxBodyBytes]),
      );
      return;
    }
    const parsed = this.#parsePublish(body);
    if (parsed instanceof SwitchyardError) {
      this.#fail(req, res, parsed, {}, true);
      return;
    }
    const { nsp, room, event, args, except } = parsed;
    this.#options.publisher.publish(nsp, room, event, args, { except }).then(
      () => json(res, 202, { ok: true }),
      (cause: unknown) => {
        const error =
          cause instanceof SwitchyardError
            ? cause
            : new SwitchyardError("SWY_PUBLISH_FAILED", [room, "the backend refused it"], {
                cause,
              });
        this.#options.log.warn(
          { err: error, nsp, room, event },
          "publish API: the backend refused",
        );
        this.#fail(req, res, error, {}, true);
      },
    );
  }

  /** The publication a body asks for, or the first problem with it. */
  #parsePublish(
    body: Buffer,
  ):
    | SwitchyardError
    | { nsp: string; room: string; event: string; args: readonly unknown[]; except?: string } {
    const text = body.toString("utf8");
    // The body object and its `args` list sit above the arguments themselves.
    if (textExceedsDepth(text, this.#options.maxDepth + 2)) {
      return new SwitchyardError("SWY_PAYLOAD_TOO_DEEP", [this.#options.maxDepth]);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return new SwitchyardError("SWY_API_BAD_JSON", ["it is not valid JSON"]);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return new SwitchyardError("SWY_API_BAD_JSON", [`got ${describeJson(value)}`]);
    }
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!PUBLISH_FIELDS.has(key))
        return new SwitchyardError("SWY_API_FIELD_UNKNOWN", [clip(key)]);
    }
    const { namespace = "/", room, event, args = [], except } = fields;
    const nsp = this.#namespace(namespace);
    if (nsp instanceof SwitchyardError) return nsp;
    if (room === undefined) return new SwitchyardError("SWY_API_FIELD_REQUIRED", ["room"]);
    const { maxRoomLength } = this.#options;
    if (typeof room !== "string" || room.length === 0 || room.length > maxRoomLength) {
      return new SwitchyardError("SWY_API_ROOM_INVALID", [maxRoomLength]);
    }
    if (event === undefined) return new SwitchyardError("SWY_API_FIELD_REQUIRED", ["event"]);
    if (typeof event !== "string" || event.length === 0) {
      return new SwitchyardError("SWY_API_FIELD_INVALID", ["event", "a non-empty string"]);
    }
    if (RESERVED_EVENTS.has(event)) return new SwitchyardError("SWY_API_EVENT_RESERVED", [event]);
    if (!Array.isArray(args)) {
      return new SwitchyardError("SWY_API_FIELD_INVALID", ["args", "a list of arguments"]);
    }
    if (except !== undefined && (typeof except !== "string" || except.length === 0)) {
      return new SwitchyardError("SWY_API_FIELD_INVALID", ["except", "a socket id"]);
    }
    return { nsp, room, event, args, except };
  }

  // --- GET /api/v1/rooms, GET /api/v1/namespaces ---------------------------------

  #onRooms(req: IncomingMessage, res: ServerResponse): void {
    const nsp = this.#queryNamespace(req, res);
    if (nsp === undefined) return;
    const namespace = this.#options.sio.mappedNamespace(nsp)!;
    const rooms: ({ room: string; members: number } & Partial<RoomPlacement>)[] = [];
    for (const room of namespace.roomNames()) {
      const placement = this.#options.publisher.placement(nsp, room);
      rooms.push({ room, members: namespace.members(room)?.size ?? 0, ...placement });
    }
    json(res, 200, { namespace: nsp, rooms, connections: namespace.sockets.size });
  }

  /**
   * The cluster's rooms of a namespace with their member counts, its connections
   * and its nodes, asked of every node through the native core's Redis (socket.io's
   * own fetchSockets). A single node answers for itself.
   */
  #onCluster(req: IncomingMessage, res: ServerResponse): void {
    const nsp = this.#queryNamespace(req, res);
    if (nsp === undefined) return;
    const view = this.#options.publisher.cluster();
    if (view === undefined) {
      const namespace = this.#options.sio.mappedNamespace(nsp)!;
      const rooms = [...namespace.roomNames()].map((room) => ({
        room,
        members: namespace.members(room)?.size ?? 0,
      }));
      json(res, 200, { namespace: nsp, nodes: 1, connections: namespace.sockets.size, rooms });
      return;
    }
    Promise.all([view.serverCount(nsp), view.clusterSockets({ nsp, rooms: [], except: [] })]).then(
      ([nodes, sockets]) => {
        const members = new Map<string, number>();
        for (const socket of sockets) {
          // A socket's own id is a room of socket.io's; it is not listed as one.
          for (const room of socket.rooms.slice(1)) members.set(room, (members.get(room) ?? 0) + 1);
        }
        const rooms = [...members].map(([room, count]) => ({ room, members: count }));
        json(res, 200, { namespace: nsp, nodes, connections: sockets.length, rooms });
      },
      (error: unknown) => {
        const failure =
          error instanceof SwitchyardError
            ? error
            : new SwitchyardError("SWY_INTERNAL", ["cluster view failed"], { cause: error });
        this.#fail(req, res, failure, {}, true);
      },
    );
  }

  // --- GET /api/v1/passthrough, POST /api/v1/passthrough/drain ---------------------

  #onPassthrough(req: IncomingMessage, res: ServerResponse): void {
    const status = this.#options.passthrough?.status();
    if (status === undefined) this.#fail(req, res, new SwitchyardError("SWY_API_PASSTHROUGH_OFF"));
    else json(res, 200, status);
  }

  #onDrain(req: IncomingMessage, res: ServerResponse): void {
    readBody(req, this.#options.maxBodyBytes, (body) => {
      const control = this.#options.passthrough;
      if (control?.status() === undefined) {
        this.#fail(req, res, new SwitchyardError("SWY_API_PASSTHROUGH_OFF"));
        return;
      }
      if (body === undefined) {
        this.#fail(
          req,
          res,
          new SwitchyardError("SWY_API_PAYLOAD_TOO_LARGE", [this.#options.maxBodyBytes]),
        );
        return;
      }
      const parsed = parseDrain(body, control.drainSpread ?? 0);
      if (parsed instanceof SwitchyardError) {
        this.#fail(req, res, parsed);
        return;
      }
      const draining = control.drain(parsed.percent, parsed.spreadMs);
      json(res, 202, { ok: true, draining, spreadMs: parsed.spreadMs });
    });
  }

  // --- GET /api/v1/shadow, POST /api/v1/shadow/reset -----------------------------

  #onShadow(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "";
    const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
    const channels = query.get("channels") === "true";
    json(res, 200, this.#options.publisher.shadowReport({ channels }));
  }

  #onShadowReset(res: ServerResponse): void {
    const { publisher, log } = this.#options;
    publisher.resetShadow();
    const { since } = publisher.shadowReport();
    log.info({ since }, "shadow evidence reset");
    json(res, 200, { ok: true, since });
  }

  // --- GET /api/v1/console/snapshot, GET /api/v1/console/stream -------------------

  #onConsoleSnapshot(
    req: IncomingMessage,
    res: ServerResponse,
    migrationConsole: Pick<MigrationConsole, "snapshot">,
  ): void {
    migrationConsole.snapshot().then(
      (snapshot) => json(res, 200, snapshot, { "Cache-Control": "no-store" }),
      (error: unknown) => {
        reportInternalError(this.#options.log, "api", error);
        if (!res.headersSent) {
          this.#fail(req, res, new SwitchyardError("SWY_INTERNAL", ["console snapshot failed"]));
        }
      },
    );
  }

  #onConsoleStream(
    req: IncomingMessage,
    res: ServerResponse,
    migrationConsole: Pick<MigrationConsole, "openStream">,
  ): void {
    migrationConsole.openStream(req, res).then(
      (refusal) => {
        if (refusal !== undefined) this.#fail(req, res, refusal);
      },
      (error: unknown) => {
        reportInternalError(this.#options.log, "api", error);
        if (!res.headersSent) {
          this.#fail(req, res, new SwitchyardError("SWY_INTERNAL", ["console stream failed"]));
        }
      },
    );
  }

  #onNamespaces(res: ServerResponse): void {
    const namespaces = [...this.#options.sio.namespaces()].map((namespace) => ({
      namespace: namespace.name,
      connections: namespace.sockets.size,
      rooms: namespace.roomCount,
    }));
    json(res, 200, { namespaces });
  }

  /** The `namespace` query parameter (default `/`) when configured; else answers the error. */
  #queryNamespace(req: IncomingMessage, res: ServerResponse): string | undefined {
    const url = req.url ?? "";
    const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
    const nsp = this.#namespace(query.get("namespace") ?? "/");
    if (!(nsp instanceof SwitchyardError)) return nsp;
    this.#fail(req, res, nsp);
    return undefined;
  }

  /** A configured namespace's name, or the error for `value`. */
  #namespace(value: unknown): string | SwitchyardError {
    if (typeof value !== "string" || value.length === 0) {
      return new SwitchyardError("SWY_API_FIELD_INVALID", [
        "namespace",
        "a namespace name such as '/'",
      ]);
    }
    if (this.#options.sio.mappedNamespace(value) === undefined) {
      return new SwitchyardError("SWY_API_NAMESPACE_UNKNOWN", [clip(value)]);
    }
    return value;
  }

  /**
   * Answers an error of the catalogue and counts it. Unless the body has been read
   * (`isBodyRead`), a request that carries one gets its connection closed rather than
   * its rest read.
   */
  #fail(
    req: IncomingMessage,
    res: ServerResponse,
    error: SwitchyardError,
    headers: Record<string, string> = {},
    isBodyRead = false,
  ): void {
    metrics.errors.inc({ code: error.code });
    const suppressed = this.#refusalLines.take();
    if (suppressed !== undefined) {
      this.#options.log.info(
        {
          code: error.code,
          method: req.method,
          path: pathOf(req.url),
          address: req.socket.remoteAddress,
          reqId: requestIdOf(req),
          ...(suppressed > 0 ? { suppressed } : {}),
        },
        `API request refused: ${error.message}`,
      );
    }
    if (!isBodyRead && hasBody(req)) res.shouldKeepAlive = false;
    json(res, error.spec.status ?? 500, error.toJSON(), headers);
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
}

/**
 * Reads a whole request body of at most `limit` bytes, then calls `done` with it, or
 * with `undefined` as soon as it is known to be larger (the rest is not read). A
 * request that fails midway never calls `done`: there is no one to answer.
 */
/** A drain's body: `{percent, spreadMs?}`, or the first problem with it. */
function parseDrain(
  body: Buffer,
  defaultSpread: number,
): SwitchyardError | { percent: number; spreadMs: number } {
  const text = body.toString("utf8");
  // A drain's body is one flat object: anything nested is refused before it is parsed.
  if (textExceedsDepth(text, 1)) {
    return new SwitchyardError("SWY_API_BAD_JSON", ["it must be one object of numbers"]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new SwitchyardError("SWY_API_BAD_JSON", ["it is not valid JSON"]);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new SwitchyardError("SWY_API_BAD_JSON", ["it is not an object"]);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== "percent" && key !== "spreadMs")
      return new SwitchyardError("SWY_API_FIELD_UNKNOWN", [key]);
  }
  const { percent, spreadMs = defaultSpread } = record;
  if (percent === undefined) return new SwitchyardError("SWY_API_FIELD_REQUIRED", ["percent"]);
  if (typeof percent !== "number" || !(percent >= 0 && percent <= 100)) {
    return new SwitchyardError("SWY_API_FIELD_INVALID", ["percent", "a number from 0 to 100"]);
  }
  if (
    typeof spreadMs !== "number" ||
    !Number.isInteger(spreadMs) ||
    spreadMs < 0 ||
    spreadMs > 3_600_000
  ) {
    return new SwitchyardError("SWY_API_FIELD_INVALID", [
      "spreadMs",
      "an integer from 0 to 3600000",
    ]);
  }
  return { percent, spreadMs };
}

function readBody(
  req: IncomingMessage,
  limit: number,
  done: (body: Buffer | undefined) => void,
): void {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) {
    done(undefined);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      req.off("data", onData);
      req.off("end", onEnd);
      done(undefined);
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => done(Buffer.concat(chunks, size));
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", () => req.off("end", onEnd));
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...headers,
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

function describeJson(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  return `a ${typeof value}`;
}

/** Echoes a client's text in a message, cut short. */
function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

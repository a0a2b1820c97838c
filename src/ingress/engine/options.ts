/** Cross-origin settings for every HTTP request of the engine, preflight included. */
export interface CorsOptions {
  /**
   * Allowed origins; `"*"` allows any. A list is enforced, not only advertised: a
   * polling request or WebSocket upgrade whose `Origin` header is not in it is refused
   * with 403 SWY_EIO_ORIGIN_FORBIDDEN. Requests without `Origin` pass.
   */
  readonly origin: "*" | readonly string[];
  readonly credentials: boolean;
  readonly methods: readonly string[];
  readonly allowedHeaders: readonly string[];
  /** Seconds a preflight answer may be cached. */
  readonly maxAge: number;
}

/** The sticky-session cookie set on the handshake response. */
export interface CookieOptions {
  readonly name: string;
  readonly path: string;
  readonly httpOnly: boolean;
  /** Sent only over HTTPS; browsers drop a `SameSite=None` cookie without it. */
  readonly secure: boolean;
  readonly sameSite: "Strict" | "Lax" | "None";
}

/** Engine.IO server options. Every field is required: defaults live in the mapping schema. */
export interface EngineOptions {
  /** The request path, with leading and trailing slash, e.g. `/socket.io/`. */
  readonly path: string;
  readonly transports: readonly ("polling" | "websocket")[];
  /** Also accept Engine.IO v3 (socket.io 2.x clients); otherwise EIO=3 gets 400. */
  readonly allowEIO3: boolean;
  /** ms between server pings. */
  readonly pingInterval: number;
  /** ms the client has to answer a ping. */
  readonly pingTimeout: number;
  /** ms a WebSocket upgrade may take from probe to `5`. */
  readonly upgradeTimeout: number;
  /** Largest polling body / WebSocket message in bytes, announced as `maxPayload`. */
  readonly maxHttpBufferSize: number;
  /** Bytes queued for one session before it is closed as a slow consumer. */
  readonly maxQueuedBytes: number;
  readonly cors: CorsOptions | false;
  readonly cookie: CookieOptions | false;
  /**
   * Text every session id starts with: a cluster node's tag, so that any node can
   * tell which node owns a session. Ids stay 20 characters. Default none.
   */
  readonly sessionIdPrefix?: string;
  /**
   * Where the engine reports what an operator should know of (a client's message over
   * `maxHttpBufferSize`), at most a few lines a minute. Default none: nothing is logged.
   */
  readonly log?: EngineLog;
}

/** The part of a pino logger the engine writes to. */
export interface EngineLog {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
  isLevelEnabled(level: string): boolean;
}

/** Why a session closed. The first six are the reasons engine.io reports too. */
export type CloseReason =
  | "transport close"
  | "transport error"
  | "ping timeout"
  | "parse error"
  | "forced close"
  | "server shutting down"
  | "slow consumer";

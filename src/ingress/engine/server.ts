import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import cors from "cors";
import { WebSocketServer } from "ws";
import { type ErrorCode, SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type { CloseReason, CookieOptions, EngineOptions } from "./options.js";
import { Session, type SessionHost } from "./session.js";
import { sendError } from "./transports/polling.js";

type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** A new session, handed to the layer above before the open packet is flushed. */
export type ConnectionHandler = (session: Session, req: IncomingMessage) => void;

/**
 * The Engine.IO v4 server: validates every request against the handshake error
 * table, creates sessions and routes later requests to them. It owns no HTTP
 * server; the host hands it the requests and upgrades under its path.
 */
export class EngineServer implements SessionHost {
  readonly options: EngineOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #wss: WebSocketServer;
  readonly #cors: Middleware | undefined;
  /** The origins a browser request may come from; undefined: any. */
  readonly #origins: ReadonlySet<string> | undefined;
  readonly #onConnection: ConnectionHandler;
  #isClosing = false;

  constructor(options: EngineOptions, onConnection: ConnectionHandler) {
    this.options = options;
    this.#onConnection = onConnection;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxHttpBufferSize,
      perMessageDeflate: false,
      clientTracking: false,
    });
    if (options.cookie !== false) {
      const cookie = options.cookie;
      this.#wss.on("headers", (headers: string[], req: IncomingMessage) => {
        const sid = (req as RequestWithSid).switchyardSid;
        if (sid !== undefined) headers.push(`Set-Cookie: ${serializeCookie(cookie, sid)}`);
      });
    }
    this.#cors =
      options.cors === false
        ? undefined
        : (cors({
            origin: options.cors.origin === "*" ? "*" : [...options.cors.origin],
            credentials: options.cors.credentials,
            methods: [...options.cors.methods],
            allowedHeaders:
              options.cors.allowedHeaders.length > 0 ? [...options.cors.allowedHeaders] : undefined,
            maxAge: options.cors.maxAge,
            optionsSuccessStatus: 204,
          }) as Middleware);
    this.#origins =
      options.cors === false || options.cors.origin === "*"
        ? undefined
        : new Set(options.cors.origin);
  }

  /** Open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Whether `sid` is an open session of this server. */
  hasSession(sid: string): boolean {
    return this.#sessions.has(sid);
  }

  /** Handles an HTTP request under the engine path (polling, or CORS preflight). */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#cors === undefined) {
      this.#onRequest(req, res);
      return;
    }
    this.#cors(req, res, () => this.#onRequest(req, res));
  }

  /** Handles an HTTP upgrade under the engine path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.#isOriginAllowed(req)) {
      rejectUpgrade(socket, new SwitchyardError("SWY_EIO_ORIGIN_FORBIDDEN"));
      return;
    }
    const query = parseQuery(req.url);
    const problem = this.#verify(req, query, true);
    if (problem !== undefined) {
      rejectUpgrade(socket, new SwitchyardError(problem));
      return;
    }
    const sid = query.get("sid");
    if (sid === null) (req as RequestWithSid).switchyardSid = this.#newId();
    // Engine.IO v3 clients that cannot take binary frames ask for base64 with b64=1.
    const supportsBinary = query.get("b64") === null;
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      if (sid !== null) {
        const session = this.#sessions.get(sid);
        if (session === undefined) ws.close();
        else session.onUpgradeRequest(ws, socket, supportsBinary);
        return;
      }
      const id = (req as RequestWithSid).switchyardSid!;
      const session = new Session(id, this, protocolOf(query), { ws, socket, supportsBinary });
      this.#open(session, req);
    });
  }

  /** Closes every session and refuses new ones. */
  close(): void {
    this.#isClosing = true;
    // Polling sessions keep their sid briefly so the next GET collects what was queued.
    for (const session of [...this.#sessions.values()]) session.close("server shutting down");
  }

  onSessionClosed(session: Session, reason: CloseReason, code?: ErrorCode): void {
    metrics.connections.dec();
    metrics.sessionsClosed.inc({ reason });
    const errorCode = code ?? ERROR_OF_REASON[reason];
    if (errorCode !== undefined) metrics.errors.inc({ code: errorCode });
    if (session.isLingering) {
      // Keeps the sid just long enough for the client's next GET to collect the close.
      setTimeout(() => this.#forget(session), this.options.pingTimeout).unref();
      return;
    }
    this.#forget(session);
  }

  #forget(session: Session): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.#isOriginAllowed(req)) {
      sendError(res, {}, new SwitchyardError("SWY_EIO_ORIGIN_FORBIDDEN"));
      return;
    }
    const query = parseQuery(req.url);
    const problem = this.#verify(req, query, false);
    if (problem !== undefined) {
      sendError(res, {}, new SwitchyardError(problem));
      return;
    }
    const sid = query.get("sid");
    if (sid === null) {
      // Engine.IO v3 clients that cannot take binary bodies ask for base64 with b64=1.
      const polling = { supportsBinary: query.get("b64") === null };
      const session = new Session(this.#newId(), this, protocolOf(query), { polling });
      const headers: Record<string, string> = {};
      if (this.options.cookie !== false) {
        headers["Set-Cookie"] = serializeCookie(this.options.cookie, session.id);
      }
      this.#open(session, req);
      session.onPollingRequest(req, res, headers);
      return;
    }
    const session = this.#sessions.get(sid)!;
    if (session.isClosed && (req.method !== "GET" || !session.isLingering)) {
      // Only a GET may still collect what a closed session owes its client.
      this.#forget(session);
      sendError(res, {}, new SwitchyardError("SWY_EIO_SESSION_UNKNOWN"));
      return;
    }
    session.onPollingRequest(req, res, {});
    if (session.isClosed && !session.isLingering) this.#forget(session);
  }

  #open(session: Session, req: IncomingMessage): void {
    this.#sessions.set(session.id, session);
    metrics.connections.inc();
    metrics.sessionsOpened.inc({ transport: session.transportName });
    session.open();
    this.#onConnection(session, req);
  }

  /**
   * CORS headers only stop a page from reading the answer; the request itself would
   * still open, feed or upgrade a session, and WebSocket upgrades ignore CORS
   * entirely. So an origin list is enforced here. A request without `Origin` comes
   * from a non-browser client, which no page can drive.
   */
  #isOriginAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return this.#origins === undefined || origin === undefined || this.#origins.has(origin);
  }

  /** The handshake error table, checked in the order engine.io checks it. */
  #verify(req: IncomingMessage, query: URLSearchParams, isUpgrade: boolean): ErrorCode | undefined {
    const eio = query.get("EIO");
    if (eio !== "4" && !(eio === "3" && this.options.allowEIO3)) {
      return "SWY_EIO_UNSUPPORTED_PROTOCOL";
    }
    // JSONP polling (engine.io's `j` parameter) is not served.
    if (query.has("j")) return "SWY_EIO_TRANSPORT_UNKNOWN";
    const transport = query.get("transport");
    if (
      (transport !== "polling" && transport !== "websocket") ||
      !this.options.transports.includes(transport) ||
      (transport === "websocket") !== isUpgrade
    ) {
      return "SWY_EIO_TRANSPORT_UNKNOWN";
    }
    const sid = query.get("sid");
    if (sid !== null) {
      const session = this.#sessions.get(sid);
      if (session === undefined) return "SWY_EIO_SESSION_UNKNOWN";
      if (String(session.protocol) !== eio) return "SWY_EIO_BAD_REQUEST";
      if (!isUpgrade && session.transportName !== "polling") return "SWY_EIO_BAD_REQUEST";
      if (!isUpgrade && req.method !== "GET" && req.method !== "POST") return "SWY_EIO_BAD_REQUEST";
      return undefined;
    }
    if (!isUpgrade && req.method !== "GET") return "SWY_EIO_BAD_HANDSHAKE_METHOD";
    if (this.#isClosing) return "SWY_EIO_FORBIDDEN";
    return undefined;
  }

  #newId(): string {
    const prefix = this.options.sessionIdPrefix ?? "";
    return prefix + randomBytes(15).toString("base64url").slice(prefix.length);
  }
}

/** The error each kind of close counts as, unless the closer named a more precise one. */
const ERROR_OF_REASON: Partial<Record<CloseReason, ErrorCode>> = {
  "parse error": "SWY_SESSION_PARSE_ERROR",
  "ping timeout": "SWY_SESSION_PING_TIMEOUT",
  "slow consumer": "SWY_SESSION_SLOW_CONSUMER",
};

interface RequestWithSid extends IncomingMessage {
  switchyardSid?: string;
}

/** `EIO` has been checked: 3 or 4. */
function protocolOf(query: URLSearchParams): 3 | 4 {
  return query.get("EIO") === "3" ? 3 : 4;
}

function parseQuery(url: string | undefined): URLSearchParams {
  const index = url?.indexOf("?") ?? -1;
  return new URLSearchParams(index === -1 ? "" : url!.slice(index + 1));
}

function serializeCookie(cookie: CookieOptions, sid: string): string {
  let value = `${cookie.name}=${encodeURIComponent(sid)}; Path=${cookie.path}`;
  if (cookie.httpOnly) value += "; HttpOnly";
  if (cookie.secure) value += "; Secure";
  value += `; SameSite=${cookie.sameSite}`;
  return value;
}

/** Refuses a WebSocket upgrade the way engine.io does: a raw 400 or 403 and the socket destroyed. */
function rejectUpgrade(socket: Duplex, error: SwitchyardError): void {
  metrics.errors.inc({ code: error.code });
  const body = JSON.stringify({ code: error.spec.eioCode ?? error.code, message: error.message });
  const status = error.spec.status ?? 400;
  socket.end(
    `HTTP/1.1 ${status} ${status === 403 ? "Forbidden" : "Bad Request"}\r\n` +
      "Connection: close\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import cors from "cors";
import { WebSocketServer } from "ws";
import { type ErrorCode, SwitchyardError } from "../../errors.js";
import { requestIdOf } from "../../log.js";
import { LogBudget } from "../../log-budget.js";
import { metrics } from "../../metrics.js";
import type { CloseReason, CookieOptions, EngineOptions } from "./options.js";
import { randomId } from "./random-id.js";
import { Session, type SessionHost } from "./session.js";
import { TimerWheel } from "./timer-wheel.js";
import { sendError } from "./transports/polling.js";
import { webSocketClass } from "./transports/websocket.js";

/** Lines about oversize messages per minute; a client repeating them cannot flood the log. */
const OVERSIZE_LINES_PER_MINUTE = 10;

/** How often a drain closes its next batch of sessions, in ms (less often for a shorter spread). */
const DRAIN_TICK_MS = 100;

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
  readonly heartbeats: TimerWheel;
  readonly #sessions = new Map<string, Session>();
  readonly #wss: WebSocketServer;
  readonly #cors: Middleware | undefined;
  /** The origins a browser request may come from; undefined: any. */
  readonly #origins: ReadonlySet<string> | undefined;
  readonly #onConnection: ConnectionHandler;
  readonly #oversizeLines = new LogBudget(OVERSIZE_LINES_PER_MINUTE, 60_000);
  #isClosing = false;
  #isDraining = false;
  /** Ends a drain in progress at once (its sessions are closed by then). */
  #endDrain: (() => void) | undefined;

  constructor(options: EngineOptions, onConnection: ConnectionHandler) {
    this.options = options;
    this.heartbeats = heartbeatWheel(options);
    this.#onConnection = onConnection;
    const tooLarge = new SwitchyardError("SWY_EIO_PAYLOAD_TOO_LARGE", [options.maxHttpBufferSize]);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxHttpBufferSize,
      // Its 1009 close for a message over maxPayload names the code and the limit.
      WebSocket: webSocketClass(`${tooLarge.code}: ${tooLarge.message}`),
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
    // A client's next request then opens a new connection, which a load balancer that
    // balances connections (not requests) can send to another node.
    if (this.#isDraining) res.shouldKeepAlive = false;
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
    if (sid === null) {
      (req as RequestWithSid).switchyardSid = this.#newId();
      // `ws` writes its 101 answer at once; corked, it leaves with the open packet in one write
      // (the transport's first flush uncorks), one system call fewer per connection.
      socket.cork();
    }
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

  /**
   * Starts a graceful drain: from now on new handshakes and WebSocket upgrades are
   * refused with SWY_DRAINING (503), and the sessions open now are closed (`server
   * shutting down`: their clients see a transport close and reconnect, through the load
   * balancer, to another node) in equal batches spread over `spreadMs`, one every
   * 100 ms (or once, after `spreadMs`, when shorter), the last by `spreadMs`. Requests of sessions not
   * yet closed are served as before. Resolves once every one of them is closed, or once
   * {@link close} closed the rest; calling it again returns at once.
   */
  drain(spreadMs: number): Promise<void> {
    if (this.#isDraining || this.#isClosing) return Promise.resolve();
    this.#isDraining = true;
    const sessions = [...this.#sessions.values()];
    const ticks = Math.max(1, Math.ceil(spreadMs / DRAIN_TICK_MS));
    const startedAt = performance.now();
    let tick = 0;
    let done = 0;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#endDrain = () => {
        clearTimeout(timer);
        this.#endDrain = undefined;
        resolve();
      };
      const next = (): void => {
        tick += 1;
        // Rounded up: a session goes at the first tick, and a few finish before the end.
        const due = Math.ceil((sessions.length * tick) / ticks);
        for (; done < due; done += 1) {
          const session = sessions[done]!;
          if (session.isClosed) continue;
          metrics.drainClosedSessions.inc();
          session.close("server shutting down");
        }
        if (done >= sessions.length) {
          this.#endDrain?.();
          return;
        }
        // Timed from the start, so that slow ticks do not stretch the spread.
        const at = startedAt + (spreadMs * (tick + 1)) / ticks;
        timer = setTimeout(next, Math.max(0, at - performance.now()));
      };
      if (sessions.length === 0) this.#endDrain();
      else timer = setTimeout(next, spreadMs / ticks);
    });
  }

  /** Closes every session and refuses new ones. */
  close(): void {
    this.#isClosing = true;
    this.#endDrain?.();
    // Polling sessions keep their sid briefly so the next GET collects what was queued.
    for (const session of [...this.#sessions.values()]) session.close("server shutting down");
  }

  onSessionClosed(session: Session, reason: CloseReason, code?: ErrorCode): void {
    metrics.connections.dec();
    metrics.sessionsClosed.inc({ reason });
    const errorCode = code ?? ERROR_OF_REASON[reason];
    if (errorCode !== undefined) metrics.errors.inc({ code: errorCode });
    const log = this.options.log;
    if (log?.isLevelEnabled("debug")) {
      log.debug(
        { sid: session.id, reason, code: errorCode, reqId: session.requestId },
        "session closed",
      );
    }
    if (session.isLingering) {
      // Keeps the sid just long enough for the client's next GET to collect the close.
      setTimeout(() => this.#forget(session), this.options.pingTimeout).unref();
      return;
    }
    this.#forget(session);
  }

  onPayloadTooLarge(session: Session, transport: "polling" | "websocket", size?: number): void {
    // A polling POST's 413 is counted where it is answered, a WebSocket's in its session's close.
    const suppressed = this.#oversizeLines.take();
    if (suppressed === undefined || this.options.log === undefined) return;
    const limit = this.options.maxHttpBufferSize;
    const answer =
      transport === "websocket" ? "the WebSocket was closed (1009)" : "the POST got 413";
    const bytes = size === undefined ? `more than ${limit}` : String(size);
    this.options.log.warn(
      {
        code: "SWY_EIO_PAYLOAD_TOO_LARGE",
        sid: session.id,
        transport,
        size,
        limit,
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      `client message of ${bytes} bytes is over server.limits.maxHttpBufferSize (${limit} bytes): ${answer}`,
    );
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

  onSessionUpgraded(session: Session): void {
    const log = this.options.log;
    if (log?.isLevelEnabled("debug")) {
      log.debug({ sid: session.id, reqId: session.requestId }, "session upgraded to websocket");
    }
  }

  #open(session: Session, req: IncomingMessage): void {
    session.requestId = requestIdOf(req);
    const log = this.options.log;
    if (log?.isLevelEnabled("debug")) {
      log.debug(
        {
          sid: session.id,
          transport: session.transportName,
          protocol: session.protocol,
          address: req.socket.remoteAddress,
          reqId: session.requestId,
        },
        "session opened",
      );
    }
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
      // The session is closed soon: an upgrade would only be cut; it stays on polling.
      if (isUpgrade && this.#isDraining) return "SWY_DRAINING";
      return undefined;
    }
    if (!isUpgrade && req.method !== "GET") return "SWY_EIO_BAD_HANDSHAKE_METHOD";
    if (this.#isClosing) return "SWY_EIO_FORBIDDEN";
    if (this.#isDraining) return "SWY_DRAINING";
    return undefined;
  }

  #newId(): string {
    const prefix = this.options.sessionIdPrefix ?? "";
    return prefix + randomId().slice(prefix.length);
  }
}

/** The coarsest heartbeat resolution, ms: a ping or a timeout is at most this late. */
const MAX_HEARTBEAT_TICK_MS = 250;

/**
 * The sessions' heartbeat wheel: a tick of 1/20 of the shorter of pingInterval and
 * pingTimeout (250 ms at most: 250 with the defaults 25 s / 20 s), so a ping or a timeout
 * comes at most 5 % of it late and never early.
 */
function heartbeatWheel(options: EngineOptions): TimerWheel {
  const { pingInterval, pingTimeout } = options;
  const tick = Math.min(MAX_HEARTBEAT_TICK_MS, Math.min(pingInterval, pingTimeout) / 20);
  return new TimerWheel(tick, pingInterval + pingTimeout);
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

/**
 * Refuses a WebSocket upgrade the way engine.io does: a raw 400 or 403 (503 while
 * draining) and the socket destroyed.
 */
function rejectUpgrade(socket: Duplex, error: SwitchyardError): void {
  metrics.errors.inc({ code: error.code });
  const body = JSON.stringify({ code: error.spec.eioCode ?? error.code, message: error.message });
  const status = error.spec.status ?? 400;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      "Connection: close\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

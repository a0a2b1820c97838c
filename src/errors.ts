/**
 * The one catalogue of Switchyard's coded errors.
 *
 * Every code says what happened and what the client or operator sees because of
 * it (its wire consequence). docs/errors.md documents each code; a unit test keeps
 * the two in step. Codes are never reused once retired.
 */

/** Where an error surfaces. */
export type ErrorSurface =
  /** HTTP response (Engine.IO request or the HTTP API): `status` and body `{code, message}`. */
  | "http"
  /** The Engine.IO session is closed. */
  | "session"
  /** A Socket.IO CONNECT_ERROR packet to the client. */
  | "connect"
  /** The ack of the client's event carries `{ ok: false, error: { code, message } }`. */
  | "ack"
  /** A diagnostic printed for a configuration file. */
  | "config"
  /** `switchyard start` cannot run: one line `CODE message` on stderr, exit code 1. */
  | "start"
  /** A rejected promise in the process (server-side API). */
  | "api";

export interface ErrorSpec {
  readonly message: string;
  readonly surface: ErrorSurface;
  /**
   * HTTP status for `http` errors, and for an error of another surface that the
   * HTTP API can answer too (SWY_PUBLISH_FAILED: 502, a backend's publish errors).
   */
  readonly status?: number;
  /** Engine.IO handshake error number (0–5) for `http` errors of the Engine.IO table. */
  readonly eioCode?: number;
}

/**
 * The catalogue. Message templates use `%s` slots filled in order by
 * {@link SwitchyardError}'s arguments.
 */
export const ERRORS = {
  // Engine.IO handshake and request errors: the wire table socket.io clients know.
  SWY_EIO_TRANSPORT_UNKNOWN: {
    message: "Transport unknown",
    surface: "http",
    status: 400,
    eioCode: 0,
  },
  SWY_EIO_SESSION_UNKNOWN: {
    message: "Session ID unknown",
    surface: "http",
    status: 400,
    eioCode: 1,
  },
  SWY_EIO_BAD_HANDSHAKE_METHOD: {
    message: "Bad handshake method",
    surface: "http",
    status: 400,
    eioCode: 2,
  },
  SWY_EIO_BAD_REQUEST: { message: "Bad request", surface: "http", status: 400, eioCode: 3 },
  SWY_EIO_FORBIDDEN: { message: "Forbidden", surface: "http", status: 403, eioCode: 4 },
  SWY_EIO_UNSUPPORTED_PROTOCOL: {
    message: "Unsupported protocol version",
    surface: "http",
    status: 400,
    eioCode: 5,
  },
  SWY_EIO_PAYLOAD_TOO_LARGE: {
    message: "Payload exceeds maxHttpBufferSize (%s bytes)",
    surface: "http",
    status: 413,
  },
  // A browser page on an origin `server.cors.origin` does not list: refused before any session is touched.
  SWY_EIO_ORIGIN_FORBIDDEN: {
    message: "Origin not allowed",
    surface: "http",
    status: 403,
  },
  SWY_HTTP_NOT_FOUND: { message: "Not found", surface: "http", status: 404 },
  // SIGTERM/SIGINT: the node closes its sessions so that their clients reconnect elsewhere.
  SWY_DRAINING: {
    message: "This node is shutting down; connect to another node",
    surface: "http",
    status: 503,
  },
  // A request relayed to the node that owns its session, which could not be reached.
  SWY_RELAY_FAILED: {
    message: "The node that owns this session could not be reached",
    surface: "http",
    status: 502,
  },
  SWY_API_PASSTHROUGH_OFF: {
    message: "This node relays nothing: the file has no passthrough",
    surface: "http",
    status: 404,
  },
  SWY_PASSTHROUGH_UNAVAILABLE: {
    message: "The Socket.IO server behind this proxy could not be reached (%s)",
    surface: "http",
    status: 502,
  },

  // The HTTP API (`/api/v1/...`, when the file has an `api` block).
  SWY_API_UNAUTHORIZED: {
    message: "Missing or wrong bearer token",
    surface: "http",
    status: 401,
  },
  SWY_API_METHOD_NOT_ALLOWED: {
    message: "%s is not allowed here; use %s",
    surface: "http",
    status: 405,
  },
  SWY_API_PAYLOAD_TOO_LARGE: {
    message: "Body exceeds maxHttpBufferSize (%s bytes)",
    surface: "http",
    status: 413,
  },
  SWY_API_BAD_JSON: { message: "The body must be a JSON object: %s", surface: "http", status: 400 },
  SWY_API_FIELD_REQUIRED: { message: "Missing required field '%s'", surface: "http", status: 400 },
  SWY_API_FIELD_UNKNOWN: { message: "Unknown field '%s'", surface: "http", status: 400 },
  SWY_API_FIELD_INVALID: { message: "Field '%s' must be %s", surface: "http", status: 400 },
  SWY_API_NAMESPACE_UNKNOWN: {
    message: "Namespace '%s' is not configured",
    surface: "http",
    status: 400,
  },
  SWY_API_EVENT_RESERVED: {
    message: "Event name '%s' is reserved by Socket.IO",
    surface: "http",
    status: 400,
  },
  SWY_API_ROOM_INVALID: {
    message: "Room must be a non-empty string of at most %s characters",
    surface: "http",
    status: 400,
  },
  SWY_CONSOLE_FILES_MISSING: {
    message: "The migration console's page is not built on this node (npm run build)",
    surface: "http",
    status: 503,
  },
  SWY_API_CONSOLE_BUSY: {
    message:
      "%s migration console streams are open on this node already (server.limits.maxConsoleStreams)",
    surface: "http",
    status: 429,
  },

  // Session-level failures: the Engine.IO session is closed.
  SWY_SESSION_PARSE_ERROR: { message: "Malformed packet: %s", surface: "session" },
  SWY_SESSION_PING_TIMEOUT: { message: "No pong within pingTimeout", surface: "session" },
  SWY_SESSION_CONNECT_TIMEOUT: {
    message: "No Socket.IO CONNECT within connectTimeout",
    surface: "session",
  },
  SWY_SESSION_SLOW_CONSUMER: {
    message: "Queued bytes exceeded maxQueuedBytes (%s)",
    surface: "session",
  },
  SWY_SESSION_TOO_MANY_ATTACHMENTS: {
    message: "Too many binary attachments (limit %s)",
    surface: "session",
  },
  SWY_SESSION_CONCURRENT_POLL: {
    message: "A second %s request arrived while one was pending",
    surface: "session",
  },

  // Socket.IO namespace connection refusals: CONNECT_ERROR with {message, data}.
  SWY_NAMESPACE_INVALID: { message: "Invalid namespace", surface: "connect" },
  SWY_CONNECT_REFUSED: { message: "%s", surface: "connect" },
  // Also reaches an event's ack when a forward rule fails unexpectedly (docs/errors.md).
  SWY_INTERNAL: { message: "Internal error: %s", surface: "connect" },
  // `auth: { jwt }` namespaces: the message is exactly what the client's connect_error shows.
  SWY_AUTH_REQUIRED: { message: "Authentication required", surface: "connect" },
  SWY_AUTH_INVALID: { message: "Invalid token", surface: "connect" },
  SWY_AUTH_EXPIRED: { message: "Token expired", surface: "connect" },
  // A valid signature on a token that never expires: refused unless `allowNoExpiry: true`.
  SWY_AUTH_EXPIRY_REQUIRED: { message: "Token has no expiry", surface: "connect" },
  // With `maxTokenAge`, a token must say when it was issued.
  SWY_AUTH_ISSUED_AT_REQUIRED: { message: "Token has no issue time", surface: "connect" },
  // `auth: { webhook }` namespaces: the app's own message and code, when it gives them, win.
  SWY_AUTH_REFUSED: { message: "Connection refused by the app", surface: "connect" },
  SWY_AUTH_UNAVAILABLE: { message: "Authentication is unavailable", surface: "connect" },

  // Event rules: the client's ack gets {ok:false, error:{code, message}}.
  SWY_EVENT_UNKNOWN: { message: "No rule handles event '%s'", surface: "ack" },
  SWY_ROOM_INVALID: {
    message: "Room must be a non-empty string of at most %s characters",
    surface: "ack",
  },
  SWY_ROOM_NOT_ALLOWED: { message: "Room '%s' is not allowed by this rule", surface: "ack" },
  SWY_ROOM_NOT_MEMBER: { message: "Not a member of room '%s'", surface: "ack" },
  // The room's backend did not confirm the channel subscription within server.joinTimeout.
  SWY_SUBSCRIBE_FAILED: {
    message: "Room '%s' could not be subscribed on backend '%s': %s",
    surface: "ack",
  },
  // The route's channel template, with the room's text escaped, is too long for the backend.
  SWY_CHANNEL_INVALID: {
    message: "Room '%s' needs a channel of %s characters on backend '%s' (at most %s)",
    surface: "ack",
  },
  // The room is the id of a connected socket: joining it would receive what is sent to that socket.
  SWY_ROOM_RESERVED: { message: "Room '%s' is the id of a connected socket", surface: "ack" },

  // Budgets (docs/security.md): each refuses only the event that passes it.
  SWY_PAYLOAD_TOO_DEEP: {
    message: "Data nests deeper than %s levels (limits.maxDepth)",
    surface: "ack",
    // The publish API refuses a body nested too deep with the same code.
    status: 400,
  },
  SWY_RATE_LIMITED: {
    message: "More than %s events per second (limits.eventsPerSecond); slow down",
    surface: "ack",
  },
  SWY_ROOM_LIMIT: {
    message: "A socket may be in at most %s rooms (limits.maxRoomsPerSocket)",
    surface: "ack",
  },
  SWY_PUBLISH_BUSY: {
    message: "%s publications of this socket are still waiting for their backend",
    surface: "ack",
  },
  SWY_FORWARD_BUSY: {
    message: "Too many events are waiting for the app (%s); try again",
    surface: "ack",
  },
  // Messages that reach clients never carry a cause's text (hosts, ports): the log has it.
  SWY_PUBLISH_FAILED: {
    message: "Publish to room '%s' failed: %s",
    surface: "ack",
    // The publish API answers the same failure with this status.
    status: 502,
  },

  // `action: forward` rules: the app's answer went wrong. Never names the URL or headers.
  SWY_FORWARD_BINARY: {
    message: "Event '%s' carries binary data, which forward rules do not send",
    surface: "ack",
  },
  SWY_FORWARD_UNAVAILABLE: { message: "The app could not be reached", surface: "ack" },
  SWY_FORWARD_TIMEOUT: { message: "The app did not answer within %s ms", surface: "ack" },
  SWY_FORWARD_REJECTED: { message: "The app refused the event with HTTP %s", surface: "ack" },
  SWY_FORWARD_BAD_RESPONSE: { message: "The app's answer is malformed: %s", surface: "ack" },

  // Backends of kind `pusher`: a publication reaches the sender's ack as the message of
  // SWY_PUBLISH_FAILED; subscription and connection trouble is logged and counted.
  SWY_PUSHER_PAYLOAD_TOO_LARGE: {
    message: "Event data is %s bytes; Pusher accepts at most %s",
    surface: "ack",
    status: 413,
  },
  SWY_PUSHER_CHANNEL_INVALID: {
    message: "Channel '%s' cannot be used on Pusher: %s",
    surface: "ack",
    status: 400,
  },
  SWY_PUSHER_EVENT_INVALID: {
    message: "Event '%s' cannot be published on Pusher: %s",
    surface: "ack",
    status: 400,
  },
  SWY_PUSHER_REJECTED: {
    message: "Pusher refused the publication with HTTP %s",
    surface: "ack",
    status: 502,
  },
  SWY_PUSHER_UNAVAILABLE: {
    message: "Pusher could not be reached: %s",
    surface: "ack",
    status: 503,
  },
  SWY_PUSHER_QUEUE_FULL: {
    message: "%s publications are already waiting for Pusher (maxQueued)",
    surface: "ack",
    status: 503,
  },
  SWY_PUSHER_CLOSED: { message: "The Pusher backend is closed", surface: "ack", status: 503 },
  SWY_PUSHER_SUBSCRIBE_FAILED: {
    message: "Subscription to '%s' not confirmed: %s; retrying",
    surface: "api",
  },
  SWY_PUSHER_CONNECT_REFUSED: {
    message: "Pusher refused the connection (%s): %s",
    surface: "api",
  },

  // Backends of kind `ably`: a publication's failure reaches the sender's ack as it is;
  // attach and connection trouble is logged and counted. Ably's own codes travel in the message.
  SWY_ABLY_PAYLOAD_TOO_LARGE: {
    message: "Message is %s bytes; Ably accepts at most %s",
    surface: "ack",
    status: 413,
  },
  SWY_ABLY_CHANNEL_INVALID: {
    message: "Channel '%s' cannot be used on Ably: %s",
    surface: "ack",
    status: 400,
  },
  SWY_ABLY_REJECTED: {
    message: "Ably refused the publication (%s)",
    surface: "ack",
    status: 502,
  },
  SWY_ABLY_THROTTLED: {
    message: "Ably is throttling publications (%s); slow down",
    surface: "ack",
    status: 429,
  },
  SWY_ABLY_UNAVAILABLE: { message: "Ably could not be reached: %s", surface: "ack", status: 503 },
  SWY_ABLY_QUEUE_FULL: {
    message: "%s publications are already waiting for Ably (maxQueued)",
    surface: "ack",
    status: 503,
  },
  SWY_ABLY_CLOSED: { message: "The Ably backend is closed", surface: "ack", status: 503 },
  SWY_ABLY_SUBSCRIBE_FAILED: {
    message: "Ably did not attach channel '%s' (%s); retrying",
    surface: "api",
  },
  SWY_ABLY_CONNECT_REFUSED: {
    message: "Ably refused the connection (%s)",
    surface: "api",
  },
  SWY_WS_PAYLOAD_TOO_LARGE: {
    message: "The frame would be %s bytes; the bus takes at most %s (maxFrameBytes)",
    surface: "ack",
    status: 413,
  },
  SWY_WS_CHANNEL_INVALID: {
    message: "Channel '%s' cannot be used on the bus: %s",
    surface: "ack",
    status: 400,
  },
  SWY_WS_REJECTED: { message: "The bus refused the publication (%s)", surface: "ack", status: 502 },
  SWY_WS_UNAVAILABLE: {
    message: "The bus could not be reached: %s",
    surface: "ack",
    status: 503,
  },
  SWY_WS_QUEUE_FULL: {
    message: "%s publications are already waiting for the bus (maxQueued)",
    surface: "ack",
    status: 503,
  },
  SWY_WS_HOLDS_FULL: {
    message:
      "%s channels are already subscribed only for publishing (the bus takes publications only on subscribed channels); try again later",
    surface: "ack",
    status: 503,
  },
  SWY_WS_CLOSED: { message: "The websocket backend is closed", surface: "ack", status: 503 },
  SWY_WS_SUBSCRIBE_FAILED: {
    message: "The bus did not confirm channel '%s' (%s); retrying",
    surface: "api",
  },
  SWY_WS_CONNECT_REFUSED: {
    message: "The bus refused the connection (%s)",
    surface: "api",
  },

  // Backends of kind `native` with `redis` settings: a publication reaches the sender's ack
  // as the message of SWY_PUBLISH_FAILED; cluster requests reject the server-side API.
  SWY_NATIVE_REDIS_UNAVAILABLE: {
    message: "Redis could not be reached",
    surface: "ack",
    status: 503,
  },
  SWY_NATIVE_REDIS_ENCODE_FAILED: {
    message: "'%s' cannot be encoded for Redis: %s",
    surface: "ack",
    status: 400,
  },
  SWY_NATIVE_REDIS_CLOSED: {
    message: "The native backend's Redis connections are closed",
    surface: "ack",
    status: 503,
  },
  SWY_NATIVE_REDIS_TIMEOUT: {
    message: "Cluster request '%s': %s of %s nodes answered within %s ms",
    surface: "api",
    status: 504,
  },

  // The Admin UI's namespace (`adminUi:`, docs/admin-ui.md). The login message is exactly
  // what `@socket.io/admin-ui` sends, which the UI recognises to show its login form again.
  SWY_ADMIN_UI_AUTH_INVALID: { message: "invalid credentials", surface: "connect" },
  SWY_ADMIN_UI_BUSY: {
    message: "Too many Admin UI logins are being checked (%s); try again",
    surface: "connect",
  },
  SWY_ADMIN_UI_READONLY: {
    message: "The Admin UI is read-only (adminUi.readonly): '%s' is refused",
    surface: "ack",
  },
  SWY_ADMIN_UI_OPERATION_INVALID: { message: "Admin UI operation '%s': %s", surface: "ack" },
  SWY_ADMIN_UI_NAMESPACE_TAKEN: {
    message: "adminUi.namespace %s is also one of namespaces: give the Admin UI another one",
    surface: "start",
  },
  SWY_ADMIN_UI_FILES_MISSING: {
    message:
      "The Admin UI's files are not at %s: install @socket.io/admin-ui, or set adminUi.path: false",
    surface: "start",
  },

  // Server-side API.
  SWY_ACK_TIMEOUT: { message: "No ack for '%s' within %s ms", surface: "api" },
  SWY_SOCKET_DISCONNECTED: { message: "Socket disconnected before the ack", surface: "api" },

  // `switchyard start` cannot listen: the address, and the flag or key that moves it.
  SWY_LISTEN_IN_USE: {
    message: "Cannot listen on %s: the port is in use by another process (use %s)",
    surface: "start",
  },
  SWY_LISTEN_DENIED: {
    message: "Cannot listen on %s: permission denied, as for a port below 1024 (use %s)",
    surface: "start",
  },
  SWY_LISTEN_ADDRESS: {
    message:
      "Cannot listen on %s: not an address of this machine, or a name that does not resolve (use %s)",
    surface: "start",
  },

  // Configuration diagnostics: `file:line:col CODE message`.
  SWY_CFG_READ: { message: "Cannot read %s: %s", surface: "config" },
  SWY_CFG_YAML: { message: "%s", surface: "config" },
  SWY_CFG_ENV: { message: "Environment variable %s is not set", surface: "config" },
  SWY_CFG_ENV_SYNTAX: { message: "Malformed environment reference %s", surface: "config" },
  SWY_CFG_UNKNOWN_KEY: { message: "Unknown key '%s'", surface: "config" },
  SWY_CFG_REQUIRED: { message: "Missing required key '%s'", surface: "config" },
  SWY_CFG_TYPE: { message: "%s", surface: "config" },
  SWY_CFG_VALUE: { message: "%s", surface: "config" },
  SWY_CFG_TEMPLATE: { message: "%s", surface: "config" },
  SWY_CFG_PATTERN: { message: "%s", surface: "config" },
  SWY_CFG_REF: { message: "%s", surface: "config" },
  SWY_CFG_CHANNEL: { message: "%s", surface: "config" },
  SWY_CFG_UNREACHABLE: { message: "%s", surface: "config" },
  SWY_CFG_RESERVED_EVENT: {
    message: "Event name '%s' is reserved by Socket.IO",
    surface: "config",
  },
  // A warning: the file works, but leaves a door open (docs/security.md).
  SWY_CFG_INSECURE: { message: "%s", surface: "config" },
  SWY_CFG_SETTINGS: { message: "%s", surface: "config" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

function format(template: string, args: readonly (string | number)[]): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ""));
}

/** An error of the catalogue. `code` is stable; `message` is for people. */
export class SwitchyardError extends Error {
  readonly code: ErrorCode;

  constructor(
    code: ErrorCode,
    args: readonly (string | number)[] = [],
    options?: { cause?: unknown },
  ) {
    super(format(ERRORS[code].message, args), options);
    this.name = "SwitchyardError";
    this.code = code;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }

  /** The shape an ack error or an HTTP body carries. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

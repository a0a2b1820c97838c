/**
 * The JSON Schema (draft-07) of a Switchyard YAML file, and the defaults it states.
 *
 * The schema is the structural contract: every object forbids unknown keys, every
 * property has a `description` (editors show them, docs/mapping.md follows them) and,
 * where it has one, its `default`. config/switchyard.schema.json is this object
 * written out; test/unit/mapping/schema.test.ts fails when the two drift (regenerate
 * with `npx vitest run -u test/unit/mapping/schema.test.ts`).
 *
 * Two annotation keywords carry our wording for editors and for validate.ts:
 * `errorMessage` replaces a type or const error, `patternErrorMessage` a pattern error.
 */

import { builtinBackends } from "../egress/builtin.js";
import { type BackendRegistry, DEFAULT_BACKEND_LIMITS } from "../egress/registry.js";
import { DEFAULT_MAX_DEPTH } from "../json-depth.js";

/** A JSON Schema node, as plain data. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** The rule actions, in the order docs list them. */
export const RULE_ACTIONS = ["join", "leave", "broadcast", "forward"] as const;

/** Defaults the schema states and compile.ts applies: one source for both. */
export const DEFAULTS = {
  server: {
    port: 3000,
    host: "0.0.0.0",
    /** Node's own default for `listen`. */
    backlog: 511,
    path: "/socket.io/",
    transports: ["polling", "websocket"],
    cors: false,
    cookie: false,
    heartbeat: { interval: 25_000, timeout: 20_000 },
    connectTimeout: 45_000,
    joinTimeout: 10_000,
    upgradeTimeout: 10_000,
    drainTimeout: 10_000,
    allowEIO3: false,
    limits: {
      maxHttpBufferSize: 1_000_000,
      maxAttachments: 10,
      maxQueuedBytes: 1_048_576,
      maxRoomLength: 256,
      maxDepth: DEFAULT_MAX_DEPTH,
      maxRoomsPerSocket: 1_000,
      eventsPerSecond: 100,
      eventBurst: 200,
      maxPublishesPerSocket: DEFAULT_BACKEND_LIMITS.maxPublishesPerSocket,
      maxForwardsPerSocket: 4,
      maxForwards: 256,
      maxShadowPending: 100_000,
      maxShadowWrites: 10_000,
      maxConsoleStreams: 16,
    },
  },
  cors: {
    credentials: false,
    methods: ["GET", "POST"],
    allowedHeaders: [],
    maxAge: 600,
  },
  cookie: { name: "io", path: "/", httpOnly: true, secure: false, sameSite: "Lax" },
  recovery: {
    maxDisconnectionDuration: 120_000,
    skipMiddlewares: true,
    maxSessions: 100_000,
    maxPackets: 10_000,
    maxBytes: 16 * 1_048_576,
  },
  admin: { host: "127.0.0.1" },
  log: { level: "info" },
  rule: { allow: [], exceptSender: true, requireMembership: true },
  forward: { timeout: 5_000, includeToken: false },
  jwt: { clockTolerance: 0, allowNoExpiry: false, disconnectOnExpiry: false },
  cluster: { redis: "redis://127.0.0.1:6379", key: "switchyard", nodeTtl: 15_000 },
  adminUi: {
    namespace: "/admin",
    readonly: false,
    mode: "development" as "development" | "production",
    path: "/admin-ui/",
  },
  webhook: { timeout: 5_000 },
  passthrough: { percent: 100, timeout: 60_000, drainSpread: 10_000, stickyMaxAge: 2_592_000 },
  shadow: {
    percent: 100,
    window: 10_000,
    verdict: {
      minMessages: 1_000,
      maxMissingRatio: 0.001,
      maxExtraRatio: 0.001,
      maxDuplicateRatio: 0.001,
      maxReorderedRatio: 0.001,
      maxMismatchedRatio: 0,
      maxP99GapMs: 250,
    },
  },
} as const;

/**
 * Shortest HMAC key or token that draws no SWY_CFG_INSECURE warning: 32 characters,
 * 256 bits when each is a byte.
 */
export const RECOMMENDED_SECRET_LENGTH = 32;

/** JWS algorithms a `secret` (HMAC) key verifies. */
export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;

/** JWS algorithms a `publicKey` (PEM) key may verify, depending on its type. */
export const PUBLIC_KEY_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
] as const;

/** setTimeout's ceiling: a longer delay would fire at once. */
const MAX_MS = 2_147_483_647;

const milliseconds = (description: string, fallback: number): JsonSchema => ({
  description: `${description} Milliseconds, default ${fallback}.`,
  type: "integer",
  minimum: 1,
  maximum: MAX_MS,
  default: fallback,
});

const TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

const corsSchema: JsonSchema = {
  description:
    "CORS headers for browsers on other origins. `false` (default) sends none; a mapping " +
    "turns them on.",
  type: ["boolean", "object"],
  errorMessage: "must be false or a mapping with an origin",
  if: { type: "boolean" },
  // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
  then: { const: false, errorMessage: "must be false or a mapping with an origin" },
  additionalProperties: false,
  required: ["origin"],
  default: DEFAULTS.server.cors,
  properties: {
    origin: {
      description:
        'Allowed origins: `"*"` for any origin, one origin, or a list of origins such as ' +
        "`https://app.example.com` (scheme, host and port; no path).",
      type: ["string", "array"],
      errorMessage: 'must be "*", an origin or a list of origins',
      pattern: "^(\\*|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+)$",
      patternErrorMessage: 'must be "*" or an origin such as https://app.example.com (no path)',
      minItems: 1,
      uniqueItems: true,
      items: {
        description: "An origin: scheme, host and optional port, e.g. `https://app.example.com`.",
        type: "string",
        pattern: "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+$",
        patternErrorMessage: "must be an origin such as https://app.example.com (no path)",
      },
      examples: ["*", ["https://app.example.com"]],
    },
    credentials: {
      description:
        "Send `Access-Control-Allow-Credentials: true`, so browsers send cookies. Default false.",
      type: "boolean",
      default: DEFAULTS.cors.credentials,
    },
    methods: {
      description: 'Methods allowed by preflight responses. Default `["GET", "POST"]`.',
      type: "array",
      items: {
        description: "An HTTP method in upper case.",
        type: "string",
        pattern: "^[A-Z]+$",
        patternErrorMessage: "must be an HTTP method in upper case, such as GET",
      },
      uniqueItems: true,
      default: DEFAULTS.cors.methods,
    },
    allowedHeaders: {
      description:
        "Request headers allowed by preflight responses. Default `[]`: the headers the " +
        "preflight asks for are reflected.",
      type: "array",
      items: {
        description: "A header name.",
        type: "string",
        pattern: TOKEN,
        patternErrorMessage: "must be a header name",
      },
      uniqueItems: true,
      default: DEFAULTS.cors.allowedHeaders,
    },
    maxAge: {
      description: "How long browsers may cache a preflight response. Seconds, default 600.",
      type: "integer",
      minimum: 0,
      default: DEFAULTS.cors.maxAge,
    },
  },
};

const cookieSchema: JsonSchema = {
  description:
    "The Engine.IO session cookie, for sticky load balancing. `false` (default) sets none; " +
    "`true` sets `io` with the defaults below; a mapping sets what it lists.",
  type: ["boolean", "object"],
  errorMessage: "must be true, false or a mapping of cookie settings",
  additionalProperties: false,
  default: DEFAULTS.server.cookie,
  properties: {
    name: {
      description: "Cookie name. Default `io`.",
      type: "string",
      pattern: TOKEN,
      patternErrorMessage: "must be a cookie name (letters, digits and !#$%&'*+.^_`|~-)",
      default: DEFAULTS.cookie.name,
    },
    path: {
      description: "Cookie path. Default `/`.",
      type: "string",
      pattern: "^/[^;\\s]*$",
      patternErrorMessage: "must start with / and contain no ';' or spaces",
      default: DEFAULTS.cookie.path,
    },
    httpOnly: {
      description: "Hide the cookie from page scripts. Default true.",
      type: "boolean",
      default: DEFAULTS.cookie.httpOnly,
    },
    secure: {
      description:
        "Send the cookie over HTTPS only (`Secure`). Browsers drop a `sameSite: None` cookie " +
        "without it. Default false.",
      type: "boolean",
      default: DEFAULTS.cookie.secure,
    },
    sameSite: {
      description: "The SameSite attribute. Default `Lax`.",
      enum: ["Strict", "Lax", "None"],
      default: DEFAULTS.cookie.sameSite,
    },
  },
};

const serverSchema: JsonSchema = {
  description: "The listening socket and the Engine.IO / Socket.IO protocol settings.",
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    port: {
      description:
        "TCP port. `--port` on the command line wins. 0 picks a free port. Default 3000.",
      type: "integer",
      minimum: 0,
      maximum: 65_535,
      default: DEFAULTS.server.port,
    },
    host: {
      description: "Address to listen on. Default `0.0.0.0` (every IPv4 interface).",
      type: "string",
      minLength: 1,
      default: DEFAULTS.server.host,
    },
    backlog: {
      description:
        "Connections the kernel may hold accepted but not yet taken by the process (the " +
        "listen queue). When it is full, a new connection's SYN is dropped and its client " +
        "retries 1 s or more later: raise it for nodes that see reconnect storms. The " +
        "kernel caps it at net.core.somaxconn. Default 511.",
      type: "integer",
      minimum: 1,
      maximum: 65_535,
      default: DEFAULTS.server.backlog,
    },
    path: {
      description:
        "HTTP path of the Socket.IO endpoint; a leading and a trailing `/` are added when " +
        "missing. Clients must use the same `path` option. Default `/socket.io/`.",
      type: "string",
      minLength: 1,
      pattern: "^[^?#\\s]*$",
      patternErrorMessage: "must be a URL path without '?', '#' or spaces",
      default: DEFAULTS.server.path,
    },
    transports: {
      description:
        "Transports clients may use. Default both: HTTP long-polling first, then the upgrade " +
        "to WebSocket.",
      type: "array",
      minItems: 1,
      uniqueItems: true,
      items: {
        description: "`polling` or `websocket`.",
        enum: ["polling", "websocket"],
      },
      default: DEFAULTS.server.transports,
    },
    allowEIO3: {
      description:
        "Also serve socket.io 2.x clients (Engine.IO v3, Socket.IO protocol v4) on the same " +
        "path. Default false: they get HTTP 400 'Unsupported protocol version'.",
      type: "boolean",
      default: DEFAULTS.server.allowEIO3,
    },
    connectionStateRecovery: {
      description:
        "Connection state recovery, as socket.io 4.6+ has it: a client whose connection " +
        "was lost comes back within `maxDisconnectionDuration` with the same socket id, " +
        "rooms and state, and gets every broadcast it missed. Absent: off. See docs/recovery.md.",
      type: "object",
      additionalProperties: false,
      properties: {
        maxDisconnectionDuration: milliseconds(
          "How long a disconnected socket is kept for its client.",
          DEFAULTS.recovery.maxDisconnectionDuration,
        ),
        skipMiddlewares: {
          description:
            "Whether a recovering client skips the namespace's auth (its claims are kept; " +
            `a token that expired meanwhile is still refused). Default ${DEFAULTS.recovery.skipMiddlewares}.`,
          type: "boolean",
          default: DEFAULTS.recovery.skipMiddlewares,
        },
        maxSessions: {
          description: `Disconnected sockets kept at most; past it the oldest is forgotten. Default ${DEFAULTS.recovery.maxSessions}.`,
          type: "integer",
          minimum: 1,
          default: DEFAULTS.recovery.maxSessions,
        },
        maxPackets: {
          description: `Broadcasts each namespace's log keeps at most. Default ${DEFAULTS.recovery.maxPackets}.`,
          type: "integer",
          minimum: 1,
          default: DEFAULTS.recovery.maxPackets,
        },
        maxBytes: {
          description: `Bytes each namespace's log keeps at most: each broadcast's encoded size plus 384 for what its entry holds beside it (80 more and the id for a message of an Ably room). Default ${DEFAULTS.recovery.maxBytes}.`,
          type: "integer",
          minimum: 1024,
          default: DEFAULTS.recovery.maxBytes,
        },
      },
      examples: [{ maxDisconnectionDuration: 120_000, skipMiddlewares: true }],
    },
    cors: corsSchema,
    cookie: cookieSchema,
    heartbeat: {
      description:
        "Engine.IO heartbeat: the server pings every `interval`; a client that does not " +
        "answer within `timeout` is disconnected.",
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        interval: milliseconds(
          "Time between pings (pingInterval).",
          DEFAULTS.server.heartbeat.interval,
        ),
        timeout: milliseconds(
          "How long to wait for a pong (pingTimeout).",
          DEFAULTS.server.heartbeat.timeout,
        ),
      },
    },
    connectTimeout: milliseconds(
      "How long a new session may take to send its first Socket.IO CONNECT, and a session " +
        "that left its last namespace to join one again, before it is closed.",
      DEFAULTS.server.connectTimeout,
    ),
    joinTimeout: milliseconds(
      "How long a join waits for its room's backend subscription to be confirmed before " +
        "the ack reports SWY_SUBSCRIBE_FAILED and the socket leaves the room.",
      DEFAULTS.server.joinTimeout,
    ),
    upgradeTimeout: milliseconds(
      "How long a transport upgrade (polling to WebSocket) may take before it is abandoned.",
      DEFAULTS.server.upgradeTimeout,
    ),
    drainTimeout: milliseconds(
      "On SIGTERM or SIGINT, the time over which open sessions are closed in batches " +
        "(their clients reconnect to other nodes) before the backends are flushed and " +
        "the process exits.",
      DEFAULTS.server.drainTimeout,
    ),
    limits: {
      description: "Hard limits; each says what happens when it is exceeded.",
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        maxHttpBufferSize: {
          description:
            "Largest HTTP request body or WebSocket message accepted; larger ones get HTTP 413 " +
            "or close the session. Bytes, default 1000000.",
          type: "integer",
          minimum: 1,
          maximum: Number.MAX_SAFE_INTEGER,
          default: DEFAULTS.server.limits.maxHttpBufferSize,
        },
        maxAttachments: {
          description:
            "Binary attachments one packet may announce; more closes the session. Default 10.",
          type: "integer",
          minimum: 0,
          maximum: 1_000_000,
          default: DEFAULTS.server.limits.maxAttachments,
        },
        maxQueuedBytes: {
          description:
            "Bytes waiting to be sent to one client before it is disconnected as a slow " +
            "consumer. Default 1048576 (1 MiB).",
          type: "integer",
          minimum: 1,
          maximum: Number.MAX_SAFE_INTEGER,
          default: DEFAULTS.server.limits.maxQueuedBytes,
        },
        maxRoomLength: {
          description:
            "Longest room name a rule accepts, in characters; a longer one is refused in the " +
            "ack (SWY_ROOM_INVALID). Default 256.",
          type: "integer",
          minimum: 1,
          maximum: 65_536,
          default: DEFAULTS.server.limits.maxRoomLength,
        },
        maxDepth: {
          description:
            "How deep data from outside may nest (arrays and objects): a client event's " +
            "arguments, a CONNECT auth payload, a publish API body's arguments, what a backend " +
            "or the app sends back. Deeper data is refused unparsed (SWY_PAYLOAD_TOO_DEEP). " +
            "Default 32.",
          type: "integer",
          minimum: 1,
          maximum: 1_000,
          default: DEFAULTS.server.limits.maxDepth,
        },
        maxRoomsPerSocket: {
          description:
            "Rooms a socket may be in when a join rule adds one; past it the join is refused " +
            "in the ack (SWY_ROOM_LIMIT). Every room counts, but rooms from the token's claims, " +
            "the app and the cluster are never refused. Default 1000.",
          type: "integer",
          minimum: 1,
          maximum: 10_000_000,
          default: DEFAULTS.server.limits.maxRoomsPerSocket,
        },
        eventsPerSecond: {
          description:
            "Events one socket may send per second, on average: a token bucket refilled at this " +
            "rate. An event over budget is refused in its ack (SWY_RATE_LIMITED). Default 100.",
          type: "number",
          exclusiveMinimum: 0,
          maximum: 1_000_000_000,
          default: DEFAULTS.server.limits.eventsPerSecond,
        },
        eventBurst: {
          description:
            "Events one socket may send at once above `eventsPerSecond` (the bucket's size). " +
            "Default 200.",
          type: "integer",
          minimum: 1,
          maximum: 1_000_000_000,
          default: DEFAULTS.server.limits.eventBurst,
        },
        maxPublishesPerSocket: {
          description:
            "Broadcasts of one socket waiting for their backend to accept them (a managed " +
            "service's publish queue is shared by every socket); one more is refused in its " +
            "ack (SWY_PUBLISH_BUSY). Default 64.",
          type: "integer",
          minimum: 1,
          maximum: 1_000_000,
          default: DEFAULTS.server.limits.maxPublishesPerSocket,
        },
        maxForwardsPerSocket: {
          description:
            "Events of one socket waiting for the app's answer (`action: forward`); one more " +
            "is refused in its ack (SWY_FORWARD_BUSY). Default 4.",
          type: "integer",
          minimum: 1,
          maximum: 1_000_000,
          default: DEFAULTS.server.limits.maxForwardsPerSocket,
        },
        maxForwards: {
          description:
            "Events of all sockets waiting for the app's answer, i.e. requests open to the " +
            "app at once; one more is refused in its ack (SWY_FORWARD_BUSY). Default 256.",
          type: "integer",
          minimum: 1,
          maximum: 1_000_000,
          default: DEFAULTS.server.limits.maxForwards,
        },
        maxShadowPending: {
          description:
            "Messages of shadowed rooms this node keeps waiting for their copy on the other " +
            "side (docs/shadow.md); past it, new ones are not compared and counted in " +
            "switchyard_shadow_shed_total, and the verdict says the evidence is incomplete. " +
            "Bounds the comparator's memory: about 0.5 KB each (measured), so 100000 is about 50 MB. Default 100000.",
          type: "integer",
          minimum: 1,
          maximum: 10_000_000,
          default: DEFAULTS.server.limits.maxShadowPending,
        },
        maxShadowWrites: {
          description:
            "Writes to shadow backends on their way at once, for every shadowed room together; " +
            "past it a publication is not written to its shadow (counted as shadowDropped) and " +
            "its sender is never slowed. Default 10000.",
          type: "integer",
          minimum: 1,
          maximum: 1_000_000,
          default: DEFAULTS.server.limits.maxShadowWrites,
        },
        maxConsoleStreams: {
          description:
            "Live streams of the migration console (GET /api/v1/console/stream, docs/operations.md) " +
            "open at once on this node; one more is refused with 429 (SWY_API_CONSOLE_BUSY). " +
            "Each open stream gets a snapshot of the node every second. Default 16.",
          type: "integer",
          minimum: 1,
          maximum: 1_000,
          default: DEFAULTS.server.limits.maxConsoleStreams,
        },
      },
    },
  },
};

const clusterSchema: JsonSchema = {
  description:
    "Run as one node of a Switchyard cluster behind a plain (round-robin) load balancer: " +
    "nodes list themselves in Redis, and a polling request or WebSocket upgrade for a " +
    "session another node owns is relayed there. See docs/scaling.md.",
  type: "object",
  additionalProperties: false,
  properties: {
    advertise: {
      description:
        "The URL other nodes reach this one at, e.g. `http://10.0.0.5:3000`. Default: " +
        "`http://<server.host>:<port>` (the host name when listening on every address).",
      type: "string",
      pattern: "^https?://[^/?#\\s]+$",
      patternErrorMessage: "must be http:// or https:// with a host and optional port, no path",
    },
    redis: {
      description: `The Redis URL of the node registry. Default \`${DEFAULTS.cluster.redis}\`.`,
      type: "string",
      pattern: "^rediss?://",
      patternErrorMessage: "must start with redis:// or rediss://",
      default: DEFAULTS.cluster.redis,
    },
    key: {
      description: `Prefix of the registry's Redis key (\`<key>:nodes\`). Default \`${DEFAULTS.cluster.key}\`.`,
      type: "string",
      minLength: 1,
      default: DEFAULTS.cluster.key,
    },
    nodeTtl: milliseconds(
      "How long a node stays listed without a heartbeat (it beats every third of it).",
      DEFAULTS.cluster.nodeTtl,
    ),
  },
};

const adminUiSchema: JsonSchema = {
  description:
    "The official Socket.IO Admin UI (`@socket.io/admin-ui`) against Switchyard: its admin " +
    "namespace, and the UI's own files served at `path`. Names follow the package's " +
    "`instrument()` options. Absent (default): neither. See docs/admin-ui.md.",
  type: "object",
  additionalProperties: false,
  required: ["auth"],
  properties: {
    namespace: {
      description: `The admin namespace the UI connects to; not one of \`namespaces\`. Default \`${DEFAULTS.adminUi.namespace}\`.`,
      type: "string",
      pattern: "^/[^\\s,?#]*$",
      patternErrorMessage: "must start with '/' and contain no spaces, ',', '?' or '#'",
      default: DEFAULTS.adminUi.namespace,
    },
    auth: {
      description:
        "Basic auth: `username` and `password`, the bcrypt hash of the password " +
        "from the environment (`ADMIN_UI_PASSWORD_HASH`), never the password itself. `false` " +
        "turns auth off: " +
        "anyone who reaches the port sees every socket. Required, as in `instrument()`.",
      type: ["boolean", "object"],
      errorMessage: "must be false or a mapping with username and password",
      if: { type: "boolean" },
      // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
      then: { const: false, errorMessage: "must be false or a mapping with username and password" },
      additionalProperties: false,
      required: ["username", "password"],
      properties: {
        username: {
          description: "The name the UI's login form asks for.",
          type: "string",
          minLength: 1,
        },
        password: {
          description: "A bcrypt hash (`$2a$`, `$2b$` or `$2y$`, cost and 53 characters).",
          type: "string",
          // Never echoed in a diagnostic: someone may have put the password itself here.
          writeOnly: true,
          pattern: "^\\$2[aby]\\$\\d\\d\\$[./A-Za-z0-9]{53}$",
          patternErrorMessage:
            "must be a bcrypt hash, not the password (docs/admin-ui.md: making one)",
        },
      },
    },
    readonly: {
      description: `When true, the UI cannot join, leave or disconnect sockets. Default ${DEFAULTS.adminUi.readonly}.`,
      type: "boolean",
      default: DEFAULTS.adminUi.readonly,
    },
    mode: {
      description:
        "`development`: the UI lists sockets, rooms and every event (each event crosses Redis " +
        "in a cluster); `production`: server stats and counts only. Default " +
        `\`${DEFAULTS.adminUi.mode}\`.`,
      enum: ["development", "production"],
      default: DEFAULTS.adminUi.mode,
    },
    serverId: {
      description:
        "This node's id in the UI's server list. Default: the host name, and in a cluster " +
        "`<host name>#<node tag>`, so that every node shows.",
      type: "string",
      minLength: 1,
    },
    path: {
      description:
        "Where the UI's own files (from the npm package, no CDN) are served on the public " +
        `port; \`false\`: not served (use the hosted UI). Default \`${DEFAULTS.adminUi.path}\`.`,
      type: ["string", "boolean"],
      errorMessage: "must be a path such as /admin-ui/, or false",
      if: { type: "boolean" },
      // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
      then: { const: false, errorMessage: "must be a path such as /admin-ui/, or false" },
      else: { pattern: "^/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$" },
      default: DEFAULTS.adminUi.path,
    },
  },
};

/** `socket.io` → `/socket.io/`: Engine.IO matches the prefix with both slashes. */
export function normalisePath(path: string): string {
  let out = path.startsWith("/") ? path : `/${path}`;
  if (!out.endsWith("/")) out += "/";
  return out;
}

const passthroughSchema: JsonSchema = {
  description:
    "Put Switchyard in front of the existing Socket.IO server: `percent` of new connections " +
    "are relayed to `target` untouched, the rest served here. Every request of a session " +
    "reaches the side that started it. See docs/passthrough.md.",
  type: "object",
  additionalProperties: false,
  required: ["target"],
  properties: {
    target: {
      description:
        "The legacy Socket.IO server's URL, e.g. `http://legacy:3001` (requests keep their path).",
      type: "string",
      pattern: "^https?://[^/?#\\s]+/?$",
      patternErrorMessage: "must be http:// or https:// with a host and optional port, no path",
      examples: [`\${LEGACY_URL}`],
    },
    percent: {
      description:
        "The share of new connections relayed to the target, 0 to 100 (hundredths allowed). A " +
        "reload applies a new value to new connections only. Default 100.",
      type: "number",
      minimum: 0,
      maximum: 100,
      default: DEFAULTS.passthrough.percent,
    },
    key: {
      description:
        "What keeps a client's side stable: `{query: NAME}`, `{header: NAME}` or `{cookie: NAME}` " +
        "(its value, hashed like rollout), or `address` (the remote address). A connection " +
        "without the key is placed at random. Default: at random.",
      type: ["string", "object"],
      errorMessage: 'must be "address" or a mapping with one of query, header, cookie',
      if: { type: "string" },
      // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
      then: { const: "address" },
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        query: { description: "A query parameter's name.", type: "string", minLength: 1 },
        header: { description: "A request header's name.", type: "string", minLength: 1 },
        cookie: { description: "A cookie's name.", type: "string", minLength: 1 },
      },
      examples: [{ query: "uid" }, "address"],
    },
    path: {
      description:
        "The legacy server's Engine.IO paths that clients reach through this port. " +
        "`server.path` is always one of them, and there `percent` splits new connections; " +
        "any other path listed here (a raw engine.io, a second Socket.IO server) has no " +
        "server in Switchyard, so all of its requests are relayed. A leading and a " +
        "trailing `/` are added when missing. Default: `server.path` alone.",
      type: ["string", "array"],
      pattern: "^[^?#\\s]*$",
      patternErrorMessage: "must be a URL path without '?', '#' or spaces",
      minLength: 1,
      items: {
        type: "string",
        minLength: 1,
        pattern: "^[^?#\\s]*$",
        patternErrorMessage: "must be a URL path without '?', '#' or spaces",
      },
      minItems: 1,
      maxItems: 16,
      examples: [["/socket.io/", "/engine.io/"]],
    },
    timeout: milliseconds(
      "Longest wait for the target's answer to a relayed request; keep it above the " +
        "target's pingInterval, which a polling GET may wait.",
      DEFAULTS.passthrough.timeout,
    ),
    stickyCookie: {
      description:
        "A cookie that keeps a browser on its side across reconnections when the request " +
        "carries no key: it holds the browser's rollout bucket (0-9999), set on its first " +
        "polling handshake, so that a new percentage (or a drain) still moves it as a key " +
        "would. Absent: such connections are placed at random each time.",
      type: "object",
      additionalProperties: false,
      required: ["name"],
      properties: {
        name: {
          description: "The cookie's name.",
          type: "string",
          pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        },
        maxAge: {
          description: `Seconds the browser keeps it. Default ${DEFAULTS.passthrough.stickyMaxAge}.`,
          type: "integer",
          minimum: 1,
          maximum: 400 * 86_400,
          default: DEFAULTS.passthrough.stickyMaxAge,
        },
      },
    },
    drainSpread: {
      description:
        "Over how long a drain (`POST /api/v1/passthrough/drain`) ends the connections it " +
        `picks, each at a random moment, so they do not reconnect at once. Milliseconds, default ${DEFAULTS.passthrough.drainSpread}.`,
      type: "integer",
      minimum: 0,
      maximum: 3_600_000,
      default: DEFAULTS.passthrough.drainSpread,
    },
  },
  examples: [{ target: `\${LEGACY_URL}`, percent: 50, key: { query: "uid" } }],
};

const logSchema: JsonSchema = {
  description: "Logging.",
  type: "object",
  additionalProperties: false,
  default: {},
  properties: {
    level: {
      description: "The least severe level written (pino levels). Default `info`.",
      enum: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
      default: DEFAULTS.log.level,
    },
  },
};

const adminSchema: JsonSchema = {
  description:
    "A second listener for operators: `/healthz`, `/readyz` and `/metrics`, and nothing else. " +
    "With it, the public port answers 404 for `/readyz` and `/metrics` (`/healthz` stays, for " +
    "load balancers). Absent (default): all three are on the public port.",
  type: "object",
  additionalProperties: false,
  required: ["port"],
  properties: {
    host: {
      description: `Address the admin listener binds. Default \`${DEFAULTS.admin.host}\` (this machine only).`,
      type: "string",
      minLength: 1,
      default: DEFAULTS.admin.host,
    },
    port: {
      description:
        "TCP port of the admin listener, not `server.port`. `--admin-port` on the command line " +
        "wins. 0 picks a free port.",
      type: "integer",
      minimum: 0,
      maximum: 65_535,
    },
  },
};

/** Shortest `api.token` accepted: a guessable token is worse than none. */
export const MIN_API_TOKEN_LENGTH = 16;

const apiSchema: JsonSchema = {
  description:
    "The HTTP API on the server's port (`/api/v1/publish`, `/api/v1/rooms`, " +
    "`/api/v1/namespaces`), behind a bearer token. Absent (default): the API is off and its " +
    "paths answer 404. See docs/api.md.",
  type: "object",
  additionalProperties: false,
  required: ["token"],
  properties: {
    token: {
      description: [
        "The bearer token every API request must send (`Authorization: Bearer TOKEN`): at least",
        `${MIN_API_TOKEN_LENGTH} characters of letters, digits and \`-._~+/\`, optionally ending`,
        `in \`=\`; fewer than ${RECOMMENDED_SECRET_LENGTH} draws a warning. Read it from the`,
        `environment: \`token: "\${SWITCHYARD_API_TOKEN}"\`.`,
        "Diagnostics and logs never print it.",
      ].join(" "),
      type: "string",
      minLength: MIN_API_TOKEN_LENGTH,
      maxLength: 4096,
      pattern: "^[A-Za-z0-9._~+/-]+=*$",
      patternErrorMessage: "must be a bearer token: letters, digits and -._~+/, then optional =",
      // Marks a secret: validate.ts never prints the value.
      writeOnly: true,
    },
  },
};

const actionProperty = (action: string, description: string): JsonSchema => ({
  description,
  const: action,
});

const roomProperty: JsonSchema = {
  description:
    "Template naming the room, usually `{data.room}`. It must yield a non-empty string of at " +
    "most `server.limits.maxRoomLength` characters, or the ack carries SWY_ROOM_INVALID.",
  type: "string",
  minLength: 1,
  examples: ["{data.room}", "user:{auth.userId}", "lobby"],
};

const allowProperty: JsonSchema = {
  description:
    "Room patterns the room must match, e.g. `room:{id}`; `*` matches any room. Empty or " +
    "absent (default) allows any room. A room that matches none is refused " +
    "(SWY_ROOM_NOT_ALLOWED).",
  type: "array",
  items: {
    description: "A room pattern: literal text and `{name}` captures, or `*` alone.",
    type: "string",
    minLength: 1,
  },
  default: DEFAULTS.rule.allow,
  examples: [["room:{id}", "lobby"]],
};

const ackProperty: JsonSchema = {
  description:
    "Template of the value the client's ack callback receives on success; may use `{room}` " +
    "and `{captures.NAME}`. Default `{ok: true}`. Failures always ack " +
    "`{ok: false, error: {code, message}}`.",
  examples: [{ ok: true, room: "{room}" }],
};

const joinSchema: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["room"],
  properties: {
    action: actionProperty("join", "`join`: the socket joins the room."),
    room: roomProperty,
    allow: allowProperty,
    ack: ackProperty,
  },
};

const leaveSchema: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["room"],
  properties: {
    action: actionProperty("leave", "`leave`: the socket leaves the room."),
    room: roomProperty,
    ack: ackProperty,
  },
};

const broadcastSchema: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["room"],
  properties: {
    action: actionProperty("broadcast", "`broadcast`: every member of the room receives an event."),
    room: roomProperty,
    allow: allowProperty,
    emit: {
      description: "The event name members receive. Default: the rule's own event name.",
      type: "string",
      minLength: 1,
    },
    args: {
      description:
        "Templates of the arguments members receive. Absent (default): the client's arguments " +
        "are forwarded as they are.",
      type: "array",
      items: { description: "A template: any value; strings may hold `{expr}`." },
      examples: [["{data.payload}"]],
    },
    exceptSender: {
      description: "Leave the sender out of the delivery. Default true.",
      type: "boolean",
      default: DEFAULTS.rule.exceptSender,
    },
    requireMembership: {
      description:
        "Refuse (SWY_ROOM_NOT_MEMBER) when the sender is not a member of the room. Default true.",
      type: "boolean",
      default: DEFAULTS.rule.requireMembership,
    },
    ack: ackProperty,
  },
};

const signingSecretProperty: JsonSchema = {
  description: [
    "Sign every request to the app: it carries `X-Switchyard-Timestamp` (Unix seconds) and",
    "`X-Switchyard-Signature: sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` with this key,",
    "so the app can refuse requests that do not come from Switchyard (docs/mapping.md).",
    `Use at least ${RECOMMENDED_SECRET_LENGTH} random characters and read it from the environment:`,
    `\`signingSecret: "\${APP_SIGNING_SECRET}"\`. Absent (default): requests are not signed.`,
    "Diagnostics and logs never print it.",
  ].join(" "),
  type: "string",
  minLength: 1,
  writeOnly: true,
};

const forwardSchema: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["url"],
  properties: {
    action: actionProperty(
      "forward",
      "`forward`: the event is POSTed to your app, which answers what to do (ack, joins, " +
        "leaves, emits, disconnect).",
    ),
    url: {
      description:
        "The app's endpoint, an `http:` or `https:` URL; not a template. May come from the " +
        `environment: \`url: "\${APP_URL}/socket-events"\`.`,
      type: "string",
      pattern: "^https?://[^\\s]+$",
      patternErrorMessage: "must be an http:// or https:// URL",
      examples: ["http://127.0.0.1:8080/socket-events"],
    },
    timeout: milliseconds(
      "How long the app may take to answer before the ack carries SWY_FORWARD_TIMEOUT.",
      DEFAULTS.forward.timeout,
    ),
    headers: {
      description:
        "Extra request headers, e.g. an `Authorization` for the app. Values may be secrets " +
        `read from the environment (\`Authorization: "Bearer \${APP_TOKEN}"\`); ` +
        "diagnostics and logs never print them.",
      type: "object",
      propertyNames: {
        pattern: TOKEN,
        patternErrorMessage: "must be a header name",
      },
      additionalProperties: {
        description: "A header value.",
        type: "string",
        writeOnly: true,
      },
    },
    signingSecret: signingSecretProperty,
    includeToken: {
      description:
        "Send the client's `token` in the request's `auth`. Default false: `auth` is sent " +
        "without it (the verified `claims` are sent either way), so the app never holds a " +
        "credential it does not need.",
      type: "boolean",
      default: DEFAULTS.forward.includeToken,
    },
  },
};

const branch = (action: string, then: JsonSchema): JsonSchema => ({
  if: { properties: { action: { const: action } }, required: ["action"] },
  then,
});

const ruleActionProperty: JsonSchema = {
  description: "`join`, `leave`, `broadcast` or `forward`.",
  enum: RULE_ACTIONS,
};

/**
 * The keys of every action, for a rule whose `action` is missing or unknown: no branch
 * applies then, and without this a typo such as `acton:` would hide behind the
 * missing `action` instead of being reported beside it.
 */
const anyActionSchema: JsonSchema = {
  additionalProperties: false,
  properties: Object.assign(
    {},
    ...[joinSchema, leaveSchema, broadcastSchema, forwardSchema].map((s) => s.properties),
    { action: ruleActionProperty },
  ),
};

const ruleSchema: JsonSchema = {
  description: "What the event does; the keys allowed depend on `action`.",
  type: "object",
  required: ["action"],
  properties: { action: ruleActionProperty },
  allOf: [
    branch("join", joinSchema),
    branch("leave", leaveSchema),
    branch("broadcast", broadcastSchema),
    branch("forward", forwardSchema),
    {
      if: { properties: { action: { enum: RULE_ACTIONS } }, required: ["action"] },
      else: anyActionSchema,
    },
  ],
};

const jwtSchema: JsonSchema = {
  description:
    "Verify a JSON Web Token sent as `token` in the CONNECT auth payload, once per " +
    "connection. Give exactly one of `secret`, `publicKey` and `jwksFile`.",
  type: "object",
  additionalProperties: false,
  properties: {
    secret: {
      description:
        `The HMAC key (HS256/384/512), as text: at least ${RECOMMENDED_SECRET_LENGTH} random ` +
        "characters (a shorter key draws a warning). Read it from the environment: " +
        `\`secret: "\${JWT_SECRET}"\`. Diagnostics and logs never print it.`,
      type: "string",
      minLength: 1,
      writeOnly: true,
    },
    publicKey: {
      description:
        "A PEM public key (`-----BEGIN PUBLIC KEY-----`, RSA or EC) verifying RS*, PS* or " +
        `ES* tokens. Read it from the environment: \`publicKey: "\${JWT_PUBLIC_KEY}"\`.`,
      type: "string",
      minLength: 1,
      writeOnly: true,
    },
    jwksFile: {
      description:
        'A JSON Web Key Set file (`{"keys": [...]}`, RSA, EC or oct keys), relative to this ' +
        "file's folder. A token's `kid` and `alg` pick the key. Read again on every reload.",
      type: "string",
      minLength: 1,
      examples: ["keys/jwks.json"],
    },
    algorithms: {
      description:
        "The algorithms accepted. Default: every algorithm the key's type allows (HS* for a " +
        "secret; RS* and PS* for an RSA key; the ES* of its curve for an EC key; for a JWKS " +
        "file, those of its keys).",
      type: "array",
      minItems: 1,
      uniqueItems: true,
      items: {
        description: "A JWS algorithm name.",
        enum: [...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS],
      },
    },
    issuer: {
      description: "The `iss` claim a token must carry. Absent (default): not checked.",
      type: "string",
      minLength: 1,
    },
    audience: {
      description: "The `aud` claim a token must carry (or list). Absent (default): not checked.",
      type: "string",
      minLength: 1,
    },
    clockTolerance: {
      description: "Leeway for `exp`, `nbf` and `maxTokenAge`. Seconds, default 0.",
      type: "integer",
      minimum: 0,
      maximum: 86_400,
      default: DEFAULTS.jwt.clockTolerance,
    },
    allowNoExpiry: {
      description:
        "Accept tokens without an `exp` claim, which never expire. Default false: they are " +
        "refused (SWY_AUTH_EXPIRY_REQUIRED).",
      type: "boolean",
      default: DEFAULTS.jwt.allowNoExpiry,
    },
    maxTokenAge: {
      description:
        "Refuse tokens issued longer ago than this (their `iat`; SWY_AUTH_EXPIRED), and " +
        "tokens without `iat` (SWY_AUTH_ISSUED_AT_REQUIRED). Seconds; absent (default): the " +
        "age is not checked.",
      type: "integer",
      minimum: 1,
      maximum: 2_147_483_647,
      examples: [3600],
    },
    disconnectOnExpiry: {
      description:
        "Disconnect a socket when its token's `exp` (plus `clockTolerance`) passes: it " +
        'receives the event `switchyard:disconnect` `{code: "SWY_AUTH_EXPIRED", message}`, ' +
        "then a server disconnect. Default false: a connection outlives its token.",
      type: "boolean",
      default: DEFAULTS.jwt.disconnectOnExpiry,
    },
  },
};

const webhookSchema: JsonSchema = {
  description:
    "Ask your app at connect: Switchyard POSTs `{nsp, auth}` to `url`; a 2xx " +
    "`{ok: true, claims?}` accepts (the claims become readable as `{claims.x}`), " +
    "`{ok: false, message?, code?}` or another status refuses. See docs/mapping.md.",
  type: "object",
  additionalProperties: false,
  required: ["url"],
  properties: {
    url: {
      description:
        "The app's endpoint, an `http:` or `https:` URL. May come from the environment: " +
        `\`url: "\${APP_URL}/socket-auth"\`.`,
      type: "string",
      pattern: "^https?://[^\\s]+$",
      patternErrorMessage: "must be an http:// or https:// URL",
    },
    timeout: milliseconds(
      "How long the app may take to answer before the connection is refused with " +
        "SWY_AUTH_UNAVAILABLE.",
      DEFAULTS.webhook.timeout,
    ),
    signingSecret: signingSecretProperty,
  },
};

const authSchema: JsonSchema = {
  description:
    "How connections to the namespace are authenticated. `none` (default) accepts every " +
    "connection; `{ jwt: {...} }` requires a valid token, `{ webhook: {...} }` asks your app; " +
    "both make claims readable as `{claims.x}` in templates.",
  type: ["string", "object"],
  errorMessage: 'must be "none" or a mapping with jwt or webhook',
  if: { type: "string" },
  // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
  then: { const: "none", errorMessage: 'must be "none" or a mapping with jwt or webhook' },
  additionalProperties: false,
  minProperties: 1,
  default: "none",
  properties: { jwt: jwtSchema, webhook: webhookSchema },
  examples: [
    "none",
    { jwt: { secret: `\${JWT_SECRET}`, issuer: "https://auth.example.com" } },
    { webhook: { url: `\${APP_URL}/socket-auth`, timeout: 2000 } },
  ],
};

const percentProperty: JsonSchema = {
  description:
    "The share of the route's rooms this target carries, from 0 to 100 in hundredths of a " +
    "percent. A stable hash of the room name decides, so every node agrees, and raising the " +
    "number only moves rooms onto this target.",
  type: "number",
  minimum: 0,
  maximum: 100,
};

const channelProperty: JsonSchema = {
  description:
    "Template of the backend channel: literal text and `{name}` for the room pattern's " +
    "captures, `{room}` (the whole room) or `{nsp}`. Text a reference brings in keeps its " +
    "letters and digits; every other character is escaped, and two routes of one backend " +
    "that could give one channel are an error (docs/mapping.md). Required for kinds that name " +
    "channels (pusher, ably, websocket); not allowed for native, which carries rooms by name.",
  type: "string",
  minLength: 1,
  examples: ["private-room-{id}"],
};

const backendNameProperty: JsonSchema = {
  description: "The name of a backend under `backends` (or `native`).",
  type: "string",
  minLength: 1,
};

const ratioProperty = (what: string, fallback: number): JsonSchema => ({
  description: `Most ${what} per message the primary delivered, from 0 to 1, for a \`ready\` verdict. Default ${fallback}.`,
  type: "number",
  minimum: 0,
  maximum: 1,
  default: fallback,
});

const shadowVerdictDefaults = DEFAULTS.shadow.verdict;

const shadowSchema: JsonSchema = {
  description:
    "Write every publication to the rooms of this target to a second backend too, read both " +
    "back, and compare what each delivered (docs/shadow.md). Members only ever receive the " +
    "primary's deliveries; the shadow never delays or fails a sender. `GET /api/v1/shadow` " +
    "reports the comparison and a verdict.",
  type: "object",
  additionalProperties: false,
  required: ["backend"],
  properties: {
    backend: backendNameProperty,
    channel: channelProperty,
    percent: {
      ...percentProperty,
      description:
        "The share of the target's rooms shadowed, from 0 to 100, chosen by the same stable " +
        `hash of the room name as rollout. Default ${DEFAULTS.shadow.percent}.`,
      default: DEFAULTS.shadow.percent,
    },
    window: {
      description:
        "How long a message one side delivered waits for its copy on the other before it is " +
        `decided (missing, extra, duplicate, mismatched). Milliseconds, default ${DEFAULTS.shadow.window}.`,
      type: "integer",
      minimum: 10,
      maximum: 600_000,
      default: DEFAULTS.shadow.window,
    },
    verdict: {
      description:
        "Thresholds of the `ready` verdict. Past any of them the verdict is `not-ready` with " +
        "the reasons; under `minMessages` compared messages it is `insufficient-data`.",
      type: "object",
      additionalProperties: false,
      properties: {
        minMessages: {
          description: `Messages the primary delivered before any verdict but insufficient-data. Default ${shadowVerdictDefaults.minMessages}.`,
          type: "integer",
          minimum: 1,
          default: shadowVerdictDefaults.minMessages,
        },
        maxMissingRatio: ratioProperty(
          "messages the shadow did not deliver",
          shadowVerdictDefaults.maxMissingRatio,
        ),
        maxExtraRatio: ratioProperty(
          "messages only the shadow delivered",
          shadowVerdictDefaults.maxExtraRatio,
        ),
        maxDuplicateRatio: ratioProperty(
          "extra copies the shadow delivered",
          shadowVerdictDefaults.maxDuplicateRatio,
        ),
        maxReorderedRatio: ratioProperty(
          "messages the shadow delivered out of the primary's order",
          shadowVerdictDefaults.maxReorderedRatio,
        ),
        maxMismatchedRatio: ratioProperty(
          "messages whose payload differs on the shadow",
          shadowVerdictDefaults.maxMismatchedRatio,
        ),
        maxP99GapMs: {
          description: `Largest p99 of the shadow's delivery time minus the primary's. Milliseconds, default ${shadowVerdictDefaults.maxP99GapMs}.`,
          type: "number",
          minimum: 0,
          default: shadowVerdictDefaults.maxP99GapMs,
        },
      },
    },
  },
  examples: [{ backend: "pusher", channel: "private-room-{id}", percent: 10 }],
};

const routeSchema: JsonSchema = {
  description: "One route: rooms matching `room` live on `backend`, on channel `channel`.",
  type: "object",
  additionalProperties: false,
  required: ["room", "backend"],
  properties: {
    room: {
      description:
        "A room pattern: an exact room name, literal text with `{name}` captures, or `*` " +
        "for every room.",
      type: "string",
      minLength: 1,
      examples: ["room:{id}", "lobby", "*"],
    },
    backend: backendNameProperty,
    channel: channelProperty,
    rename: {
      description:
        "Event names to change on deliveries from the channel before members receive them, " +
        "e.g. `client-message: message` so a native Pusher client's client event reaches " +
        "Socket.IO members as `message`. Default `{}`.",
      type: "object",
      propertyNames: { minLength: 1 },
      additionalProperties: {
        description: "The name members receive.",
        type: "string",
        minLength: 1,
      },
      default: {},
      examples: [{ "client-message": "message" }],
    },
    presence: {
      description:
        "Mirror the room's members into the channel's presence set, on backends whose kind has " +
        "presence (ably): each Socket.IO member of the room on this node enters the channel's " +
        "presence under a clientId, and leaves with the room. `true`: the clientId is the " +
        "socket's id; `{clientId: TEMPLATE}` names it, e.g. `{claims.sub}` (a template reading " +
        "socket.id, claims, auth, nsp and room). Default false.",
      type: ["boolean", "object"],
      errorMessage: "must be true, false or a mapping with a clientId",
      additionalProperties: false,
      required: ["clientId"],
      properties: {
        clientId: {
          description: "Template of the member's clientId; must yield a non-empty string.",
          type: "string",
          minLength: 1,
          examples: ["{claims.sub}"],
        },
      },
      default: false,
      examples: [true, { clientId: "{claims.sub}" }],
    },
    rollout: {
      description:
        "Move a share of the route's rooms to another backend: `percent` of them, chosen by " +
        "a stable hash of the room name, live on `rollout.backend` instead.",
      type: "object",
      additionalProperties: false,
      required: ["backend", "percent"],
      properties: {
        backend: backendNameProperty,
        channel: channelProperty,
        percent: percentProperty,
        shadow: shadowSchema,
      },
    },
    shadow: shadowSchema,
  },
  examples: [
    { room: "room:{id}", backend: "pusher", channel: "private-room-{id}" },
    {
      room: "room:{id}",
      backend: "native",
      rollout: { backend: "pusher", channel: "private-room-{id}", percent: 10 },
    },
  ],
};

const namespaceSchema: JsonSchema = {
  description: "One namespace clients may connect to.",
  type: "object",
  additionalProperties: false,
  errorMessage: "must be a mapping (write {} for a namespace without events)",
  properties: {
    auth: authSchema,
    join: {
      description:
        "Templates of rooms every socket joins as soon as its connection is accepted, e.g. " +
        "`user:{claims.sub}`. Each must yield a non-empty string of at most " +
        "`server.limits.maxRoomLength` characters, or the connection is refused " +
        "(CONNECT_ERROR, SWY_ROOM_INVALID). Default `[]`.",
      type: "array",
      items: {
        description: "A template naming a room; may read auth, claims, socket.id and nsp.",
        type: "string",
        minLength: 1,
      },
      default: [],
      examples: [["user:{claims.sub}", "lobby"]],
    },
    routes: {
      description:
        "Which backend carries each room of the namespace, and on which channel. A room takes " +
        "the route whose `room` is exactly its name, else the matching pattern with the most " +
        "literal characters (the first written on a tie), else the catch-all `*`; rooms no " +
        "route matches live on the backend `native`. Default `[]`.",
      type: "array",
      items: routeSchema,
      default: [],
    },
    events: {
      description:
        "Client event name → rule. An event without a rule is refused in its ack " +
        "(SWY_EVENT_UNKNOWN).",
      type: "object",
      propertyNames: { minLength: 1 },
      additionalProperties: ruleSchema,
      default: {},
    },
  },
};

/** Backend names: what routes refer to. */
export const BACKEND_NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_-]*$";

/** The name of the backend every configuration has, and its kind. */
export const NATIVE_BACKEND = "native";

function backendsSchema(kinds: BackendRegistry): JsonSchema {
  const names = kinds.kinds();
  return {
    description:
      "Backend name → a configured instance of a backend kind. A backend named `native` of " +
      "kind native exists even when not listed.",
    type: "object",
    propertyNames: {
      pattern: BACKEND_NAME_PATTERN,
      patternErrorMessage: "must start with a letter and hold only letters, digits, '_' and '-'",
    },
    additionalProperties: {
      type: "object",
      additionalProperties: false,
      required: ["kind"],
      errorMessage: "must be a mapping with a kind",
      properties: {
        kind: { description: "The backend kind.", enum: names },
        settings: {
          description: "The kind's own settings; docs/backends/<kind>.md lists them.",
          type: "object",
          default: {},
        },
      },
      allOf: names.map((kind) => ({
        if: { properties: { kind: { const: kind } }, required: ["kind"] },
        // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
        then: {
          properties: {
            settings: {
              description: `Settings of kind ${kind}.`,
              ...kinds.get(kind).settingsSchema,
            },
          },
        },
      })),
    },
    default: {},
    examples: [{ native: { kind: "native" } }],
  };
}

/**
 * The schema of a whole Switchyard YAML file, with the settings schemas of the kinds
 * `kinds` holds.
 */
export function configSchema(kinds: BackendRegistry): JsonSchema {
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "switchyard.schema.json",
    title: "Switchyard configuration",
    description:
      "A Switchyard mapping file: the server settings, the backends and, per namespace, " +
      "which backend carries each room and what each client event does. See docs/mapping.md.",
    type: "object",
    additionalProperties: false,
    required: ["namespaces"],
    errorMessage: "must be a mapping with a namespaces key",
    properties: {
      server: serverSchema,
      log: logSchema,
      api: apiSchema,
      admin: adminSchema,
      cluster: clusterSchema,
      adminUi: adminUiSchema,
      passthrough: passthroughSchema,
      backends: backendsSchema(kinds),
      namespaces: {
        description:
          "Namespace name (`/` or `/name`) → namespace. Only these namespaces accept connections.",
        type: "object",
        minProperties: 1,
        propertyNames: {
          pattern: "^/[^\\s,?#]*$",
          patternErrorMessage: "must start with '/' and contain no spaces, ',', '?' or '#'",
        },
        additionalProperties: namespaceSchema,
      },
    },
  };
}

/** The schema with the kinds Switchyard ships: config/switchyard.schema.json. */
export const CONFIG_SCHEMA: JsonSchema = configSchema(builtinBackends());

import type { CookieOptions, CorsOptions } from "../ingress/engine/options.js";
import type { Secret } from "./secret.js";

/**
 * The compiled, frozen form of a Switchyard YAML file: what the router and the
 * server read at run time. Nothing here is parsed again per message: templates
 * are closures and room patterns are compiled matchers.
 *
 * The YAML shape is documented in docs/mapping.md; src/mapping/schema.ts holds its
 * JSON Schema.
 */

/** Values a template can read. Built once per event, cheaply. */
export interface TemplateContext {
  /** The event's arguments (without the ack callback). `{data}` is `args[0]`. */
  readonly args: readonly unknown[];
  /** The auth payload the client sent with its CONNECT (`{}` when none). */
  readonly auth: Readonly<Record<string, unknown>>;
  /**
   * The verified claims of the connection's token, in namespaces with `auth: { jwt }`;
   * absent elsewhere.
   */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** The Socket.IO socket id. */
  readonly socketId: string;
  /** The namespace name, e.g. `/` or `/chat`. */
  readonly nsp: string;
  /** The room the rule resolved, once it is known (for acks). */
  readonly room?: string;
  /** Named captures of the allow pattern the room matched (for acks). */
  readonly captures?: Readonly<Record<string, string>>;
}

/**
 * A compiled template. A template string that is exactly one `{expr}` yields the
 * value with its own type (object, number…); any other string interpolates; objects
 * and arrays are templated member by member; other values are constants.
 */
export type Template = (ctx: TemplateContext) => unknown;

/** A compiled room pattern such as `room:{id}` or `lobby`. */
export interface RoomPattern {
  /** The pattern as written. */
  readonly source: string;
  /** Returns the named captures when `room` matches, otherwise `undefined`. */
  match(room: string): Readonly<Record<string, string>> | undefined;
  /** Whether `room` matches, without building the captures. */
  test(room: string): boolean;
}

interface RuleBase {
  /** The client event name this rule handles. */
  readonly event: string;
  /** Where the rule was written, for logs: `file:line:col`. */
  readonly at: string;
  /**
   * What the ack returns on success. `undefined` means the default `{ ok: true }`.
   * Errors always ack `{ ok: false, error: { code, message } }`.
   */
  readonly ack?: Template;
}

/** `action: join`: the socket joins the room the template names. */
export interface JoinRule extends RuleBase {
  readonly action: "join";
  readonly room: Template;
  /** The room must match one of these; empty means any room. */
  readonly allow: readonly RoomPattern[];
}

/** `action: leave`: the socket leaves the room the template names. */
export interface LeaveRule extends RuleBase {
  readonly action: "leave";
  readonly room: Template;
}

/** `action: broadcast`: emit an event to every member of a room. */
export interface BroadcastRule extends RuleBase {
  readonly action: "broadcast";
  readonly room: Template;
  /** The room must match one of these; empty means any room. */
  readonly allow: readonly RoomPattern[];
  /** The event name members receive (defaults to the client's event name). */
  readonly emit: string;
  /** The arguments members receive; `undefined` forwards the client's arguments as they are. */
  readonly args?: readonly Template[];
  /** Whether the sender is left out of the delivery. Default true. */
  readonly exceptSender: boolean;
  /** Whether the sender must be a member of the room. Default true. */
  readonly requireMembership: boolean;
}

/**
 * `action: forward`: the event is POSTed to the app, whose answer says what to do.
 * The request and answer shapes are in docs/mapping.md ("Forwarding events to your app").
 */
export interface ForwardRule {
  readonly event: string;
  readonly at: string;
  readonly action: "forward";
  /** The app's endpoint (`http:` or `https:`). */
  readonly url: string;
  /** How long the app may take to answer, in ms; default 5000. */
  readonly timeout: number;
  /** Extra request headers; values print as `[secret]`. */
  readonly headers: ReadonlyMap<string, Secret>;
  /**
   * The HMAC-SHA256 key that signs each request (`X-Switchyard-Signature`); absent: the
   * requests are not signed.
   */
  readonly signingSecret?: Secret;
  /** Whether the request's `auth` keeps the client's `token`; default false (removed). */
  readonly includeToken: boolean;
}

export type EventRule = JoinRule | LeaveRule | BroadcastRule | ForwardRule;

/** `auth: { jwt }`: a namespace whose connections must carry a valid JSON Web Token. */
export interface JwtAuthConfig {
  readonly kind: "jwt";
  /** The key, exactly one of the three. Secrets and PEM keys print as `[secret]`. */
  readonly key:
    | { readonly type: "secret"; readonly secret: Secret }
    | { readonly type: "publicKey"; readonly pem: Secret }
    | {
        readonly type: "jwks";
        /** The file's absolute path. */
        readonly file: string;
        /** The key set as read when the configuration was loaded. */
        readonly jwks: Secret<JsonWebKeySet>;
      };
  /** JWS algorithms accepted; never empty (the default follows the key's type). */
  readonly algorithms: readonly string[];
  /** The `iss` a token must carry, when set. */
  readonly issuer?: string;
  /** The `aud` a token must carry, when set. */
  readonly audience?: string;
  /** Leeway for `exp`, `nbf` and `maxTokenAge`, in seconds; default 0. */
  readonly clockTolerance: number;
  /** Accept tokens without `exp`; default false (SWY_AUTH_EXPIRY_REQUIRED). */
  readonly allowNoExpiry: boolean;
  /** Oldest `iat` accepted, in seconds before now; absent: the age is not checked. */
  readonly maxTokenAge?: number;
  /** Disconnect a socket when its token's `exp` (+ `clockTolerance`) passes; default false. */
  readonly disconnectOnExpiry: boolean;
}

/** `auth: { webhook }`: a namespace whose connections the app accepts or refuses. */
export interface WebhookAuthConfig {
  readonly kind: "webhook";
  /** The app's endpoint (`http:` or `https:`). */
  readonly url: string;
  /** How long the app may take to answer, in ms; default 5000. */
  readonly timeout: number;
  /**
   * The HMAC-SHA256 key that signs each request (`X-Switchyard-Signature`); absent: the
   * requests are not signed.
   */
  readonly signingSecret?: Secret;
}

/** How a namespace authenticates connections: `none` accepts every one. */
export type AuthConfig = { readonly kind: "none" } | JwtAuthConfig | WebhookAuthConfig;

/** A JSON Web Key Set, as `{ "keys": [...] }`. */
export interface JsonWebKeySet {
  readonly keys: readonly Readonly<Record<string, unknown>>[];
}

/** Where a room lives: the backend that carries it and its channel there. */
export interface RoomBinding {
  readonly ok: true;
  /** A name of `SwitchyardConfig.backends`. */
  readonly backend: string;
  readonly channel: string;
  /** Event names changed on deliveries from the channel (the route's `rename`); often empty. */
  readonly rename: ReadonlyMap<string, string>;
  /**
   * The route's presence mirror: each member of the room is a presence member of the
   * channel under the clientId this template gives (it reads `socket.id`, `claims`,
   * `auth`, `nsp` and `room`). Absent: no mirror. Applies on backends whose kind has
   * presence.
   */
  readonly presence?: Template;
  /** The room's shadow (a route's `shadow:` covering this room); absent: none. */
  readonly shadow?: ShadowBinding;
}

/** What makes a shadow's verdict `ready` (docs/shadow.md); ratios are per primary message. */
export interface ShadowVerdictThresholds {
  readonly minMessages: number;
  readonly maxMissingRatio: number;
  readonly maxExtraRatio: number;
  readonly maxDuplicateRatio: number;
  readonly maxReorderedRatio: number;
  readonly maxMismatchedRatio: number;
  readonly maxP99GapMs: number;
}

/** One shadowed target of a route (its own, or its rollout's): what the report is kept by. */
export interface ShadowRoute {
  /** Unique in a configuration: the namespace, the room pattern, and the target's role. */
  readonly id: string;
  readonly namespace: string;
  /** The route's room pattern. */
  readonly room: string;
  /** The backend the shadowed rooms live on. */
  readonly primary: string;
  /** The backend that shadows them. */
  readonly shadow: string;
  /** `route` for the route's own target, `rollout` for its rollout's. */
  readonly role: "route" | "rollout";
  /** How long a message waits for its copy before it is decided, in ms. */
  readonly window: number;
  readonly verdict: ShadowVerdictThresholds;
}

/** Where a shadowed room's publications are written a second time. */
export interface ShadowBinding {
  readonly backend: string;
  readonly channel: string;
  readonly route: ShadowRoute;
}

/** A room whose escaped channel name is longer than its backend's kind allows. */
export interface ChannelTooLong {
  readonly ok: false;
  readonly backend: string;
  /** The channel's length, in characters. */
  readonly length: number;
  readonly maxLength: number;
}

/**
 * A namespace's compiled `routes`: which backend and channel carry a room.
 * Precedence: the route whose room is exactly the name, else the matching pattern
 * with the most literal characters (the first written on a tie), else `*`, else the
 * backend `native`. A rollout then sends its share of the route's rooms, by a stable
 * hash of the room name (src/mapping/route-table.ts), to its own target.
 */
export interface RouteTable {
  /** The same room always gets the same answer from the same table. */
  resolve(room: string): RoomBinding | ChannelTooLong;
  /** The shadowed targets of the namespace's routes, in file order. */
  readonly shadows: readonly ShadowRoute[];
  /** The namespace's routes as written, in file order (what the migration console lists). */
  readonly rules: readonly RouteRule[];
  /**
   * The route that places `room` (`undefined`: none, the room is on `native`) and whether
   * the room's rollout bucket sends it to the route's rollout target. Not on any hot path.
   */
  ruleOf(room: string): { readonly rule: RouteRule; readonly isRollout: boolean } | undefined;
}

/** A target of a route as written: a backend and its channel template (absent: the kind's default). */
export interface RouteTargetRule {
  readonly backend: string;
  readonly channel?: string;
}

/** One entry of a namespace's `routes`, as written (defaults applied to percentages). */
export interface RouteRule extends RouteTargetRule {
  /** The room pattern. */
  readonly room: string;
  readonly rollout?: RouteTargetRule & {
    readonly percent: number;
    readonly shadow?: RouteTargetRule & { readonly percent: number };
  };
  readonly shadow?: RouteTargetRule & { readonly percent: number };
}

/** One entry of `backends` (the implicit `native` included). */
export interface BackendConfig {
  readonly name: string;
  readonly kind: string;
  /**
   * The kind's settings, validated by its schema. They may hold secrets from the
   * environment: `toJSON` hides them, so logging a BackendConfig is safe.
   */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Where it was written (`file:line:col`), or `<implicit>` for the default native backend. */
  readonly at: string;
  toJSON(): unknown;
}

export interface NamespaceConfig {
  /** `/` or `/name`. */
  readonly name: string;
  /** Which backend and channel carry each room. */
  readonly routes: RouteTable;
  /** Default `{ kind: "none" }`. */
  readonly auth: AuthConfig;
  /**
   * Rooms every socket joins once its connection is accepted. A template that does not
   * yield a valid room refuses the connection (SWY_ROOM_INVALID).
   */
  readonly join: readonly Template[];
  /** Event name → rule. */
  readonly events: ReadonlyMap<string, EventRule>;
}

/** CORS settings, as the ingress takes them. */
export type CorsConfig = CorsOptions;

/** The sticky-session cookie, as the ingress takes it. */
export type CookieConfig = CookieOptions;

export interface ServerConfig {
  /** Default 3000. `--port` on the command line wins. */
  readonly port: number;
  /** Default `0.0.0.0`. */
  readonly host: string;
  /** The listen queue's length (capped by the kernel's somaxconn); default 511. */
  readonly backlog: number;
  /** Default `/socket.io/`, always with a trailing slash. */
  readonly path: string;
  /** Default both, `["polling", "websocket"]`. */
  readonly transports: readonly ("polling" | "websocket")[];
  /** Serve socket.io 2.x clients (Engine.IO v3) too; default false. */
  readonly allowEIO3: boolean;
  /** `false` (default) sends no CORS headers. */
  readonly cors: CorsConfig | false;
  /** `false` (default) sets no cookie. */
  readonly cookie: CookieConfig | false;
  /** ms, default 25000. */
  readonly pingInterval: number;
  /** ms, default 20000. */
  readonly pingTimeout: number;
  /** ms, default 45000. */
  readonly connectTimeout: number;
  /** ms a join waits for its room's backend subscription; default 10000. */
  readonly joinTimeout: number;
  /** ms, default 10000. */
  readonly upgradeTimeout: number;
  /**
   * ms over which SIGTERM/SIGINT closes the open sessions in batches before the
   * backends are flushed and the process exits (docs/scaling.md); default 10000.
   */
  readonly drainTimeout: number;
  /** Bytes, default 1000000. */
  readonly maxHttpBufferSize: number;
  /** Binary attachments per packet, default 10. */
  readonly maxAttachments: number;
  /** Bytes queued for one client before it is disconnected as a slow consumer; default 1 MiB. */
  readonly maxQueuedBytes: number;
  /** Characters in a room name, default 256. */
  readonly maxRoomLength: number;
  /** How deep data from outside may nest (src/json-depth.ts); default 32. */
  readonly maxDepth: number;
  /** Rooms a socket may be in when a join rule adds one; default 1000. */
  readonly maxRoomsPerSocket: number;
  /** A socket's sustained events per second (token bucket rate); default 100. */
  readonly eventsPerSecond: number;
  /** A socket's burst of events (token bucket size); default 200. */
  readonly eventBurst: number;
  /** A socket's broadcasts waiting for their backend; default 64. */
  readonly maxPublishesPerSocket: number;
  /** A socket's events waiting for the app (forward rules); default 4. */
  readonly maxForwardsPerSocket: number;
  /** Every socket's events waiting for the app; default 256. */
  readonly maxForwards: number;
  /** Messages of shadowed rooms waiting for a decision on this node; default 100,000. */
  readonly maxShadowPending: number;
  /** Shadow writes on their way at once on this node; default 10,000. */
  readonly maxShadowWrites: number;
  /** Migration console streams open at once on this node; default 16. */
  readonly maxConsoleStreams: number;
  /** `connectionStateRecovery`; absent: off (docs/recovery.md). */
  readonly recovery?: RecoveryConfig;
}

/** `server.connectionStateRecovery`, defaults applied (docs/recovery.md). */
export interface RecoveryConfig {
  /** ms a disconnected socket is kept; default 120000. */
  readonly maxDisconnectionDuration: number;
  /** Whether a recovering socket skips auth; default true. */
  readonly skipMiddlewares: boolean;
  /** Kept sockets at most; default 100000. */
  readonly maxSessions: number;
  /** Broadcasts each namespace's log keeps at most; default 10000. */
  readonly maxPackets: number;
  /** Encoded bytes each namespace's log keeps at most; default 16 MiB. */
  readonly maxBytes: number;
}

export interface LogConfig {
  /** pino level, default `info`. */
  readonly level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}

/** The HTTP API (`api:`). See docs/api.md. */
export interface ApiConfig {
  /** The bearer token every request must send. Prints as `[secret]`. */
  readonly token: Secret;
}

/** `admin:`: a separate listener for `/healthz`, `/readyz` and `/metrics`. */
export interface AdminConfig {
  /** Default `127.0.0.1`. */
  readonly host: string;
  /** Never `server.port`; `--admin-port` on the command line wins. */
  readonly port: number;
}

/** `cluster:`: this process is one node of a Switchyard cluster (docs/scaling.md). */
export interface ClusterConfig {
  /** How other nodes reach this one; absent: derived from the listening address. */
  readonly advertise?: string;
  /** Redis URL of the node registry. May hold a password: prints as `[secret]`. */
  readonly redis: Secret;
  readonly key: string;
  /** ms a node stays listed without a heartbeat. */
  readonly nodeTtl: number;
}

/**
 * `adminUi:`: the Socket.IO Admin UI's namespace, and its static files (docs/admin-ui.md).
 * Names follow `instrument()` of `@socket.io/admin-ui`.
 */
export interface AdminUiConfig {
  /** The admin namespace, default `/admin`; never one of `namespaces`. */
  readonly namespace: string;
  /** Basic auth: the username and the bcrypt hash of the password; `false`: none. */
  readonly auth: false | { readonly username: string; readonly password: Secret };
  /** When true, the UI may look but not join, leave or disconnect. */
  readonly readonly: boolean;
  /** `development`: sockets, rooms and events; `production`: server stats only. */
  readonly mode: "development" | "production";
  /** This node's id in the UI's server list; absent: the host name (and node tag in a cluster). */
  readonly serverId?: string;
  /** Where the UI's files are served (normalised, both slashes); `false`: not served. */
  readonly path: string | false;
}

/** What keeps a client on one side of a passthrough: a request's value, or none (random). */
export type PassthroughKey =
  | { readonly kind: "query" | "header" | "cookie"; readonly name: string }
  | { readonly kind: "address" };

/** `passthrough:`: a share of connections relayed to the legacy server (docs/passthrough.md). */
export interface PassthroughConfig {
  /** The legacy server's origin, `http(s)://host[:port]`. */
  readonly target: string;
  /** Share of new connections relayed, in hundredths of a percent (0–10000). */
  readonly threshold: number;
  /** Absent: each new connection is placed at random. */
  readonly key?: PassthroughKey;
  /**
   * The legacy server's Engine.IO paths other than `server.path` (normalised, with both
   * slashes): Switchyard serves nothing there, so every request under them is relayed.
   */
  readonly legacyPaths: readonly string[];
  /** ms the target may take to answer a relayed request. */
  readonly timeout: number;
  /** ms over which a drain ends the connections it picks. */
  readonly drainSpread: number;
  /** A cookie holding a keyless browser's bucket; absent: keyless connections are random. */
  readonly stickyCookie?: { readonly name: string; readonly maxAge: number };
}

/** The whole compiled file. Deep-frozen. */
export interface SwitchyardConfig {
  /**
   * The file it came from (absolute path), or the name given to `loadConfigFromString`
   * (default `<string>`).
   */
  readonly source: string;
  readonly server: ServerConfig;
  readonly log: LogConfig;
  /** Absent when the file has no `api` block: then the HTTP API is off (its paths answer 404). */
  readonly api?: ApiConfig;
  /**
   * Absent (default): `/readyz` and `/metrics` are on the public port. Present: they are
   * served on this listener only.
   */
  readonly admin?: AdminConfig;
  /** Absent: a single node (sessions must come back to the node that made them). */
  readonly cluster?: ClusterConfig;
  /** Absent (default): no admin namespace, no `/admin-ui/` files. */
  readonly adminUi?: AdminUiConfig;
  /** Absent: every connection is served here. */
  readonly passthrough?: PassthroughConfig;
  /** Backend name → backend; always holds `native`. */
  readonly backends: ReadonlyMap<string, BackendConfig>;
  /** Namespace name → namespace. Only these namespaces accept connections. */
  readonly namespaces: ReadonlyMap<string, NamespaceConfig>;
}

/** One problem found in a configuration file. */
export interface Diagnostic {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
  readonly severity: "error" | "warning";
  /** A `SWY_CFG_*` code of src/errors.ts. */
  readonly code: string;
  readonly message: string;
}

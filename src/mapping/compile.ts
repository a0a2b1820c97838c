/**
 * Turns a Switchyard YAML file into a frozen {@link SwitchyardConfig}: load, expand
 * `${VAR}`, validate, then compile templates into closures and room patterns into
 * matchers, once. This is the entry point the CLI, the server and hot reload use.
 */

import { dirname, resolve as resolvePath } from "node:path";
import { inspect } from "node:util";
import type { BackendRegistry } from "../egress/registry.js";
import { hasErrors } from "./diagnostic.js";
import { readJwks } from "./jwks.js";
import { type Env, type LoadedDocument, parseConfigText, readConfigFile } from "./load.js";
import { compileRoomPattern } from "./pattern.js";
import { publicKeyAlgorithms } from "./public-key.js";
import { compileRouteTable, type RawRoute } from "./route-table.js";
import { DEFAULTS, HMAC_ALGORITHMS, NATIVE_BACKEND, normalisePath } from "./schema.js";
import { Secret } from "./secret.js";
import { compileTemplate } from "./template.js";
import type {
  AdminUiConfig,
  AuthConfig,
  BackendConfig,
  ClusterConfig,
  CookieConfig,
  CorsConfig,
  Diagnostic,
  EventRule,
  JwtAuthConfig,
  LogConfig,
  NamespaceConfig,
  PassthroughConfig,
  PassthroughKey,
  RecoveryConfig,
  ServerConfig,
  SwitchyardConfig,
} from "./types.js";
import { validateDocument } from "./validate.js";
import { BUILTIN_KINDS } from "./validate-routes.js";

/** What loading a configuration produced. */
export interface LoadResult {
  /** Present exactly when no diagnostic is an error (warnings allowed). */
  readonly config?: SwitchyardConfig;
  /** Every problem found, sorted by position; print them with formatDiagnostic. */
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * Loads, validates and compiles the file at `file`. Diagnostics name the file as
 * given; `config.source` is its absolute path. Reads the file synchronously and
 * never throws for a problem in the file (an unreadable file is SWY_CFG_READ).
 *
 * @param env Where `${VAR}` reads from; default `process.env`.
 * @param kinds The backend kinds `backends:` may name; default the built-in ones.
 */
export function loadConfig(
  file: string,
  env: Env = process.env,
  kinds: BackendRegistry = BUILTIN_KINDS,
): LoadResult {
  return finish(readConfigFile(file, env), resolvePath(file), kinds);
}

/**
 * {@link loadConfig} for text in memory. `name` labels diagnostics and becomes
 * `config.source`.
 */
export function loadConfigFromString(
  text: string,
  name = "<string>",
  env: Env = process.env,
  kinds: BackendRegistry = BUILTIN_KINDS,
): LoadResult {
  return finish(parseConfigText(text, name, env), name, kinds);
}

/** What {@link checkConfig} found. */
export interface CheckResult {
  /** Every problem found, sorted by position; print them with formatDiagnostic. */
  readonly diagnostics: readonly Diagnostic[];
  /** No diagnostic is an error. */
  readonly isValid: boolean;
  /** How many namespaces the file declares (0 when it is not valid). */
  readonly namespaces: number;
  /** Variables read with no default that are unset (only with `allowMissingEnv`). */
  readonly unsetEnv: readonly string[];
}

/**
 * Checks the file at `file` as `switchyard validate` does. Without `allowMissingEnv`
 * this is {@link loadConfig}: the file is valid when it would start. With it, an unset
 * `${VAR}` is a warning and what reads it goes unchecked; such a file is validated but
 * not compiled, because its values are unknown.
 */
export function checkConfig(
  file: string,
  options: { env?: Env; kinds?: BackendRegistry; allowMissingEnv?: boolean } = {},
): CheckResult {
  const { env = process.env, kinds = BUILTIN_KINDS } = options;
  if (options.allowMissingEnv !== true) {
    const { config, diagnostics } = loadConfig(file, env, kinds);
    const namespaces = config?.namespaces.size ?? 0;
    return { diagnostics, isValid: config !== undefined, namespaces, unsetEnv: [] };
  }
  const doc = readConfigFile(file, env, { missingEnv: "warning" });
  const diagnostics = validateDocument(doc, kinds);
  if (hasErrors(diagnostics)) return { diagnostics, isValid: false, namespaces: 0, unsetEnv: [] };
  if (doc.unsetEnv.length === 0) {
    const config = compileConfig(doc, resolvePath(file), kinds);
    return { diagnostics, isValid: true, namespaces: config.namespaces.size, unsetEnv: [] };
  }
  const declared = (doc.value as { namespaces?: object } | null)?.namespaces ?? {};
  return {
    diagnostics,
    isValid: true,
    namespaces: Object.keys(declared).length,
    unsetEnv: doc.unsetEnv,
  };
}

function finish(doc: LoadedDocument, source: string, kinds: BackendRegistry): LoadResult {
  const diagnostics = validateDocument(doc, kinds);
  if (hasErrors(diagnostics)) return { diagnostics };
  return { config: compileConfig(doc, source, kinds), diagnostics };
}

// The YAML shape after validation: every key optional, defaults not yet applied.
interface RawRule {
  action: "join" | "leave" | "broadcast" | "forward";
  room: string;
  url?: string;
  timeout?: number;
  headers?: Record<string, string>;
  signingSecret?: string;
  includeToken?: boolean;
  allow?: string[];
  ack?: unknown;
  emit?: string;
  args?: unknown[];
  exceptSender?: boolean;
  requireMembership?: boolean;
}
interface RawCors {
  origin: string | string[];
  credentials?: boolean;
  methods?: string[];
  allowedHeaders?: string[];
  maxAge?: number;
}
interface RawServer {
  port?: number;
  host?: string;
  backlog?: number;
  path?: string;
  transports?: ("polling" | "websocket")[];
  allowEIO3?: boolean;
  connectionStateRecovery?: Partial<RecoveryConfig>;
  cors?: false | RawCors;
  cookie?: boolean | Partial<CookieConfig>;
  heartbeat?: { interval?: number; timeout?: number };
  connectTimeout?: number;
  joinTimeout?: number;
  upgradeTimeout?: number;
  drainTimeout?: number;
  limits?: Partial<Record<keyof typeof DEFAULTS.server.limits, number>>;
}
interface RawConfig {
  server?: RawServer;
  log?: { level?: LogConfig["level"] };
  api?: { token: string };
  admin?: { host?: string; port: number };
  cluster?: { advertise?: string; redis?: string; key?: string; nodeTtl?: number };
  adminUi?: {
    namespace?: string;
    auth: false | { username: string; password: string };
    readonly?: boolean;
    mode?: AdminUiConfig["mode"];
    serverId?: string;
    path?: string | false;
  };
  passthrough?: {
    target: string;
    percent?: number;
    key?: "address" | { query?: string; header?: string; cookie?: string };
    path?: string | string[];
    timeout?: number;
    drainSpread?: number;
    stickyCookie?: { name: string; maxAge?: number };
  };
  backends?: Record<string, { kind: string; settings?: Record<string, unknown> }>;
  namespaces: Record<string, RawNamespace>;
}
interface RawJwt {
  secret?: string;
  publicKey?: string;
  jwksFile?: string;
  algorithms?: string[];
  issuer?: string;
  audience?: string;
  clockTolerance?: number;
  allowNoExpiry?: boolean;
  maxTokenAge?: number;
  disconnectOnExpiry?: boolean;
}
interface RawWebhook {
  url: string;
  timeout?: number;
  signingSecret?: string;
}
interface RawNamespace {
  auth?: "none" | { jwt?: RawJwt; webhook?: RawWebhook };
  join?: string[];
  routes?: RawRoute[];
  events?: Record<string, RawRule>;
}

/**
 * Compiles a document that {@link validateDocument} passed without errors. Defaults
 * come from `DEFAULTS` (src/mapping/schema.ts). The result is deep-frozen, its maps
 * included.
 *
 * @param source What `config.source` says; default the document's file name.
 * @param kinds The registry the document was validated with.
 * @throws Error when the document was not valid (a programming error, not a config one).
 */
export function compileConfig(
  doc: LoadedDocument,
  source: string = doc.file,
  kinds: BackendRegistry = BUILTIN_KINDS,
): SwitchyardConfig {
  const raw = doc.value as RawConfig;
  const backends = compileBackends(doc, raw.backends ?? {});
  const namingOf = (name: string) => kinds.get(backends.get(name)!.kind).channelNaming;
  const namespaces = Object.entries(raw.namespaces).map(([name, ns]): [string, NamespaceConfig] => {
    const events = Object.entries(ns.events ?? {}).map(([event, rule]): [string, EventRule] => {
      const pos = doc.position(["namespaces", name, "events", event], "key");
      return [event, compileRule(event, rule, `${doc.file}:${pos.line}:${pos.col}`)];
    });
    return [
      name,
      {
        name,
        routes: compileRouteTable(name, ns.routes ?? [], namingOf),
        auth: compileAuth(ns.auth, doc.file),
        join: (ns.join ?? []).map(compileTemplate),
        events: new FrozenMap(events),
      },
    ];
  });
  const server = compileServer(raw.server ?? {});
  return deepFreeze({
    source,
    server,
    log: { level: raw.log?.level ?? DEFAULTS.log.level },
    ...(raw.api === undefined ? {} : { api: { token: new Secret(raw.api.token) } }),
    ...(raw.admin === undefined
      ? {}
      : { admin: { host: raw.admin.host ?? DEFAULTS.admin.host, port: raw.admin.port } }),
    ...(raw.cluster === undefined ? {} : { cluster: compileCluster(raw.cluster) }),
    ...(raw.adminUi === undefined ? {} : { adminUi: compileAdminUi(raw.adminUi) }),
    ...(raw.passthrough === undefined
      ? {}
      : { passthrough: compilePassthrough(raw.passthrough, server.path) }),
    backends,
    namespaces: new FrozenMap(namespaces),
  });
}

function compilePassthrough(
  raw: NonNullable<RawConfig["passthrough"]>,
  serverPath: string,
): PassthroughConfig {
  const d = DEFAULTS.passthrough;
  const paths = typeof raw.path === "string" ? [raw.path] : (raw.path ?? []);
  const legacyPaths = [...new Set(paths.map(normalisePath))].filter((path) => path !== serverPath);
  let key: PassthroughKey | undefined;
  if (raw.key === "address") key = { kind: "address" };
  else if (raw.key?.query !== undefined) key = { kind: "query", name: raw.key.query };
  // Header names are case-insensitive; Node gives them in lower case.
  else if (raw.key?.header !== undefined)
    key = { kind: "header", name: raw.key.header.toLowerCase() };
  else if (raw.key?.cookie !== undefined) key = { kind: "cookie", name: raw.key.cookie };
  return {
    target: raw.target.replace(/\/$/, ""),
    threshold: Math.round((raw.percent ?? d.percent) * 100),
    ...(key === undefined ? {} : { key }),
    legacyPaths,
    timeout: raw.timeout ?? d.timeout,
    drainSpread: raw.drainSpread ?? d.drainSpread,
    ...(raw.stickyCookie === undefined
      ? {}
      : {
          stickyCookie: {
            name: raw.stickyCookie.name,
            maxAge: raw.stickyCookie.maxAge ?? d.stickyMaxAge,
          },
        }),
  };
}

function compileAdminUi(raw: NonNullable<RawConfig["adminUi"]>): AdminUiConfig {
  const d = DEFAULTS.adminUi;
  const path = raw.path ?? d.path;
  return {
    namespace: raw.namespace ?? d.namespace,
    auth:
      raw.auth === false
        ? false
        : { username: raw.auth.username, password: new Secret(raw.auth.password) },
    readonly: raw.readonly ?? d.readonly,
    mode: raw.mode ?? d.mode,
    ...(raw.serverId === undefined ? {} : { serverId: raw.serverId }),
    path: path === false ? false : normalisePath(path),
  };
}

function compileCluster(raw: NonNullable<RawConfig["cluster"]>): ClusterConfig {
  const d = DEFAULTS.cluster;
  return {
    ...(raw.advertise === undefined ? {} : { advertise: raw.advertise }),
    redis: new Secret(raw.redis ?? d.redis),
    key: raw.key ?? d.key,
    nodeTtl: raw.nodeTtl ?? d.nodeTtl,
  };
}

function compileBackends(
  doc: LoadedDocument,
  raw: NonNullable<RawConfig["backends"]>,
): FrozenMap<string, BackendConfig> {
  const entries: [string, BackendConfig][] = Object.entries(raw).map(([name, backend]) => {
    const pos = doc.position(["backends", name], "key");
    return [
      name,
      backendConfig(
        name,
        backend.kind,
        backend.settings ?? {},
        `${doc.file}:${pos.line}:${pos.col}`,
      ),
    ];
  });
  if (raw[NATIVE_BACKEND] === undefined) {
    entries.unshift([
      NATIVE_BACKEND,
      backendConfig(NATIVE_BACKEND, NATIVE_BACKEND, {}, "<implicit>"),
    ]);
  }
  return new FrozenMap(entries);
}

function backendConfig(
  name: string,
  kind: string,
  settings: Record<string, unknown>,
  at: string,
): BackendConfig {
  // Settings may hold secrets from the environment: printing a backend shows their keys only.
  const shown = () => ({ name, kind, settings: Object.keys(settings), at });
  return {
    name,
    kind,
    settings: structuredClone(settings),
    at,
    toJSON: shown,
    [inspect.custom]: shown,
  } as BackendConfig;
}

function compileAuth(auth: RawNamespace["auth"], configFile: string): AuthConfig {
  if (auth === undefined || auth === "none") return { kind: "none" };
  if (auth.webhook !== undefined) {
    return {
      kind: "webhook",
      url: auth.webhook.url,
      timeout: auth.webhook.timeout ?? DEFAULTS.webhook.timeout,
      ...signingSecretOf(auth.webhook.signingSecret),
    };
  }
  const jwt = auth.jwt ?? {};
  let key: JwtAuthConfig["key"];
  let usable: readonly string[];
  if (jwt.secret !== undefined) {
    key = { type: "secret", secret: new Secret(jwt.secret) };
    usable = HMAC_ALGORITHMS;
  } else if (jwt.jwksFile !== undefined) {
    const file = resolvePath(dirname(configFile), jwt.jwksFile);
    const read = readJwks(file);
    if (read.jwks === undefined) throw new Error(`${file}: ${read.problem}; validate first`);
    key = { type: "jwks", file, jwks: new Secret(read.jwks) };
    usable = read.algorithms;
  } else {
    key = { type: "publicKey", pem: new Secret(jwt.publicKey ?? "") };
    usable = publicKeyAlgorithms(jwt.publicKey ?? "");
  }
  return {
    kind: "jwt",
    key,
    algorithms: [...(jwt.algorithms ?? usable)],
    ...(jwt.issuer === undefined ? {} : { issuer: jwt.issuer }),
    ...(jwt.audience === undefined ? {} : { audience: jwt.audience }),
    clockTolerance: jwt.clockTolerance ?? DEFAULTS.jwt.clockTolerance,
    allowNoExpiry: jwt.allowNoExpiry ?? DEFAULTS.jwt.allowNoExpiry,
    ...(jwt.maxTokenAge === undefined ? {} : { maxTokenAge: jwt.maxTokenAge }),
    disconnectOnExpiry: jwt.disconnectOnExpiry ?? DEFAULTS.jwt.disconnectOnExpiry,
  };
}

function signingSecretOf(secret: string | undefined): { signingSecret?: Secret } {
  return secret === undefined ? {} : { signingSecret: new Secret(secret) };
}

function compileServer(s: RawServer): ServerConfig {
  const d = DEFAULTS.server;
  return {
    port: s.port ?? d.port,
    host: s.host ?? d.host,
    backlog: s.backlog ?? d.backlog,
    path: normalisePath(s.path ?? d.path),
    transports: [...(s.transports ?? d.transports)],
    allowEIO3: s.allowEIO3 ?? d.allowEIO3,
    cors: compileCors(s.cors ?? d.cors),
    cookie: compileCookie(s.cookie ?? d.cookie),
    pingInterval: s.heartbeat?.interval ?? d.heartbeat.interval,
    pingTimeout: s.heartbeat?.timeout ?? d.heartbeat.timeout,
    connectTimeout: s.connectTimeout ?? d.connectTimeout,
    joinTimeout: s.joinTimeout ?? d.joinTimeout,
    upgradeTimeout: s.upgradeTimeout ?? d.upgradeTimeout,
    drainTimeout: s.drainTimeout ?? d.drainTimeout,
    maxHttpBufferSize: s.limits?.maxHttpBufferSize ?? d.limits.maxHttpBufferSize,
    maxAttachments: s.limits?.maxAttachments ?? d.limits.maxAttachments,
    maxQueuedBytes: s.limits?.maxQueuedBytes ?? d.limits.maxQueuedBytes,
    maxRoomLength: s.limits?.maxRoomLength ?? d.limits.maxRoomLength,
    maxDepth: s.limits?.maxDepth ?? d.limits.maxDepth,
    maxRoomsPerSocket: s.limits?.maxRoomsPerSocket ?? d.limits.maxRoomsPerSocket,
    eventsPerSecond: s.limits?.eventsPerSecond ?? d.limits.eventsPerSecond,
    eventBurst: s.limits?.eventBurst ?? d.limits.eventBurst,
    maxPublishesPerSocket: s.limits?.maxPublishesPerSocket ?? d.limits.maxPublishesPerSocket,
    maxForwardsPerSocket: s.limits?.maxForwardsPerSocket ?? d.limits.maxForwardsPerSocket,
    maxForwards: s.limits?.maxForwards ?? d.limits.maxForwards,
    maxShadowPending: s.limits?.maxShadowPending ?? d.limits.maxShadowPending,
    maxShadowWrites: s.limits?.maxShadowWrites ?? d.limits.maxShadowWrites,
    maxConsoleStreams: s.limits?.maxConsoleStreams ?? d.limits.maxConsoleStreams,
    ...(s.connectionStateRecovery === undefined
      ? {}
      : { recovery: { ...DEFAULTS.recovery, ...s.connectionStateRecovery } }),
  };
}

function compileCors(cors: false | RawCors): CorsConfig | false {
  if (cors === false) return false;
  const d = DEFAULTS.cors;
  return {
    origin:
      cors.origin === "*"
        ? "*"
        : typeof cors.origin === "string"
          ? [cors.origin]
          : [...cors.origin],
    credentials: cors.credentials ?? d.credentials,
    methods: [...(cors.methods ?? d.methods)],
    allowedHeaders: [...(cors.allowedHeaders ?? d.allowedHeaders)],
    maxAge: cors.maxAge ?? d.maxAge,
  };
}

function compileCookie(cookie: boolean | Partial<CookieConfig>): CookieConfig | false {
  if (cookie === false) return false;
  const d = DEFAULTS.cookie;
  const c = cookie === true ? {} : cookie;
  return {
    name: c.name ?? d.name,
    path: c.path ?? d.path,
    httpOnly: c.httpOnly ?? d.httpOnly,
    secure: c.secure ?? d.secure,
    sameSite: c.sameSite ?? d.sameSite,
  };
}

function compileRule(event: string, raw: RawRule, at: string): EventRule {
  if (raw.action === "forward") {
    return {
      event,
      at,
      action: "forward",
      url: raw.url ?? "",
      timeout: raw.timeout ?? DEFAULTS.forward.timeout,
      headers: new FrozenMap(
        Object.entries(raw.headers ?? {}).map(([name, value]) => [name, new Secret(value)]),
      ),
      ...signingSecretOf(raw.signingSecret),
      includeToken: raw.includeToken ?? DEFAULTS.forward.includeToken,
    };
  }
  const ack = raw.ack === undefined ? {} : { ack: compileTemplate(raw.ack) };
  const room = compileTemplate(raw.room);
  switch (raw.action) {
    case "join":
      return { event, at, action: "join", room, allow: compilePatterns(raw.allow), ...ack };
    case "leave":
      return { event, at, action: "leave", room, ...ack };
    case "broadcast":
      return {
        event,
        at,
        action: "broadcast",
        room,
        allow: compilePatterns(raw.allow),
        emit: raw.emit ?? event,
        ...(raw.args === undefined ? {} : { args: raw.args.map(compileTemplate) }),
        exceptSender: raw.exceptSender ?? DEFAULTS.rule.exceptSender,
        requireMembership: raw.requireMembership ?? DEFAULTS.rule.requireMembership,
        ...ack,
      };
    default:
      throw new Error(`Unknown action ${String((raw as { action: unknown }).action)}`);
  }
}

function compilePatterns(allow: readonly string[] | undefined) {
  return (allow ?? DEFAULTS.rule.allow).map(compileRoomPattern);
}

/**
 * A Map that refuses changes after construction: `Object.freeze` alone leaves a
 * Map's entries writable, and the compiled table is shared by every connection.
 */
class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [key, value] of entries) super.set(key, value);
    Object.freeze(this);
  }

  override set(_key: K, _value: V): this {
    throw new TypeError("The compiled configuration is frozen");
  }

  override delete(_key: K): boolean {
    throw new TypeError("The compiled configuration is frozen");
  }

  override clear(): void {
    throw new TypeError("The compiled configuration is frozen");
  }
}

/** Freezes plain objects, arrays and functions reachable from `value`, map values included. */
function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return value;
  if (seen.has(value)) return value;
  seen.add(value);
  if (value instanceof Map) {
    for (const item of value.values()) deepFreeze(item, seen);
  } else {
    for (const item of Object.values(value)) deepFreeze(item, seen);
  }
  return Object.isFrozen(value) ? value : Object.freeze(value);
}

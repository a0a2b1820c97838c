import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import { HttpApi } from "./api/http-api.js";
import { MigrationConsole } from "./console/migration-console.js";
import { builtinBackends } from "./egress/builtin.js";
import type { BackendRegistry } from "./egress/registry.js";
import { SwitchyardError } from "./errors.js";
import {
  createAdminHost,
  createHttpHost,
  type HttpRoutes,
  type ReadinessProbe,
} from "./http-host.js";
import { SioServer } from "./ingress/sio/server.js";
import { announcer } from "./log.js";
import type { SwitchyardConfig } from "./mapping/types.js";
import { metrics } from "./metrics.js";
import { PassthroughRelay } from "./passthrough/passthrough-relay.js";
import type { ReloadSummary } from "./router/room-channels.js";
import { Router } from "./router/router.js";
import { VERSION } from "./version.js";

export interface StartOptions {
  /** Overrides `server.port`; 0 picks a free port. */
  readonly port?: number;
  /** Overrides `server.host`. */
  readonly host?: string;
  /**
   * Overrides `admin.port` when the file has an `admin` block; 0 picks a free port.
   * Without an `admin` block there is no admin listener and this is ignored.
   */
  readonly adminPort?: number;
  readonly log: Logger;
  /** The backend kinds; default the built-in ones. Must be the registry the config was loaded with. */
  readonly kinds?: BackendRegistry;
}

/** A listening Switchyard, whose backends may still be starting. */
export interface RunningSwitchyard {
  readonly port: number;
  /** The admin listener's port (`/readyz`, `/metrics`); undefined without an `admin` block. */
  readonly adminPort: number | undefined;
  readonly sio: SioServer;
  /** The configuration in force. */
  readonly config: SwitchyardConfig;
  /**
   * Settles once every backend has started: connected, or still trying after its
   * `connectTimeout` (not ready, its reason in `/readyz`). Rejects with the first
   * backend whose start failed for good (its connection refused: a wrong key, an
   * unknown app); this Switchyard then keeps listening, not ready, until closed.
   */
  readonly ready: Promise<void>;
  /**
   * Applies a new configuration without dropping a connection (see {@link Router.reload}).
   * `server`, `api` and `admin` keep their running values; a change to them is logged.
   *
   * @throws When a new backend fails to start; the running configuration stays.
   */
  reload(config: SwitchyardConfig): Promise<ReloadSummary>;
  /**
   * Shuts down gracefully (docs/scaling.md, "Graceful shutdown"): `/readyz` answers 503
   * with `checks.draining` at once, and new sessions are refused (SWY_DRAINING); the
   * open sessions are closed in batches spread over `server.drainTimeout`, and
   * passthrough's relayed connections over the same time; then the public listener
   * stops taking connections, the HTTP API's requests in flight are answered (for at
   * most {@link DRAIN_FLUSH_LIMIT_MS} more), and everything is closed as by
   * {@link close}. Calling it again returns the same promise.
   */
  drain(): Promise<void>;
  /** Closes every session at once, then the listeners and the backends. */
  close(): Promise<void>;
}

/**
 * How long a drain waits, after its last batch of sessions, for the HTTP API's requests
 * in flight (a publish is answered once its backend accepted it), in ms.
 */
export const DRAIN_FLUSH_LIMIT_MS = 5_000;

/**
 * The composition root: builds ingress, router and backends from a compiled config,
 * listens, and starts the backends. Resolves once listening, without waiting for the
 * backends (see {@link RunningSwitchyard.ready}): `/healthz` answers at once and
 * `/readyz` says which backend is not ready yet, and why.
 *
 * Logs where it listens, whatever the log level, and once the backends have started.
 *
 * @throws SwitchyardError SWY_LISTEN_IN_USE, SWY_LISTEN_DENIED or SWY_LISTEN_ADDRESS
 *   when a listener cannot bind (the cause is the system's error); the error of a
 *   backend that cannot be built from its settings.
 */
export async function startSwitchyard(
  config: SwitchyardConfig,
  options: StartOptions,
): Promise<RunningSwitchyard> {
  const { server } = config;
  const log = options.log;
  if (config.adminUi && config.namespaces.has(config.adminUi.namespace)) {
    throw new SwitchyardError("SWY_ADMIN_UI_NAMESPACE_TAKEN", [config.adminUi.namespace]);
  }
  // A cluster node tags its session ids; the tag is known before listening, the
  // advertised address (which may need the port) once listening.
  // ioredis loads only for a cluster node.
  const cluster =
    config.cluster &&
    new (await import("./cluster/cluster-node.js")).ClusterNode(config.cluster, log);
  const router = new Router(config, options.kinds ?? builtinBackends(), log);
  const sio = new SioServer(
    { ...server, log, ...(cluster ? { sessionIdPrefix: cluster.sessionIdPrefix } : {}) },
    config.namespaces.keys(),
    router,
    router.rooms,
  );
  router.attach(sio);
  // The Admin UI (`adminUi:`): a namespace outside the mapping, and its files. Its code,
  // bcrypt and its Redis bus load only when it is on.
  let adminUi: import("./admin-ui/admin-ui.js").RunningAdminUi | undefined;
  if (config.adminUi) {
    try {
      adminUi = await (await import("./admin-ui/admin-ui.js")).startAdminUi({
        config,
        sio,
        ...(cluster ? { nodeTag: cluster.tag } : {}),
        log,
      });
    } catch (error) {
      sio.close();
      throw error;
    }
  }
  // The migration console (docs/operations.md) comes with the API, whose token it needs.
  const migrationConsole =
    config.api &&
    new MigrationConsole({
      sources: {
        sio,
        config: () => router.config,
        health: () => router.health(),
        rooms: router.rooms,
        // Read once listening: the relay is built below.
        passthrough: () => passthrough.status(),
        ...(cluster ? { nodeTag: cluster.tag, clusterNodes: () => cluster.nodes() } : {}),
      },
      maxStreams: server.maxConsoleStreams,
      metrics,
      log,
    });
  // Built before listening, so that a backend whose settings cannot be built fails the
  // start and the first join finds its room's backend; they connect while listening.
  const started = router.start();
  // Its failure is `ready`'s, once that exists: not an unhandled rejection meanwhile.
  started.catch(() => {});
  metrics.configLoadedAt.set(Date.now() / 1000);

  // In front of the ingress: a share of connections relayed to the legacy server. Always
  // in place, so that a reload can add `passthrough:`; without it every request goes on.
  const passthrough = new PassthroughRelay({
    config: () => router.config.passthrough,
    isLocalSession: (sid) => sio.engine.hasSession(sid),
    localSessions: () => sio.engine.size,
    ...(cluster ? { ownerOf: (sid: string) => cluster.ownerOf(sid), next: cluster.relay } : {}),
    log,
  });
  // No `api` block: the API is off, and its paths get the host's 404.
  const api =
    config.api &&
    new HttpApi({
      api: config.api,
      maxBodyBytes: server.maxHttpBufferSize,
      maxRoomLength: server.maxRoomLength,
      maxDepth: server.maxDepth,
      publisher: router.rooms,
      passthrough: {
        status: () => passthrough.status(),
        drain: (percent, spreadMs) => passthrough.drain(percent, spreadMs),
        get drainSpread() {
          return router.config.passthrough?.drainSpread;
        },
      },
      sio,
      ...(migrationConsole ? { console: migrationConsole } : {}),
      log: options.log,
    });
  let isDraining = false;
  const readiness: ReadinessProbe = () => {
    const checks: Record<string, string> = {};
    let isReady = true;
    if (isDraining) {
      isReady = false;
      checks.draining = `shutting down: ${sio.engine.size} session(s) still open`;
    }
    for (const [name, health] of router.health()) {
      isReady &&= health.isReady;
      checks[name] = health.isReady ? "ready" : (health.reason ?? "not ready");
    }
    if (router.config.passthrough !== undefined) {
      const health = passthrough.health();
      isReady &&= health.isReady;
      checks.passthrough = health.isReady ? "ready" : (health.reason ?? "not ready");
    }
    return { isReady, checks };
  };
  // The API's answers not yet sent: a drain waits for them, so that a publish accepted
  // by its backend is answered rather than cut.
  const apiInFlight = new Set<ServerResponse>();
  let onApiIdle: (() => void) | undefined;
  // The console's page and routes are on the admin listener when there is one, else here.
  const hasAdminListener = config.admin !== undefined;
  const files = staticFiles([
    adminUi?.files,
    hasAdminListener ? undefined : migrationConsole?.files,
  ]);
  const http = createHttpHost(
    [{ path: server.path, engine: sio.engine }],
    readiness,
    api &&
      ((req, res, path) => {
        const isHandled = api.handle(req, res, path, hasAdminListener ? "public" : "all");
        if (isHandled && !res.writableFinished) {
          apiInFlight.add(res);
          res.once("close", () => {
            apiInFlight.delete(res);
            if (apiInFlight.size === 0) onApiIdle?.();
          });
        }
        return isHandled;
      }),
    passthrough,
    {
      hasAdminListener,
      ...(files ? { files } : {}),
    },
  );
  const host = options.host ?? server.host;
  let port: number;
  try {
    port = await listen(http, options.port ?? server.port, host, PUBLIC_FLAGS, server.backlog);
  } catch (error) {
    migrationConsole?.close();
    await adminUi?.close();
    await router.close();
    throw error;
  }
  // The admin listener is read once, like `server`: a reload does not move it.
  const admin = config.admin && {
    http: createAdminHost(
      readiness,
      migrationConsole && api
        ? {
            files: migrationConsole.files,
            routes: (req, res, path) => api.handle(req, res, path, "console"),
          }
        : {},
    ),
    port: options.adminPort ?? config.admin.port,
    host: config.admin.host,
  };
  let adminPort: number | undefined;
  if (admin) {
    try {
      adminPort = await listen(admin.http, admin.port, admin.host, ADMIN_FLAGS);
    } catch (error) {
      // A busy admin port must not leave the public port serving without its probes.
      await closeServer(http);
      migrationConsole?.close();
      await adminUi?.close();
      await router.close();
      throw error;
    }
  }
  await cluster?.start(host, port);
  const announce = announcer(log);
  announce.info(
    {
      version: VERSION,
      host,
      port,
      ...(admin && { adminHost: admin.host, adminPort }),
      path: server.path,
      source: config.source,
      backends: Object.fromEntries([...config.backends].map(([name, b]) => [name, b.kind])),
      api: api !== undefined,
    },
    "switchyard listening",
  );
  let isClosing = false;
  const ready = started.then(() => {
    // Closed before its backends were up: they did not start, they stopped.
    if (isClosing) return;
    const backends = Object.fromEntries(
      [...router.health()].map(([name, h]) => [name, h.isReady ? "ready" : h.reason]),
    );
    announce.info({ backends }, "backends started");
  });
  // Not every caller waits for it (tests of the listener alone); an unwatched failure
  // must not end the process.
  ready.catch(() => {});

  const close = async (): Promise<void> => {
    isClosing = true;
    migrationConsole?.close();
    await adminUi?.close();
    sio.close();
    await Promise.all([closeServer(http), admin && closeServer(admin.http)]);
    passthrough.close();
    await cluster?.close();
    await router.close();
  };
  /** Resolves once the API has no request in flight, or after `limit` ms. */
  const whenApiIdle = (limit: number): Promise<void> =>
    new Promise((resolve) => {
      if (apiInFlight.size === 0) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, limit);
      onApiIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  let drained: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    isDraining = true;
    metrics.draining.set(1);
    const spread = server.drainTimeout;
    const drainStartedAt = performance.now();
    const sessions = sio.engine.size;
    log.info(
      { sessions, drainTimeout: spread },
      `draining: new sessions refused, ${sessions} open session(s) closed over ${spread} ms`,
    );
    // Relayed connections end at exit anyway: spread, they do not all reconnect at once.
    if (router.config.passthrough !== undefined) passthrough.drain(100, spread);
    await sio.engine.drain(spread);
    // No new connection; those open may finish their requests (closed once idle).
    http.close();
    // The console's streams never finish by themselves: ended, not waited for.
    migrationConsole?.close();
    // The API's answers, and every publication a client or the API handed a backend
    // before its session closed: sent before the backends close, not failed by it.
    await Promise.all([
      whenApiIdle(DRAIN_FLUSH_LIMIT_MS),
      router.rooms.whenIdle(DRAIN_FLUSH_LIMIT_MS),
    ]);
    if (router.rooms.publishing > 0) {
      log.warn(
        { unsent: router.rooms.publishing, limit: DRAIN_FLUSH_LIMIT_MS },
        `drain: ${router.rooms.publishing} publication(s) not accepted by their backend after ${DRAIN_FLUSH_LIMIT_MS} ms fail as the backends close`,
      );
    }
    if (apiInFlight.size > 0) {
      log.warn(
        { unanswered: apiInFlight.size, limit: DRAIN_FLUSH_LIMIT_MS },
        `drain: ${apiInFlight.size} HTTP API request(s) unanswered after ${DRAIN_FLUSH_LIMIT_MS} ms are cut`,
      );
    }
    log.info(
      { sessions, ms: Math.round(performance.now() - drainStartedAt) },
      "drained: closing the backends",
    );
    await close();
    // For a process that goes on (an embedding, a test); the CLI exits here.
    metrics.draining.set(0);
  };

  return {
    port,
    adminPort,
    sio,
    ready,
    get config() {
      return router.config;
    },
    async reload(next) {
      const current = router.config;
      if (!isDeepStrictEqual(current.server, next.server)) {
        log.warn("server settings changed: they take effect at the next restart");
      }
      // Secrets compare by value: they have no enumerable properties to compare.
      if (current.api?.token.reveal() !== next.api?.token.reveal()) {
        log.warn("api changed: it takes effect at the next restart");
      }
      if (!isDeepStrictEqual(current.admin, next.admin)) {
        log.warn("admin changed: it takes effect at the next restart");
      }
      if (!isDeepStrictEqual(current.adminUi, next.adminUi)) {
        log.warn("adminUi changed: it takes effect at the next restart");
      }
      // The Admin UI keeps its namespace: the mapping cannot take its name over.
      if (current.adminUi && next.namespaces.has(current.adminUi.namespace)) {
        throw new SwitchyardError("SWY_ADMIN_UI_NAMESPACE_TAKEN", [current.adminUi.namespace]);
      }
      const summary = await router.reload({
        ...next,
        server: current.server,
        api: current.api,
        admin: current.admin,
        ...(current.adminUi ? { adminUi: current.adminUi } : {}),
      });
      sio.setNamespaces(next.namespaces.keys());
      metrics.configLoadedAt.set(Date.now() / 1000);
      log.info({ source: next.source, ...summary }, "configuration reloaded");
      return summary;
    },
    drain() {
      drained ??= drain();
      return drained;
    },
    close,
  };
}

/** Static files of several prefixes as one for the host's `files` option; undefined for none. */
function staticFiles(
  sets: readonly ({ handle: HttpRoutes } | undefined)[],
): { handle: HttpRoutes } | undefined {
  const present = sets.filter((set) => set !== undefined);
  if (present.length === 0) return undefined;
  return { handle: (req, res, path) => present.some((set) => set.handle(req, res, path)) };
}

/** What an operator changes to move a listener: its port (busy, denied) or its address. */
interface ListenerFlags {
  readonly port: string;
  readonly host: string;
}

const PUBLIC_FLAGS: ListenerFlags = { port: "--port", host: "--host" };
const ADMIN_FLAGS: ListenerFlags = { port: "--admin-port", host: "admin.host" };

/**
 * Listens and resolves with the port bound (the one asked for, or a free one for 0);
 * `backlog` is the listen queue's length (Node's 511 when absent).
 *
 * @throws SwitchyardError SWY_LISTEN_IN_USE, SWY_LISTEN_DENIED or SWY_LISTEN_ADDRESS,
 *   naming `flags`, for the failures an operator fixes with them; else the system's error.
 */
async function listen(
  http: Server,
  port: number,
  host: string,
  flags: ListenerFlags,
  backlog?: number,
): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen({ port, host, backlog }, () => {
        http.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    switch ((error as NodeJS.ErrnoException).code) {
      case "EADDRINUSE":
        throw new SwitchyardError("SWY_LISTEN_IN_USE", [where, flags.port], { cause: error });
      case "EACCES":
        throw new SwitchyardError("SWY_LISTEN_DENIED", [where, flags.port], { cause: error });
      // Not an address of this machine, or a name that does not resolve.
      case "EADDRNOTAVAIL":
      case "ENOTFOUND":
      case "EAI_AGAIN":
        throw new SwitchyardError("SWY_LISTEN_ADDRESS", [where, flags.host], { cause: error });
      default:
        throw error;
    }
  }
  return (http.address() as AddressInfo).port;
}

/** Drops every connection, idle or not, and resolves once the listener is closed. */
function closeServer(http: Server): Promise<void> {
  http.closeAllConnections();
  return new Promise((resolve) => http.close(() => resolve()));
}

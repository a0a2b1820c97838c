import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import { HttpApi } from "./api/http-api.js";
import { builtinBackends } from "./egress/builtin.js";
import type { BackendRegistry } from "./egress/registry.js";
import { createAdminHost, createHttpHost, type ReadinessProbe } from "./http-host.js";
import { SioServer } from "./ingress/sio/server.js";
import type { SwitchyardConfig } from "./mapping/types.js";
import { metrics } from "./metrics.js";
import { PassthroughRelay } from "./passthrough/passthrough-relay.js";
import type { ReloadSummary } from "./router/room-channels.js";
import { Router } from "./router/router.js";

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

/** A listening Switchyard. */
export interface RunningSwitchyard {
  readonly port: number;
  /** The admin listener's port (`/readyz`, `/metrics`); undefined without an `admin` block. */
  readonly adminPort: number | undefined;
  readonly sio: SioServer;
  /** The configuration in force. */
  readonly config: SwitchyardConfig;
  /**
   * Applies a new configuration without dropping a connection (see {@link Router.reload}).
   * `server`, `api` and `admin` keep their running values; a change to them is logged.
   *
   * @throws When a new backend fails to start; the running configuration stays.
   */
  reload(config: SwitchyardConfig): Promise<ReloadSummary>;
  /** Closes every session, then the listeners and the backends. */
  close(): Promise<void>;
}

/** The composition root: builds ingress, router and backend from a compiled config and listens. */
export async function startSwitchyard(
  config: SwitchyardConfig,
  options: StartOptions,
): Promise<RunningSwitchyard> {
  const { server } = config;
  const log = options.log;
  // A cluster node tags its session ids; the tag is known before listening, the
  // advertised address (which may need the port) once listening.
  // ioredis loads only for a cluster node.
  const cluster =
    config.cluster &&
    new (await import("./cluster/cluster-node.js")).ClusterNode(config.cluster, log);
  const router = new Router(config, options.kinds ?? builtinBackends(), log);
  const sio = new SioServer(
    { ...server, ...(cluster ? { sessionIdPrefix: cluster.sessionIdPrefix } : {}) },
    config.namespaces.keys(),
    router,
    router.rooms,
  );
  router.attach(sio);
  await router.start();
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
      log: options.log,
    });
  const readiness: ReadinessProbe = () => {
    const checks: Record<string, string> = {};
    let isReady = true;
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
  const http = createHttpHost(
    [{ path: server.path, engine: sio.engine }],
    readiness,
    api && ((req, res, path) => api.handle(req, res, path)),
    passthrough,
    { hasAdminListener: config.admin !== undefined },
  );
  const port = await listen(http, options.port ?? server.port, options.host ?? server.host);
  // The admin listener is read once, like `server`: a reload does not move it.
  const admin = config.admin && {
    http: createAdminHost(readiness),
    port: options.adminPort ?? config.admin.port,
    host: config.admin.host,
  };
  let adminPort: number | undefined;
  if (admin) {
    try {
      adminPort = await listen(admin.http, admin.port, admin.host);
    } catch (error) {
      // A busy admin port must not leave the public port serving without its probes.
      await closeServer(http);
      await router.close();
      throw error;
    }
  }
  await cluster?.start(options.host ?? server.host, port);
  options.log.info(
    { port, adminPort, path: server.path, source: config.source, api: api !== undefined },
    "switchyard listening",
  );

  return {
    port,
    adminPort,
    sio,
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
      const summary = await router.reload({
        ...next,
        server: current.server,
        api: current.api,
        admin: current.admin,
      });
      sio.setNamespaces(next.namespaces.keys());
      metrics.configLoadedAt.set(Date.now() / 1000);
      log.info({ source: next.source, ...summary }, "configuration reloaded");
      return summary;
    },
    async close() {
      sio.close();
      await Promise.all([closeServer(http), admin && closeServer(admin.http)]);
      passthrough.close();
      await cluster?.close();
      await router.close();
    },
  };
}

/** Listens and resolves with the port bound (the one asked for, or a free one for 0). */
async function listen(http: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  return (http.address() as AddressInfo).port;
}

/** Drops every connection, idle or not, and resolves once the listener is closed. */
function closeServer(http: Server): Promise<void> {
  http.closeAllConnections();
  return new Promise((resolve) => http.close(() => resolve()));
}

import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { HttpApi } from "./api/http-api.js";
import type { Backend } from "./egress/backend.js";
import { builtinBackends } from "./egress/builtin.js";
import { createHttpHost } from "./http-host.js";
import { SioServer } from "./ingress/sio/server.js";
import type { SwitchyardConfig } from "./mapping/types.js";
import { Router } from "./router/router.js";

export interface StartOptions {
  /** Overrides `server.port`; 0 picks a free port. */
  readonly port?: number;
  /** Overrides `server.host`. */
  readonly host?: string;
  readonly log: Logger;
}

/** A listening Switchyard. */
export interface RunningSwitchyard {
  readonly port: number;
  readonly sio: SioServer;
  /** Closes every session, then the listener and the backend. */
  close(): Promise<void>;
}

/** The composition root: builds ingress, router and backend from a compiled config and listens. */
export async function startSwitchyard(
  config: SwitchyardConfig,
  options: StartOptions,
): Promise<RunningSwitchyard> {
  const { server } = config;
  // Every room lives on the native core until routes to other backends exist (issue 4).
  const backend: Backend = builtinBackends()
    .get("native")
    .create("native", {}, { log: options.log });
  const router = new Router(config, backend, options.log);
  const sio = new SioServer(server, config.namespaces.keys(), router, router);
  router.attach(sio);
  await backend.start(router);

  // No `api` block: the API is off, and its paths get the host's 404.
  const api =
    config.api &&
    new HttpApi({
      api: config.api,
      maxBodyBytes: server.maxHttpBufferSize,
      maxRoomLength: server.maxRoomLength,
      publisher: router,
      sio,
      log: options.log,
    });
  const http = createHttpHost(
    [{ path: server.path, engine: sio.engine }],
    () => {
      const health = backend.health();
      return {
        isReady: health.isReady,
        checks: { [backend.name]: health.isReady ? "ready" : (health.reason ?? "not ready") },
      };
    },
    api && ((req, res, path) => api.handle(req, res, path)),
  );
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? server.port, options.host ?? server.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  options.log.info(
    { port, path: server.path, source: config.source, api: api !== undefined },
    "switchyard listening",
  );

  return {
    port,
    sio,
    async close() {
      sio.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await backend.close();
    },
  };
}

import type { Logger } from "pino";
import type { SioServer } from "../ingress/sio/server.js";
import type { SwitchyardConfig } from "../mapping/types.js";
import { AdminBus } from "./admin-bus.js";
import { AdminNamespace } from "./admin-namespace.js";
import { AdminUiFiles } from "./admin-ui-files.js";

/** The Admin UI of one node, running: its files for the HTTP host, and how to stop it. */
export interface RunningAdminUi {
  /** The UI's own files, unless `adminUi.path` is false. */
  readonly files: AdminUiFiles | undefined;
  close(): Promise<void>;
}

/**
 * Starts what `adminUi:` asks for (docs/admin-ui.md): the admin namespace on `sio`, its
 * bus on the cluster's Redis when this node is one of a cluster, and the UI's files.
 * Call before listening; the caller made sure no namespace of the
 * mapping has the admin namespace's name.
 *
 * @throws SwitchyardError SWY_ADMIN_UI_FILES_MISSING; the bus's Redis error when the
 *   cluster's Redis cannot be reached (as the node registry's does).
 */
export async function startAdminUi(options: {
  readonly config: SwitchyardConfig;
  readonly sio: SioServer;
  /** This node's cluster tag, with a `cluster` block. */
  readonly nodeTag?: string;
  readonly log: Logger;
}): Promise<RunningAdminUi> {
  const { config, sio, log } = options;
  const adminUi = config.adminUi!;
  const files = adminUi.path === false ? undefined : new AdminUiFiles(adminUi.path);
  const bus =
    config.cluster &&
    new AdminBus({
      redis: config.cluster.redis.reveal(),
      key: config.cluster.key,
      // What crosses the bus wraps a client's data (itself within maxDepth) in a few levels.
      maxDepth: config.server.maxDepth + 8,
      log,
    });
  const namespace = new AdminNamespace({
    config: adminUi,
    server: config.server,
    sio,
    ...(options.nodeTag === undefined ? {} : { nodeTag: options.nodeTag }),
    ...(bus === undefined ? {} : { bus }),
    log,
  });
  try {
    await bus?.start(namespace);
  } catch (error) {
    namespace.close();
    await bus?.close();
    throw error;
  }
  return {
    files,
    async close() {
      namespace.close();
      await bus?.close();
    },
  };
}

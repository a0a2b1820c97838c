import { hostname } from "node:os";
import type { Logger } from "pino";
import type { ClusterConfig } from "../mapping/types.js";
import { NodeRegistry, sessionIdPrefix } from "./node-registry.js";
import { type OwnerOf, SessionRelay } from "./session-relay.js";

/**
 * This process as one node of a Switchyard cluster (`cluster:`): its tag, which
 * prefixes its session ids, its entry in the node registry, and the relay that sends
 * other nodes' sessions home.
 */
export class ClusterNode {
  readonly relay: SessionRelay;
  readonly #config: ClusterConfig;
  readonly #log: Logger;
  #registry: NodeRegistry | undefined;
  readonly #tag: string;

  constructor(config: ClusterConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    // The registry is built at start, when the address is known; its tag is chosen now.
    this.#tag = NodeRegistry.newTag();
    this.relay = new SessionRelay((sessionId) => this.ownerOf(sessionId), log);
  }

  get tag(): string {
    return this.#tag;
  }

  /** What this node's session ids begin with. */
  get sessionIdPrefix(): string {
    return sessionIdPrefix(this.#tag);
  }

  /** The node a session id belongs to (see NodeRegistry.ownerOf); "local" before start. */
  ownerOf(sessionId: string): ReturnType<OwnerOf> {
    // Before start, every session is this node's; after it, the registry says.
    return this.#registry === undefined ? "local" : this.#registry.ownerOf(sessionId);
  }

  /** The live nodes of the cluster, this one included: tag → URL; none before start. */
  nodes(): ReadonlyMap<string, string> {
    return this.#registry?.nodes() ?? new Map();
  }

  /** Lists this node, reachable at `cluster.advertise` or the address it listens on. */
  async start(host: string, port: number): Promise<void> {
    const advertise = this.#config.advertise ?? `http://${advertisedHost(host)}:${port}`;
    this.#registry = new NodeRegistry({
      tag: this.#tag,
      redis: this.#config.redis.reveal(),
      key: this.#config.key,
      advertise,
      ttl: this.#config.nodeTtl,
      log: this.#log,
    });
    await this.#registry.start();
    this.#log.info({ tag: this.#tag, advertise }, "cluster node listed");
  }

  async close(): Promise<void> {
    this.relay.close();
    await this.#registry?.close();
  }
}

function advertisedHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return hostname();
  return host.includes(":") ? `[${host}]` : host;
}

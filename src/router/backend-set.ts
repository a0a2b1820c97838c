import type { Logger } from "pino";
import type { Backend, DeliverySink } from "../egress/backend.js";
import type { BackendLimits, BackendRegistry } from "../egress/registry.js";
import type { BackendConfig } from "../mapping/types.js";

/** What a reload would change: the next instances, and which of them are new or retired. */
export interface BackendPlan {
  /** Name → instance for the new configuration. */
  readonly next: ReadonlyMap<string, Backend>;
  /** Instances built for this plan, not started yet. */
  readonly added: readonly Backend[];
  /** Current instances the new configuration no longer uses. */
  readonly retired: readonly Backend[];
}

interface Entry {
  readonly backend: Backend;
  /** Kind and settings, as JSON: an instance is reused while they stay the same. */
  readonly fingerprint: string;
}

/**
 * The running backend instances, by name. A reload builds only the instances whose
 * kind or settings changed (or that are new) and retires those no longer named, so
 * an unchanged backend keeps its connections and subscriptions across reloads.
 */
export class BackendSet {
  readonly #registry: BackendRegistry;
  readonly #log: Logger;
  readonly #limits: BackendLimits;
  #entries = new Map<string, Entry>();

  /** @param limits The server's limits every backend enforces (they change at restart only). */
  constructor(registry: BackendRegistry, log: Logger, limits: BackendLimits) {
    this.#registry = registry;
    this.#log = log;
    this.#limits = limits;
  }

  get(name: string): Backend | undefined {
    return this.#entries.get(name)?.backend;
  }

  all(): Backend[] {
    return [...this.#entries.values()].map((entry) => entry.backend);
  }

  /**
   * The first set: builds every instance of `configs` and makes them current at once,
   * then starts them with the sinks `sinkOf` gives, so that the set answers (not ready,
   * each with its reason) while they connect. The promise settles once every start has:
   * it rejects with the first that failed, the others going on (the caller closes the
   * set).
   *
   * @throws synchronously when an instance cannot be built from its settings.
   */
  start(
    configs: ReadonlyMap<string, BackendConfig>,
    sinkOf: (backend: Backend) => DeliverySink,
  ): Promise<void> {
    const { entries, added } = this.#build(configs);
    this.#entries = entries;
    return Promise.all(added.map((backend) => backend.start(sinkOf(backend)))).then(() => {});
  }

  /**
   * Builds what `configs` needs and starts the new instances with the sinks `sinkOf`
   * gives; nothing changes until {@link commit}. A start that fails closes what this
   * call built and rejects, so the caller keeps the current set.
   */
  async prepare(
    configs: ReadonlyMap<string, BackendConfig>,
    sinkOf: (backend: Backend) => DeliverySink,
  ): Promise<BackendPlan & { readonly entries: Map<string, Entry> }> {
    const { entries, added } = this.#build(configs);
    try {
      await Promise.all(added.map((backend) => backend.start(sinkOf(backend))));
    } catch (error) {
      await Promise.allSettled(added.map((backend) => backend.close()));
      throw error;
    }
    const kept = new Set([...entries.values()].map((entry) => entry.backend));
    return {
      entries,
      next: new Map([...entries].map(([name, entry]) => [name, entry.backend])),
      added,
      retired: this.all().filter((backend) => !kept.has(backend)),
    };
  }

  /** The entries of `configs`: current instances whose kind and settings stay, new ones built. */
  #build(configs: ReadonlyMap<string, BackendConfig>): {
    entries: Map<string, Entry>;
    added: Backend[];
  } {
    const entries = new Map<string, Entry>();
    const added: Backend[] = [];
    for (const config of configs.values()) {
      const fingerprint = JSON.stringify([config.kind, config.settings]);
      const current = this.#entries.get(config.name);
      if (current !== undefined && current.fingerprint === fingerprint) {
        entries.set(config.name, current);
        continue;
      }
      const backend = this.#registry.get(config.kind).create(config.name, config.settings, {
        log: this.#log.child({ backend: config.name }),
        limits: this.#limits,
      });
      added.push(backend);
      entries.set(config.name, { backend, fingerprint });
    }
    return { entries, added };
  }

  /** Makes a prepared plan current. The caller closes `plan.retired` once it has moved off them. */
  commit(plan: { readonly entries: Map<string, Entry> }): void {
    this.#entries = plan.entries;
  }

  /** Closes every instance. */
  async close(): Promise<void> {
    const backends = this.all();
    this.#entries = new Map();
    await Promise.allSettled(backends.map((backend) => backend.close()));
  }
}

import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  DeliverySink,
  Publication,
} from "./backend.js";

/**
 * A backend whose implementation, and the SDKs it needs, load when it starts: a
 * process that never configures a kind does not pay the memory of its SDKs (pusher
 * and pusher-js add megabytes of heap to every process that imports them).
 *
 * Before `start` resolves the backend is not ready and refuses work; the router
 * starts every backend before it listens.
 */
export class LazyBackend implements Backend {
  readonly name: string;
  readonly kind: string;
  readonly capabilities: BackendCapabilities;
  readonly #load: () => Promise<Backend>;
  #impl: Backend | undefined;

  constructor(
    name: string,
    kind: string,
    capabilities: BackendCapabilities,
    load: () => Promise<Backend>,
  ) {
    this.name = name;
    this.kind = kind;
    this.capabilities = capabilities;
    this.#load = load;
  }

  async start(sink: DeliverySink): Promise<void> {
    if (this.#impl !== undefined) throw new Error("already started");
    const impl = await this.#load();
    this.#impl = impl;
    await impl.start(sink);
  }

  subscribe(channel: string): Promise<void> {
    return this.#started().subscribe(channel);
  }

  unsubscribe(channel: string): Promise<void> {
    return this.#started().unsubscribe(channel);
  }

  publish(publication: Publication): Promise<void> {
    return this.#started().publish(publication);
  }

  health(): BackendHealth {
    return this.#impl?.health() ?? { isReady: false, reason: "not started" };
  }

  async close(): Promise<void> {
    await this.#impl?.close();
  }

  async onNamespacesChanged(): Promise<void> {
    await this.#impl?.onNamespacesChanged?.();
  }

  enterPresence(channel: string, clientId: string): Promise<void> {
    return this.#presence().enterPresence(channel, clientId);
  }

  leavePresence(channel: string, clientId: string): Promise<void> {
    return this.#presence().leavePresence(channel, clientId);
  }

  /** The started backend, which its kind's capabilities say has presence. */
  #presence(): Required<Pick<Backend, "enterPresence" | "leavePresence">> {
    const impl = this.#started();
    if (impl.enterPresence === undefined || impl.leavePresence === undefined) {
      throw new Error(`backend '${this.name}' has no presence`);
    }
    return impl as Required<Pick<Backend, "enterPresence" | "leavePresence">>;
  }

  #started(): Backend {
    if (this.#impl === undefined) throw new Error(`backend '${this.name}' is not started`);
    return this.#impl;
  }
}

import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  Delivery,
  DeliverySink,
  HistoryPoint,
  MissedFailure,
  Publication,
} from "./backend.js";

/**
 * A backend whose implementation, and the SDKs it needs, load when it starts: a
 * process that never configures a kind does not pay the memory of its SDKs (pusher
 * and pusher-js add megabytes of heap to every process that imports them).
 *
 * Switchyard listens while its backends start, so calls may come before the
 * implementation has loaded: they wait for it, then go to it as they would have
 * (a subscription waits for its confirmation, a publication in its queue). Until the
 * implementation has loaded, the backend reports not ready ("starting").
 */
export class LazyBackend implements Backend {
  readonly name: string;
  readonly kind: string;
  readonly capabilities: BackendCapabilities;
  readonly #load: () => Promise<Backend>;
  #impl: Backend | undefined;
  /** Settles once the implementation has loaded and its own start has begun. */
  #loaded: Promise<Backend> | undefined;
  #isClosed = false;

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

  start(sink: DeliverySink): Promise<void> {
    if (this.#loaded !== undefined) return Promise.reject(new Error("already started"));
    let started: Promise<void> = Promise.resolve();
    this.#loaded = this.#load().then(async (impl) => {
      // Closed while its SDK loaded: it never connects, and calls get its "closed" errors.
      if (this.#isClosed) await impl.close();
      else started = impl.start(sink);
      this.#impl = impl;
      return impl;
    });
    return this.#loaded.then(() => started);
  }

  subscribe(channel: string): Promise<void> {
    return this.#call((impl) => impl.subscribe(channel));
  }

  unsubscribe(channel: string): Promise<void> {
    return this.#call((impl) => impl.unsubscribe(channel));
  }

  publish(publication: Publication): Promise<void> {
    return this.#call((impl) => impl.publish(publication));
  }

  health(): BackendHealth {
    if (this.#impl !== undefined) return this.#impl.health();
    return { isReady: false, reason: this.#loaded === undefined ? "not started" : "starting" };
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    await this.#impl?.close();
  }

  async onNamespacesChanged(): Promise<void> {
    await this.#impl?.onNamespacesChanged?.();
  }

  enterPresence(channel: string, clientId: string): Promise<void> {
    return this.#call((impl) => presenceOf(impl, this.name).enterPresence(channel, clientId));
  }

  leavePresence(channel: string, clientId: string): Promise<void> {
    return this.#call((impl) => presenceOf(impl, this.name).leavePresence(channel, clientId));
  }

  async history(
    channel: string,
    from: HistoryPoint,
    limit: number,
  ): Promise<readonly Delivery[] | MissedFailure> {
    const impl = this.#impl ?? (await this.#loaded);
    if (impl?.history === undefined) throw new Error(`backend '${this.name}' keeps no history`);
    return impl.history(channel, from, limit);
  }

  attachPoint(channel: string): string | undefined {
    return this.#impl?.attachPoint?.(channel);
  }

  /** `use` on the implementation, once it has loaded. */
  #call<T = void>(use: (impl: Backend) => Promise<T>): Promise<T> {
    if (this.#impl !== undefined) return use(this.#impl);
    if (this.#loaded === undefined) {
      return Promise.reject(new Error(`backend '${this.name}' is not started`));
    }
    return this.#loaded.then(use);
  }
}

/** The started backend, which its kind's capabilities say has presence. */
function presenceOf(
  impl: Backend,
  name: string,
): Required<Pick<Backend, "enterPresence" | "leavePresence">> {
  if (impl.enterPresence === undefined || impl.leavePresence === undefined) {
    throw new Error(`backend '${name}' has no presence`);
  }
  return impl as Required<Pick<Backend, "enterPresence" | "leavePresence">>;
}

import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  DeliverySink,
  Publication,
} from "../backend.js";

const RESOLVED = Promise.resolve();

/**
 * The native core: rooms carried in process. A publication is delivered
 * synchronously, before `publish` returns, to this node's members of the channel;
 * scale-out across nodes (issue 6) adds a bus behind the same interface.
 */
export class NativeBackend implements Backend {
  readonly name: string;
  readonly kind = "native";
  readonly capabilities: BackendCapabilities = {
    presence: false,
    history: false,
    clientEvents: false,
  };
  readonly #channels = new Set<string>();
  #sink: DeliverySink | undefined;

  constructor(name: string) {
    this.name = name;
  }

  start(sink: DeliverySink): Promise<void> {
    this.#sink = sink;
    return RESOLVED;
  }

  subscribe(channel: string): Promise<void> {
    this.#channels.add(channel);
    return RESOLVED;
  }

  unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    return RESOLVED;
  }

  publish(publication: Publication): Promise<void> {
    if (this.#sink !== undefined && this.#channels.has(publication.channel)) {
      this.#sink.deliver(publication);
    }
    return RESOLVED;
  }

  health(): BackendHealth {
    return { isReady: this.#sink !== undefined };
  }

  close(): Promise<void> {
    this.#channels.clear();
    this.#sink = undefined;
    return RESOLVED;
  }
}

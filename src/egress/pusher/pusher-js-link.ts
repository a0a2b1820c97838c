import type PusherRest from "pusher";
import PusherJs from "pusher-js";
import type { SubscribeCause, SubscriptionDriver } from "../managed/channel-subscriptions.js";
import type { ConnectionDriver } from "../managed/connection-supervisor.js";
import { isProtocolEvent } from "./payload.js";
import type { PusherSettings } from "./pusher-settings.js";

/**
 * pusher-js ships CommonJS with ESM-style typings: under NodeNext its default import
 * is typed as the module, while at run time it is the class (the Node build).
 */
const PusherClient = PusherJs as unknown as typeof PusherJs.default;
type PusherClient = PusherJs.default;
type PusherConnection = PusherClient["connection"]["connection"];

/** A frame as pusher-js hands it over, `data` already parsed from the wire. */
interface PusherMessage {
  readonly event: string;
  readonly channel?: string;
  readonly data?: unknown;
}

/** What the link reports, in the words of the shared machinery. */
export interface PusherLinkListener {
  connected(): void;
  lost(reason: string): void;
  refused(reason: string): void;
  /** A `pusher:error` frame or a failed transport: counted and logged, nothing more. */
  error(reason: string): void;
  subscribed(channel: string): void;
  subscriptionFailed(channel: string, reason: "refused" | "auth", detail: string): void;
  /** An event on a channel, not one of Pusher's own. */
  event(channel: string, event: string, data: unknown): void;
  isWanted(channel: string): boolean;
}

/**
 * One pusher-js connection, driven from outside: the supervisor decides when it
 * connects, and the subscriptions what it subscribes.
 *
 * Why pusher-js is driven rather than left to reconnect: after a dropped connection
 * it retries once after 1 s, and then its connection strategy waits out a timeout of
 * 15 s, 30 s, then 60 s per attempt, even when the attempt failed at once (a refused
 * TCP connection is reported to the strategy, which ignores it until its timer ends):
 * a server back after 2 s is seen after 16 s, one back after 48 s after 106 s.
 * pusher-js does not report a failed attempt either, so the supervisor abandons an
 * attempt that has not connected within its window (`disconnect()` then `connect()`,
 * which starts a fresh strategy run at once); a fresh attempt to a reachable server
 * connects within one handshake. It also does not report a lost connection promptly:
 * after a close without a Pusher close code its state stays `connected` for the 1 s
 * before its own retry, so the link listens to the connection's own `closed` event.
 */
export class PusherJsLink implements Omit<ConnectionDriver, "probe">, SubscriptionDriver {
  readonly #settings: PusherSettings;
  readonly #rest: PusherRest;
  readonly #listener: PusherLinkListener;
  #client: PusherClient | undefined;
  /** The connection that is up, while one is. */
  #connection: PusherConnection | undefined;
  #socketId: string | undefined;
  /** Set while the link disconnects pusher-js itself: that "disconnected" is no refusal. */
  #isDisconnecting = false;
  #lastError: string | undefined;
  #isClosed = false;

  constructor(settings: PusherSettings, rest: PusherRest, listener: PusherLinkListener) {
    this.#settings = settings;
    this.#rest = rest;
    this.#listener = listener;
  }

  /** The socket id of the connection that is up; Pusher leaves it out of what it sends. */
  get socketId(): string | undefined {
    return this.#socketId;
  }

  /** pusher-js's own connection state, for messages. */
  get state(): string {
    return this.#client?.connection.state ?? "not started";
  }

  connect(): void {
    if (this.#isClosed) return;
    if (this.#client === undefined) {
      // The constructor starts connecting.
      this.#client = this.#createClient();
      return;
    }
    this.disconnect();
    this.#client.connect();
  }

  disconnect(): void {
    const client = this.#client;
    if (client === undefined) return;
    this.#forgetConnection();
    this.#isDisconnecting = true;
    try {
      client.disconnect();
    } finally {
      this.#isDisconnecting = false;
    }
  }

  subscribe(channel: string, cause: SubscribeCause): void {
    const client = this.#client;
    if (client === undefined) return;
    const subscribed = client.subscribe(channel);
    // A pending channel makes pusher-js's subscribe() a no-op; ask the channel to send again.
    if (cause === "retry" && !subscribed.subscribed) subscribed.subscribe();
  }

  unsubscribe(channel: string): void {
    this.#client?.unsubscribe(channel);
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    const client = this.#client;
    if (client === undefined) return;
    client.connection.unbind_all();
    this.disconnect();
    // pusher-js keeps every client in a static list for its whole process.
    const instances = PusherClient.instances;
    const at = instances.indexOf(client);
    if (at >= 0) instances.splice(at, 1);
  }

  #createClient(): PusherClient {
    const { key, cluster, host, port, useTLS } = this.#settings;
    const client = new PusherClient(key, {
      cluster,
      forceTLS: useTLS,
      // Only WebSocket: the HTTP fallbacks are for browsers behind proxies.
      enabledTransports: useTLS ? ["ws", "wss"] : ["ws"],
      ...(host === undefined
        ? {}
        : {
            wsHost: host,
            httpHost: host,
            ...(port === undefined ? {} : { wsPort: port, wssPort: port }),
          }),
      channelAuthorization: {
        customHandler: ({ socketId, channelName }, callback) => {
          try {
            const presence = channelName.startsWith("presence-")
              ? { user_id: this.#settings.presenceUserId }
              : undefined;
            callback(null, this.#rest.authorizeChannel(socketId, channelName, presence));
          } catch (error) {
            this.#listener.subscriptionFailed(channelName, "auth", String(error));
            callback(error instanceof Error ? error : new Error(String(error)), null);
          }
        },
      },
    });
    const manager = client.connection;
    manager.bind("state_change", ({ current }: { current: string }) =>
      this.#onStateChange(current),
    );
    // Bound after pusher-js's own "connected" handler, which has just resubscribed everything.
    manager.bind("connected", () => this.#onConnected(client));
    manager.bind("message", (message: PusherMessage) => this.#onMessage(message));
    manager.bind("error", (error: unknown) => this.#onError(error));
    return client;
  }

  #onStateChange(current: string): void {
    if (this.#isClosed || this.#isDisconnecting) return;
    // Only the link disconnects on purpose; otherwise pusher-js gave up (close codes
    // 4000–4099, ≥ 4300) or cannot connect at all.
    if (current === "disconnected" || current === "failed") {
      this.#forgetConnection();
      this.#listener.refused(this.#lastError ?? current);
    }
  }

  #onConnected(client: PusherClient): void {
    if (this.#isClosed) return;
    const manager = client.connection;
    const connection = manager.connection;
    this.#connection = connection;
    this.#socketId = manager.socket_id;
    this.#lastError = undefined;
    connection.bind("closed", () => this.#onClosed(connection));
    // pusher-js also renewed channels unsubscribed while pending; drop those.
    for (const channel of client.allChannels()) {
      if (!this.#listener.isWanted(channel.name)) client.unsubscribe(channel.name);
    }
    this.#listener.connected();
  }

  #onClosed(connection: PusherConnection): void {
    if (this.#isClosed || this.#connection !== connection) return;
    this.#forgetConnection();
    this.#listener.lost(this.#lastError ?? "connection closed");
  }

  #forgetConnection(): void {
    this.#connection = undefined;
    this.#socketId = undefined;
  }

  #onError(error: unknown): void {
    if (this.#isClosed) return;
    const reason = describeConnectionError(error);
    this.#lastError = reason;
    this.#listener.error(reason);
  }

  #onMessage(message: PusherMessage): void {
    const { event, channel } = message;
    if (this.#isClosed || channel === undefined) return;
    if (event === "pusher_internal:subscription_succeeded") {
      this.#listener.subscribed(channel);
    } else if (event === "pusher:subscription_error") {
      this.#listener.subscriptionFailed(channel, "refused", JSON.stringify(message.data));
    } else if (!isProtocolEvent(event)) {
      this.#listener.event(channel, event, message.data);
    }
  }
}

function describeConnectionError(error: unknown): string {
  const {
    type,
    error: inner,
    data,
  } = (error ?? {}) as {
    type?: string;
    error?: { type?: string; data?: { code?: unknown; message?: unknown } };
    data?: { code?: unknown; message?: unknown };
  };
  const detail = data ?? inner?.data;
  if (detail !== undefined)
    return `${String(detail.code ?? "no code")}: ${String(detail.message ?? "")}`;
  return type ?? inner?.type ?? "unknown error";
}

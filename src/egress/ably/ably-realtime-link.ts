import * as Ably from "ably";
import type { SubscribeCause, SubscriptionDriver } from "../managed/channel-subscriptions.js";
import type { ConnectionDriver } from "../managed/connection-supervisor.js";
import type { AblySettings } from "./ably-settings.js";

/** A message as the SDK hands it over: `data` decoded already (JSON, base64). */
export interface AblyInbound {
  /** Ably's id of the message: where the channel's history holds it. */
  readonly id: string | undefined;
  readonly name: string;
  readonly data: unknown;
  readonly extras: unknown;
}

/** What the link reports, in the words of the shared machinery. */
export interface AblyLinkListener {
  /** The connection is up; `isResumed` when Ably resumed the previous one (nothing missed). */
  connected(isResumed: boolean): void;
  lost(reason: string): void;
  attemptFailed(reason: string): void;
  refused(reason: string): void;
  attached(channel: string): void;
  attachFailed(channel: string, reason: "refused" | "invalid_channel", detail: string): void;
  /** A channel re-attached without Ably resuming it: messages of the gap may be missing. */
  continuityLost(channel: string): void;
  message(channel: string, message: AblyInbound): void;
  isWanted(channel: string): boolean;
}

/** Ably's codes for a channel name it refuses, and for a channel the key may not use. */
const INVALID_CHANNEL = 40010;

/**
 * Error codes of a connection Ably refuses for good: bad credentials, account or app
 * disabled, an invalid request. Others (80003 disconnected, 80008 resume refused, 5xx)
 * are a lost or failed attempt, retried.
 */
function isFatal(error: Ably.ErrorInfo | undefined): boolean {
  if (error === undefined) return false;
  return error.statusCode === 401 || error.statusCode === 403 || error.code === 40000;
}

function describe(error: Ably.ErrorInfo | undefined, fallback: string): string {
  return error === undefined ? fallback : `${error.code}: ${error.message}`;
}

/**
 * One `ably` Realtime connection, driven from outside: the supervisor decides when it
 * connects and the subscriptions which channels it attaches.
 *
 * The SDK keeps what makes a reconnection a resume (its connection key, each channel's
 * serial), so the link never throws the connection away: `disconnect()` leaves it as it
 * is and `connect()` asks it for an attempt now. The SDK's own retry timers are set far
 * out of the way (its defaults wait 15 s after a failed attempt and 30 s once
 * suspended), so reconnection follows the supervisor's back-off. Messages are received
 * with `echoMessages: false`; what this node publishes goes through REST and is told
 * apart by its extras (see AblyBackend).
 */
export class AblyRealtimeLink implements Omit<ConnectionDriver, "probe">, SubscriptionDriver {
  readonly #client: Ably.Realtime;
  readonly #listener: AblyLinkListener;
  /** Channels the SDK holds for the link (got and listened to, not yet released). */
  readonly #held = new Set<string>();
  /** Channels attached at least once: a later attach that is not resumed is a gap. */
  readonly #attachedBefore = new Set<string>();
  #hasConnected = false;
  #isClosed = false;

  constructor(settings: AblySettings, listener: AblyLinkListener) {
    this.#listener = listener;
    this.#client = new Ably.Realtime({
      ...clientOptions(settings),
      autoConnect: false,
      echoMessages: false,
      // Far out of the way: the supervisor decides when to try again (see the class comment).
      disconnectedRetryTimeout: 600_000,
      suspendedRetryTimeout: 600_000,
    });
    this.#client.connection.on((change) => this.#onConnectionChange(change));
  }

  /** The SDK's connection state, for messages. */
  get state(): string {
    return this.#client.connection.state;
  }

  connect(): void {
    if (this.#isClosed) return;
    this.#client.connection.connect();
  }

  disconnect(): void {
    // Kept as it is: the next connect() resumes the same connection (see the class comment).
  }

  subscribe(channel: string, _cause: SubscribeCause): void {
    const handle = this.#client.channels.get(channel);
    if (!this.#held.has(channel)) {
      this.#held.add(channel);
      // subscribe() also attaches and rejects with the attach's failure, which the
      // explicit attach below reports; this promise only settles the listener.
      handle.subscribe((message) => this.#onMessage(channel, message)).catch(() => {});
      handle.on((change) => this.#onChannelChange(channel, change));
    }
    handle.attach().then(
      () => {
        // The attach listener reports it; a resolved attach of a channel no longer wanted is ignored.
      },
      (error: Ably.ErrorInfo) => {
        if (!this.#listener.isWanted(channel)) return;
        this.#listener.attachFailed(
          channel,
          error.code === INVALID_CHANNEL ? "invalid_channel" : "refused",
          describe(error, "attach failed"),
        );
      },
    );
  }

  unsubscribe(channel: string): void {
    this.#attachedBefore.delete(channel);
    if (!this.#held.delete(channel)) return;
    const handle = this.#client.channels.get(channel);
    handle.unsubscribe();
    handle.off();
    handle
      .detach()
      .catch(() => {
        // Detaching a channel that never attached, or on a connection that is gone, is moot.
      })
      .finally(() => {
        // Wanted again meanwhile: subscribe() got the same channel and listens to it anew.
        if (!this.#held.has(channel)) this.#client.channels.release(channel);
      });
  }

  /** Enters `clientId` into `channel`'s presence set (attaching the channel if it must). */
  async enterPresence(channel: string, clientId: string): Promise<void> {
    await this.#client.channels.get(channel).presence.enterClient(clientId);
  }

  /** `clientId` leaves `channel`'s presence set. */
  async leavePresence(channel: string, clientId: string): Promise<void> {
    await this.#client.channels.get(channel).presence.leaveClient(clientId);
  }

  /** `channel`'s attach serial while the link holds it attached; undefined otherwise. */
  attachSerial(channel: string): string | undefined {
    if (!this.#held.has(channel)) return undefined;
    const handle = this.#client.channels.get(channel);
    if (handle.state !== "attached") return undefined;
    // The SDK keeps it in `properties` (what `history({untilAttach})` sends as
    // `from_serial`) but leaves that out of its typings.
    const { properties } = handle as unknown as { properties?: { attachSerial?: unknown } };
    const serial = properties?.attachSerial;
    return typeof serial === "string" ? serial : undefined;
  }

  /** Closes the connection for good. */
  close(): void {
    this.#isClosed = true;
    this.#client.connection.off();
    this.#client.close();
  }

  #onConnectionChange(change: Ably.ConnectionStateChange): void {
    if (this.#isClosed) return;
    const { current, previous, reason } = change;
    switch (current) {
      case "connected": {
        // Ably says it could not resume with an error on CONNECTED (80008); without one the
        // connection is the same as before.
        const isResumed = this.#hasConnected && reason === undefined;
        this.#hasConnected = true;
        this.#listener.connected(isResumed);
        return;
      }
      case "disconnected":
      case "suspended":
        if (previous === "connected") this.#listener.lost(describe(reason, current));
        else this.#listener.attemptFailed(describe(reason, current));
        return;
      case "failed":
        if (isFatal(reason)) this.#listener.refused(describe(reason, "failed"));
        else this.#listener.lost(describe(reason, "failed"));
        return;
      default:
        return;
    }
  }

  #onChannelChange(channel: string, change: Ably.ChannelStateChange): void {
    if (this.#isClosed || !this.#listener.isWanted(channel)) return;
    if (change.current === "attached") {
      if (this.#attachedBefore.has(channel) && !change.resumed) {
        this.#listener.continuityLost(channel);
      }
      this.#attachedBefore.add(channel);
      this.#listener.attached(channel);
      return;
    }
    if (change.current === "failed") {
      const reason = change.reason;
      this.#listener.attachFailed(
        channel,
        reason?.code === INVALID_CHANNEL ? "invalid_channel" : "refused",
        describe(reason, "channel failed"),
      );
    }
  }

  #onMessage(channel: string, message: Ably.InboundMessage): void {
    if (this.#isClosed || !this.#listener.isWanted(channel)) return;
    this.#listener.message(channel, {
      id: message.id,
      name: message.name ?? "",
      data: message.data,
      extras: message.extras,
    });
  }
}

/**
 * The SDK options every client of the backend shares: credentials and where Ably is.
 * For a host of an Ably-compatible server, the SDK's connectivity checks (made when a
 * handshake is slow) go to that host too, so nothing leaves for Ably's own hosts.
 */
export function clientOptions(settings: AblySettings): Ably.ClientOptions {
  const { endpoint, port, tls, isCustomHost } = settings;
  const scheme = tls ? "https" : "http";
  const wsScheme = tls ? "wss" : "ws";
  const authority =
    endpoint === undefined ? "" : port === undefined ? endpoint : `${endpoint}:${port}`;
  return {
    key: settings.key,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(port === undefined ? {} : tls ? { tlsPort: port } : { port }),
    tls,
    ...(settings.clientId === undefined ? {} : { clientId: settings.clientId }),
    useBinaryProtocol: settings.useBinaryProtocol,
    ...(isCustomHost
      ? {
          connectivityCheckUrl: `${scheme}://${authority}/is-the-internet-up.txt`,
          wsConnectivityCheckUrl: `${wsScheme}://${authority}/ws-up`,
        }
      : {}),
    // Failures reach the backend as events and errors; the SDK's own log would repeat them.
    logLevel: 0,
  };
}

import type { Logger } from "pino";
import PusherRest from "pusher";
import PusherJs from "pusher-js";
import { type ErrorCode, SwitchyardError } from "../../errors.js";
import { anyExceedsDepth, exceedsDepth } from "../../json-depth.js";
import { metrics } from "../../metrics.js";
import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  Delivery,
  DeliverySink,
  Publication,
} from "../backend.js";
import { PublishQueue } from "../publish-queue.js";
import { type BackendDeps, type BackendLimits, DEFAULT_BACKEND_LIMITS } from "../registry.js";
import {
  type DecodedEvent,
  decodeEvent,
  ENVELOPE_DEPTH,
  type EncodedEvent,
  encodeEvent,
  isProtocolEvent,
} from "./payload.js";
import { pusherChannelProblem } from "./pusher-channel-naming.js";
import { PUSHER_LIMITS, type PusherSettings } from "./pusher-settings.js";

/**
 * pusher-js ships CommonJS with ESM-style typings: under NodeNext its default import
 * is typed as the module, while at run time it is the class (the Node build).
 */
const PusherClient = PusherJs as unknown as typeof PusherJs.default;
type PusherClient = PusherJs.default;

/** A frame as pusher-js hands it over, `data` already parsed from the wire. */
interface PusherMessage {
  readonly event: string;
  readonly channel?: string;
  readonly data?: unknown;
}

/** One publication on its way, encoded once. */
interface Outgoing {
  readonly channel: string;
  readonly origin: string | undefined;
  readonly publication: Publication;
  readonly encoded: EncodedEvent;
}

/** A channel this backend holds for the router. */
interface Subscription {
  readonly channel: string;
  isConfirmed: boolean;
  /** Failures since the last confirmation; drives the back-off. */
  failures: number;
  /** The confirmation deadline, or the back-off before a retry. */
  timer: NodeJS.Timeout | undefined;
  /** `subscribe()` calls waiting for the first confirmation or failure. */
  waiters: { resolve(): void; reject(error: unknown): void }[];
}

type PublishFailure =
  | "too_large"
  | "invalid_channel"
  | "invalid_event"
  | "rejected"
  | "unavailable"
  | "queue_full"
  | "sender_busy"
  | "closed";

/**
 * A backend on Pusher Channels (or a Pusher-compatible server).
 *
 * - Publish: the REST API (official `pusher` SDK), batched up to `batchSize` events
 *   per `batch_events` call with at most `maxInflight` calls in flight, never two
 *   calls for one channel at once (so a channel keeps its order). Every call carries
 *   the `socket_id` of this backend's own pusher-js connection, so Pusher does not
 *   echo the event back; instead, once Pusher accepted it, the publication is
 *   delivered to this node's sink here, exactly once, if the channel is subscribed.
 *   `data` limits and channel/event names are checked before sending.
 * - Receive: one pusher-js connection. Channels are subscribed on demand; private
 *   and presence channels are authorised by signing locally with the app secret.
 *   A subscription not confirmed within `subscribeTimeout` is retried with back-off.
 *   After a reconnect every channel is subscribed again and the new `socket_id` is
 *   used for exclusion. `pusher:*`/`pusher_internal:*` events are not delivered;
 *   client events (`client-*`) are, under their own name.
 * - Every failure is logged with its reason and counted in `/metrics`
 *   (`switchyard_pusher_*{backend}`).
 */
export class PusherBackend implements Backend {
  readonly name: string;
  readonly kind = "pusher";
  readonly capabilities: BackendCapabilities = {
    presence: false,
    history: false,
    clientEvents: true,
  };
  readonly #settings: PusherSettings;
  readonly #log: Logger;
  readonly #limits: BackendLimits;
  readonly #rest: PusherRest;
  readonly #queue: PublishQueue<Outgoing>;
  readonly #subscriptions = new Map<string, Subscription>();
  #confirmedCount = 0;
  #client: PusherClient | undefined;
  #sink: DeliverySink | undefined;
  #socketId: string | undefined;
  #hasConnected = false;
  /** Why the connection is down for good (refused by Pusher), if it is. */
  #refusal: string | undefined;
  #lastError: string | undefined;
  #isClosed = false;
  /** Publications waiting for the connection to come back, to send with its socket id. */
  #connectionWaiters = new Set<(socketId: string | undefined) => void>();

  constructor(name: string, settings: PusherSettings, deps: BackendDeps) {
    this.name = name;
    this.#settings = settings;
    this.#log = deps.log;
    this.#limits = deps.limits ?? DEFAULT_BACKEND_LIMITS;
    this.#rest = new PusherRest({
      appId: settings.appId,
      key: settings.key,
      secret: settings.secret,
      useTLS: settings.useTLS,
      timeout: settings.publishTimeout,
      ...(settings.host === undefined
        ? { cluster: settings.cluster }
        : {
            host: settings.host,
            ...(settings.port === undefined ? {} : { port: String(settings.port) }),
          }),
    });
    this.#queue = new PublishQueue<Outgoing>({
      batchSize: settings.batchSize,
      maxInflight: settings.maxInflight,
      send: (batch) => this.#send(batch),
    });
  }

  /**
   * Opens the pusher-js connection and resolves once it is connected, or after
   * `connectTimeout` with the backend not ready (pusher-js keeps trying).
   *
   * @throws SwitchyardError SWY_PUSHER_CONNECT_REFUSED when Pusher refuses the
   *   connection for good (unknown key, app disabled, over quota).
   */
  start(sink: DeliverySink): Promise<void> {
    if (this.#client !== undefined) return Promise.reject(new Error("already started"));
    this.#sink = sink;
    const client = this.#createClient();
    this.#client = client;
    metrics.pusherConnected.set({ backend: this.name }, 0);
    this.#updateSubscriptionGauges();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        this.#log.warn(
          { state: client.connection.state, timeout: this.#settings.connectTimeout },
          "pusher connection not up yet; the backend reports not ready and keeps trying",
        );
        resolve();
      }, this.#settings.connectTimeout);
      const onChange = ({ current }: { current: string }): void => {
        if (current === "connected") {
          done();
          resolve();
        } else if (this.#refusal !== undefined) {
          done();
          reject(new SwitchyardError("SWY_PUSHER_CONNECT_REFUSED", [current, this.#refusal]));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        client.connection.unbind("state_change", onChange);
      };
      client.connection.bind("state_change", onChange);
    });
  }

  /**
   * Subscribes to `channel` (idempotent). Resolves once Pusher confirmed the
   * subscription, or once the channel is unsubscribed before that.
   *
   * @throws SwitchyardError SWY_PUSHER_SUBSCRIBE_FAILED when the first attempt is
   *   refused or not confirmed within `subscribeTimeout`; the backend keeps
   *   retrying while the channel stays subscribed. SWY_PUSHER_CHANNEL_INVALID for a
   *   channel Pusher does not accept.
   */
  subscribe(channel: string): Promise<void> {
    if (this.#isClosed) return Promise.reject(new SwitchyardError("SWY_PUSHER_CLOSED"));
    const existing = this.#subscriptions.get(channel);
    if (existing !== undefined) {
      if (existing.isConfirmed) return Promise.resolve();
      return new Promise((resolve, reject) => existing.waiters.push({ resolve, reject }));
    }
    const problem = pusherChannelProblem(channel);
    if (problem !== undefined) {
      metrics.pusherSubscribeFailures.inc({ backend: this.name, reason: "invalid_channel" });
      this.#log.warn({ channel, reason: problem }, "pusher subscription refused: invalid channel");
      return Promise.reject(new SwitchyardError("SWY_PUSHER_CHANNEL_INVALID", [channel, problem]));
    }
    const subscription: Subscription = {
      channel,
      isConfirmed: false,
      failures: 0,
      timer: undefined,
      waiters: [],
    };
    this.#subscriptions.set(channel, subscription);
    this.#updateSubscriptionGauges();
    const waited = new Promise<void>((resolve, reject) =>
      subscription.waiters.push({ resolve, reject }),
    );
    // pusher-js sends the subscription now when connected, else once it connects.
    this.#client?.subscribe(channel);
    if (this.#isConnected()) this.#armConfirmation(subscription);
    return waited;
  }

  /** Unsubscribes from `channel` (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    const subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) return Promise.resolve();
    this.#forget(subscription);
    this.#updateSubscriptionGauges();
    this.#client?.unsubscribe(channel);
    return Promise.resolve();
  }

  /**
   * Publishes through the REST API and delivers to this node's sink once Pusher
   * accepted it (see the class comment).
   *
   * @throws SwitchyardError SWY_PUSHER_PAYLOAD_TOO_LARGE, SWY_PUSHER_CHANNEL_INVALID,
   *   SWY_PUSHER_EVENT_INVALID (nothing sent), SWY_PUSHER_QUEUE_FULL,
   *   SWY_PUSHER_REJECTED (HTTP error from Pusher), SWY_PUSHER_UNAVAILABLE (no
   *   answer, or the connection stayed down for `publishTimeout`), SWY_PUSHER_CLOSED.
   */
  publish(publication: Publication): Promise<void> {
    const { channel, event } = publication;
    if (this.#isClosed)
      return this.#refuse("closed", new SwitchyardError("SWY_PUSHER_CLOSED"), publication);
    const channelProblem = pusherChannelProblem(channel);
    if (channelProblem !== undefined) {
      return this.#refuse(
        "invalid_channel",
        new SwitchyardError("SWY_PUSHER_CHANNEL_INVALID", [channel, channelProblem]),
        publication,
      );
    }
    const eventProblem = eventNameProblem(event);
    if (eventProblem !== undefined) {
      return this.#refuse(
        "invalid_event",
        new SwitchyardError("SWY_PUSHER_EVENT_INVALID", [event, eventProblem]),
        publication,
      );
    }
    const encoded = encodeEvent(event, publication.args);
    const bytes = Buffer.byteLength(encoded.data, "utf8");
    if (bytes > this.#settings.maxDataBytes) {
      return this.#refuse(
        "too_large",
        new SwitchyardError("SWY_PUSHER_PAYLOAD_TOO_LARGE", [bytes, this.#settings.maxDataBytes]),
        publication,
      );
    }
    if (this.#queue.waiting >= this.#settings.maxQueued) {
      return this.#refuse(
        "queue_full",
        new SwitchyardError("SWY_PUSHER_QUEUE_FULL", [this.#queue.waiting]),
        publication,
      );
    }
    const { origin } = publication;
    const share = this.#limits.maxPublishesPerSocket;
    if (origin !== undefined && this.#queue.countOf(origin) >= share) {
      metrics.limitRefusals.inc({ limit: "maxPublishesPerSocket" });
      return this.#refuse(
        "sender_busy",
        new SwitchyardError("SWY_PUBLISH_BUSY", [share]),
        publication,
      );
    }
    const queued = this.#queue.push({ channel, origin, publication, encoded });
    metrics.pusherPublishQueue.set({ backend: this.name }, this.#queue.size);
    return queued;
  }

  health(): BackendHealth {
    if (this.#isClosed) return { isReady: false, reason: "closed" };
    if (this.#isConnected()) return { isReady: true };
    if (this.#refusal !== undefined)
      return { isReady: false, reason: `pusher refused: ${this.#refusal}` };
    const state = this.#client?.connection.state ?? "not started";
    return {
      isReady: false,
      reason: `pusher connection ${state}${this.#lastError === undefined ? "" : ` (${this.#lastError})`}`,
    };
  }

  /** Disconnects; publications not yet sent fail with SWY_PUSHER_CLOSED. */
  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    const closed = new SwitchyardError("SWY_PUSHER_CLOSED");
    this.#queue.failWaiting(closed);
    for (const subscription of this.#subscriptions.values()) {
      clearTimeout(subscription.timer);
      for (const waiter of subscription.waiters) waiter.reject(closed);
    }
    this.#subscriptions.clear();
    this.#confirmedCount = 0;
    for (const waiter of this.#connectionWaiters) waiter(undefined);
    this.#connectionWaiters.clear();
    const client = this.#client;
    if (client !== undefined) {
      client.connection.unbind_all();
      client.disconnect();
      // pusher-js keeps every client in a static list for its whole process.
      const instances = PusherClient.instances;
      const at = instances.indexOf(client);
      if (at >= 0) instances.splice(at, 1);
    }
    this.#sink = undefined;
    this.#socketId = undefined;
    for (const gauge of [metrics.pusherConnected, metrics.pusherPublishQueue]) {
      gauge.remove({ backend: this.name });
    }
    metrics.pusherSubscriptions.remove({ backend: this.name, state: "confirmed" });
    metrics.pusherSubscriptions.remove({ backend: this.name, state: "pending" });
    return Promise.resolve();
  }

  // --- Receiving -------------------------------------------------------------------

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
            const subscription = this.#subscriptions.get(channelName);
            if (subscription !== undefined)
              this.#onSubscribeFailed(subscription, "auth", String(error));
            callback(error instanceof Error ? error : new Error(String(error)), null);
          }
        },
      },
    });
    const connection = client.connection;
    connection.bind(
      "state_change",
      ({ previous, current }: { previous: string; current: string }) =>
        this.#onStateChange(previous, current),
    );
    // Bound after pusher-js's own "connected" handler, which has just resubscribed everything.
    connection.bind("connected", () => this.#onConnected());
    connection.bind("message", (message: PusherMessage) => this.#onMessage(message));
    connection.bind("error", (error: unknown) => this.#onConnectionError(error));
    return client;
  }

  #isConnected(): boolean {
    return this.#client?.connection.state === "connected" && this.#socketId !== undefined;
  }

  #onStateChange(previous: string, current: string): void {
    if (this.#isClosed) return;
    if (previous === "connected" && current !== "connected") {
      this.#socketId = undefined;
      metrics.pusherConnected.set({ backend: this.name }, 0);
      // Every subscription is gone with the connection; pusher-js renews them on reconnect.
      for (const subscription of this.#subscriptions.values()) {
        clearTimeout(subscription.timer);
        subscription.timer = undefined;
        this.#setConfirmed(subscription, false);
      }
      this.#updateSubscriptionGauges();
      this.#log.warn({ state: current, reason: this.#lastError }, "pusher connection lost");
    }
    if (current === "disconnected" || current === "failed") {
      // Only close() disconnects on purpose; otherwise pusher-js gave up (close code 4000–4099, ≥4300).
      this.#refusal = this.#lastError ?? current;
      metrics.pusherConnectionErrors.inc({ backend: this.name, reason: "refused" });
      this.#log.error(
        { state: current, reason: this.#refusal },
        "pusher refused the connection; not retrying",
      );
    }
  }

  #onConnected(): void {
    const client = this.#client;
    if (this.#isClosed || client === undefined) return;
    this.#socketId = client.connection.socket_id;
    this.#refusal = undefined;
    this.#lastError = undefined;
    metrics.pusherConnected.set({ backend: this.name }, 1);
    if (this.#hasConnected) {
      metrics.pusherReconnects.inc({ backend: this.name });
      this.#log.info(
        { socketId: this.#socketId, channels: this.#subscriptions.size },
        "pusher reconnected; resubscribing",
      );
    }
    this.#hasConnected = true;
    // pusher-js also renewed channels unsubscribed while pending; drop those.
    for (const channel of client.allChannels()) {
      if (!this.#subscriptions.has(channel.name)) client.unsubscribe(channel.name);
    }
    for (const subscription of this.#subscriptions.values()) {
      client.subscribe(subscription.channel);
      this.#armConfirmation(subscription);
    }
    for (const waiter of this.#connectionWaiters) waiter(this.#socketId);
    this.#connectionWaiters.clear();
  }

  #onConnectionError(error: unknown): void {
    if (this.#isClosed) return;
    const reason = describeConnectionError(error);
    this.#lastError = reason;
    metrics.pusherConnectionErrors.inc({ backend: this.name, reason: "error" });
    this.#log.warn({ reason }, "pusher connection error");
  }

  #onMessage(message: PusherMessage): void {
    const { event, channel } = message;
    if (this.#isClosed || channel === undefined) return;
    const subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) return;
    if (event === "pusher_internal:subscription_succeeded") {
      this.#onSubscribed(subscription);
      return;
    }
    if (event === "pusher:subscription_error") {
      this.#onSubscribeFailed(subscription, "refused", JSON.stringify(message.data));
      return;
    }
    if (isProtocolEvent(event)) return;
    const sink = this.#sink;
    if (sink === undefined) return;
    // Anyone who can trigger on the channel wrote this (a pusher-js user's client
    // event, another app's server): bounded before it is walked or re-encoded.
    if (exceedsDepth(message.data, this.#limits.maxDepth + ENVELOPE_DEPTH)) {
      this.#dropReceived("too_deep", channel, event);
      return;
    }
    let decoded: DecodedEvent;
    try {
      decoded = decodeEvent(event, message.data);
    } catch (error) {
      this.#dropReceived("malformed", channel, event, error);
      return;
    }
    if (anyExceedsDepth(decoded.args, this.#limits.maxDepth)) {
      this.#dropReceived("too_deep", channel, event);
      return;
    }
    this.#deliver(sink, { channel, event: decoded.event, args: decoded.args });
  }

  /** Counts and logs an event received on a channel that members will not get. */
  #dropReceived(reason: string, channel: string, event: string, error?: unknown): void {
    metrics.pusherReceiveErrors.inc({ backend: this.name, reason });
    this.#log.warn({ err: error, channel, event, reason }, "pusher event dropped");
  }

  /** Hands a delivery to the sink; a sink that throws loses only that delivery, counted. */
  #deliver(sink: DeliverySink, delivery: Delivery): void {
    try {
      sink.deliver(delivery);
    } catch (error) {
      metrics.pusherReceiveErrors.inc({ backend: this.name, reason: "deliver" });
      this.#log.error(
        { err: error, channel: delivery.channel, event: delivery.event },
        "pusher delivery failed",
      );
    }
  }

  #onSubscribed(subscription: Subscription): void {
    clearTimeout(subscription.timer);
    subscription.timer = undefined;
    subscription.failures = 0;
    this.#setConfirmed(subscription, true);
    this.#updateSubscriptionGauges();
    const waiters = subscription.waiters.splice(0);
    for (const waiter of waiters) waiter.resolve();
  }

  #armConfirmation(subscription: Subscription): void {
    clearTimeout(subscription.timer);
    if (subscription.isConfirmed) {
      subscription.timer = undefined;
      return;
    }
    subscription.timer = setTimeout(
      () =>
        this.#onSubscribeFailed(
          subscription,
          "timeout",
          `no confirmation within ${this.#settings.subscribeTimeout} ms`,
        ),
      this.#settings.subscribeTimeout,
    );
    subscription.timer.unref();
  }

  /** Counts and logs the failure, fails waiting `subscribe()` calls, and schedules a retry. */
  #onSubscribeFailed(
    subscription: Subscription,
    reason: "timeout" | "refused" | "auth",
    detail: string,
  ): void {
    if (this.#subscriptions.get(subscription.channel) !== subscription) return;
    clearTimeout(subscription.timer);
    this.#setConfirmed(subscription, false);
    this.#updateSubscriptionGauges();
    subscription.failures += 1;
    const { subscribeRetryDelay, subscribeRetryMaxDelay } = this.#settings;
    const delay = Math.min(
      subscribeRetryDelay * 2 ** (subscription.failures - 1),
      subscribeRetryMaxDelay,
    );
    metrics.pusherSubscribeFailures.inc({ backend: this.name, reason });
    this.#log.warn(
      {
        channel: subscription.channel,
        reason,
        detail,
        failures: subscription.failures,
        retryInMs: delay,
      },
      "pusher subscription failed; retrying",
    );
    const error = new SwitchyardError("SWY_PUSHER_SUBSCRIBE_FAILED", [
      subscription.channel,
      detail,
    ]);
    for (const waiter of subscription.waiters.splice(0)) waiter.reject(error);
    subscription.timer = setTimeout(() => this.#retry(subscription), delay);
    subscription.timer.unref();
  }

  #retry(subscription: Subscription): void {
    subscription.timer = undefined;
    const client = this.#client;
    if (this.#subscriptions.get(subscription.channel) !== subscription || client === undefined)
      return;
    // Not connected: the next "connected" resubscribes and arms the deadline.
    if (!this.#isConnected()) return;
    const channel = client.subscribe(subscription.channel);
    // A pending channel makes pusher-js's subscribe() a no-op; ask the channel to send again.
    if (!channel.subscribed) channel.subscribe();
    this.#armConfirmation(subscription);
  }

  #forget(subscription: Subscription): void {
    clearTimeout(subscription.timer);
    this.#setConfirmed(subscription, false);
    this.#subscriptions.delete(subscription.channel);
    // The caller no longer wants the channel: its subscribe() has nothing left to wait for.
    for (const waiter of subscription.waiters.splice(0)) waiter.resolve();
  }

  #setConfirmed(subscription: Subscription, isConfirmed: boolean): void {
    if (subscription.isConfirmed === isConfirmed) return;
    subscription.isConfirmed = isConfirmed;
    this.#confirmedCount += isConfirmed ? 1 : -1;
  }

  #updateSubscriptionGauges(): void {
    metrics.pusherSubscriptions.set(
      { backend: this.name, state: "confirmed" },
      this.#confirmedCount,
    );
    metrics.pusherSubscriptions.set(
      { backend: this.name, state: "pending" },
      this.#subscriptions.size - this.#confirmedCount,
    );
  }

  // --- Publishing ------------------------------------------------------------------

  #refuse(
    reason: PublishFailure,
    error: SwitchyardError,
    publication: Publication,
  ): Promise<never> {
    this.#countFailure(reason, error, [publication]);
    return Promise.reject(error);
  }

  #countFailure(
    reason: PublishFailure,
    error: SwitchyardError,
    publications: readonly Publication[],
  ): void {
    metrics.pusherPublishFailures.inc({ backend: this.name, reason }, publications.length);
    this.#log.warn(
      {
        code: error.code,
        reason,
        err: error.cause,
        channels: [...new Set(publications.map((p) => p.channel))],
        events: publications.length,
      },
      error.message,
    );
  }

  /** One REST call for a batch, then the local deliveries in order. */
  async #send(batch: readonly Outgoing[]): Promise<void> {
    try {
      const socketId = await this.#currentSocketId();
      if (this.#isClosed) throw new SwitchyardError("SWY_PUSHER_CLOSED");
      if (socketId === undefined) {
        throw new SwitchyardError("SWY_PUSHER_UNAVAILABLE", [
          this.#refusal === undefined
            ? `its connection stayed down for ${this.#settings.publishTimeout} ms`
            : `its connection was refused (${this.#refusal})`,
        ]);
      }
      await this.#trigger(batch, socketId);
      metrics.pusherPublished.inc({ backend: this.name }, batch.length);
    } catch (error) {
      const wrapped = wrapRestError(error);
      this.#countFailure(
        failureOf(wrapped.code),
        wrapped,
        batch.map((item) => item.publication),
      );
      throw wrapped;
    } finally {
      metrics.pusherPublishQueue.set(
        { backend: this.name },
        Math.max(0, this.#queue.size - batch.length),
      );
    }
    const sink = this.#sink;
    if (sink === undefined) return;
    for (const { channel, publication } of batch) {
      // Pusher left this connection out (socket_id), so this is the node's only copy.
      if (this.#subscriptions.has(channel)) this.#deliver(sink, publication);
    }
  }

  #trigger(batch: readonly Outgoing[], socketId: string): Promise<unknown> {
    if (batch.length === 1) {
      const [{ channel, encoded }] = batch as [Outgoing];
      metrics.pusherRequests.inc({ backend: this.name, endpoint: "events" });
      return this.#rest.trigger(channel, encoded.name, encoded.data, { socket_id: socketId });
    }
    metrics.pusherRequests.inc({ backend: this.name, endpoint: "batch_events" });
    return this.#rest.triggerBatch(
      batch.map(({ channel, encoded }) => ({
        channel,
        name: encoded.name,
        data: encoded.data,
        socket_id: socketId,
      })),
    );
  }

  /** The connection's socket id, waiting up to `publishTimeout` for a reconnect; undefined if none. */
  #currentSocketId(): Promise<string | undefined> {
    if (this.#isConnected()) return Promise.resolve(this.#socketId);
    if (this.#isClosed || this.#refusal !== undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = (socketId: string | undefined): void => {
        clearTimeout(timer);
        resolve(socketId);
      };
      const timer = setTimeout(() => {
        this.#connectionWaiters.delete(waiter);
        resolve(undefined);
      }, this.#settings.publishTimeout);
      this.#connectionWaiters.add(waiter);
    });
  }
}

function eventNameProblem(event: string): string | undefined {
  if (event.length === 0) return "it is empty";
  if (event.length > PUSHER_LIMITS.eventNameChars) {
    return `it is ${event.length} characters long (at most ${PUSHER_LIMITS.eventNameChars})`;
  }
  if (isProtocolEvent(event)) return "the pusher: and pusher_internal: prefixes are Pusher's own";
  return undefined;
}

/** An SDK error as a catalogue error, with the SDK error as its cause. */
function wrapRestError(error: unknown): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === "number") {
    return new SwitchyardError("SWY_PUSHER_REJECTED", [status], { cause: error });
  }
  // The network error (kept as the cause, for the log) names hosts and ports; the
  // sender learns only what kind of failure it was.
  const inner = (error as { error?: unknown } | null)?.error;
  const message = inner instanceof Error ? inner.message : String(error);
  const reason = /timeout|timed out/i.test(message) ? "no answer in time" : "the request failed";
  return new SwitchyardError("SWY_PUSHER_UNAVAILABLE", [reason], { cause: error });
}

function failureOf(code: ErrorCode): PublishFailure {
  switch (code) {
    case "SWY_PUSHER_REJECTED":
      return "rejected";
    case "SWY_PUSHER_CLOSED":
      return "closed";
    default:
      return "unavailable";
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

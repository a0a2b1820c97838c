import type { Logger } from "pino";
import PusherRest from "pusher";
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
import { ChannelSubscriptions } from "../managed/channel-subscriptions.js";
import { ConnectionSupervisor } from "../managed/connection-supervisor.js";
import { isUnsentError } from "../managed/is-unsent-error.js";
import { type ExpiryStage, PublishQueue } from "../publish-queue.js";
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
import { PusherJsLink } from "./pusher-js-link.js";
import { PusherRestPublisher } from "./pusher-rest-publisher.js";
import { PUSHER_LIMITS, type PusherSettings } from "./pusher-settings.js";

/** One publication on its way, encoded once. */
interface Outgoing {
  readonly channel: string;
  readonly origin: string | undefined;
  readonly publication: Publication;
  readonly encoded: EncodedEvent;
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
 * A backend on Pusher Channels (or a Pusher-compatible server): the Pusher wire on top
 * of the shared managed-backend parts (src/egress/managed/, docs/backends/managed.md).
 *
 * - Publish: the REST API (official `pusher` SDK), through a {@link PublishQueue}:
 *   batches of up to `batchSize` events per `batch_events` call, at most `maxInflight`
 *   calls in flight, never two calls for one channel at once (a channel keeps its
 *   order), every publication settled within `publishTimeout` of its arrival. Every
 *   call carries the `socket_id` of this backend's own pusher-js connection, so Pusher
 *   does not echo the event back; instead, once Pusher accepted it, the publication is
 *   delivered to this node's sink here, exactly once, if the channel is subscribed.
 *   Publications wait in the queue while the connection is down (they need its socket
 *   id) or Pusher cannot be reached; a call refused before anything was sent puts its
 *   publications back. `data` limits and channel/event names are checked before
 *   anything is queued.
 * - Receive: one pusher-js connection ({@link PusherJsLink}), reconnected by a
 *   {@link ConnectionSupervisor}; channels held by {@link ChannelSubscriptions}
 *   (confirm, retry with back-off, resubscribe after a reconnect). Private and presence
 *   channels are authorised by signing locally with the app secret.
 *   `pusher:*`/`pusher_internal:*` events are not delivered; client events
 *   (`client-*`) are, under their own name.
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
  readonly #link: PusherJsLink;
  readonly #publisher: PusherRestPublisher;
  readonly #supervisor: ConnectionSupervisor;
  readonly #subscriptions: ChannelSubscriptions;
  readonly #queue: PublishQueue<Outgoing>;
  #sink: DeliverySink | undefined;
  #isStarted = false;
  #isClosed = false;

  constructor(name: string, settings: PusherSettings, deps: BackendDeps) {
    this.name = name;
    this.#settings = settings;
    this.#log = deps.log;
    this.#limits = deps.limits ?? DEFAULT_BACKEND_LIMITS;
    const labels = { backend: name };
    const rest = new PusherRest({
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
    this.#link = new PusherJsLink(settings, rest, {
      connected: () => this.#supervisor.connected(),
      lost: (reason) => this.#supervisor.lost(reason),
      refused: (reason) => this.#supervisor.refused(reason),
      error: (reason) => {
        metrics.pusherConnectionErrors.inc({ ...labels, reason: "error" });
        this.#log.warn({ reason }, "pusher connection error");
      },
      subscribed: (channel) => this.#subscriptions.confirmed(channel),
      subscriptionFailed: (channel, reason, detail) =>
        this.#subscriptions.failed(channel, reason, detail),
      event: (channel, event, data) => this.#onEvent(channel, event, data),
      isWanted: (channel) => this.#subscriptions.has(channel),
    });
    this.#publisher = new PusherRestPublisher(name, rest, {
      callFailed: (reason) => this.#supervisor.callFailed(reason),
      callSucceeded: () => this.#supervisor.callSucceeded(),
    });
    this.#supervisor = new ConnectionSupervisor({
      service: "pusher",
      driver: {
        connect: () => this.#link.connect(),
        disconnect: () => this.#link.disconnect(),
        probe: () => this.#publisher.probe(),
      },
      log: this.#log,
      events: {
        up: (isReconnect) => {
          metrics.pusherConnected.set(labels, 1);
          if (isReconnect) metrics.pusherReconnects.inc(labels);
          this.#subscriptions.connectionUp();
        },
        down: () => {
          metrics.pusherConnected.set(labels, 0);
          this.#subscriptions.connectionDown();
        },
        attemptFailed: () => {
          metrics.pusherConnectionErrors.inc({ ...labels, reason: "attempt_failed" });
        },
        refused: (reason) => {
          metrics.pusherConnected.set(labels, 0);
          metrics.pusherConnectionErrors.inc({ ...labels, reason: "refused" });
          this.#subscriptions.connectionDown();
          const refusal = this.#refusedError(reason);
          const waiting = this.#queue.waiting;
          if (waiting > 0) this.#countFailure("unavailable", refusal, waiting);
          this.#queue.failWaiting(refusal);
        },
      },
    });
    this.#subscriptions = new ChannelSubscriptions({
      service: "pusher",
      driver: this.#link,
      confirmTimeout: settings.subscribeTimeout,
      retry: {
        initialDelay: settings.subscribeRetryDelay,
        maxDelay: settings.subscribeRetryMaxDelay,
      },
      failure: (channel, detail) =>
        new SwitchyardError("SWY_PUSHER_SUBSCRIBE_FAILED", [channel, detail]),
      log: this.#log,
      events: {
        failed: (_channel, reason) => metrics.pusherSubscribeFailures.inc({ ...labels, reason }),
        counts: (confirmed, pending) => {
          metrics.pusherSubscriptions.set({ ...labels, state: "confirmed" }, confirmed);
          metrics.pusherSubscriptions.set({ ...labels, state: "pending" }, pending);
        },
      },
    });
    this.#queue = new PublishQueue<Outgoing>({
      batchSize: settings.batchSize,
      maxInflight: settings.maxInflight,
      timeout: settings.publishTimeout,
      gate: this.#supervisor,
      isUnsent: (error) => error instanceof SwitchyardError && isUnsentError(error.cause),
      expired: (item, stage) => this.#expired(item, stage),
      send: (batch) => this.#send(batch),
      sizeChanged: (size) => {
        if (!this.#isClosed) metrics.pusherPublishQueue.set(labels, size);
      },
    });
  }

  /**
   * Opens the pusher-js connection and resolves once it is connected, or after
   * `connectTimeout` with the backend not ready (it keeps trying).
   *
   * @throws SwitchyardError SWY_PUSHER_CONNECT_REFUSED when Pusher refuses the
   *   connection for good (unknown key, app disabled, over quota).
   */
  async start(sink: DeliverySink): Promise<void> {
    if (this.#isStarted) throw new Error("already started");
    this.#isStarted = true;
    this.#sink = sink;
    metrics.pusherConnected.set({ backend: this.name }, 0);
    metrics.pusherSubscriptions.set({ backend: this.name, state: "confirmed" }, 0);
    metrics.pusherSubscriptions.set({ backend: this.name, state: "pending" }, 0);
    this.#supervisor.start();
    const state = await this.#supervisor.whenSettled(this.#settings.connectTimeout);
    if (state === "refused") {
      throw new SwitchyardError("SWY_PUSHER_CONNECT_REFUSED", [
        this.#link.state,
        this.#supervisor.reason ?? "refused",
      ]);
    }
    if (state !== "up") {
      this.#log.warn(
        { state: this.#link.state, timeout: this.#settings.connectTimeout },
        "pusher connection not up yet; the backend reports not ready and keeps trying",
      );
    }
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
    if (!this.#subscriptions.has(channel)) {
      const problem = pusherChannelProblem(channel);
      if (problem !== undefined) {
        metrics.pusherSubscribeFailures.inc({ backend: this.name, reason: "invalid_channel" });
        this.#log.warn(
          { channel, reason: problem },
          "pusher subscription refused: invalid channel",
        );
        return Promise.reject(
          new SwitchyardError("SWY_PUSHER_CHANNEL_INVALID", [channel, problem]),
        );
      }
    }
    return this.#subscriptions.add(channel);
  }

  /** Unsubscribes from `channel` (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    this.#subscriptions.remove(channel);
    return Promise.resolve();
  }

  /**
   * Publishes through the REST API and delivers to this node's sink once Pusher
   * accepted it (see the class comment). Settles within `publishTimeout`.
   *
   * @throws SwitchyardError SWY_PUSHER_PAYLOAD_TOO_LARGE, SWY_PUSHER_CHANNEL_INVALID,
   *   SWY_PUSHER_EVENT_INVALID (nothing sent), SWY_PUSHER_QUEUE_FULL,
   *   SWY_PUSHER_REJECTED (HTTP error from Pusher), SWY_PUSHER_UNAVAILABLE (Pusher or
   *   the connection stayed away, or no answer, within `publishTimeout`; after no
   *   answer Pusher may still have accepted it), SWY_PUSHER_CLOSED.
   */
  publish(publication: Publication): Promise<void> {
    const { channel, event } = publication;
    if (this.#isClosed)
      return this.#refuse("closed", new SwitchyardError("SWY_PUSHER_CLOSED"), publication);
    if (this.#supervisor.state === "refused") {
      return this.#refuse(
        "unavailable",
        this.#refusedError(this.#supervisor.reason ?? "refused"),
        publication,
      );
    }
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
    return this.#queue.push({ channel, origin, publication, encoded });
  }

  health(): BackendHealth {
    if (this.#isClosed) return { isReady: false, reason: "closed" };
    return this.#supervisor.health();
  }

  /** Disconnects; publications not yet sent fail with SWY_PUSHER_CLOSED. */
  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    const closed = new SwitchyardError("SWY_PUSHER_CLOSED");
    this.#supervisor.close();
    this.#queue.failWaiting(closed);
    this.#subscriptions.close(closed);
    this.#link.close();
    this.#sink = undefined;
    for (const gauge of [metrics.pusherConnected, metrics.pusherPublishQueue]) {
      gauge.remove({ backend: this.name });
    }
    metrics.pusherSubscriptions.remove({ backend: this.name, state: "confirmed" });
    metrics.pusherSubscriptions.remove({ backend: this.name, state: "pending" });
    return Promise.resolve();
  }

  // --- Receiving -------------------------------------------------------------------

  #onEvent(channel: string, event: string, data: unknown): void {
    const sink = this.#sink;
    if (sink === undefined || !this.#subscriptions.has(channel)) return;
    // Anyone who can trigger on the channel wrote this (a pusher-js user's client
    // event, another app's server): bounded before it is walked or re-encoded.
    if (exceedsDepth(data, this.#limits.maxDepth + ENVELOPE_DEPTH)) {
      this.#dropReceived("too_deep", channel, event);
      return;
    }
    let decoded: DecodedEvent;
    try {
      decoded = decodeEvent(event, data);
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

  // --- Publishing ------------------------------------------------------------------

  #refuse(
    reason: PublishFailure,
    error: SwitchyardError,
    publication: Publication,
  ): Promise<never> {
    this.#countFailure(reason, error, 1, [publication.channel]);
    return Promise.reject(error);
  }

  #countFailure(
    reason: PublishFailure,
    error: SwitchyardError,
    events: number,
    channels: readonly string[] = [],
  ): void {
    metrics.pusherPublishFailures.inc({ backend: this.name, reason }, events);
    this.#log.warn(
      { code: error.code, reason, err: error.cause, channels: [...new Set(channels)], events },
      error.message,
    );
  }

  #refusedError(reason: string): SwitchyardError {
    return new SwitchyardError("SWY_PUSHER_UNAVAILABLE", [
      `its connection was refused (${reason})`,
    ]);
  }

  /** The error of a publication whose `publishTimeout` passed at `stage`. */
  #expired(item: Outgoing, stage: ExpiryStage): SwitchyardError {
    const { publishTimeout } = this.#settings;
    let why: string;
    if (stage === "sending") why = "no answer in time";
    else if (stage === "queued")
      why = `earlier publications of the channel were still on their way after ${publishTimeout} ms`;
    else if (!this.#supervisor.isUp) why = `its connection stayed down for ${publishTimeout} ms`;
    else why = `its calls kept failing for ${publishTimeout} ms`;
    const error = new SwitchyardError("SWY_PUSHER_UNAVAILABLE", [why]);
    this.#countFailure("unavailable", error, 1, [item.channel]);
    return error;
  }

  /** One REST call for a batch, then the local deliveries in order. */
  async #send(batch: readonly Outgoing[]): Promise<void> {
    // The gate opens only while the connection is up, so there is a socket id.
    const socketId = this.#link.socketId;
    try {
      if (socketId === undefined) {
        throw new SwitchyardError("SWY_PUSHER_UNAVAILABLE", ["its connection is down"]);
      }
      await this.#publisher.trigger(batch, socketId);
    } catch (error) {
      // Both the check above and trigger() reject with catalogue errors only.
      const failure = error as SwitchyardError;
      if (isUnsentError(failure.cause)) {
        // Not a failure yet: the queue holds the batch until Pusher is back or time is up.
        this.#log.debug(
          { err: failure.cause, events: batch.length },
          "pusher could not be reached; publications wait for it",
        );
      } else {
        this.#countFailure(
          failureOf(failure.code),
          failure,
          batch.length,
          batch.map((item) => item.channel),
        );
      }
      throw failure;
    }
    const sink = this.#sink;
    if (sink === undefined) return;
    for (const { channel, publication } of batch) {
      // Pusher left this connection out (socket_id), so this is the node's only copy.
      if (this.#subscriptions.has(channel)) this.#deliver(sink, publication);
    }
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

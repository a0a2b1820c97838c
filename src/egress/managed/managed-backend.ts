import type { Logger } from "pino";
import { type ErrorCode, SwitchyardError } from "../../errors.js";
import { anyExceedsDepth, exceedsDepth } from "../../json-depth.js";
import { type ManagedMetrics, metrics } from "../../metrics.js";
import type { BackendHealth, Delivery, DeliverySink, Publication } from "../backend.js";
import { ENVELOPE_DEPTH } from "../envelope.js";
import { type ChannelItem, type ExpiryStage, PublishQueue } from "../publish-queue.js";
import { type BackendDeps, type BackendLimits, DEFAULT_BACKEND_LIMITS } from "../registry.js";
import { ChannelSubscriptions, type SubscriptionDriver } from "./channel-subscriptions.js";
import { type ConnectionDriver, ConnectionSupervisor } from "./connection-supervisor.js";
import { isUnsentError } from "./is-unsent-error.js";
import type { ManagedSettings } from "./managed-settings.js";

type CodeOf<Suffix extends string> = Extract<ErrorCode, `SWY_${string}_${Suffix}`>;

/** The kind's catalogue errors for what every managed kind reports alike. */
export interface ManagedErrors {
  /** No arguments: the backend is closed. */
  readonly closed: CodeOf<"CLOSED">;
  /** `[why]`: the service was away, or did not answer, within `publishTimeout`. */
  readonly unavailable: CodeOf<"UNAVAILABLE">;
  /** `[channel, problem]`: a channel name the service does not accept; nothing sent. */
  readonly channelInvalid: CodeOf<"CHANNEL_INVALID">;
  /** `[waiting]`: `maxQueued` publications are waiting already. */
  readonly queueFull: CodeOf<"QUEUE_FULL">;
  /** `[channel, detail]`: the first request for a channel failed or went unanswered. */
  readonly subscribeFailed: CodeOf<"SUBSCRIBE_FAILED">;
  /**
   * The `reason` label in `publish_failures_total` of codes the wire's `send` rejects
   * with; `closed` counts as `closed`, any other code as `unavailable`.
   */
  readonly sendFailures?: Readonly<Partial<Record<ErrorCode, string>>>;
  /** What `start()` rejects with when the service refused the connection for good. */
  connectRefused(reason: string): SwitchyardError;
}

/**
 * The kind's realtime connection: driven by the {@link ConnectionSupervisor} (connect,
 * disconnect) and the {@link ChannelSubscriptions} (subscribe, unsubscribe). It reports
 * back to {@link ManagedBackend.connection} and {@link ManagedBackend.subscriptions},
 * and hands what it receives to {@link ManagedBackend.receive}.
 */
export interface ManagedLink extends Omit<ConnectionDriver, "probe">, SubscriptionDriver {
  /** The SDK's own state of the connection, for logs. */
  readonly state: string;
  /** Ends the connection for good; the link reports nothing afterwards. */
  close(): void;
}

/** A publication in the queue, encoded once by its kind. */
export interface QueuedPublication extends ChannelItem {
  readonly publication: Publication;
  /** The id the kind gave the message in its channel's history: its local copy carries it. */
  readonly position?: string;
}

/**
 * A publication the kind will not send, and why: `reason` labels
 * `publish_failures_total`, `error` (a catalogue error) goes to the sender.
 */
export class PublishRefusal {
  readonly reason: string;
  readonly error: SwitchyardError;

  constructor(reason: string, error: SwitchyardError) {
    this.reason = reason;
    this.error = error;
  }
}

/** A received message as a Socket.IO event. */
export interface DecodedMessage {
  readonly event: string;
  readonly args: readonly unknown[];
}

/** What a received message carries beside its name and data, passed to its delivery. */
export interface ReceivedExtra {
  readonly except?: string | undefined;
  readonly stamp?: string | undefined;
  readonly position?: string | undefined;
}

/** The kind's wire protocol: its link, its publishing, its payload codec. */
export interface ManagedWire<T extends QueuedPublication> {
  readonly link: ManagedLink;
  /**
   * One cheap request while calls fail: resolves when the service answered at all,
   * rejects (with a message fit for a log) when it could not be reached.
   */
  probe(): Promise<void>;
  /** Why the service does not accept `channel` as a name, or `undefined`. */
  channelProblem(channel: string): string | undefined;
  /**
   * Encodes a publication for the queue (once: the queue and `send` reuse it), or
   * refuses it (too large, a name the service does not accept). Called after the
   * channel's name was checked and before the queue's limits are.
   */
  encode(publication: Publication): T | PublishRefusal;
  /**
   * Whether the service sends this backend's own publications back to its link, which
   * hands them to {@link ManagedBackend.receive} like anyone else's. Default false: the
   * service leaves the link out, or the link drops its own, and the backend delivers
   * each accepted publication to this node itself.
   */
  readonly hasEcho?: boolean;
  /**
   * Sends one batch, channels in order (see {@link PublishQueue}). Resolves when the
   * service accepted every item, or with one outcome per item (`undefined`: accepted,
   * else that item's catalogue error) when the service answers each on its own; rejects
   * with a catalogue error only, whose `cause` says whether nothing was sent
   * ({@link isUnsentError}: the batch waits and goes again).
   */
  send(batch: readonly T[]): Promise<readonly (SwitchyardError | undefined)[] | undefined>;
  /**
   * A received message as a Socket.IO event; `data` as the link received it, already
   * bounded in depth.
   *
   * @throws Error for a message that cannot be decoded (it is dropped, counted).
   */
  decode(name: string, data: unknown): DecodedMessage;
}

/** What a {@link ManagedBackend} is made of. */
export interface ManagedBackendOptions<T extends QueuedPublication> {
  /** The backend's name: the `backend` label of its metrics. */
  readonly name: string;
  /** The service's name in logs and health reasons, e.g. "pusher". */
  readonly service: string;
  /** The service's word for one of its messages, in logs: "event" on Pusher. Default "message". */
  readonly messageNoun?: string;
  readonly settings: ManagedSettings;
  readonly deps: BackendDeps;
  /** The kind's set, e.g. `metrics.pusher`. */
  readonly metrics: ManagedMetrics;
  readonly errors: ManagedErrors;
  readonly wire: ManagedWire<T>;
  /** Called each time the connection is up, before its channels are requested on it. */
  connectionUp?(isReconnect: boolean): void;
}

/**
 * What every managed backend kind shares (docs/backends/managed.md): a kind's backend
 * composes one and gives it its wire ({@link ManagedWire}). Every failure is logged
 * with its reason and counted in the kind's {@link ManagedMetrics}.
 *
 * - Connection: one {@link ConnectionSupervisor} drives the link; readiness from it.
 *   A refusal for good fails every waiting publication, and every later one.
 * - Channels: one {@link ChannelSubscriptions} holds them (confirm, retry with
 *   back-off, again after a reconnect). A name the service does not accept is
 *   refused before anything is sent.
 * - Publish: through one {@link PublishQueue} gated by the connection. A publication
 *   is refused at once, in this order, when the backend is closed, the connection was
 *   refused, the channel's name is invalid, the kind refuses it (`encode`), `maxQueued`
 *   publications wait already, or its socket (`Publication.origin`) has
 *   `maxPublishesPerSocket` unsettled (SWY_PUBLISH_BUSY). Otherwise it settles within
 *   `publishTimeout`. Once the service accepted it, it is delivered to this node's
 *   sink exactly once, if the channel is still wanted: by the backend, or, for a wire
 *   with an echo, as the service sends it back.
 * - Receive: a message on a wanted channel is bounded in depth (`maxDepth` plus the
 *   envelope's levels) before it is decoded, its arguments again after; one too deep
 *   or malformed is dropped. A sink that throws loses only that delivery.
 */
export class ManagedBackend<T extends QueuedPublication> {
  /** Where the link reports its connection's outcomes, and the publisher its calls'. */
  readonly connection: ConnectionSupervisor;
  /** Where the link reports what became of its channel requests. */
  readonly subscriptions: ChannelSubscriptions;
  readonly #options: ManagedBackendOptions<T>;
  readonly #log: Logger;
  readonly #limits: BackendLimits;
  readonly #labels: { readonly backend: string };
  readonly #queue: PublishQueue<T>;
  #sink: DeliverySink | undefined;
  #isStarted = false;
  /** Whether `start` has stopped waiting for the first connection, up or not. */
  #hasWaited = false;
  #isClosed = false;

  constructor(options: ManagedBackendOptions<T>) {
    this.#options = options;
    const { service, settings, wire, metrics: counted } = options;
    const log = options.deps.log;
    this.#log = log;
    this.#limits = options.deps.limits ?? DEFAULT_BACKEND_LIMITS;
    const labels = { backend: options.name };
    this.#labels = labels;
    this.connection = new ConnectionSupervisor({
      service,
      driver: {
        connect: () => wire.link.connect(),
        disconnect: () => wire.link.disconnect(),
        probe: () => wire.probe(),
      },
      log,
      events: {
        up: (isReconnect) => {
          counted.connected.set(labels, 1);
          options.connectionUp?.(isReconnect);
          this.subscriptions.connectionUp();
        },
        down: () => {
          counted.connected.set(labels, 0);
          this.subscriptions.connectionDown();
        },
        attemptFailed: () => {
          counted.connectionErrors.inc({ ...labels, reason: "attempt_failed" });
        },
        refused: (reason) => {
          counted.connected.set(labels, 0);
          counted.connectionErrors.inc({ ...labels, reason: "refused" });
          this.subscriptions.connectionDown();
          const refusal = this.#refusedError(reason);
          const waiting = this.#queue.waiting;
          if (waiting > 0) this.#countFailure("unavailable", refusal, waiting);
          this.#queue.failWaiting(refusal);
        },
      },
    });
    this.subscriptions = new ChannelSubscriptions({
      service,
      driver: wire.link,
      confirmTimeout: settings.subscribeTimeout,
      retry: {
        initialDelay: settings.subscribeRetryDelay,
        maxDelay: settings.subscribeRetryMaxDelay,
      },
      failure: (channel, detail) =>
        new SwitchyardError(options.errors.subscribeFailed, [channel, detail]),
      log,
      events: {
        failed: (_channel, reason) => counted.subscribeFailures.inc({ ...labels, reason }),
        counts: (confirmed, pending) => {
          counted.subscriptions.set({ ...labels, state: "confirmed" }, confirmed);
          counted.subscriptions.set({ ...labels, state: "pending" }, pending);
        },
      },
    });
    this.#queue = new PublishQueue<T>({
      batchSize: settings.batchSize,
      maxInflight: settings.maxInflight,
      timeout: settings.publishTimeout,
      gate: this.connection,
      isUnsent: (error) => error instanceof SwitchyardError && isUnsentError(error.cause),
      expired: (item, stage) => this.#expired(item, stage),
      send: (batch) => this.#send(batch),
      sizeChanged: (size) => {
        if (!this.#isClosed) counted.publishQueue.set(labels, size);
      },
    });
  }

  /** Whether `close()` was called: the backend takes no more work and delivers nothing. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /**
   * Makes the first connection attempt and resolves once the connection is up, or after
   * `connectTimeout` with the backend not ready (it keeps trying).
   *
   * @throws the kind's `connectRefused` error when the service refused it for good.
   */
  async start(sink: DeliverySink): Promise<void> {
    if (this.#isStarted) throw new Error("already started");
    this.#isStarted = true;
    this.#sink = sink;
    const { metrics: counted, settings, service } = this.#options;
    counted.connected.set(this.#labels, 0);
    counted.subscriptions.set({ ...this.#labels, state: "confirmed" }, 0);
    counted.subscriptions.set({ ...this.#labels, state: "pending" }, 0);
    this.connection.start();
    const state = await this.connection.whenSettled(settings.connectTimeout);
    this.#hasWaited = true;
    if (state === "refused") {
      throw this.#options.errors.connectRefused(this.connection.reason ?? "refused");
    }
    // Closed while it waited (a shutdown during start): nothing to warn about.
    if (state === "up" || state === "closed") return;
    // Some SDKs never say why (pusher-js): the operator needs the address and the errno.
    await this.connection.explain();
    if (!this.connection.isUp) {
      const reason = this.connection.reason ?? "no answer yet";
      this.#log.warn(
        { state: this.#options.wire.link.state, timeout: settings.connectTimeout, reason },
        `${service} connection not up within ${settings.connectTimeout} ms (${reason}); the backend reports not ready and keeps trying`,
      );
    }
  }

  /**
   * Wants `channel` (idempotent). Resolves once the service confirmed it, or once the
   * channel is unsubscribed before that.
   *
   * @throws SwitchyardError the kind's `subscribeFailed` when the first request fails or
   *   goes unanswered within `subscribeTimeout` (the retries go on while the channel is
   *   wanted); its `channelInvalid` for a name the service does not accept; `closed`;
   *   its `unavailable` at once when the connection was refused, or has not been up
   *   since `start` stopped waiting for it (the channel stays wanted all the same).
   */
  subscribe(channel: string): Promise<void> {
    const { errors, wire, service } = this.#options;
    if (this.#isClosed) return Promise.reject(new SwitchyardError(errors.closed));
    if (!this.subscriptions.has(channel)) {
      const problem = wire.channelProblem(channel);
      if (problem !== undefined) {
        this.#options.metrics.subscribeFailures.inc({ ...this.#labels, reason: "invalid_channel" });
        this.#log.warn(
          { channel, reason: problem },
          `${service} subscription refused: invalid channel`,
        );
        return Promise.reject(new SwitchyardError(errors.channelInvalid, [channel, problem]));
      }
    }
    const subscribed = this.subscriptions.add(channel);
    const away = this.#awayError();
    if (away === undefined) return subscribed;
    // A join should not wait `joinTimeout` for a service that has not answered since
    // start: it learns now, and the channel is requested once the connection is up.
    subscribed.catch(() => {});
    return Promise.reject(away);
  }

  /** The kind's `unavailable` while the connection is refused, or never up since start. */
  #awayError(): SwitchyardError | undefined {
    const { state, reason } = this.connection;
    if (state === "refused") return this.#refusedError(reason ?? "refused");
    if (state !== "connecting" || !this.#hasWaited) return undefined;
    return new SwitchyardError(this.#options.errors.unavailable, [
      "it has not connected since the backend started",
    ]);
  }

  /** Gives `channel` up (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    this.subscriptions.remove(channel);
    return Promise.resolve();
  }

  /**
   * Queues a publication, or refuses it at once (see the class comment); settles within
   * `publishTimeout`.
   *
   * @throws SwitchyardError the kind's `closed`, `unavailable` (refused connection, or
   *   the service away or silent until `publishTimeout`: after no answer it may still
   *   have accepted it), `channelInvalid`, `queueFull`, its `encode` refusals and `send`
   *   errors; SWY_PUBLISH_BUSY.
   */
  publish(publication: Publication): Promise<void> {
    const { errors, wire, settings } = this.#options;
    const { channel, origin } = publication;
    if (this.#isClosed) {
      return this.#refuse("closed", new SwitchyardError(errors.closed), publication);
    }
    if (this.connection.state === "refused") {
      const refusal = this.#refusedError(this.connection.reason ?? "refused");
      return this.#refuse("unavailable", refusal, publication);
    }
    const problem = wire.channelProblem(channel);
    if (problem !== undefined) {
      const invalid = new SwitchyardError(errors.channelInvalid, [channel, problem]);
      return this.#refuse("invalid_channel", invalid, publication);
    }
    const item = wire.encode(publication);
    if (item instanceof PublishRefusal) return this.#refuse(item.reason, item.error, publication);
    const waiting = this.#queue.waiting;
    if (waiting >= settings.maxQueued) {
      const full = new SwitchyardError(errors.queueFull, [waiting]);
      return this.#refuse("queue_full", full, publication);
    }
    const share = this.#limits.maxPublishesPerSocket;
    if (origin !== undefined && this.#queue.countOf(origin) >= share) {
      metrics.limitRefusals.inc({ limit: "maxPublishesPerSocket" });
      const busy = new SwitchyardError("SWY_PUBLISH_BUSY", [share]);
      return this.#refuse("sender_busy", busy, publication);
    }
    return this.#queue.push(item);
  }

  health(): BackendHealth {
    if (this.#isClosed) return { isReady: false, reason: "closed" };
    return this.connection.health();
  }

  /**
   * Closes the link; publications not yet sent and subscriptions still waiting fail
   * with the kind's `closed`. Nothing is delivered afterwards.
   */
  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    const closed = new SwitchyardError(this.#options.errors.closed);
    this.connection.close();
    this.#queue.failWaiting(closed);
    this.subscriptions.close(closed);
    this.#options.wire.link.close();
    this.#sink = undefined;
    const counted = this.#options.metrics;
    for (const gauge of [counted.connected, counted.publishQueue]) gauge.remove(this.#labels);
    counted.subscriptions.remove({ ...this.#labels, state: "confirmed" });
    counted.subscriptions.remove({ ...this.#labels, state: "pending" });
    return Promise.resolve();
  }

  /**
   * A message the link received on `channel`: delivered to this node's sink under its
   * decoded name if the channel is wanted and the message fits the depth limits;
   * otherwise dropped, counted and logged. `extra` passes to the delivery.
   */
  receive(channel: string, name: string, data: unknown, extra: ReceivedExtra = {}): void {
    const sink = this.#sink;
    if (sink === undefined || !this.subscriptions.has(channel)) return;
    const delivery = this.decode(channel, name, data, extra);
    if (delivery !== undefined) this.#deliver(sink, delivery);
  }

  /**
   * A message of `channel` as a delivery (from the link, or read back from the
   * channel's history), or undefined when it does not fit the depth limits or does not
   * decode: then it is counted and logged as dropped.
   */
  decode(
    channel: string,
    name: string,
    data: unknown,
    extra: ReceivedExtra = {},
  ): Delivery | undefined {
    // Anyone who may publish on the channel wrote this: bounded before it is walked.
    if (exceedsDepth(data, this.#limits.maxDepth + ENVELOPE_DEPTH)) {
      this.#dropReceived("too_deep", channel, name);
      return undefined;
    }
    let decoded: DecodedMessage;
    try {
      decoded = this.#options.wire.decode(name, data);
    } catch (error) {
      this.#dropReceived("malformed", channel, name, error);
      return undefined;
    }
    if (anyExceedsDepth(decoded.args, this.#limits.maxDepth)) {
      this.#dropReceived("too_deep", channel, name);
      return undefined;
    }
    const { except, stamp, position } = extra;
    return {
      channel,
      event: decoded.event,
      args: decoded.args,
      ...(except !== undefined && { except }),
      ...(stamp !== undefined && { stamp }),
      ...(position !== undefined && { position }),
    };
  }

  // --- Receiving -------------------------------------------------------------------

  /** Counts and logs a message received on a channel that members will not get. */
  #dropReceived(reason: string, channel: string, event: string, error?: unknown): void {
    const { metrics: counted, service, messageNoun = "message" } = this.#options;
    counted.receiveErrors.inc({ ...this.#labels, reason });
    this.#log.warn({ err: error, channel, event, reason }, `${service} ${messageNoun} dropped`);
  }

  /** Hands a delivery to the sink; a sink that throws loses only that delivery, counted. */
  #deliver(sink: DeliverySink, delivery: Delivery): void {
    try {
      sink.deliver(delivery);
    } catch (error) {
      this.#options.metrics.receiveErrors.inc({ ...this.#labels, reason: "deliver" });
      this.#log.error(
        { err: error, channel: delivery.channel, event: delivery.event },
        `${this.#options.service} delivery failed`,
      );
    }
  }

  // --- Publishing ------------------------------------------------------------------

  #refuse(reason: string, error: SwitchyardError, publication: Publication): Promise<never> {
    this.#countFailure(reason, error, 1, [publication.channel]);
    return Promise.reject(error);
  }

  #countFailure(
    reason: string,
    error: SwitchyardError,
    events: number,
    channels: readonly string[] = [],
  ): void {
    this.#options.metrics.publishFailures.inc({ ...this.#labels, reason }, events);
    this.#log.warn(
      { code: error.code, reason, err: error.cause, channels: [...new Set(channels)], events },
      error.message,
    );
  }

  #refusedError(reason: string): SwitchyardError {
    return new SwitchyardError(this.#options.errors.unavailable, [
      `its connection was refused (${reason})`,
    ]);
  }

  /** The error of a publication whose `publishTimeout` passed at `stage`. */
  #expired(item: T, stage: ExpiryStage): SwitchyardError {
    const { publishTimeout } = this.#options.settings;
    let why: string;
    if (stage === "sending") why = "no answer in time";
    else if (stage === "queued")
      why = `earlier publications of the channel were still on their way after ${publishTimeout} ms`;
    else if (!this.connection.isUp) why = `its connection stayed down for ${publishTimeout} ms`;
    else why = `its calls kept failing for ${publishTimeout} ms`;
    const error = new SwitchyardError(this.#options.errors.unavailable, [why]);
    this.#countFailure("unavailable", error, 1, [item.channel]);
    return error;
  }

  /** One call of the wire's `send`, then the local deliveries in order (without an echo). */
  async #send(batch: readonly T[]): Promise<readonly (SwitchyardError | undefined)[] | undefined> {
    const { wire, service } = this.#options;
    let outcomes: readonly (SwitchyardError | undefined)[] | undefined;
    try {
      outcomes = (await wire.send(batch)) ?? undefined;
    } catch (error) {
      // send() rejects with catalogue errors only.
      const failure = error as SwitchyardError;
      if (isUnsentError(failure.cause)) {
        // Not a failure yet: the queue holds the batch until the service is back or time is up.
        this.#log.debug(
          { err: failure.cause, events: batch.length },
          `${service} could not be reached; publications wait for it`,
        );
      } else {
        this.#countFailure(
          this.#failureOf(failure.code),
          failure,
          batch.length,
          batch.map((item) => item.channel),
        );
      }
      throw failure;
    }
    outcomes?.forEach((failure, i) => {
      if (failure === undefined) return;
      const { channel } = batch[i]!;
      this.#countFailure(this.#failureOf(failure.code), failure, 1, [channel]);
    });
    const sink = this.#sink;
    if (sink === undefined || wire.hasEcho === true) return outcomes;
    batch.forEach(({ channel, publication, position }, i) => {
      // The service left this node's link out (ManagedWire.hasEcho): this is its only copy.
      // A read-back publication reaches this node only as the service sends it back.
      if (
        outcomes?.[i] === undefined &&
        publication.readBack !== true &&
        this.subscriptions.has(channel)
      ) {
        this.#deliver(sink, position === undefined ? publication : { ...publication, position });
      }
    });
    return outcomes;
  }

  #failureOf(code: ErrorCode): string {
    const { errors } = this.#options;
    if (code === errors.closed) return "closed";
    return errors.sendFailures?.[code] ?? "unavailable";
  }
}

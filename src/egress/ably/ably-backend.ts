import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
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
import { ENVELOPE_DEPTH } from "../envelope.js";
import { ChannelSubscriptions } from "../managed/channel-subscriptions.js";
import { ConnectionSupervisor } from "../managed/connection-supervisor.js";
import { isUnsentError } from "../managed/is-unsent-error.js";
import { type ExpiryStage, PublishQueue } from "../publish-queue.js";
import { type BackendDeps, type BackendLimits, DEFAULT_BACKEND_LIMITS } from "../registry.js";
import { ablyChannelProblem } from "./ably-channel-naming.js";
import { type AblyInbound, AblyRealtimeLink } from "./ably-realtime-link.js";
import { AblyRestPublisher } from "./ably-rest-publisher.js";
import type { AblySettings } from "./ably-settings.js";
import {
  type AblyIncoming,
  type AblyOutgoing,
  ablyMessageSize,
  decodeAblyMessage,
  encodeAblyEvent,
} from "./payload.js";

/** One publication on its way, encoded once. */
interface Outgoing {
  readonly channel: string;
  readonly origin: string | undefined;
  readonly publication: Publication;
  readonly message: AblyOutgoing;
  readonly size: number;
}

type PublishFailure =
  | "too_large"
  | "invalid_channel"
  | "rejected"
  | "throttled"
  | "unavailable"
  | "queue_full"
  | "sender_busy"
  | "closed";

/** The header of `extras.headers` that names the Switchyard backend a message came from. */
export const ORIGIN_HEADER = "switchyard-node";

/**
 * A backend on Ably (or an Ably-compatible server): the Ably wire on top of the shared
 * managed-backend parts (src/egress/managed/, docs/backends/managed.md).
 *
 * - Publish: Ably's REST API through a {@link PublishQueue}: up to `batchSize`
 *   publications per round, one request per channel with its messages in order (split
 *   so that no request passes `maxMessageSize`), at most `maxInflight` rounds at once,
 *   never two for one channel, every publication settled within `publishTimeout` of its
 *   arrival. Every message carries `extras.headers["switchyard-node"]`, this backend's
 *   random id: its own realtime connection drops what carries it, and once Ably
 *   accepted a publication it is delivered to this node's sink here instead, exactly
 *   once, if the channel is attached. Other nodes and native Ably clients receive it
 *   from Ably.
 * - Receive: one Realtime connection ({@link AblyRealtimeLink}, `echoMessages: false`),
 *   reconnected by a {@link ConnectionSupervisor} (the SDK resumes the connection when
 *   Ably still has it, and re-attaches every channel from its serial, so nothing of the
 *   gap is lost; a channel re-attached without resuming is counted as a possible gap);
 *   channels held by {@link ChannelSubscriptions} (attach, retry with back-off, again
 *   after a reconnect). Native Ably clients' messages are delivered under their name.
 * - Every failure is logged with its reason and counted in `/metrics`
 *   (`switchyard_ably_*{backend}`); Ably's own error codes travel in the messages.
 */
export class AblyBackend implements Backend {
  readonly name: string;
  readonly kind = "ably";
  readonly capabilities: BackendCapabilities = {
    presence: true,
    history: false,
    clientEvents: true,
  };
  readonly #settings: AblySettings;
  readonly #log: Logger;
  readonly #limits: BackendLimits;
  /** This backend's id in `extras.headers`: its own publications come back with it. */
  readonly #uid = randomBytes(9).toString("base64url");
  /** The `extras` every message carries, and the bytes Ably counts for them per message. */
  readonly #extras: Readonly<Record<string, unknown>>;
  readonly #extrasBytes: number;
  readonly #link: AblyRealtimeLink;
  readonly #publisher: AblyRestPublisher;
  readonly #supervisor: ConnectionSupervisor;
  readonly #subscriptions: ChannelSubscriptions;
  readonly #queue: PublishQueue<Outgoing>;
  #sink: DeliverySink | undefined;
  #isStarted = false;
  #isClosed = false;

  constructor(name: string, settings: AblySettings, deps: BackendDeps) {
    this.name = name;
    this.#settings = settings;
    this.#log = deps.log;
    this.#limits = deps.limits ?? DEFAULT_BACKEND_LIMITS;
    const labels = { backend: name };
    this.#extras = { headers: { [ORIGIN_HEADER]: this.#uid } };
    this.#extrasBytes = Buffer.byteLength(JSON.stringify(this.#extras), "utf8");
    this.#link = new AblyRealtimeLink(settings, {
      connected: (isResumed) => {
        if (this.#supervisor.state === "down") {
          metrics.ablyReconnects.inc({ ...labels, outcome: isResumed ? "resumed" : "new" });
        }
        this.#supervisor.connected();
      },
      lost: (reason) => this.#supervisor.lost(reason),
      attemptFailed: (reason) => this.#supervisor.attemptFailed(reason),
      refused: (reason) => this.#supervisor.refused(reason),
      attached: (channel) => this.#subscriptions.confirmed(channel),
      attachFailed: (channel, reason, detail) =>
        this.#subscriptions.failed(
          channel,
          reason,
          detail,
          new SwitchyardError("SWY_ABLY_SUBSCRIBE_FAILED", [channel, detail]),
        ),
      continuityLost: (channel) => {
        metrics.ablyContinuityLosses.inc(labels);
        this.#log.warn(
          { channel },
          "ably re-attached a channel without resuming it: messages of the gap may be missing",
        );
      },
      message: (channel, message) => this.#onMessage(channel, message),
      isWanted: (channel) => this.#subscriptions.has(channel),
    });
    this.#publisher = new AblyRestPublisher(name, settings, this.#extras, {
      callFailed: (reason) => this.#supervisor.callFailed(reason),
      callSucceeded: () => this.#supervisor.callSucceeded(),
    });
    this.#supervisor = new ConnectionSupervisor({
      service: "ably",
      driver: {
        connect: () => this.#link.connect(),
        disconnect: () => this.#link.disconnect(),
        probe: () => this.#publisher.probe(),
      },
      log: this.#log,
      events: {
        up: () => {
          metrics.ablyConnected.set(labels, 1);
          this.#subscriptions.connectionUp();
        },
        down: () => {
          metrics.ablyConnected.set(labels, 0);
          this.#subscriptions.connectionDown();
        },
        attemptFailed: () => {
          metrics.ablyConnectionErrors.inc({ ...labels, reason: "attempt_failed" });
        },
        refused: (reason) => {
          metrics.ablyConnected.set(labels, 0);
          metrics.ablyConnectionErrors.inc({ ...labels, reason: "refused" });
          this.#subscriptions.connectionDown();
          const refusal = this.#refusedError(reason);
          const waiting = this.#queue.waiting;
          if (waiting > 0) this.#countFailure("unavailable", refusal, waiting);
          this.#queue.failWaiting(refusal);
        },
      },
    });
    this.#subscriptions = new ChannelSubscriptions({
      service: "ably",
      driver: this.#link,
      confirmTimeout: settings.subscribeTimeout,
      retry: {
        initialDelay: settings.subscribeRetryDelay,
        maxDelay: settings.subscribeRetryMaxDelay,
      },
      failure: (channel, detail) =>
        new SwitchyardError("SWY_ABLY_SUBSCRIBE_FAILED", [channel, detail]),
      log: this.#log,
      events: {
        failed: (_channel, reason) => metrics.ablySubscribeFailures.inc({ ...labels, reason }),
        counts: (confirmed, pending) => {
          metrics.ablySubscriptions.set({ ...labels, state: "confirmed" }, confirmed);
          metrics.ablySubscriptions.set({ ...labels, state: "pending" }, pending);
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
        if (!this.#isClosed) metrics.ablyPublishQueue.set(labels, size);
      },
    });
  }

  /**
   * Opens the Realtime connection and resolves once it is connected, or after
   * `connectTimeout` with the backend not ready (it keeps trying).
   *
   * @throws SwitchyardError SWY_ABLY_CONNECT_REFUSED when Ably refuses the connection
   *   for good (bad key, app or account disabled).
   */
  async start(sink: DeliverySink): Promise<void> {
    if (this.#isStarted) throw new Error("already started");
    this.#isStarted = true;
    this.#sink = sink;
    metrics.ablyConnected.set({ backend: this.name }, 0);
    metrics.ablySubscriptions.set({ backend: this.name, state: "confirmed" }, 0);
    metrics.ablySubscriptions.set({ backend: this.name, state: "pending" }, 0);
    this.#supervisor.start();
    const state = await this.#supervisor.whenSettled(this.#settings.connectTimeout);
    if (state === "refused") {
      throw new SwitchyardError("SWY_ABLY_CONNECT_REFUSED", [this.#supervisor.reason ?? "refused"]);
    }
    if (state !== "up") {
      this.#log.warn(
        { state: this.#link.state, timeout: this.#settings.connectTimeout },
        "ably connection not up yet; the backend reports not ready and keeps trying",
      );
    }
  }

  /**
   * Attaches `channel` (idempotent). Resolves once Ably attached it, or once the
   * channel is unsubscribed before that.
   *
   * @throws SwitchyardError SWY_ABLY_SUBSCRIBE_FAILED (with Ably's code: 40160 for a
   *   channel the key may not use, 40010 for a name Ably refuses) when the first attach
   *   fails or goes unanswered within `subscribeTimeout`; the backend keeps retrying
   *   while the channel is wanted. SWY_ABLY_CHANNEL_INVALID for a name checked here.
   */
  subscribe(channel: string): Promise<void> {
    if (this.#isClosed) return Promise.reject(new SwitchyardError("SWY_ABLY_CLOSED"));
    if (!this.#subscriptions.has(channel)) {
      const problem = ablyChannelProblem(channel);
      if (problem !== undefined) {
        metrics.ablySubscribeFailures.inc({ backend: this.name, reason: "invalid_channel" });
        return Promise.reject(new SwitchyardError("SWY_ABLY_CHANNEL_INVALID", [channel, problem]));
      }
    }
    return this.#subscriptions.add(channel);
  }

  /** Detaches `channel` (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    this.#subscriptions.remove(channel);
    return Promise.resolve();
  }

  /**
   * Publishes through the REST API and delivers to this node's sink once Ably accepted
   * it (see the class comment). Settles within `publishTimeout`.
   *
   * @throws SwitchyardError SWY_ABLY_PAYLOAD_TOO_LARGE, SWY_ABLY_CHANNEL_INVALID
   *   (nothing sent), SWY_ABLY_QUEUE_FULL, SWY_PUBLISH_BUSY, SWY_ABLY_REJECTED and
   *   SWY_ABLY_THROTTLED (Ably's answer, its code in the message), SWY_ABLY_UNAVAILABLE
   *   (Ably stayed away, or no answer, within `publishTimeout`; after no answer Ably may
   *   still have accepted it), SWY_ABLY_CLOSED.
   */
  publish(publication: Publication): Promise<void> {
    const { channel } = publication;
    if (this.#isClosed) {
      return this.#refuse("closed", new SwitchyardError("SWY_ABLY_CLOSED"), publication);
    }
    if (this.#supervisor.state === "refused") {
      return this.#refuse(
        "unavailable",
        this.#refusedError(this.#supervisor.reason ?? "refused"),
        publication,
      );
    }
    const problem = ablyChannelProblem(channel);
    if (problem !== undefined) {
      return this.#refuse(
        "invalid_channel",
        new SwitchyardError("SWY_ABLY_CHANNEL_INVALID", [channel, problem]),
        publication,
      );
    }
    const message = encodeAblyEvent(publication.event, publication.args);
    const size = ablyMessageSize(message) + this.#extrasBytes;
    if (size > this.#settings.maxMessageSize) {
      return this.#refuse(
        "too_large",
        new SwitchyardError("SWY_ABLY_PAYLOAD_TOO_LARGE", [size, this.#settings.maxMessageSize]),
        publication,
      );
    }
    if (this.#queue.waiting >= this.#settings.maxQueued) {
      return this.#refuse(
        "queue_full",
        new SwitchyardError("SWY_ABLY_QUEUE_FULL", [this.#queue.waiting]),
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
    return this.#queue.push({ channel, origin, publication, message, size });
  }

  health(): BackendHealth {
    if (this.#isClosed) return { isReady: false, reason: "closed" };
    return this.#supervisor.health();
  }

  /**
   * `clientId` enters `channel`'s presence on the backend's connection (`enterClient`):
   * native clients' `presence.get()` lists it. The SDK enters it again after a
   * reconnection Ably did not resume.
   */
  enterPresence(channel: string, clientId: string): Promise<void> {
    if (this.#isClosed) return Promise.reject(new SwitchyardError("SWY_ABLY_CLOSED"));
    return this.#link.enterPresence(channel, clientId);
  }

  leavePresence(channel: string, clientId: string): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    return this.#link.leavePresence(channel, clientId);
  }

  /** Closes the connection; publications not yet sent fail with SWY_ABLY_CLOSED. */
  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    const closed = new SwitchyardError("SWY_ABLY_CLOSED");
    this.#supervisor.close();
    this.#queue.failWaiting(closed);
    this.#subscriptions.close(closed);
    this.#link.close();
    this.#sink = undefined;
    for (const gauge of [metrics.ablyConnected, metrics.ablyPublishQueue]) {
      gauge.remove({ backend: this.name });
    }
    metrics.ablySubscriptions.remove({ backend: this.name, state: "confirmed" });
    metrics.ablySubscriptions.remove({ backend: this.name, state: "pending" });
    return Promise.resolve();
  }

  // --- Receiving -------------------------------------------------------------------

  #onMessage(channel: string, message: AblyInbound): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    // This node's own publication, delivered here when Ably accepted it.
    if (originOf(message.extras) === this.#uid) return;
    // Anyone who may publish on the channel wrote this: bounded before it is walked.
    if (exceedsDepth(message.data, this.#limits.maxDepth + ENVELOPE_DEPTH)) {
      this.#dropReceived("too_deep", channel, message.name);
      return;
    }
    let decoded: AblyIncoming;
    try {
      decoded = decodeAblyMessage(message.name, message.data);
    } catch (error) {
      this.#dropReceived("malformed", channel, message.name, error);
      return;
    }
    if (anyExceedsDepth(decoded.args, this.#limits.maxDepth)) {
      this.#dropReceived("too_deep", channel, message.name);
      return;
    }
    this.#deliver(sink, { channel, event: decoded.event, args: decoded.args });
  }

  /** Counts and logs a message received on a channel that members will not get. */
  #dropReceived(reason: string, channel: string, event: string, error?: unknown): void {
    metrics.ablyReceiveErrors.inc({ backend: this.name, reason });
    this.#log.warn({ err: error, channel, event, reason }, "ably message dropped");
  }

  /** Hands a delivery to the sink; a sink that throws loses only that delivery, counted. */
  #deliver(sink: DeliverySink, delivery: Delivery): void {
    try {
      sink.deliver(delivery);
    } catch (error) {
      metrics.ablyReceiveErrors.inc({ backend: this.name, reason: "deliver" });
      this.#log.error(
        { err: error, channel: delivery.channel, event: delivery.event },
        "ably delivery failed",
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
    metrics.ablyPublishFailures.inc({ backend: this.name, reason }, events);
    this.#log.warn(
      { code: error.code, reason, err: error.cause, channels: [...new Set(channels)], events },
      error.message,
    );
  }

  #refusedError(reason: string): SwitchyardError {
    return new SwitchyardError("SWY_ABLY_UNAVAILABLE", [`its connection was refused (${reason})`]);
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
    const error = new SwitchyardError("SWY_ABLY_UNAVAILABLE", [why]);
    this.#countFailure("unavailable", error, 1, [item.channel]);
    return error;
  }

  /**
   * One round: a request per channel (its messages in order, split at
   * `maxMessageSize`), side by side; then the local deliveries in order. A channel's
   * requests go one after another, so its order holds even when it is split.
   */
  async #send(batch: readonly Outgoing[]): Promise<void> {
    const byChannel = new Map<string, Outgoing[]>();
    for (const item of batch) {
      const list = byChannel.get(item.channel);
      if (list === undefined) byChannel.set(item.channel, [item]);
      else list.push(item);
    }
    try {
      await Promise.all(
        [...byChannel].map(async ([channel, items]) => {
          for (const chunk of chunks(items, this.#settings.maxMessageSize)) {
            await this.#publisher.publish(channel, chunk);
          }
        }),
      );
    } catch (error) {
      // publish() rejects with catalogue errors only.
      const failure = error as SwitchyardError;
      if (isUnsentError(failure.cause)) {
        this.#log.debug(
          { err: failure.cause, events: batch.length },
          "ably could not be reached; publications wait for it",
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
      // Ably's copy comes back marked as this node's and is dropped: this is the node's only one.
      if (this.#subscriptions.has(channel)) this.#deliver(sink, publication);
    }
  }
}

/** Splits a channel's items into requests of at most `maxBytes` each, in order. */
function chunks(items: readonly Outgoing[], maxBytes: number): Outgoing[][] {
  const out: Outgoing[][] = [];
  let current: Outgoing[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && bytes + item.size > maxBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function originOf(extras: unknown): unknown {
  if (typeof extras !== "object" || extras === null) return undefined;
  const headers = (extras as { headers?: unknown }).headers;
  if (typeof headers !== "object" || headers === null) return undefined;
  return (headers as Record<string, unknown>)[ORIGIN_HEADER];
}

function failureOf(code: ErrorCode): PublishFailure {
  switch (code) {
    case "SWY_ABLY_REJECTED":
      return "rejected";
    case "SWY_ABLY_THROTTLED":
      return "throttled";
    case "SWY_ABLY_CLOSED":
      return "closed";
    default:
      return "unavailable";
  }
}

import PusherRest from "pusher";
import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  DeliverySink,
  Publication,
} from "../backend.js";
import { ManagedBackend, PublishRefusal } from "../managed/managed-backend.js";
import type { BackendDeps } from "../registry.js";
import { decodeEvent, type EncodedEvent, encodeEvent, isProtocolEvent } from "./payload.js";
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

/**
 * A backend on Pusher Channels (or a Pusher-compatible server): the Pusher wire on top
 * of the shared managed-backend parts ({@link ManagedBackend}, docs/backends/managed.md).
 *
 * - Publish: the REST API (official `pusher` SDK): batches of up to `batchSize` events
 *   per `batch_events` call, at most `maxInflight` calls in flight, never two calls for
 *   one channel at once (a channel keeps its order), every publication settled within
 *   `publishTimeout` of its arrival. Every call carries the `socket_id` of this
 *   backend's own pusher-js connection, so Pusher does not echo the event back;
 *   instead, once Pusher accepted it, the publication is delivered to this node's sink
 *   here, exactly once, if the channel is subscribed. Publications wait in the queue
 *   while the connection is down (they need its socket id) or Pusher cannot be reached;
 *   a call refused before anything was sent puts its publications back. `data` limits
 *   and channel/event names are checked before anything is queued.
 * - Receive: one pusher-js connection ({@link PusherJsLink}), reconnected and its
 *   channels held (confirm, retry with back-off, resubscribe after a reconnect) by the
 *   shared parts. Private and presence channels are authorised by signing locally with
 *   the app secret. `pusher:*`/`pusher_internal:*` events are not delivered; client
 *   events (`client-*`) are, under their own name.
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
  readonly #link: PusherJsLink;
  readonly #publisher: PusherRestPublisher;
  readonly #managed: ManagedBackend<Outgoing>;

  constructor(name: string, settings: PusherSettings, deps: BackendDeps) {
    this.name = name;
    this.#settings = settings;
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
      connected: () => this.#managed.connection.connected(),
      lost: (reason) => this.#managed.connection.lost(reason),
      refused: (reason) => this.#managed.connection.refused(reason),
      error: (reason) => {
        metrics.pusher.connectionErrors.inc({ backend: name, reason: "error" });
        deps.log.warn({ reason }, "pusher connection error");
      },
      subscribed: (channel) => this.#managed.subscriptions.confirmed(channel),
      subscriptionFailed: (channel, reason, detail) =>
        this.#managed.subscriptions.failed(channel, reason, detail),
      event: (channel, event, data) => this.#managed.receive(channel, event, data),
      isWanted: (channel) => this.#managed.subscriptions.has(channel),
    });
    this.#managed = new ManagedBackend<Outgoing>({
      name,
      service: "pusher",
      messageNoun: "event",
      settings,
      deps,
      metrics: metrics.pusher,
      errors: {
        closed: "SWY_PUSHER_CLOSED",
        unavailable: "SWY_PUSHER_UNAVAILABLE",
        channelInvalid: "SWY_PUSHER_CHANNEL_INVALID",
        queueFull: "SWY_PUSHER_QUEUE_FULL",
        subscribeFailed: "SWY_PUSHER_SUBSCRIBE_FAILED",
        sendFailures: { SWY_PUSHER_REJECTED: "rejected" },
        connectRefused: (reason) =>
          new SwitchyardError("SWY_PUSHER_CONNECT_REFUSED", [this.#link.state, reason]),
      },
      wire: {
        link: this.#link,
        probe: () => this.#publisher.probe(),
        channelProblem: pusherChannelProblem,
        encode: (publication) => this.#encode(publication),
        send: (batch) => this.#send(batch),
        decode: decodeEvent,
      },
      connectionUp: (isReconnect) => {
        if (isReconnect) metrics.pusherReconnects.inc({ backend: name });
      },
    });
    this.#publisher = new PusherRestPublisher(name, rest, this.#managed.connection);
  }

  /**
   * Opens the pusher-js connection and resolves once it is connected, or after
   * `connectTimeout` with the backend not ready (it keeps trying).
   *
   * @throws SwitchyardError SWY_PUSHER_CONNECT_REFUSED when Pusher refuses the
   *   connection for good (unknown key, app disabled, over quota).
   */
  start(sink: DeliverySink): Promise<void> {
    return this.#managed.start(sink);
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
    return this.#managed.subscribe(channel);
  }

  /** Unsubscribes from `channel` (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    return this.#managed.unsubscribe(channel);
  }

  /**
   * Publishes through the REST API and delivers to this node's sink once Pusher
   * accepted it (see the class comment). Settles within `publishTimeout`.
   *
   * @throws SwitchyardError SWY_PUSHER_PAYLOAD_TOO_LARGE, SWY_PUSHER_CHANNEL_INVALID,
   *   SWY_PUSHER_EVENT_INVALID (nothing sent), SWY_PUSHER_QUEUE_FULL, SWY_PUBLISH_BUSY,
   *   SWY_PUSHER_REJECTED (HTTP error from Pusher), SWY_PUSHER_UNAVAILABLE (Pusher or
   *   the connection stayed away, or no answer, within `publishTimeout`; after no
   *   answer Pusher may still have accepted it), SWY_PUSHER_CLOSED.
   */
  publish(publication: Publication): Promise<void> {
    return this.#managed.publish(publication);
  }

  health(): BackendHealth {
    return this.#managed.health();
  }

  /** Disconnects; publications not yet sent fail with SWY_PUSHER_CLOSED. */
  close(): Promise<void> {
    return this.#managed.close();
  }

  /** The event as Pusher carries it, or why Pusher would not take it. */
  #encode(publication: Publication): Outgoing | PublishRefusal {
    const { channel, event, origin } = publication;
    const eventProblem = eventNameProblem(event);
    if (eventProblem !== undefined) {
      const invalid = new SwitchyardError("SWY_PUSHER_EVENT_INVALID", [event, eventProblem]);
      return new PublishRefusal("invalid_event", invalid);
    }
    const encoded = encodeEvent(event, publication.args);
    const bytes = Buffer.byteLength(encoded.data, "utf8");
    const { maxDataBytes } = this.#settings;
    if (bytes > maxDataBytes) {
      const tooLarge = new SwitchyardError("SWY_PUSHER_PAYLOAD_TOO_LARGE", [bytes, maxDataBytes]);
      return new PublishRefusal("too_large", tooLarge);
    }
    return { channel, origin, publication, encoded };
  }

  /** One REST call for a batch, leaving this backend's own connection out. */
  async #send(batch: readonly Outgoing[]): Promise<undefined> {
    // The gate opens only while the connection is up, so there is a socket id.
    const socketId = this.#link.socketId;
    if (socketId === undefined) {
      throw new SwitchyardError("SWY_PUSHER_UNAVAILABLE", ["its connection is down"]);
    }
    await this.#publisher.trigger(batch, socketId);
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

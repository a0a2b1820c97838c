import { randomBytes } from "node:crypto";
import type * as Ably from "ably";
import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  Delivery,
  DeliverySink,
  HistoryPoint,
  MissedFailure,
  Publication,
} from "../backend.js";
import { ManagedBackend, PublishRefusal } from "../managed/managed-backend.js";
import type { BackendDeps } from "../registry.js";
import { ablyChannelProblem } from "./ably-channel-naming.js";
import { type AblyInbound, AblyRealtimeLink } from "./ably-realtime-link.js";
import { type AblyExtras, AblyRestPublisher } from "./ably-rest-publisher.js";
import type { AblySettings } from "./ably-settings.js";
import {
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
  /** Its id: the local copy carries it as its position in the channel's history. */
  readonly position: string;
  readonly extras: AblyExtras | undefined;
  readonly size: number;
}

/** The header of `extras.headers` that names the Switchyard backend a message came from. */
export const ORIGIN_HEADER = "switchyard-node";

/** The header of `extras.headers` with a shadowed publication's stamp (docs/shadow.md). */
export const STAMP_HEADER = "switchyard-stamp";

/**
 * The header of `extras.headers` naming the socket an except-sender broadcast leaves
 * out: a node replaying the channel's history to that socket leaves it out too.
 */
export const EXCEPT_HEADER = "switchyard-except";

/** Messages one page of a history read asks for (Ably's default page). */
const HISTORY_PAGE = 100;

/**
 * A backend on Ably (or an Ably-compatible server): the Ably wire on top of the shared
 * managed-backend parts ({@link ManagedBackend}, docs/backends/managed.md).
 *
 * - Publish: Ably's REST API: up to `batchSize` publications per round, one request
 *   per channel with its messages in order (split so that no request passes
 *   `maxMessageSize`), at most `maxInflight` rounds at once, never two for one channel,
 *   every publication settled within `publishTimeout` of its arrival. Every message
 *   carries `extras.headers["switchyard-node"]`, this backend's random id: its own
 *   realtime connection drops what carries it, and once Ably accepted a publication it
 *   is delivered to this node's sink here instead, exactly once, if the channel is
 *   attached. Other nodes and native Ably clients receive it from Ably.
 * - Receive: one Realtime connection ({@link AblyRealtimeLink}, `echoMessages: false`),
 *   reconnected and its channels held (attach, retry with back-off, again after a
 *   reconnect) by the shared parts. The SDK resumes the connection when Ably still has
 *   it, and re-attaches every channel from its serial, so nothing of the gap is lost; a
 *   channel re-attached without resuming is counted as a possible gap. Native Ably
 *   clients' messages are delivered under their name.
 * - Every failure is logged with its reason and counted in `/metrics`
 *   (`switchyard_ably_*{backend}`); Ably's own error codes travel in the messages.
 */
export class AblyBackend implements Backend {
  readonly name: string;
  readonly kind = "ably";
  readonly capabilities: BackendCapabilities = {
    presence: true,
    history: true,
    clientEvents: true,
  };
  readonly #settings: AblySettings;
  /** This backend's id in `extras.headers`: its own publications come back with it. */
  readonly #uid = randomBytes(9).toString("base64url");
  /** Messages published: each gets the id `<uid>:<count>` (Ably's idempotent-id form). */
  #published = 0;
  readonly #link: AblyRealtimeLink;
  readonly #publisher: AblyRestPublisher;
  readonly #managed: ManagedBackend<Outgoing>;

  constructor(name: string, settings: AblySettings, deps: BackendDeps) {
    this.name = name;
    this.#settings = settings;
    this.#link = new AblyRealtimeLink(settings, {
      connected: (isResumed) => {
        const { connection } = this.#managed;
        if (connection.state === "down") {
          metrics.ablyReconnects.inc({ backend: name, outcome: isResumed ? "resumed" : "new" });
        }
        connection.connected();
      },
      lost: (reason) => this.#managed.connection.lost(reason),
      attemptFailed: (reason) => this.#managed.connection.attemptFailed(reason),
      refused: (reason) => this.#managed.connection.refused(reason),
      attached: (channel) => this.#managed.subscriptions.confirmed(channel),
      attachFailed: (channel, reason, detail) =>
        this.#managed.subscriptions.failed(channel, reason, detail),
      continuityLost: (channel) => {
        metrics.ablyContinuityLosses.inc({ backend: name });
        deps.log.warn(
          { channel },
          "ably re-attached a channel without resuming it: messages of the gap may be missing",
        );
      },
      message: (channel, message) => this.#onMessage(channel, message),
      isWanted: (channel) => this.#managed.subscriptions.has(channel),
    });
    this.#managed = new ManagedBackend<Outgoing>({
      name,
      service: "ably",
      settings,
      deps,
      metrics: metrics.ably,
      errors: {
        closed: "SWY_ABLY_CLOSED",
        unavailable: "SWY_ABLY_UNAVAILABLE",
        channelInvalid: "SWY_ABLY_CHANNEL_INVALID",
        queueFull: "SWY_ABLY_QUEUE_FULL",
        subscribeFailed: "SWY_ABLY_SUBSCRIBE_FAILED",
        sendFailures: { SWY_ABLY_REJECTED: "rejected", SWY_ABLY_THROTTLED: "throttled" },
        connectRefused: (reason) => new SwitchyardError("SWY_ABLY_CONNECT_REFUSED", [reason]),
      },
      wire: {
        link: this.#link,
        probe: () => this.#publisher.probe(),
        channelProblem: ablyChannelProblem,
        encode: (publication) => this.#encode(publication),
        send: (batch) => this.#send(batch),
        decode: decodeAblyMessage,
      },
    });
    this.#publisher = new AblyRestPublisher(name, settings, this.#managed.connection);
  }

  /**
   * Opens the Realtime connection and resolves once it is connected, or after
   * `connectTimeout` with the backend not ready (it keeps trying).
   *
   * @throws SwitchyardError SWY_ABLY_CONNECT_REFUSED when Ably refuses the connection
   *   for good (bad key, app or account disabled).
   */
  start(sink: DeliverySink): Promise<void> {
    return this.#managed.start(sink);
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
    return this.#managed.subscribe(channel);
  }

  /** Detaches `channel` (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    return this.#managed.unsubscribe(channel);
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
    return this.#managed.publish(publication);
  }

  health(): BackendHealth {
    return this.#managed.health();
  }

  /**
   * `clientId` enters `channel`'s presence on the backend's connection (`enterClient`):
   * native clients' `presence.get()` lists it. The SDK enters it again after a
   * reconnection Ably did not resume.
   */
  enterPresence(channel: string, clientId: string): Promise<void> {
    if (this.#managed.isClosed) return Promise.reject(new SwitchyardError("SWY_ABLY_CLOSED"));
    return this.#link.enterPresence(channel, clientId);
  }

  leavePresence(channel: string, clientId: string): Promise<void> {
    if (this.#managed.isClosed) return Promise.resolve();
    return this.#link.leavePresence(channel, clientId);
  }

  /**
   * The messages of `channel` after `from`, oldest first, read backwards from now in
   * pages of Ably's REST history until the point is found. A message that does not
   * decode or nests too deep is passed over (counted and logged, as when received).
   *
   * @throws SwitchyardError SWY_ABLY_REJECTED, SWY_ABLY_THROTTLED, SWY_ABLY_UNAVAILABLE.
   */
  async history(
    channel: string,
    from: HistoryPoint,
    limit: number,
  ): Promise<readonly Delivery[] | MissedFailure> {
    let until: string | undefined;
    if ("after" in from) until = from.after;
    else {
      // The last message published before that attachment: what follows it is wanted.
      const before = await this.#publisher.history(channel, {
        from_serial: from.attach,
        direction: "backwards",
        limit: 1,
      });
      until = before.items[0]?.id;
    }
    const newestFirst: Ably.InboundMessage[] = [];
    let page: Ably.PaginatedResult<Ably.InboundMessage> | undefined = await this.#publisher.history(
      channel,
      {
        direction: "backwards",
        limit: Math.min(HISTORY_PAGE, limit + 1),
      },
    );
    let isFound = false;
    while (page !== undefined && !isFound) {
      for (const message of page.items) {
        if (message.id === until) {
          isFound = true;
          break;
        }
        if (newestFirst.length >= limit) return "too_many_missed";
        newestFirst.push(message);
      }
      if (!isFound) page = page.hasNext() ? await this.#publisher.next(page) : undefined;
    }
    // Nothing before the attachment: all the channel holds came after it.
    if (!isFound && until !== undefined) return "offset_gone";
    const out: Delivery[] = [];
    for (let at = newestFirst.length - 1; at >= 0; at--) {
      const message = newestFirst[at]!;
      const except = headerOf(message.extras, EXCEPT_HEADER);
      const delivery = this.#managed.decode(channel, message.name ?? "", message.data, {
        except: typeof except === "string" ? except : undefined,
        position: message.id,
      });
      if (delivery !== undefined) out.push(delivery);
    }
    return out;
  }

  /** Where this node's attachment of `channel` began in its history (its attach serial). */
  attachPoint(channel: string): string | undefined {
    return this.#link.attachSerial(channel);
  }

  /** Closes the connection; publications not yet sent fail with SWY_ABLY_CLOSED. */
  close(): Promise<void> {
    return this.#managed.close();
  }

  #onMessage(channel: string, message: AblyInbound): void {
    // This node's own publication, delivered here when Ably accepted it.
    if (headerOf(message.extras, ORIGIN_HEADER) === this.#uid) return;
    const stamp = headerOf(message.extras, STAMP_HEADER);
    const except = headerOf(message.extras, EXCEPT_HEADER);
    this.#managed.receive(channel, message.name, message.data, {
      stamp: typeof stamp === "string" ? stamp : undefined,
      except: typeof except === "string" ? except : undefined,
      position: message.id,
    });
  }

  /** The message as Ably carries it, or why Ably would not take it. */
  #encode(publication: Publication): Outgoing | PublishRefusal {
    const { channel, origin } = publication;
    const message = encodeAblyEvent(publication.event, publication.args);
    const extras = this.#extrasOf(publication);
    const size =
      ablyMessageSize(message) +
      (extras === undefined ? 0 : Buffer.byteLength(JSON.stringify(extras), "utf8"));
    const { maxMessageSize } = this.#settings;
    if (size > maxMessageSize) {
      const tooLarge = new SwitchyardError("SWY_ABLY_PAYLOAD_TOO_LARGE", [size, maxMessageSize]);
      return new PublishRefusal("too_large", tooLarge);
    }
    const position = `${this.#uid}:${(this.#published++).toString(36)}`;
    return { channel, origin, publication, message, position, extras, size };
  }

  /**
   * A message's `extras.headers`: this backend's id, so its realtime link knows its own
   * (none for a read-back publication: it must come back), and a shadowed publication's
   * stamp. Native Ably clients see them beside the data, never in it.
   */
  #extrasOf(publication: Publication): AblyExtras | undefined {
    const headers: Record<string, string> = {};
    if (publication.readBack !== true) headers[ORIGIN_HEADER] = this.#uid;
    if (publication.stamp !== undefined) headers[STAMP_HEADER] = publication.stamp;
    if (publication.except !== undefined) headers[EXCEPT_HEADER] = publication.except;
    return Object.keys(headers).length === 0 ? undefined : { headers };
  }

  /**
   * One round: a request per channel (its messages in order, split at
   * `maxMessageSize`), side by side. A channel's requests go one after another, so its
   * order holds even when it is split.
   */
  async #send(batch: readonly Outgoing[]): Promise<undefined> {
    const byChannel = new Map<string, Outgoing[]>();
    for (const item of batch) {
      const list = byChannel.get(item.channel);
      if (list === undefined) byChannel.set(item.channel, [item]);
      else list.push(item);
    }
    await Promise.all(
      [...byChannel].map(async ([channel, items]) => {
        for (const chunk of chunks(items, this.#settings.maxMessageSize)) {
          await this.#publisher.publish(
            channel,
            chunk.map((item) => ({ ...item, id: item.position })),
          );
        }
      }),
    );
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

/** A header of a received message's `extras` (anyone's: any shape), own properties only. */
function headerOf(extras: unknown, name: string): unknown {
  if (typeof extras !== "object" || extras === null) return undefined;
  const headers = (extras as { headers?: unknown }).headers;
  if (typeof headers !== "object" || headers === null || !Object.hasOwn(headers, name)) {
    return undefined;
  }
  return (headers as Record<string, unknown>)[name];
}

import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type {
  Backend,
  BackendCapabilities,
  BackendHealth,
  DeliverySink,
  Publication,
} from "../backend.js";
import {
  ManagedBackend,
  PublishRefusal,
  type QueuedPublication,
} from "../managed/managed-backend.js";
import type { BackendDeps } from "../registry.js";
import { BusLink, type FrameOutcome } from "./bus-link.js";
import { decodeBusData, encodeBusData } from "./payload.js";
import { websocketChannelProblem } from "./websocket-channel-naming.js";
import type { WebsocketSettings } from "./websocket-settings.js";

/** One publication on its way, its data mapped once. */
interface Outgoing extends QueuedPublication {
  readonly channel: string;
  readonly origin: string | undefined;
  readonly publication: Publication;
  readonly data: unknown;
}

/** A publication of this node the bus will send back (`echo: bus`), with its exception. */
interface Echo {
  readonly key: string;
  readonly except: string;
  readonly expires: number;
}

/**
 * A backend on a WebSocket pub/sub bus described by frame templates
 * (docs/backends/websocket.md): the bus's wire ({@link BusLink}) on top of the shared
 * managed-backend parts ({@link ManagedBackend}, docs/backends/managed.md).
 *
 * - Publish: one frame per publication on the link, batched per channel (up to
 *   `batchSize` frames written together, at most `maxInflight` batches, never two for
 *   one channel), each settled by the bus's reply to its `{ref}` when the settings read
 *   replies, else once written; every publication settled within `publishTimeout` of its
 *   arrival. While the connection is down publications wait (at most `maxQueued`).
 * - Echo (members get each message once): with `echo: bus` this node's members get
 *   their own node's publications from the bus, like everyone else's, and an
 *   except-sender publication keeps its exception by matching the copy the bus sends
 *   back; with `none` or `origin` the backend delivers to this node once the bus took
 *   it, and with `origin` drops the copy that carries its stamp.
 * - Receive: frames through the inbound rules; messages on wanted channels are bounded
 *   in depth and decoded by the shared parts. Frames no rule matches, malformed,
 *   binary or too deep are counted (`switchyard_websocket_receive_errors_total`).
 */
export class WebsocketBackend implements Backend {
  readonly name: string;
  readonly kind = "websocket";
  readonly capabilities: BackendCapabilities = {
    presence: false,
    history: false,
    clientEvents: true,
  };
  readonly #settings: WebsocketSettings;
  readonly #link: BusLink;
  readonly #managed: ManagedBackend<Outgoing>;
  /** `echo: bus`: except-sender publications on their way back, by channel, oldest first. */
  readonly #echoes = new Map<string, Echo[]>();
  /** Channels the router subscribed (members on this node want them). */
  readonly #wanted = new Set<string>();
  /**
   * `publishNeedsSubscription`: channels subscribed only so that publications may go
   * out on them, each released {@link PUBLISH_HOLD_MS} after its last publication.
   */
  readonly #holds = new Map<string, NodeJS.Timeout>();
  /**
   * Whether the bus's copy of a publication carries its event: only when the publish
   * frame sends `{event}`. Otherwise (SocketCluster) the copy arrives under the message
   * rule's event, whatever the publication's was, and is matched by its data alone.
   */
  readonly #isEchoByEvent: boolean;

  constructor(name: string, settings: WebsocketSettings, deps: BackendDeps) {
    this.name = name;
    this.#settings = settings;
    this.#isEchoByEvent = settings.frames.publish.reads.has("event");
    const labels = { backend: name };
    const log = deps.log;
    const maxDepth = deps.limits?.maxDepth ?? 32;
    this.#link = new BusLink(settings, maxDepth, {
      connected: () => this.#managed.connection.connected(),
      lost: (reason) => this.#managed.connection.lost(reason),
      attemptFailed: (reason) => this.#managed.connection.attemptFailed(reason),
      refused: (reason) => this.#managed.connection.refused(reason),
      subscribed: (channel) => this.#managed.subscriptions.confirmed(channel),
      subscribeFailed: (channel, reason, detail) =>
        this.#managed.subscriptions.failed(channel, reason, detail),
      message: (channel, event, data) => this.#onMessage(channel, event, data),
      dropped: (reason, detail) => {
        metrics.websocket.receiveErrors.inc({ ...labels, reason });
        log.debug({ reason, detail }, "websocket bus frame dropped");
      },
      isWanted: (channel) => this.#managed.subscriptions.has(channel),
    });
    this.#managed = new ManagedBackend<Outgoing>({
      name,
      service: "websocket",
      settings,
      deps,
      metrics: metrics.websocket,
      errors: {
        closed: "SWY_WS_CLOSED",
        unavailable: "SWY_WS_UNAVAILABLE",
        channelInvalid: "SWY_WS_CHANNEL_INVALID",
        queueFull: "SWY_WS_QUEUE_FULL",
        subscribeFailed: "SWY_WS_SUBSCRIBE_FAILED",
        sendFailures: { SWY_WS_REJECTED: "rejected" },
        connectRefused: (reason) => new SwitchyardError("SWY_WS_CONNECT_REFUSED", [reason]),
      },
      wire: {
        link: this.#link,
        // Publications go over the link itself: there are no calls that fail apart from it.
        probe: () => Promise.resolve(),
        channelProblem: websocketChannelProblem,
        // With `echo: bus` this node's members get its publications from the bus.
        hasEcho: settings.echo.mode === "bus",
        encode: (publication) => this.#encode(publication),
        send: (batch) => this.#send(batch),
        decode: (name, data) => ({ event: name, args: decodeBusData(data) }),
      },
    });
  }

  /**
   * Connects and resolves once the link is up (open frames answered), or after
   * `connectTimeout` with the backend not ready (it keeps trying).
   *
   * @throws SwitchyardError SWY_WS_CONNECT_REFUSED when the bus refused the bridge for
   *   good (HTTP 401 or 403, a refused open frame).
   */
  start(sink: DeliverySink): Promise<void> {
    return this.#managed.start(sink);
  }

  /**
   * Subscribes to `channel` (idempotent). Resolves once the bus confirmed it, or once
   * the channel is unsubscribed before that.
   *
   * @throws SwitchyardError SWY_WS_SUBSCRIBE_FAILED (with the bus's error) when the
   *   first request is refused or goes unanswered within `subscribeTimeout`; the backend
   *   keeps retrying while the channel is wanted. SWY_WS_CHANNEL_INVALID.
   */
  subscribe(channel: string): Promise<void> {
    this.#wanted.add(channel);
    return this.#managed.subscribe(channel);
  }

  /** Ends the subscription to `channel` (idempotent); nothing of it is delivered afterwards. */
  unsubscribe(channel: string): Promise<void> {
    this.#wanted.delete(channel);
    this.#echoes.delete(channel);
    // Held for publishing: the hold's end gives it up.
    if (this.#holds.has(channel)) return Promise.resolve();
    return this.#managed.unsubscribe(channel);
  }

  /**
   * Publishes a frame on the bus (see the class comment). Settles within
   * `publishTimeout`.
   *
   * @throws SwitchyardError SWY_WS_PAYLOAD_TOO_LARGE, SWY_WS_CHANNEL_INVALID (nothing
   *   sent), SWY_WS_QUEUE_FULL, SWY_PUBLISH_BUSY, SWY_WS_REJECTED (the bus's reply),
   *   SWY_WS_UNAVAILABLE (the bus stayed away, or no reply, within `publishTimeout`;
   *   after no reply the bus may still have taken it), SWY_WS_CLOSED.
   */
  publish(publication: Publication): Promise<void> {
    const { channel } = publication;
    if (!this.#settings.publishNeedsSubscription || this.#wanted.has(channel)) {
      return this.#managed.publish(publication);
    }
    // Later publications of the channel wait on the same subscription, so they keep their order.
    return this.#hold(channel).then(() => this.#managed.publish(publication));
  }

  health(): BackendHealth {
    return this.#managed.health();
  }

  /** Closes the connection; publications not yet sent fail with SWY_WS_CLOSED. */
  close(): Promise<void> {
    this.#echoes.clear();
    for (const timer of this.#holds.values()) clearTimeout(timer);
    this.#holds.clear();
    return this.#managed.close();
  }

  /**
   * Subscribes `channel` for publishing (`publishNeedsSubscription`: Phoenix takes a
   * push only on a topic the socket joined) and keeps it {@link PUBLISH_HOLD_MS} after
   * this publication. Resolves once the bus confirmed it.
   *
   * @throws SwitchyardError SWY_WS_HOLDS_FULL past {@link MAX_PUBLISH_HOLDS} channels
   *   held so; the subscription's own errors.
   */
  #hold(channel: string): Promise<void> {
    const held = this.#holds.get(channel);
    if (held === undefined && this.#holds.size >= MAX_PUBLISH_HOLDS) {
      const full = new SwitchyardError("SWY_WS_HOLDS_FULL", [MAX_PUBLISH_HOLDS]);
      metrics.websocket.publishFailures.inc({ backend: this.name, reason: "holds_full" });
      return Promise.reject(full);
    }
    clearTimeout(held);
    const timer = setTimeout(() => {
      this.#holds.delete(channel);
      if (!this.#wanted.has(channel)) void this.#managed.unsubscribe(channel);
    }, PUBLISH_HOLD_MS);
    timer.unref();
    this.#holds.set(channel, timer);
    return this.#managed.subscribe(channel);
  }

  #onMessage(channel: string, event: string, data: unknown): void {
    // A channel held only for publishing has no members here.
    if (!this.#wanted.has(channel)) return;
    const except =
      this.#settings.echo.mode === "bus" ? this.#ownEcho(channel, event, data) : undefined;
    this.#managed.receive(channel, event, data, { except });
  }

  #encode(publication: Publication): Outgoing | PublishRefusal {
    const { channel, origin } = publication;
    const data = encodeBusData(publication.args);
    const size = this.#link.publishSize({ channel, values: { event: publication.event, data } });
    const { maxFrameBytes } = this.#settings;
    if (size > maxFrameBytes) {
      const tooLarge = new SwitchyardError("SWY_WS_PAYLOAD_TOO_LARGE", [size, maxFrameBytes]);
      return new PublishRefusal("too_large", tooLarge);
    }
    return { channel, origin, publication, data };
  }

  async #send(batch: readonly Outgoing[]): Promise<(SwitchyardError | undefined)[]> {
    const echoes =
      this.#settings.echo.mode === "bus" ? batch.map((item) => this.#expectEcho(item)) : [];
    const outcomes = await this.#link.publish(
      batch.map(({ channel, publication, data }) => ({
        channel,
        values: { event: publication.event, data },
        // Not this node's stamp: `echo: { origin }` lets the bus's copy through.
        ...(publication.readBack === true ? { origin: READ_BACK_ORIGIN } : {}),
      })),
      this.#settings.publishTimeout,
    );
    if (outcomes.every((outcome) => outcome.kind === "unsent")) {
      for (const echo of echoes) this.#forgetEcho(echo);
      // Nothing was written: the batch waits for the connection (see isUnsentError).
      throw new SwitchyardError("SWY_WS_UNAVAILABLE", ["its connection is down"], {
        cause: Object.assign(new Error("not connected"), { code: "ENOTCONN" }),
      });
    }
    let accepted = 0;
    const errors = outcomes.map((outcome, i) => {
      if (outcome.kind === "accepted") {
        accepted += 1;
        return undefined;
      }
      this.#forgetEcho(echoes[i]);
      return this.#failure(outcome);
    });
    if (accepted > 0) metrics.websocket.published.inc({ backend: this.name }, accepted);
    return errors;
  }

  #failure(outcome: Exclude<FrameOutcome, { kind: "accepted" }>): SwitchyardError {
    if (outcome.kind === "rejected")
      return new SwitchyardError("SWY_WS_REJECTED", [outcome.detail]);
    if (outcome.kind === "unsent")
      return new SwitchyardError("SWY_WS_UNAVAILABLE", ["its connection is down"]);
    return new SwitchyardError("SWY_WS_UNAVAILABLE", [
      `the connection ended before the bus answered (${outcome.detail}); it may have taken the publication`,
    ]);
  }

  // --- Except-sender with `echo: bus` ------------------------------------------------

  /** Remembers an except-sender publication the bus will send back; its key, or undefined. */
  #expectEcho(item: Outgoing): { channel: string; echo: Echo } | undefined {
    const { channel, publication, data } = item;
    if (publication.except === undefined || !this.#managed.subscriptions.has(channel))
      return undefined;
    const now = Date.now();
    const list = this.#echoes.get(channel) ?? [];
    // Copies the bus never sent back are forgotten after twice the publish timeout.
    while (list.length > 0 && list[0]!.expires < now) list.shift();
    if (list.length >= this.#settings.maxQueued) list.shift();
    const echo = {
      key: echoKey(this.#isEchoByEvent ? publication.event : undefined, data),
      except: publication.except,
      expires: now + 2 * this.#settings.publishTimeout,
    };
    list.push(echo);
    this.#echoes.set(channel, list);
    return { channel, echo };
  }

  #forgetEcho(entry: { channel: string; echo: Echo } | undefined): void {
    if (entry === undefined) return;
    const list = this.#echoes.get(entry.channel);
    const at = list?.indexOf(entry.echo) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }

  /** The exception of this node's publication `data` is the copy of, if it is one. */
  #ownEcho(channel: string, event: string, data: unknown): string | undefined {
    const list = this.#echoes.get(channel);
    if (list === undefined || list.length === 0) return undefined;
    const key = echoKey(this.#isEchoByEvent ? event : undefined, data);
    const at = list.findIndex((echo) => echo.key === key);
    if (at < 0) return undefined;
    const [echo] = list.splice(at, 1);
    if (list.length === 0) this.#echoes.delete(channel);
    return echo!.except;
  }
}

/** How long a channel subscribed only for publishing stays so after its last publication. */
export const PUBLISH_HOLD_MS = 30_000;
/** The `{origin}` of read-back publications (Publication.readBack): no node's. */
export const READ_BACK_ORIGIN = "read-back";

/** Most channels subscribed only for publishing at once. */
export const MAX_PUBLISH_HOLDS = 1024;

/**
 * What identifies a publication's copy: its event (when the bus carries it) and data as
 * JSON (as the bus relays them).
 */
function echoKey(event: string | undefined, data: unknown): string {
  return `${event ?? ""}\u0000${JSON.stringify(data) ?? "null"}`;
}

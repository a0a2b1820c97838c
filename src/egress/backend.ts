/**
 * The seam between the router and the systems that carry rooms' traffic. Every
 * backend kind (native, pusher, ably, websocket, shadow) implements {@link Backend};
 * backends see channels, never sockets, rooms or the mapping.
 */

import type { HistoryPoint, MissedFailure } from "../read-back.js";

/** A message on its way from a client (or the publish API) to a channel. */
export interface Publication {
  readonly channel: string;
  readonly event: string;
  readonly args: readonly unknown[];
  /** A socket id the delivery must leave out (except-sender broadcasts). */
  readonly except?: string;
  /**
   * The socket that sent it, when a client did: a backend that queues publications
   * limits each sender's share of its queue by it (BackendLimits.maxPublishesPerSocket).
   */
  readonly origin?: string;
  /**
   * Deliver it to this node only as the service sends it back, like anyone else's
   * message: no copy of the backend's own, no echo suppression (Pusher's `socket_id`,
   * Ably's origin header, a bus's origin stamp). A shadow's writes use it, so that the
   * comparator sees what the service itself delivered (docs/shadow.md).
   */
  readonly readBack?: boolean;
  /**
   * An id the bridge gives a shadowed room's publication, written to its primary and its
   * shadow alike. Kinds with room for it beside the payload carry it to their
   * deliveries (the native core in process, Ably in `extras.headers`); others ignore it.
   * It never changes the payload.
   */
  readonly stamp?: string;
}

/** A message a backend hands back for the members of a channel on this node. */
export interface Delivery {
  readonly channel: string;
  readonly event: string;
  readonly args: readonly unknown[];
  readonly except?: string;
  /** The publication's {@link Publication.stamp}, when the kind carried it. */
  readonly stamp?: string;
  /**
   * The message's id in its channel's history, for kinds with `capabilities.history`
   * (Ably's message id): where another node can read the channel back from
   * ({@link Backend.history}; connection state recovery, docs/recovery.md).
   */
  readonly position?: string;
}

/** Where {@link Backend.history} starts, and why it may not read all of it (src/read-back.ts). */
export type { HistoryPoint, MissedFailure };

/** Where a backend sends what it receives. Handed over once, at start. */
export interface DeliverySink {
  deliver(delivery: Delivery): void;
}

export interface BackendHealth {
  readonly isReady: boolean;
  /** A short human reason when not ready. */
  readonly reason?: string;
}

/** What a backend kind can do beyond publish and subscribe. */
export interface BackendCapabilities {
  readonly presence: boolean;
  readonly history: boolean;
  readonly clientEvents: boolean;
}

/**
 * A configured backend instance.
 *
 * - Delivery is at-most-once, in publish order per channel.
 * - `publish` resolves when the backend has accepted the message (not when members
 *   received it) and rejects with a coded error otherwise; it never drops silently.
 * - `subscribe`/`unsubscribe` are idempotent; the caller reference-counts them so
 *   that a node holds one subscription per channel while it has local members.
 * - A backend delivers only channels it is subscribed to.
 */
export interface Backend {
  readonly name: string;
  readonly kind: string;
  readonly capabilities: BackendCapabilities;
  start(sink: DeliverySink): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  publish(publication: Publication): Promise<void>;
  health(): BackendHealth;
  close(): Promise<void>;
  /**
   * Kinds that listen per namespace (the native core on Redis): the namespaces the
   * sink serves changed (a reload); listen to the new set. Optional.
   */
  onNamespacesChanged?(): Promise<void>;
  /**
   * Kinds with `capabilities.presence`: `clientId` becomes a presence member of
   * `channel` on this node's connection (once per clientId: the caller counts), and
   * stays one across reconnections. Resolves once the service took it.
   */
  enterPresence?(channel: string, clientId: string): Promise<void>;
  /** The end of {@link enterPresence}: `clientId` leaves `channel`'s presence set. */
  leavePresence?(channel: string, clientId: string): Promise<void>;
  /**
   * Kinds with `capabilities.history`: the messages of `channel` after `from`, oldest
   * first, as they would have been delivered (each with its `position`), up to the
   * present; at most `limit` of them. Rejects with a coded error when the service
   * cannot be asked.
   */
  history?(
    channel: string,
    from: HistoryPoint,
    limit: number,
  ): Promise<readonly Delivery[] | MissedFailure>;
  /**
   * Kinds with `capabilities.history`: the point of `channel`'s history at which this
   * node's current subscription began (Ably's attach serial); undefined while it is
   * not attached.
   */
  attachPoint?(channel: string): string | undefined;
}

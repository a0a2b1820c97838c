import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { Histogram } from "prom-client";
import type {
  Backend,
  BackendHealth,
  Delivery,
  DeliverySink,
  HistoryPoint,
  MissedFailure,
} from "../egress/backend.js";
import {
  type ClusterBroadcast,
  type ClusterSessions,
  type ClusterView,
  isClusterView,
  isSessionCarrier,
} from "../egress/cluster.js";
import { type BackendRegistry, parseRoomChannel } from "../egress/registry.js";
import { SwitchyardError } from "../errors.js";
import type { RoomObserver } from "../ingress/sio/namespace.js";
import type { ReplayedEvent } from "../ingress/sio/recovery.js";
import type { SioServer } from "../ingress/sio/server.js";
import type { Socket } from "../ingress/sio/socket.js";
import { reportInternalError } from "../internal-errors.js";
import type {
  ChannelTooLong,
  RoomBinding,
  ShadowBinding,
  SwitchyardConfig,
} from "../mapping/types.js";
import { metrics } from "../metrics.js";
import { BackendSet } from "./backend-set.js";
import { type Binding, ChannelBindings } from "./channel-bindings.js";
import { LocalNode } from "./local-node.js";
import { PresenceMirror } from "./presence-mirror.js";
import type { ShadowReport } from "./shadow/report.js";
import { Shadowing } from "./shadow/shadowing.js";

/** Who a publication leaves out and who sent it (see {@link RoomChannels.publish}). */
export interface PublishOptions {
  readonly except?: string | undefined;
  readonly origin?: string | undefined;
}

/** What {@link RoomChannels.reload} changed. */
export interface ReloadSummary {
  /** Rooms with local members that now live on another backend or channel. */
  readonly movedRooms: number;
  readonly addedBackends: readonly string[];
  readonly retiredBackends: readonly string[];
}

/**
 * The router's half that faces the backends: which backend and channel carry each
 * room (the routes), one subscription per channel with local members (reference
 * counted over the rooms it carries, driven by the ingress's room events), publishes
 * on the room's channel, and deliveries fanned out to the rooms a channel carries.
 */
export class RoomChannels implements RoomObserver {
  #config: SwitchyardConfig;
  readonly #backends: BackendSet;
  readonly #log: Logger;
  readonly #bindings = new ChannelBindings();
  /** Subscriptions that succeeded: a join to their rooms has nothing to wait for. */
  readonly #subscribed = new WeakSet<Promise<void>>();
  /** Each shadowed room's shadow channel, whose deliveries go to the comparator only. */
  readonly #shadowBindings = new ChannelBindings();
  readonly #shadowing: Shadowing;
  /** Stamps of shadowed publications: this node's random prefix and a counter. */
  readonly #stampPrefix = randomBytes(6).toString("base64url");
  #stamps = 0;
  /** One sink per backend instance, so a delivery says which backend it came from. */
  readonly #sinks = new WeakMap<Backend, DeliverySink>();
  #sio: SioServer | undefined;
  readonly #claimsOf: (socket: Socket) => Readonly<Record<string, unknown>> | undefined;
  readonly #presence: PresenceMirror;
  /** Publications on their way to a backend, and who waits for there to be none. */
  #publishing = 0;
  readonly #idleWaiters = new Set<() => void>();

  /**
   * @param claimsOf A socket's verified claims (the router keeps them), for the clientId
   *   templates of presence mirrors.
   */
  constructor(
    config: SwitchyardConfig,
    registry: BackendRegistry,
    log: Logger,
    claimsOf: (socket: Socket) => Readonly<Record<string, unknown>> | undefined = () => undefined,
  ) {
    this.#config = config;
    const { maxDepth, maxPublishesPerSocket } = config.server;
    this.#backends = new BackendSet(registry, log, { maxDepth, maxPublishesPerSocket });
    this.#log = log;
    this.#claimsOf = claimsOf;
    this.#presence = new PresenceMirror(log);
    const { maxShadowPending, maxShadowWrites } = config.server;
    this.#shadowing = new Shadowing({
      log,
      backend: (name) => this.#backends.get(name),
      maxPending: maxShadowPending,
      maxInflight: maxShadowWrites,
    });
  }

  /** Binds to the ingress whose rooms these are; call once, before listening. */
  attach(sio: SioServer): void {
    this.#sio = sio;
  }

  /**
   * Builds the configured backends, in place at once (not ready until started), and
   * starts them; call once. Settles once every backend has started (see
   * {@link BackendSet.start}).
   *
   * @throws synchronously when a backend cannot be built from its settings.
   */
  start(): Promise<void> {
    return this.#backends.start(this.#config.backends, (b) => this.#sinkOf(b));
  }

  /**
   * Applies a new configuration's backends and routes: builds and starts the new
   * backends, then moves every room with local members whose backend, channel or
   * renames changed, make-before-break: the room is bound to its new channel at once
   * (publications go there from now on), and its old channel keeps delivering to the
   * room until the new subscription is confirmed (or `joinTimeout` passes) and every
   * publication already on its way on the old channel has settled; only then is the old
   * channel unsubscribed (when no other room holds it). Backends no longer named are
   * closed once their rooms have moved off. Members stay in their rooms throughout.
   *
   * @throws When a new backend fails to start; nothing has changed then.
   */
  async reload(next: SwitchyardConfig): Promise<ReloadSummary> {
    const plan = await this.#backends.prepare(next.backends, (b) => this.#sinkOf(b));
    this.#backends.commit(plan);
    this.#config = next;
    let movedRooms = 0;
    const drains: Promise<void>[] = [];
    for (const old of this.#bindings.all()) {
      const lookup = next.namespaces.get(old.nsp)?.routes.resolve(old.room);
      const backend = lookup?.ok ? plan.next.get(lookup.backend) : undefined;
      if (
        lookup?.ok &&
        backend === old.backend &&
        lookup.channel === old.channel &&
        isDeepStrictEqual(lookup.rename, old.rename) &&
        (lookup.presence === undefined) === (old.presence === undefined) &&
        sameShadow(lookup.shadow, old.shadow)
      ) {
        continue;
      }
      movedRooms += 1;
      if (lookup === undefined) {
        // Its namespace is gone; the ingress drops its sockets.
        this.#unbind(old.nsp, old.room);
        continue;
      }
      // The old shadow's channel may be the room's new channel or shadow: released once
      // the new binding holds its subscription.
      const oldShadow = this.#shadowBindings.retire(old.nsp, old.room);
      this.#bindings.retire(old.nsp, old.room);
      this.#bind(old.nsp, old.room);
      if (oldShadow !== undefined && this.#shadowBindings.release(oldShadow)) {
        this.#unsubscribe(oldShadow);
      }
      this.#movePresence(old.nsp, old.room);
      const subscribed = this.#bindings.get(old.nsp, old.room)?.ready ?? Promise.resolve();
      drains.push(this.#drain(old, subscribed));
    }
    // A retired backend closes once the rooms moving off it have drained.
    await Promise.allSettled(drains);
    await Promise.allSettled(plan.retired.map((backend) => backend.close()));
    this.#shadowing.comparator.retain(
      [...next.namespaces.values()].flatMap((ns) => ns.routes.shadows),
    );
    const kept = [...plan.next.values()].filter((backend) => !plan.added.includes(backend));
    await Promise.allSettled(kept.map((backend) => backend.onNamespacesChanged?.()));
    const names = (list: readonly Backend[]) => list.map((backend) => backend.name);
    return {
      movedRooms,
      addedBackends: names(plan.added),
      retiredBackends: names(plan.retired),
    };
  }

  /** Readiness per backend name. */
  health(): Map<string, BackendHealth> {
    return new Map(this.#backends.all().map((backend) => [backend.name, backend.health()]));
  }

  /** Closes every backend. */
  close(): Promise<void> {
    this.#shadowing.close();
    return this.#backends.close();
  }

  #nextStamp(): string {
    this.#stamps += 1;
    return `${this.#stampPrefix}.${this.#stamps.toString(36)}`;
  }

  /** What this node's shadow comparator found, per shadowed route (docs/shadow.md). */
  shadowReport(options: { readonly channels?: boolean } = {}): ShadowReport {
    return this.#shadowing.report(options);
  }

  /** Starts a new window of shadow evidence on this node. */
  resetShadow(): void {
    this.#shadowing.reset();
  }

  /** The backend and channel that carry a room of a namespace: its binding, else its route. */
  target(nsp: string, room: string): RoomBinding | ChannelTooLong | undefined {
    const bound = this.#bindings.get(nsp, room);
    if (bound !== undefined) {
      return {
        ok: true,
        backend: bound.backend.name,
        channel: bound.channel,
        rename: bound.rename,
      };
    }
    return this.#config.namespaces.get(nsp)?.routes.resolve(room);
  }

  /**
   * Publishes an event to a room the way a client's broadcast does: on the room's
   * channel and backend, so members on this node and on every other node receive it.
   * Serves client broadcasts and the HTTP publish API. The caller has checked the
   * room and the event name.
   *
   * A room that is the id of a socket on this node (and no room of its own) reaches
   * that socket directly, as `io.to(socketId)` does; other sockets' ids follow their
   * route, which on the native core on Redis reaches the node that has the socket.
   *
   * @param options `except`: a socket id the delivery leaves out; `origin`: the socket
   *   that sent it, whose share of a backend's publish queue it counts against.
   * @returns Resolves when the backend accepted the message; rejects with the
   *   backend's own coded error (SWY_PUSHER_*, SWY_NATIVE_REDIS_*), SWY_CHANNEL_INVALID,
   *   SWY_PUBLISH_BUSY, or SWY_PUBLISH_FAILED with the cause attached.
   */
  publish(
    nsp: string,
    room: string,
    event: string,
    args: readonly unknown[],
    options: PublishOptions = {},
  ): Promise<void> {
    const { except, origin } = options;
    const bound = this.#bindings.get(nsp, room);
    if (bound === undefined && this.isLocalSocket(nsp, room)) {
      this.#sio?.namespace(nsp)?.broadcast({ rooms: [room], except }, event, args);
      return Promise.resolve();
    }
    let backend = bound?.backend;
    let channel = bound?.channel;
    let shadow = bound?.shadow;
    if (bound === undefined) {
      const lookup = this.#config.namespaces.get(nsp)?.routes.resolve(room);
      if (lookup === undefined) return Promise.reject(publishError(room, "no such namespace"));
      if (!lookup.ok) return Promise.reject(channelError(room, lookup));
      backend = this.#backends.get(lookup.backend);
      channel = lookup.channel;
      shadow = lookup.shadow;
    }
    if (backend === undefined || channel === undefined) {
      return Promise.reject(publishError(room, "its backend is not running"));
    }
    const primaryChannel = channel;
    // A shadowed room's publication is stamped, and the shadow gets what the primary
    // accepted, once it did; the sender never waits for it.
    const stamp = shadow === undefined ? undefined : this.#nextStamp();
    const publication = { channel, event, args, except, origin, ...(stamp && { stamp }) };
    const accepted = () => {
      if (shadow !== undefined) {
        this.#shadowing.write(shadow, primaryChannel, { event, args, stamp });
      }
    };
    const started = performance.now();
    // Counted for a drain ({@link whenIdle}), and on the room's binding, so a move waits
    // for it before dropping the old channel.
    this.#publishing += 1;
    if (bound !== undefined) bound.inflight += 1;
    return backend.publish(publication).then(
      () => {
        this.#settled(bound);
        observeSince(metrics.backendPublishLatency, backend, "accepted", started);
        accepted();
      },
      (cause: unknown) => {
        this.#settled(bound);
        observeSince(metrics.backendPublishLatency, backend, "refused", started);
        throw publishError(room, cause);
      },
    );
  }

  /**
   * Resolves once no publication is on its way to a backend, or after `limitMs`: a
   * drain waits for it, so that what was accepted before the signal is sent before
   * the backends close rather than failed by their closing.
   */
  whenIdle(limitMs: number): Promise<void> {
    if (this.#publishing === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, limitMs);
      const waiters = this.#idleWaiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  /** Publications on their way to a backend now. */
  get publishing(): number {
    return this.#publishing;
  }

  /** A publication {@link publish} counted has settled. */
  #settled(bound: Binding | undefined): void {
    if (bound !== undefined) settle(bound);
    this.#publishing -= 1;
    if (this.#publishing === 0) for (const waiter of [...this.#idleWaiters]) waiter();
  }

  /** Whether `id` is the id of a socket of `nsp` connected to this node. */
  isLocalSocket(nsp: string, id: string): boolean {
    return this.#sio?.namespace(nsp)?.sockets.has(id) === true;
  }

  /** The cluster view of the `native` backend, when it runs across nodes on Redis. */
  cluster(): ClusterView | undefined {
    const native = this.#backends.get("native");
    return native !== undefined && isClusterView(native) ? native : undefined;
  }

  /** The `native` backend's shared session store, when it runs on Redis streams. */
  sessions(): ClusterSessions | undefined {
    const native = this.#backends.get("native");
    return native !== undefined && isSessionCarrier(native) ? native.sessions() : undefined;
  }

  /**
   * How another node can read `room`'s broadcasts back (connection state recovery,
   * docs/recovery.md): `stream` when the backend of {@link sessions} carries it,
   * `history` when its backend keeps a channel history; undefined otherwise.
   */
  readBackOf(nsp: string, room: string): "stream" | "history" | undefined {
    const lookup = this.target(nsp, room);
    if (lookup?.ok !== true) return undefined;
    if (lookup.backend === "native" && parseRoomChannel(lookup.channel) !== undefined) {
      return "stream";
    }
    const backend = this.#backends.get(lookup.backend);
    return backend?.capabilities.history === true && backend.history !== undefined
      ? "history"
      : undefined;
  }

  /** Where this node's subscription to a bound room's channel began in its history. */
  attachPoint(nsp: string, room: string): string | undefined {
    const bound = this.#bindings.get(nsp, room);
    return bound?.backend.attachPoint?.(bound.channel);
  }

  /**
   * A bound room's messages after `from` in its channel's history, oldest first, under
   * the event names its route gives them.
   *
   * @throws Error when the room is not bound here or its backend keeps no history;
   *   the backend's coded error when the service cannot be asked.
   */
  async history(
    nsp: string,
    room: string,
    from: HistoryPoint,
    limit: number,
  ): Promise<readonly ReplayedEvent[] | MissedFailure> {
    const bound = this.#bindings.get(nsp, room);
    if (bound?.backend.history === undefined) {
      throw new Error(`room ${room} of ${nsp} has no channel history here`);
    }
    const read = await bound.backend.history(bound.channel, from, limit);
    if (typeof read === "string") return read;
    const out: ReplayedEvent[] = [];
    for (const delivery of read) {
      if (delivery.position === undefined) continue;
      out.push({
        event: bound.rename.get(delivery.event) ?? delivery.event,
        args: delivery.args,
        except: delivery.except,
        position: delivery.position,
      });
    }
    return out;
  }

  /** Where a room lives, for the API: its backend, and its channel unless it is a native one. */
  placement(nsp: string, room: string): { backend: string; channel?: string } | undefined {
    const lookup = this.target(nsp, room);
    if (lookup === undefined || !lookup.ok) return undefined;
    return parseRoomChannel(lookup.channel) === undefined
      ? { backend: lookup.backend, channel: lookup.channel }
      : { backend: lookup.backend };
  }

  /**
   * Resolves once the channel of a room just joined is subscribed, so that the join's
   * ack means "you will receive what is published next"; rejects with
   * SWY_SUBSCRIBE_FAILED when the backend refuses or does not confirm it within
   * `server.joinTimeout`.
   */
  joined(nsp: string, room: string): Promise<void> {
    const bound = this.#bindings.get(nsp, room);
    if (bound === undefined) return Promise.resolve();
    const { backend, ready } = bound;
    // A room's later joins find its channel subscribed: nothing to wait for, no timer.
    if (this.#subscribed.has(ready)) {
      observeSince(metrics.joinSubscribeLatency, backend, "subscribed", performance.now());
      return RESOLVED;
    }
    const timeout = this.#config.server.joinTimeout;
    let timer: NodeJS.Timeout | undefined;
    let timedOut: Error | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = new Error(`no confirmation within ${timeout} ms`);
        reject(timedOut);
      }, timeout);
    });
    const started = performance.now();
    return Promise.race([ready, late]).then(
      () => {
        clearTimeout(timer);
        observeSince(metrics.joinSubscribeLatency, backend, "subscribed", started);
      },
      (cause: unknown) => {
        clearTimeout(timer);
        observeSince(metrics.joinSubscribeLatency, backend, "failed", started);
        // The sender learns the timeout, or the backend's own coded error (whose message is
        // written for clients: the service's code, never a host), never an uncoded cause.
        const reason =
          cause === timedOut
            ? `no confirmation within ${timeout} ms`
            : cause instanceof SwitchyardError
              ? `${cause.code}: ${cause.message}`
              : "the backend refused it";
        throw new SwitchyardError("SWY_SUBSCRIBE_FAILED", [room, backend.name, reason], { cause });
      },
    );
  }

  /** SWY_CHANNEL_INVALID when the room's route cannot name a channel for it; else undefined. */
  unroutable(nsp: string, room: string): SwitchyardError | undefined {
    const lookup = this.target(nsp, room);
    return lookup === undefined || lookup.ok ? undefined : channelError(room, lookup);
  }

  // --- Rooms → subscriptions -----------------------------------------------------

  onRoomCreated(nsp: string, room: string): void {
    this.#bind(nsp, room);
  }

  onRoomDeleted(nsp: string, room: string): void {
    this.#unbind(nsp, room);
  }

  /** A member joined a bound room: on a route with a presence mirror, it enters presence. */
  onMemberJoined(socket: Socket, room: string): void {
    const binding = this.#bindings.get(socket.nsp.name, room);
    if (binding?.presence === undefined || !binding.backend.capabilities.presence) return;
    const clientId = binding.presence({
      args: NO_ARGS,
      auth: socket.auth,
      claims: this.#claimsOf(socket),
      socketId: socket.id,
      nsp: socket.nsp.name,
      room,
    });
    if (typeof clientId !== "string" || clientId.length === 0) {
      this.#log.warn(
        { socket: socket.id, nsp: socket.nsp.name, room },
        "presence clientId template gave no clientId: the member is not mirrored",
      );
      return;
    }
    const { backend, channel } = binding;
    this.#presence.enter(socket, room, { backend, channel, clientId });
  }

  onMemberLeft(socket: Socket, room: string): void {
    this.#presence.leave(socket, room);
  }

  /** A room moved: its members leave presence where it was and enter where it is now. */
  #movePresence(nsp: string, room: string): void {
    for (const socket of this.#sio?.namespace(nsp)?.members(room) ?? []) {
      this.#presence.leave(socket, room);
      this.onMemberJoined(socket, room);
    }
  }

  /** Binds a room with local members to its channel, subscribing for the channel's first room. */
  #bind(nsp: string, room: string): void {
    const lookup = this.#config.namespaces.get(nsp)?.routes.resolve(room);
    if (lookup === undefined) return;
    const backend = lookup.ok ? this.#backends.get(lookup.backend) : undefined;
    if (!lookup.ok || backend === undefined) {
      // Joins check the route first; this happens only when a reload made the room unroutable.
      this.#log.error(
        { nsp, room, backend: lookup.backend },
        "room has no channel; its members receive nothing",
      );
      return;
    }
    const { channel, rename, presence, shadow } = lookup;
    this.#bindings.bind({
      nsp,
      room,
      backend,
      channel,
      rename,
      presence,
      shadow,
      ready: this.#subscription(backend, channel),
      inflight: 0,
      onIdle: undefined,
    });
    if (shadow !== undefined) this.#bindShadow(nsp, room, shadow);
  }

  /**
   * The subscription of `backend`'s `channel`: the one a room holds, as its channel or as
   * its shadow's (a move can make one room's old channel another's shadow), or a new one.
   */
  #subscription(backend: Backend, channel: string): Promise<void> {
    let ready =
      this.#bindings.subscription(backend, channel) ??
      this.#shadowBindings.subscription(backend, channel);
    if (ready === undefined) {
      const subscribing = backend.subscribe(channel);
      ready = subscribing;
      subscribing.then(
        () => this.#subscribed.add(subscribing),
        (cause: unknown) => {
          this.#log.warn({ err: cause, backend: backend.name, channel }, "subscribe failed");
        },
      );
    }
    return ready;
  }

  /**
   * Subscribes a shadowed room's shadow channel beside its own. Its deliveries feed the
   * comparator and reach no member; a join never waits for it.
   */
  #bindShadow(nsp: string, room: string, shadow: ShadowBinding): void {
    const backend = this.#backends.get(shadow.backend);
    if (backend === undefined) {
      this.#log.error({ nsp, room, backend: shadow.backend }, "shadow backend is not running");
      return;
    }
    const { channel } = shadow;
    this.#shadowBindings.bind({
      nsp,
      room,
      backend,
      channel,
      rename: NO_RENAMES,
      ready: this.#subscription(backend, channel),
      inflight: 0,
      onIdle: undefined,
    });
  }

  /** Unbinds a room, unsubscribing after the channel's last room. */
  #unbind(nsp: string, room: string): void {
    const unbound = this.#bindings.unbind(nsp, room);
    if (unbound?.isLast) this.#unsubscribe(unbound.binding);
    this.#unbindShadow(nsp, room);
  }

  #unbindShadow(nsp: string, room: string): void {
    const unbound = this.#shadowBindings.unbind(nsp, room);
    if (unbound?.isLast) this.#unsubscribe(unbound.binding);
  }

  /**
   * Ends a moved room's old binding once the new channel's subscription has settled
   * (bounded by `joinTimeout`) and no publication on the old one is still on its way.
   */
  async #drain(old: Binding, next: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#config.server.joinTimeout);
    });
    await Promise.race([next.catch(() => {}), late]);
    clearTimeout(timer);
    if (old.inflight > 0) {
      await new Promise<void>((resolve) => {
        old.onIdle = resolve;
      });
    }
    if (this.#bindings.release(old)) this.#unsubscribe(old);
  }

  /** Ends `backend`'s subscription of `channel`, unless a room still holds it either way. */
  #unsubscribe({ backend, channel }: Binding): void {
    if (
      this.#bindings.subscription(backend, channel) !== undefined ||
      this.#shadowBindings.subscription(backend, channel) !== undefined
    ) {
      return;
    }
    backend.unsubscribe(channel).catch((cause: unknown) => {
      this.#log.error({ err: cause, backend: backend.name, channel }, "unsubscribe failed");
    });
  }

  // --- Backend → clients ---------------------------------------------------------

  /**
   * Hands a delivery to the shadow comparator: as the primary's, when its channel carries
   * a shadowed room here; as the shadow's, when it is a shadowed room's shadow channel.
   */
  /**
   * A broadcast another node of the native core's cluster sent to rooms here: to the
   * comparator, as the primary's delivery of each shadowed room's channel it names.
   */
  #compareBroadcast(backend: Backend, broadcast: ClusterBroadcast): void {
    try {
      for (const room of broadcast.rooms) {
        const binding = this.#bindings.get(broadcast.nsp, room);
        if (binding?.shadow === undefined || binding.backend !== backend) continue;
        this.#shadowing.primary(binding.shadow.route, binding.channel, broadcast);
      }
    } catch (error) {
      reportInternalError(this.#log, "shadow comparison", error);
    }
  }

  #compare(backend: Backend, delivery: Delivery, rooms: readonly Binding[]): void {
    const shadowed = rooms.find((binding) => binding.shadow !== undefined);
    if (shadowed !== undefined) {
      this.#shadowing.primary(shadowed.shadow!.route, delivery.channel, delivery);
    }
    const shadowOf = this.#shadowBindings.rooms(backend, delivery.channel)[0];
    if (shadowOf === undefined) return;
    const primary = this.#bindings.get(shadowOf.nsp, shadowOf.room);
    if (primary?.shadow === undefined) return;
    this.#shadowing.shadow(primary.shadow.route, primary.channel, delivery);
  }

  /** The sink a backend starts with: channel deliveries, and this node for cluster backends. */
  #sinkOf(backend: Backend): DeliverySink {
    let sink = this.#sinks.get(backend);
    if (sink === undefined) {
      sink = new LocalNode({
        sio: () => this.#sio,
        namespaces: () => [...this.#config.namespaces.keys()],
        onDelivery: (delivery) => this.#deliver(backend, delivery),
        onBroadcast: (broadcast) => this.#compareBroadcast(backend, broadcast),
        log: this.#log,
      });
      this.#sinks.set(backend, sink);
    }
    return sink;
  }

  /**
   * Fans a delivery out to the local rooms its channel carries, each member once,
   * under the event name each room's route gives it.
   */
  #deliver(backend: Backend, delivery: Delivery): void {
    const rooms = this.#bindings.rooms(backend, delivery.channel);
    try {
      this.#compare(backend, delivery, rooms);
    } catch (error) {
      // A fault of the comparison must never cost members their delivery.
      reportInternalError(this.#log, "shadow comparison", error);
    }
    if (rooms.length === 1) {
      const { nsp, room, rename } = rooms[0]!;
      this.#sio
        ?.namespace(nsp)
        ?.broadcast(
          { rooms: [room], except: delivery.except },
          rename.get(delivery.event) ?? delivery.event,
          delivery.args,
          delivery,
        );
      return;
    }
    // Rooms sharing a channel: one broadcast per namespace and event name over all of them.
    const groups = new Map<string, { nsp: string; event: string; rooms: string[] }>();
    for (const { nsp, room, rename } of rooms) {
      const event = rename.get(delivery.event) ?? delivery.event;
      const key = `${nsp}\u0000${event}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, { nsp, event, rooms: [room] });
      else group.rooms.push(room);
    }
    for (const { nsp, event, rooms: names } of groups.values()) {
      this.#sio
        ?.namespace(nsp)
        ?.broadcast({ rooms: names, except: delivery.except }, event, delivery.args, delivery);
    }
  }
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);
const RESOLVED = Promise.resolve();
const NO_RENAMES: ReadonlyMap<string, string> = new Map();

function sameShadow(a: ShadowBinding | undefined, b: ShadowBinding | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.backend === b.backend && a.channel === b.channel && a.route === b.route;
}

/** Observes the seconds since `started` (a `performance.now()`) under `backend`'s name and kind. */
function observeSince(
  histogram: Histogram<"backend" | "kind" | "outcome">,
  backend: Backend,
  outcome: string,
  started: number,
): void {
  const labels = { backend: backend.name, kind: backend.kind, outcome };
  histogram.observe(labels, (performance.now() - started) / 1000);
}

/** One publication on a binding settled: wakes a move waiting for the last one. */
function settle(binding: Binding): void {
  binding.inflight -= 1;
  if (binding.inflight === 0 && binding.onIdle !== undefined) {
    const idle = binding.onIdle;
    binding.onIdle = undefined;
    idle();
  }
}

function channelError(room: string, lookup: ChannelTooLong): SwitchyardError {
  return new SwitchyardError("SWY_CHANNEL_INVALID", [
    room,
    lookup.length,
    lookup.backend,
    lookup.maxLength,
  ]);
}

/**
 * A backend's own coded error as it is; anything else as SWY_PUBLISH_FAILED with its
 * cause attached for the log (its text, which may name hosts, never reaches the sender).
 */
function publishError(room: string, cause: unknown): SwitchyardError {
  if (cause instanceof SwitchyardError) return cause;
  return new SwitchyardError("SWY_PUBLISH_FAILED", [room, "the backend refused it"], { cause });
}

import type { Logger } from "pino";
import { pino } from "pino";
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
  type ClusterSessions,
  type ClusterSink,
  type ClusterSocket,
  type ClusterView,
  isClusterSink,
  type SocketSelector,
} from "../cluster.js";
import { type BackendLimits, DEFAULT_BACKEND_LIMITS, parseRoomChannel } from "../registry.js";
import { DeliverySinkBridge } from "./redis/delivery-sink-bridge.js";
import type { RedisClusterBus } from "./redis/redis-cluster-bus.js";
import type { NativeRedisSettings } from "./redis/redis-settings.js";

const RESOLVED = Promise.resolve();

/** What a native backend is built with; everything optional. */
export interface NativeBackendOptions {
  /** Scale-out across nodes on Redis; absent: rooms stay in this process. */
  readonly redis?: NativeRedisSettings;
  /** Where Redis trouble is logged; default: silent. */
  readonly log?: Logger;
  /** The server's limits; default {@link DEFAULT_BACKEND_LIMITS}. */
  readonly limits?: BackendLimits;
}

/**
 * The native core: rooms carried in process, and across nodes on Redis when built
 * with `redis` settings.
 *
 * - A publication is delivered synchronously, before `publish` returns, to this
 *   node's members of the channel (if subscribed), whatever Redis does.
 * - With Redis, a publication on a room channel (`<nsp>\0<room>`) is then
 *   published exactly as a socket.io node with `@socket.io/redis-adapter` publishes
 *   `io.to(room).except(except).emit(event, ...args)`; `publish` resolves once Redis
 *   accepted it and rejects with SWY_NATIVE_REDIS_* otherwise. Other channels stay
 *   on this node (the router never makes them for this kind).
 * - With Redis, what other nodes and emitters send reaches a {@link ClusterSink}
 *   as socket.io's own operations (broadcasts, joins, fetches, acked broadcasts),
 *   for every namespace the sink serves. A plain {@link DeliverySink} gets only
 *   single-room broadcasts of its subscribed room channels
 *   (see {@link DeliverySinkBridge}).
 * - Single-room messages of rooms without a subscribed channel are dropped before
 *   decoding: the router subscribes `<nsp>\0<room>` for every room with local
 *   members (socket-id rooms too, when `io.to(socketId)` from other nodes matters).
 */
export class NativeBackend implements Backend, ClusterView {
  readonly name: string;
  readonly kind = "native";
  readonly capabilities: BackendCapabilities = {
    presence: false,
    history: false,
    clientEvents: false,
  };
  readonly #channels = new Set<string>();
  readonly #redis: NativeRedisSettings | undefined;
  readonly #log: Logger;
  readonly #limits: BackendLimits;
  #sink: DeliverySink | undefined;
  #clusterSink: ClusterSink | undefined;
  #bus: RedisClusterBus | undefined;
  /** {@link sessions} was asked for: the bus delivers this node's broadcasts from the stream. */
  #wantsSessions = false;

  constructor(name: string, options: NativeBackendOptions = {}) {
    this.name = name;
    this.#redis = options.redis;
    this.#log = options.log ?? pino({ level: "silent" });
    this.#limits = options.limits ?? DEFAULT_BACKEND_LIMITS;
  }

  /**
   * Takes the sink; with Redis, connects and listens on the sink's namespaces, and
   * resolves once both connections are ready or after `requestsTimeout` with the
   * backend not ready (it keeps reconnecting).
   */
  async start(sink: DeliverySink): Promise<void> {
    this.#sink = sink;
    if (this.#redis === undefined) return;
    const clusterSink = isClusterSink(sink)
      ? sink
      : new DeliverySinkBridge(sink, this.#channels, (broadcast) => {
          metrics.nativeRedisReceiveErrors.inc({ backend: this.name, reason: "unmappable" });
          this.#log.debug(
            { nsp: broadcast.nsp, rooms: broadcast.rooms },
            "native redis: broadcast maps onto no subscribed channel of a plain sink",
          );
        });
    this.#clusterSink = clusterSink;
    // ioredis and the codecs load only for a native core on Redis.
    const { RedisClusterBus } = await import("./redis/redis-cluster-bus.js");
    this.#bus = new RedisClusterBus(this.name, this.#redis, this.#log, this.#limits.maxDepth);
    if (this.#wantsSessions) this.#bus.sessions();
    await this.#bus.start(clusterSink, clusterSink.namespaces());
  }

  /** With Redis in sharded `dynamic` modes, resolves once the room's channel is listened on. */
  async subscribe(channel: string): Promise<void> {
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    const room = parseRoomChannel(channel);
    if (this.#bus === undefined || room === undefined) return;
    await this.#bus.addRoom(room.nsp, room.room);
    if (this.#clusterSink instanceof DeliverySinkBridge) {
      await this.#bus.setNamespaces(this.#clusterSink.namespaces());
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.#channels.delete(channel)) return;
    const room = parseRoomChannel(channel);
    if (this.#bus === undefined || room === undefined) return;
    await this.#bus.removeRoom(room.nsp, room.room);
    if (this.#clusterSink instanceof DeliverySinkBridge) {
      await this.#bus.setNamespaces(this.#clusterSink.namespaces());
    }
  }

  /**
   * @throws SwitchyardError SWY_NATIVE_REDIS_UNAVAILABLE, SWY_NATIVE_REDIS_ENCODE_FAILED
   *   or SWY_NATIVE_REDIS_CLOSED when Redis did not take it (local members got it).
   */
  publish(publication: Publication): Promise<void> {
    const room = parseRoomChannel(publication.channel);
    const bus = room === undefined ? undefined : this.#bus;
    // With recovery across nodes, this node's members get it from the stream instead,
    // in the stream's order (see sessions()).
    const isDeliveredHere = bus === undefined || !bus.deliversOwn;
    if (isDeliveredHere && this.#sink !== undefined && this.#channels.has(publication.channel)) {
      this.#sink.deliver(publication);
    }
    if (bus === undefined || room === undefined) return RESOLVED;
    const except = publication.except === undefined ? [] : [publication.except];
    return bus.publish(room.nsp, room.room, except, publication.event, publication.args);
  }

  /**
   * Connection state recovery across nodes: the store of streams mode on Redis
   * (docs/recovery.md), undefined in the other modes and without Redis. Once asked,
   * publications on room channels reach this node's members when they are read back
   * from the stream, not before `publish` returns: every node's sockets then see the
   * stream's order, which is what lets a socket restored on another node get exactly
   * what it missed. The routes' `rename` does not apply to them, as it does not to
   * other nodes' broadcasts.
   */
  sessions(): ClusterSessions | undefined {
    if (this.#redis?.mode !== "streams") return undefined;
    this.#wantsSessions = true;
    const bus = () => this.#bus?.sessions();
    return {
      persist: async (session, ttlMs) => required(bus()).persist(session, ttlMs),
      peek: async (pid) => required(bus()).peek(pid),
      take: async (pid) => required(bus()).take(pid),
      after: async (nsp, offset, limit) => required(bus()).after(nsp, offset, limit),
      cursor: (nsp) => bus()?.cursor(nsp),
    };
  }

  health(): BackendHealth {
    if (this.#bus !== undefined) return this.#bus.health();
    return { isReady: this.#sink !== undefined };
  }

  /** Resolves the next time the backend is ready (at once without Redis, once started). */
  whenReady(): Promise<void> {
    return this.#bus?.whenReady() ?? RESOLVED;
  }

  /** Listens on the namespaces the sink serves now. */
  async onNamespacesChanged(): Promise<void> {
    if (this.#bus === undefined || this.#clusterSink === undefined) return;
    await this.#bus.setNamespaces(this.#clusterSink.namespaces());
  }

  /** Every room of `nsp` in the cluster; without Redis, this node's. */
  clusterRooms(nsp: string): Promise<string[]> {
    if (this.#bus !== undefined) return this.#bus.clusterRooms(nsp);
    const sink = this.#sink;
    return Promise.resolve(sink !== undefined && isClusterSink(sink) ? sink.rooms(nsp) : []);
  }

  /** Every socket `selector` targets in the cluster; without Redis, this node's. */
  clusterSockets(selector: SocketSelector): Promise<ClusterSocket[]> {
    if (this.#bus !== undefined) return this.#bus.clusterSockets(selector);
    const sink = this.#sink;
    return Promise.resolve(
      sink !== undefined && isClusterSink(sink) ? sink.fetchSockets(selector) : [],
    );
  }

  /** Nodes Redis counts for `nsp`; without Redis, 1. */
  serverCount(nsp: string): Promise<number> {
    return this.#bus?.serverCount(nsp) ?? Promise.resolve(1);
  }

  async close(): Promise<void> {
    this.#channels.clear();
    this.#sink = undefined;
    this.#clusterSink = undefined;
    // The bus stays, closed, so that a late publication fails with SWY_NATIVE_REDIS_CLOSED.
    await this.#bus?.close();
  }
}

/** The store once the bus exists; before, SWY_NATIVE_REDIS_UNAVAILABLE. */
function required(store: ClusterSessions | undefined): ClusterSessions {
  if (store === undefined) throw new SwitchyardError("SWY_NATIVE_REDIS_UNAVAILABLE");
  return store;
}

import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { Backend, BackendHealth, Delivery, DeliverySink } from "../egress/backend.js";
import { type ClusterView, isClusterView } from "../egress/cluster.js";
import { type BackendRegistry, parseRoomChannel } from "../egress/registry.js";
import { SwitchyardError } from "../errors.js";
import { ConnectRefusal } from "../ingress/sio/client.js";
import type { RoomObserver } from "../ingress/sio/namespace.js";
import { hasBinary } from "../ingress/sio/parser.js";
import type { SioServer, SocketHandler } from "../ingress/sio/server.js";
import type { AckCallback, DisconnectReason, Socket } from "../ingress/sio/socket.js";
import type {
  BroadcastRule,
  ChannelTooLong,
  ForwardRule,
  JoinRule,
  LeaveRule,
  NamespaceConfig,
  RoomBinding,
  RoomPattern,
  SwitchyardConfig,
  TemplateContext,
} from "../mapping/types.js";
import { metrics } from "../metrics.js";
import { authWebhook } from "./auth-webhook.js";
import { Authenticator, type Claims } from "./authenticator.js";
import { BackendSet } from "./backend-set.js";
import { ChannelBindings } from "./channel-bindings.js";
import { type ForwardAnswer, forwardEvent } from "./forward-event.js";
import { LocalNode } from "./local-node.js";

/** What the router keeps on `socket.data`. */
interface SocketState {
  /** The verified token's claims, in namespaces with `auth: { jwt }`. */
  readonly claims?: Claims;
  /** The namespace's `join` rooms, resolved at connect, joined once connected. */
  readonly autoJoin: readonly string[];
}

function stateOf(socket: Socket): SocketState | undefined {
  return socket.data as SocketState | undefined;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/** The event a client receives when an event it sent without an ack fails. */
export const ERROR_EVENT = "switchyard:error";

/** What {@link Router.reload} changed. */
export interface ReloadSummary {
  /** Rooms with local members that now live on another backend or channel. */
  readonly movedRooms: number;
  readonly addedBackends: readonly string[];
  readonly retiredBackends: readonly string[];
}

/**
 * Joins the ingress to the backends: applies the mapping's event rules to client
 * events, keeps one backend subscription per channel with local members (reference
 * counted over the rooms it carries), and fans deliveries out to those members.
 */
export class Router implements SocketHandler, RoomObserver {
  #config: SwitchyardConfig;
  readonly #backends: BackendSet;
  readonly #log: Logger;
  readonly #bindings = new ChannelBindings();
  /** Namespace name → its token verifier, for namespaces with `auth: { jwt }`. */
  #authenticators: ReadonlyMap<string, Authenticator>;
  /** One sink per backend instance, so a delivery says which backend it came from. */
  readonly #sinks = new WeakMap<Backend, DeliverySink>();
  #sio: SioServer | undefined;

  constructor(config: SwitchyardConfig, registry: BackendRegistry, log: Logger) {
    this.#config = config;
    this.#backends = new BackendSet(registry, log);
    this.#log = log;
    this.#authenticators = authenticatorsOf(config);
  }

  /** Binds the router to the ingress it serves; call once, before listening. */
  attach(sio: SioServer): void {
    this.#sio = sio;
  }

  /** Builds and starts the configured backends; call once, before listening. */
  async start(): Promise<void> {
    const plan = await this.#backends.prepare(this.#config.backends, (b) => this.#sinkOf(b));
    this.#backends.commit(plan);
  }

  /** The configuration in force. */
  get config(): SwitchyardConfig {
    return this.#config;
  }

  /**
   * Swaps in a new configuration at once: new rules, routes and auth apply to the
   * next event, and every room with local members whose backend or channel changed
   * moves (subscribe on the new channel, then unsubscribe from the old). Sockets stay
   * connected. Backends whose kind and settings did not change are kept as they are.
   * `server` and `api` are the listener's: they keep their values until a restart.
   *
   * @throws When a new backend fails to start; the current configuration stays.
   */
  async reload(next: SwitchyardConfig): Promise<ReloadSummary> {
    const plan = await this.#backends.prepare(next.backends, (b) => this.#sinkOf(b));
    this.#backends.commit(plan);
    this.#config = next;
    this.#authenticators = authenticatorsOf(next);
    let movedRooms = 0;
    for (const old of this.#bindings.all()) {
      const lookup = next.namespaces.get(old.nsp)?.routes.resolve(old.room);
      const backend = lookup?.ok ? plan.next.get(lookup.backend) : undefined;
      if (
        lookup?.ok &&
        backend === old.backend &&
        lookup.channel === old.channel &&
        isDeepStrictEqual(lookup.rename, old.rename)
      ) {
        continue;
      }
      movedRooms += 1;
      this.#unbind(old.nsp, old.room);
      if (lookup === undefined) continue; // its namespace is gone; the ingress drops its sockets
      this.#bind(old.nsp, old.room);
    }
    await Promise.allSettled(plan.retired.map((backend) => backend.close()));
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
    return this.#backends.close();
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

  // --- Ingress → router --------------------------------------------------------

  /**
   * Authenticates the connection when its namespace has `auth: { jwt }` or
   * `auth: { webhook }` (once per connection; the claims are kept on the socket for
   * templates and forward rules), then resolves the
   * namespace's `join` rooms. Refuses with CONNECT_ERROR `{message, data: {code}}`.
   */
  onConnect(socket: Socket, auth: Readonly<Record<string, unknown>>): undefined | Promise<void> {
    const nsp = this.#config.namespaces.get(socket.nsp.name);
    if (nsp === undefined) return undefined;
    if (nsp.auth.kind === "webhook") {
      return authWebhook(nsp.auth, nsp.name, auth).then(
        (claims) => this.#prepareSocket(socket, nsp, claims),
        (error: unknown) => {
          if (error instanceof ConnectRefusal) throw error;
          if (!(error instanceof SwitchyardError)) throw error;
          if (error.cause !== undefined) {
            this.#log.warn({ err: error.cause, nsp: nsp.name }, error.message);
          }
          throw this.#refuse(socket, error);
        },
      );
    }
    const authenticator = this.#authenticators.get(nsp.name);
    if (authenticator === undefined) {
      this.#prepareSocket(socket, nsp, undefined);
      return undefined;
    }
    return authenticator.verify(auth).then(
      (claims) => this.#prepareSocket(socket, nsp, claims),
      (error: unknown) => {
        if (!(error instanceof SwitchyardError)) throw error;
        throw this.#refuse(socket, error);
      },
    );
  }

  /** Joins the rooms {@link onConnect} resolved, now that the client knows it is connected. */
  onConnected(socket: Socket): void {
    const state = stateOf(socket);
    for (const room of state?.autoJoin ?? []) socket.join(room);
  }

  /**
   * Keeps the claims on the socket and resolves its `join` rooms.
   *
   * @throws ConnectRefusal SWY_ROOM_INVALID when a room template yields no valid room.
   */
  #prepareSocket(socket: Socket, nsp: NamespaceConfig, claims: Claims | undefined): void {
    if (claims === undefined && nsp.join.length === 0) return;
    const ctx: TemplateContext = {
      args: NO_ARGS,
      auth: socket.auth,
      ...(claims === undefined ? {} : { claims }),
      socketId: socket.id,
      nsp: nsp.name,
    };
    const { maxRoomLength } = this.#config.server;
    const autoJoin: string[] = [];
    for (const template of nsp.join) {
      const room = template(ctx);
      if (typeof room !== "string" || room.length === 0 || room.length > maxRoomLength) {
        throw this.#refuse(socket, new SwitchyardError("SWY_ROOM_INVALID", [maxRoomLength]));
      }
      const unroutable = this.#unroutable(nsp.name, room);
      if (unroutable !== undefined) throw this.#refuse(socket, unroutable);
      autoJoin.push(room);
    }
    const state: SocketState = { ...(claims === undefined ? {} : { claims }), autoJoin };
    socket.data = state;
  }

  /** A connect refusal for `error`, counted by the client; logged here at debug level. */
  #refuse(socket: Socket, error: SwitchyardError): ConnectRefusal {
    this.#log.debug({ socket: socket.id, nsp: socket.nsp.name, code: error.code }, error.message);
    return new ConnectRefusal(error.message, { code: error.code });
  }

  onEvent(socket: Socket, event: string, args: unknown[], ack: AckCallback | undefined): void {
    const rule = this.#config.namespaces.get(socket.nsp.name)?.events.get(event);
    if (rule === undefined) {
      this.#fail(socket, event, ack, new SwitchyardError("SWY_EVENT_UNKNOWN", [event]));
      return;
    }
    if (rule.action === "forward") {
      this.#forward(socket, rule, args, ack);
      return;
    }
    // Always the same keys, so every context shares one shape on this hot path.
    const ctx: TemplateContext = {
      args,
      auth: socket.auth,
      claims: stateOf(socket)?.claims,
      socketId: socket.id,
      nsp: socket.nsp.name,
    };
    const room = rule.room(ctx);
    const { maxRoomLength } = this.#config.server;
    if (typeof room !== "string" || room.length === 0 || room.length > maxRoomLength) {
      this.#fail(socket, event, ack, new SwitchyardError("SWY_ROOM_INVALID", [maxRoomLength]));
      return;
    }
    if (rule.action === "leave") {
      socket.leave(room);
      this.#succeed(rule, ctx, room, undefined, ack);
      return;
    }
    const captures = matchAny(rule.allow, room);
    if (captures === undefined) {
      this.#fail(socket, event, ack, new SwitchyardError("SWY_ROOM_NOT_ALLOWED", [room]));
      return;
    }
    if (rule.action === "join") {
      const unroutable = this.#unroutable(socket.nsp.name, room);
      if (unroutable !== undefined) {
        this.#fail(socket, event, ack, unroutable);
        return;
      }
      socket.join(room);
      this.#joined(socket.nsp.name, room).then(
        () => this.#succeed(rule, ctx, room, captures, ack),
        (error: SwitchyardError) => {
          socket.leave(room);
          this.#fail(socket, event, ack, error);
        },
      );
      return;
    }
    this.#broadcast(socket, rule, ctx, room, captures, ack);
  }

  onError(error: unknown): void {
    this.#log.error({ err: error }, "unexpected error in the router");
  }

  onDisconnect(socket: Socket, reason: DisconnectReason): void {
    this.#log.debug({ socket: socket.id, nsp: socket.nsp.name, reason }, "socket disconnected");
  }

  #broadcast(
    socket: Socket,
    rule: BroadcastRule,
    ctx: TemplateContext,
    room: string,
    captures: Readonly<Record<string, string>>,
    ack: AckCallback | undefined,
  ): void {
    if (rule.requireMembership && !socket.rooms.has(room)) {
      this.#fail(socket, rule.event, ack, new SwitchyardError("SWY_ROOM_NOT_MEMBER", [room]));
      return;
    }
    const args = rule.args === undefined ? ctx.args : rule.args.map((template) => template(ctx));
    const published = this.publish(
      socket.nsp.name,
      room,
      rule.emit,
      args,
      rule.exceptSender ? socket.id : undefined,
    );
    if (ack === undefined) {
      published.catch((error: SwitchyardError) => {
        this.#fail(socket, rule.event, undefined, error);
      });
      return;
    }
    published.then(
      () => this.#succeed(rule, ctx, room, captures, ack),
      (error: SwitchyardError) => this.#fail(socket, rule.event, ack, error),
    );
  }

  /**
   * Publishes an event to a room the way a client's broadcast does: on the room's
   * channel and backend, so members on this node and on every other node receive it.
   * Serves client broadcasts and the HTTP publish API. The caller has checked the
   * room and the event name.
   *
   * @param except A socket id the delivery leaves out.
   * @returns Resolves when the backend accepted the message; rejects with
   *   SWY_PUBLISH_FAILED (the cause attached) otherwise.
   */
  publish(
    nsp: string,
    room: string,
    event: string,
    args: readonly unknown[],
    except?: string,
  ): Promise<void> {
    const bound = this.#bindings.get(nsp, room);
    let backend = bound?.backend;
    let channel = bound?.channel;
    if (bound === undefined) {
      const lookup = this.#config.namespaces.get(nsp)?.routes.resolve(room);
      if (lookup === undefined) return Promise.reject(publishError(room, "no such namespace"));
      if (!lookup.ok) return Promise.reject(channelError(room, lookup));
      backend = this.#backends.get(lookup.backend);
      channel = lookup.channel;
    }
    if (backend === undefined || channel === undefined) {
      return Promise.reject(publishError(room, "its backend is not running"));
    }
    return backend.publish({ channel, event, args, except }).catch((cause: unknown) => {
      throw publishError(room, cause);
    });
  }

  /** The cluster view of the `native` backend, when it runs across nodes on Redis. */
  cluster(): ClusterView | undefined {
    const native = this.#backends.get("native");
    return native !== undefined && isClusterView(native) ? native : undefined;
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
  #joined(nsp: string, room: string): Promise<void> {
    const bound = this.#bindings.get(nsp, room);
    if (bound === undefined) return Promise.resolve();
    const { backend, ready } = bound;
    const timeout = this.#config.server.joinTimeout;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no confirmation within ${timeout} ms`)), timeout);
    });
    return Promise.race([ready, late]).then(
      () => clearTimeout(timer),
      (cause: unknown) => {
        clearTimeout(timer);
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new SwitchyardError("SWY_SUBSCRIBE_FAILED", [room, backend.name, reason], { cause });
      },
    );
  }

  /** SWY_CHANNEL_INVALID when the room's route cannot name a channel for it; else undefined. */
  #unroutable(nsp: string, room: string): SwitchyardError | undefined {
    const lookup = this.target(nsp, room);
    return lookup === undefined || lookup.ok ? undefined : channelError(room, lookup);
  }

  /**
   * Sends the event to the app and applies its answer in a fixed order: leave, join,
   * emit (published like a broadcast; all must be accepted), ack, disconnect. A failed
   * call applies nothing; a failed emit still lets the disconnect happen.
   */
  #forward(socket: Socket, rule: ForwardRule, args: unknown[], ack: AckCallback | undefined): void {
    if (hasBinary(args)) {
      this.#fail(socket, rule.event, ack, new SwitchyardError("SWY_FORWARD_BINARY", [rule.event]));
      return;
    }
    const claims = stateOf(socket)?.claims;
    const request = {
      event: rule.event,
      args,
      socket: { id: socket.id, nsp: socket.nsp.name, rooms: [...socket.rooms] },
      auth: socket.auth,
      ...(claims === undefined ? {} : { claims }),
    };
    const { maxRoomLength, maxHttpBufferSize } = this.#config.server;
    forwardEvent(rule, request, { maxRoomLength, maxBodyBytes: maxHttpBufferSize })
      .then((answer) => this.#applyAnswer(socket, rule, answer, ack))
      .catch((error: unknown) => {
        if (!(error instanceof SwitchyardError)) {
          this.onError(error);
          error = new SwitchyardError("SWY_INTERNAL", ["forward failed"], { cause: error });
        } else {
          // The app misbehaved or is away: the operator's concern. The cause may name
          // the app's host; it stays in the log, not on the wire.
          this.#log.warn({ err: error.cause, event: rule.event, at: rule.at }, error.message);
        }
        this.#fail(socket, rule.event, ack, error as SwitchyardError);
      });
  }

  async #applyAnswer(
    socket: Socket,
    rule: ForwardRule,
    answer: ForwardAnswer,
    ack: AckCallback | undefined,
  ): Promise<void> {
    const nsp = socket.nsp.name;
    for (const room of answer.join) {
      const unroutable = this.#unroutable(nsp, room);
      if (unroutable !== undefined) {
        this.#fail(socket, rule.event, ack, unroutable);
        return;
      }
    }
    for (const room of answer.leave) socket.leave(room);
    for (const room of answer.join) socket.join(room);
    const published = await Promise.allSettled(
      answer.emit.map((e) =>
        this.publish(nsp, e.room, e.event, e.args, e.exceptSender ? socket.id : undefined),
      ),
    );
    const failed = published.find((p) => p.status === "rejected");
    if (failed === undefined) ack?.(answer.ack);
    else this.#fail(socket, rule.event, ack, failed.reason as SwitchyardError);
    if (answer.disconnect) socket.disconnect();
  }

  #succeed(
    rule: JoinRule | LeaveRule | BroadcastRule,
    ctx: TemplateContext,
    room: string,
    captures: Readonly<Record<string, string>> | undefined,
    ack: AckCallback | undefined,
  ): void {
    if (ack === undefined) return;
    ack(rule.ack === undefined ? { ok: true } : rule.ack({ ...ctx, room, captures }));
  }

  /** Tells the sender what went wrong: in its ack, or as a `switchyard:error` event. */
  #fail(socket: Socket, event: string, ack: AckCallback | undefined, error: SwitchyardError): void {
    metrics.errors.inc({ code: error.code });
    this.#log.debug({ socket: socket.id, event, code: error.code }, error.message);
    if (ack !== undefined) ack({ ok: false, error: error.toJSON() });
    else socket.emit(ERROR_EVENT, { event, ...error.toJSON() });
  }

  // --- Rooms → subscriptions -----------------------------------------------------

  onRoomCreated(nsp: string, room: string): void {
    this.#bind(nsp, room);
  }

  onRoomDeleted(nsp: string, room: string): void {
    this.#unbind(nsp, room);
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
    const { channel, rename } = lookup;
    let ready = this.#bindings.subscription(backend, channel);
    if (ready === undefined) {
      ready = backend.subscribe(channel);
      ready.catch((cause: unknown) => {
        this.#log.warn({ err: cause, backend: backend.name, channel }, "subscribe failed");
      });
    }
    this.#bindings.bind({ nsp, room, backend, channel, rename, ready });
  }

  /** Unbinds a room, unsubscribing after the channel's last room. */
  #unbind(nsp: string, room: string): void {
    const unbound = this.#bindings.unbind(nsp, room);
    if (unbound === undefined || !unbound.isLast) return;
    const { backend, channel } = unbound.binding;
    backend.unsubscribe(channel).catch((cause: unknown) => {
      this.#log.error({ err: cause, backend: backend.name, channel }, "unsubscribe failed");
    });
  }

  // --- Backend → clients ---------------------------------------------------------

  /** The sink a backend starts with: channel deliveries, and this node for cluster backends. */
  #sinkOf(backend: Backend): DeliverySink {
    let sink = this.#sinks.get(backend);
    if (sink === undefined) {
      sink = new LocalNode({
        sio: () => this.#sio,
        namespaces: () => [...this.#config.namespaces.keys()],
        onDelivery: (delivery) => this.#deliver(backend, delivery),
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
    if (rooms.length === 1) {
      const { nsp, room, rename } = rooms[0]!;
      this.#sio
        ?.namespace(nsp)
        ?.broadcast(
          { rooms: [room], except: delivery.except },
          rename.get(delivery.event) ?? delivery.event,
          delivery.args,
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
        ?.broadcast({ rooms: names, except: delivery.except }, event, delivery.args);
    }
  }
}

function authenticatorsOf(config: SwitchyardConfig): Map<string, Authenticator> {
  const out = new Map<string, Authenticator>();
  for (const nsp of config.namespaces.values()) {
    if (nsp.auth.kind === "jwt") out.set(nsp.name, new Authenticator(nsp.auth));
  }
  return out;
}

function channelError(room: string, lookup: ChannelTooLong): SwitchyardError {
  return new SwitchyardError("SWY_CHANNEL_INVALID", [
    room,
    lookup.length,
    lookup.backend,
    lookup.maxLength,
  ]);
}

const ANY: Readonly<Record<string, string>> = Object.freeze({});

function matchAny(
  patterns: readonly RoomPattern[],
  room: string,
): Readonly<Record<string, string>> | undefined {
  if (patterns.length === 0) return ANY;
  for (const pattern of patterns) {
    const captures = pattern.match(room);
    if (captures !== undefined) return captures;
  }
  return undefined;
}

/** A backend's own coded error as it is; anything else as SWY_PUBLISH_FAILED with its cause. */
function publishError(room: string, cause: unknown): SwitchyardError {
  if (cause instanceof SwitchyardError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new SwitchyardError("SWY_PUBLISH_FAILED", [room, reason], { cause });
}

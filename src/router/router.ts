import type { Logger } from "pino";
import { hasBinary } from "../binary.js";
import type { BackendHealth } from "../egress/backend.js";
import type { BackendRegistry } from "../egress/registry.js";
import { SwitchyardError } from "../errors.js";
import { ConnectRefusal } from "../ingress/sio/client.js";
import type { SioServer, SocketHandler } from "../ingress/sio/server.js";
import type { AckCallback, DisconnectReason, Socket } from "../ingress/sio/socket.js";
import type {
  BroadcastRule,
  ForwardRule,
  JoinRule,
  LeaveRule,
  NamespaceConfig,
  RoomPattern,
  SwitchyardConfig,
  TemplateContext,
} from "../mapping/types.js";
import { metrics } from "../metrics.js";
import { authWebhook } from "./auth-webhook.js";
import { Authenticator, type Claims } from "./authenticator.js";
import { type ForwardAnswer, forwardEvent } from "./forward-event.js";
import { type ReloadSummary, RoomChannels } from "./room-channels.js";

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

/**
 * Joins the ingress to the backends: authenticates connections and applies the
 * mapping's event rules to client events; {@link RoomChannels} carries the rooms on
 * their backends' channels and delivers what arrives back to the members.
 */
export class Router implements SocketHandler {
  /** Rooms ↔ backend channels: the ingress's room observer. */
  readonly rooms: RoomChannels;
  #config: SwitchyardConfig;
  readonly #log: Logger;
  /** Namespace name → its token verifier, for namespaces with `auth: { jwt }`. */
  #authenticators: ReadonlyMap<string, Authenticator>;

  constructor(config: SwitchyardConfig, registry: BackendRegistry, log: Logger) {
    this.#config = config;
    this.rooms = new RoomChannels(config, registry, log);
    this.#log = log;
    this.#authenticators = authenticatorsOf(config);
  }

  /** Binds the router to the ingress it serves; call once, before listening. */
  attach(sio: SioServer): void {
    this.rooms.attach(sio);
  }

  /** Builds and starts the configured backends; call once, before listening. */
  start(): Promise<void> {
    return this.rooms.start();
  }

  /** The configuration in force. */
  get config(): SwitchyardConfig {
    return this.#config;
  }

  /**
   * Swaps in a new configuration at once: new rules, routes and auth apply to the
   * next event, and every room with local members whose backend or channel changed
   * moves (see {@link RoomChannels.reload}). Sockets stay connected. `server` and
   * `api` are the listener's: they keep their values until a restart.
   *
   * @throws When a new backend fails to start; the current configuration stays.
   */
  async reload(next: SwitchyardConfig): Promise<ReloadSummary> {
    const summary = await this.rooms.reload(next);
    this.#config = next;
    this.#authenticators = authenticatorsOf(next);
    return summary;
  }

  /** Readiness per backend name. */
  health(): Map<string, BackendHealth> {
    return this.rooms.health();
  }

  /** Closes every backend. */
  close(): Promise<void> {
    return this.rooms.close();
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
      const unroutable = this.rooms.unroutable(nsp.name, room);
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
      const unroutable = this.rooms.unroutable(socket.nsp.name, room);
      if (unroutable !== undefined) {
        this.#fail(socket, event, ack, unroutable);
        return;
      }
      socket.join(room);
      this.rooms.joined(socket.nsp.name, room).then(
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
    const published = this.rooms.publish(
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
      const unroutable = this.rooms.unroutable(nsp, room);
      if (unroutable !== undefined) {
        this.#fail(socket, rule.event, ack, unroutable);
        return;
      }
    }
    for (const room of answer.leave) socket.leave(room);
    for (const room of answer.join) socket.join(room);
    const published = await Promise.allSettled(
      answer.emit.map((e) =>
        this.rooms.publish(nsp, e.room, e.event, e.args, e.exceptSender ? socket.id : undefined),
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
}

function authenticatorsOf(config: SwitchyardConfig): Map<string, Authenticator> {
  const out = new Map<string, Authenticator>();
  for (const nsp of config.namespaces.values()) {
    if (nsp.auth.kind === "jwt") out.set(nsp.name, new Authenticator(nsp.auth));
  }
  return out;
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

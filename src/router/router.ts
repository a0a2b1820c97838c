import type { Logger } from "pino";
import { hasBinary } from "../binary.js";
import type { BackendHealth } from "../egress/backend.js";
import type { BackendRegistry } from "../egress/registry.js";
import { SwitchyardError } from "../errors.js";
import { ConnectRefusal } from "../ingress/sio/client.js";
import type { SioServer, SocketHandler } from "../ingress/sio/server.js";
import type { AckCallback, DisconnectReason, Socket } from "../ingress/sio/socket.js";
import { reportInternalError } from "../internal-errors.js";
import { LogBudget } from "../log-budget.js";
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
import { Budgets, type SocketBudget } from "./budgets.js";
import { type ForwardAnswer, forwardEvent } from "./forward-event.js";
import { type ReloadSummary, RoomChannels } from "./room-channels.js";
import { TokenExpiry } from "./token-expiry.js";

/** What the router keeps on `socket.data`, budget included: one object per socket. */
class SocketState implements SocketBudget {
  tokens = 0;
  refilledAt = 0;
  forwards = 0;

  /**
   * @param autoJoin The namespace's `join` rooms, resolved at connect, joined once connected.
   * @param claims The verified token's claims, in namespaces with `auth: { jwt }`.
   */
  constructor(
    readonly autoJoin: readonly string[],
    readonly claims: Claims | undefined,
  ) {}
}

function stateOf(socket: Socket): SocketState | undefined {
  return socket.data as SocketState | undefined;
}

const NO_ROOMS: readonly string[] = Object.freeze([]);

/** What of a kept socket's state another node restores: its claims (docs/recovery.md). */
function portableState(data: unknown): unknown {
  const claims = data instanceof SocketState ? data.claims : undefined;
  return claims === undefined ? {} : { claims };
}

/** The claims of state another Switchyard node kept ({@link portableState}). */
function claimsOf(data: unknown): Claims | undefined {
  if (data === null || typeof data !== "object") return undefined;
  const { claims } = data as { claims?: unknown };
  return claims !== null && typeof claims === "object" && !Array.isArray(claims)
    ? (claims as Claims)
    : undefined;
}

/** Who a log line is about: the socket, its namespace, the client's address and request id. */
function whoIs(socket: Socket): Record<string, unknown> {
  return {
    socket: socket.id,
    nsp: socket.nsp.name,
    address: socket.client.address,
    reqId: socket.client.session.requestId,
  };
}

/**
 * The shapes of socket ids in a Socket.IO cluster: 20 characters of base64url (ours and
 * socket.io's), or `<namespace>#<id>` (socket.io's for 2.x clients). Only rooms of these
 * shapes can be another socket's id, so only they are looked up before a join.
 */
const SOCKET_ID_SHAPE = /^(?:\/[^#]*#)?[A-Za-z0-9_-]{20}$/;

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
  #sio: SioServer | undefined;
  readonly #log: Logger;
  /** Refusal lines logged at most: 100 per 10 s for the whole node. */
  readonly #refusalLines = new LogBudget(100, 10_000);
  /** Namespace name → its token verifier, for namespaces with `auth: { jwt }`. */
  #authenticators: ReadonlyMap<string, Authenticator>;
  /** Disconnects sockets whose token expires, in namespaces with `disconnectOnExpiry`. */
  readonly #tokenExpiry = new TokenExpiry();
  readonly #budgets: Budgets;

  constructor(config: SwitchyardConfig, registry: BackendRegistry, log: Logger) {
    this.#config = config;
    this.rooms = new RoomChannels(config, registry, log, (socket) => stateOf(socket)?.claims);
    this.#log = log;
    this.#authenticators = authenticatorsOf(config);
    this.#budgets = new Budgets(config.server);
  }

  /** Binds the router to the ingress it serves; call once, before listening. */
  attach(sio: SioServer): void {
    this.rooms.attach(sio);
    this.#sio = sio;
  }

  /**
   * Builds the configured backends and starts them; call once. They are in place at
   * once, reporting not ready until started; the promise settles once each has
   * started (rejecting with the first failure, such as a connection refused for good).
   *
   * @throws synchronously when a backend cannot be built from its settings.
   */
  start(): Promise<void> {
    const started = this.rooms.start();
    this.#shareSessions();
    return started;
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
    this.#shareSessions();
    return summary;
  }

  /**
   * With recovery on and the `native` backend on Redis streams, lets kept sockets be
   * restored on any node (docs/recovery.md): its store, the rooms it carries, and the
   * part of a socket's state that travels (its claims).
   */
  #shareSessions(): void {
    const recovery = this.#sio?.recovery;
    if (recovery === undefined) return;
    const store = this.rooms.sessions();
    recovery.shared = store && {
      persist: (session, ttlMs) => store.persist(session, ttlMs),
      peek: (pid) => store.peek(pid),
      take: (pid) => store.take(pid),
      after: (nsp, offset, limit) => store.after(nsp, offset, limit),
      cursor: (nsp) => store.cursor(nsp),
      readBack: (nsp, room) => this.rooms.readBackOf(nsp, room),
      attachPoint: (nsp, room) => this.rooms.attachPoint(nsp, room),
      hold: async (nsp, rooms) => {
        const namespace = this.#sio?.namespace(nsp);
        if (namespace === undefined) throw new Error(`namespace ${nsp} is gone`);
        namespace.holdRooms(rooms);
        await Promise.all(rooms.map((room) => this.rooms.joined(nsp, room)));
      },
      history: (nsp, room, from, limit) => this.rooms.history(nsp, room, from, limit),
      portable: portableState,
    };
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
      return authWebhook(nsp.auth, nsp.name, auth, this.#config.server.maxDepth).then(
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

  /**
   * A kept socket comes back without running auth again (`skipMiddlewares`): its claims
   * are still its own, unless its token expired meanwhile, which is refused as a new
   * connection with that token would be (SWY_AUTH_EXPIRED).
   */
  onRecover(socket: Socket): void {
    // A socket kept by another node comes with the state that travels, not the object.
    if (!(socket.data instanceof SocketState)) {
      socket.data = this.#newState(NO_ROOMS, claimsOf(socket.data));
    }
    const auth = this.#config.namespaces.get(socket.nsp.name)?.auth;
    const exp = stateOf(socket)?.claims?.exp;
    if (auth?.kind !== "jwt" || typeof exp !== "number") return;
    if (Date.now() >= Math.ceil(exp + auth.clockTolerance) * 1000) {
      throw this.#refuse(socket, new SwitchyardError("SWY_AUTH_EXPIRED"));
    }
  }

  /**
   * Joins the rooms {@link onConnect} resolved, now that the client knows it is
   * connected, and starts its token's expiry timer where the namespace asks for one.
   */
  onConnected(socket: Socket): void {
    if (this.#log.isLevelEnabled("debug")) {
      this.#log.debug({ ...whoIs(socket), recovered: socket.recovered }, "socket connected");
    }
    const state = stateOf(socket);
    for (const room of state?.autoJoin ?? []) socket.join(room);
    const auth = this.#config.namespaces.get(socket.nsp.name)?.auth;
    this.#tokenExpiry.watch(socket, auth, state?.claims);
  }

  /**
   * Keeps the claims on the socket and resolves its `join` rooms.
   *
   * @throws ConnectRefusal SWY_ROOM_INVALID when a room template yields no valid room.
   */
  #prepareSocket(socket: Socket, nsp: NamespaceConfig, claims: Claims | undefined): void {
    if (claims === undefined && nsp.join.length === 0) {
      socket.data = this.#newState(NO_ROOMS, undefined);
      return;
    }
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
    socket.data = this.#newState(autoJoin, claims);
  }

  /** A connect refusal for `error`, counted by the client; logged at info (budgeted). */
  #refuse(socket: Socket, error: SwitchyardError): ConnectRefusal {
    this.#logRefusal(socket, { code: error.code }, `connection refused: ${error.message}`);
    return new ConnectRefusal(error.message, { code: error.code });
  }

  /**
   * One info line per refusal, with who was refused and why; never the auth payload or
   * a token. Budgeted, so that a client repeating a refused request cannot flood the
   * log: past the budget refusals are still counted (`switchyard_errors_total`), and
   * the next line says how many were left out.
   */
  #logRefusal(socket: Socket, fields: Record<string, unknown>, message: string): void {
    const suppressed = this.#refusalLines.take();
    if (suppressed === undefined) return;
    this.#log.info(
      { ...whoIs(socket), ...fields, ...(suppressed > 0 ? { suppressed } : {}) },
      message,
    );
  }

  onEvent(socket: Socket, event: string, args: unknown[], ack: AckCallback | undefined): void {
    if (ack === undefined) {
      this.#onEvent(socket, event, args, undefined);
      return;
    }
    const rule = this.#config.namespaces.get(socket.nsp.name)?.events.get(event);
    this.#onEvent(socket, event, args, timedAck(ack, rule?.action ?? "none"));
  }

  #onEvent(socket: Socket, event: string, args: unknown[], ack: AckCallback | undefined): void {
    const limited = this.#budgets.takeEvent(this.#budgetOf(socket));
    if (limited !== undefined) {
      this.#fail(socket, event, ack, limited);
      return;
    }
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
      this.#succeed(rule, ctx, room, undefined, ack, socket);
      return;
    }
    // Captures are read only by ack templates: without one, a test that builds nothing will do.
    const captures =
      rule.ack === undefined ? testAny(rule.allow, room) : matchAny(rule.allow, room);
    if (captures === undefined) {
      this.#fail(socket, event, ack, new SwitchyardError("SWY_ROOM_NOT_ALLOWED", [room]));
      return;
    }
    if (rule.action === "join") {
      this.#join(socket, rule, ctx, room, captures, ack);
      return;
    }
    this.#broadcast(socket, rule, ctx, room, captures, ack);
  }

  /** Tells the sender of an event the ingress refused undecoded (SWY_PAYLOAD_TOO_DEEP). */
  onEventRefused(
    socket: Socket,
    event: string,
    error: SwitchyardError,
    ack: AckCallback | undefined,
  ): void {
    // A refused event still costs work: it is paid for like any other.
    this.#fail(socket, event, ack, this.#budgets.takeEvent(this.#budgetOf(socket)) ?? error);
  }

  onError(error: unknown): void {
    reportInternalError(this.#log, "router", error);
  }

  /**
   * Joins a room a rule allowed, once it is known not to be another socket's id, and
   * acks once the room's channel is subscribed.
   */
  #join(
    socket: Socket,
    rule: JoinRule,
    ctx: TemplateContext,
    room: string,
    captures: Readonly<Record<string, string>>,
    ack: AckCallback | undefined,
  ): void {
    const nsp = socket.nsp.name;
    const isNew = !socket.rooms.has(room);
    const refusal =
      (isNew ? this.#budgets.checkRooms(socket.rooms.size) : undefined) ??
      this.rooms.unroutable(nsp, room);
    if (refusal !== undefined) {
      this.#fail(socket, rule.event, ack, refusal);
      return;
    }
    if (!isNew || !SOCKET_ID_SHAPE.test(room)) {
      this.#joinNow(socket, rule, ctx, room, captures, ack);
      return;
    }
    this.#whenNotASocket(nsp, room).then(
      (reserved) => {
        if (reserved === undefined) this.#joinNow(socket, rule, ctx, room, captures, ack);
        else this.#fail(socket, rule.event, ack, reserved);
      },
      (error: unknown) => this.#fail(socket, rule.event, ack, asCoded(error)),
    );
  }

  /** The join itself. Never throws: a bug is reported and answered SWY_INTERNAL. */
  #joinNow(
    socket: Socket,
    rule: JoinRule,
    ctx: TemplateContext,
    room: string,
    captures: Readonly<Record<string, string>>,
    ack: AckCallback | undefined,
  ): void {
    if (!socket.isConnected) return;
    try {
      socket.join(room);
      this.rooms.joined(socket.nsp.name, room).then(
        () => this.#succeed(rule, ctx, room, captures, ack, socket),
        (error: SwitchyardError) => {
          socket.leave(room);
          this.#fail(socket, rule.event, ack, error);
        },
      );
    } catch (error) {
      this.#internal(socket, rule.event, ack, error);
    }
  }

  /**
   * Resolves with SWY_ROOM_RESERVED when `room` is the id of a connected socket of
   * `nsp`, on this node or (on Redis) any node of the cluster; else with undefined.
   * Joining such a room would receive what is sent to that socket alone.
   */
  async #whenNotASocket(nsp: string, room: string): Promise<SwitchyardError | undefined> {
    const reserved = () => new SwitchyardError("SWY_ROOM_RESERVED", [room]);
    if (this.rooms.isLocalSocket(nsp, room)) return reserved();
    const cluster = this.rooms.cluster();
    if (cluster === undefined) return undefined;
    const sockets = await cluster.clusterSockets({ nsp, rooms: [room], except: [] });
    return sockets.some((socket) => socket.id === room) ? reserved() : undefined;
  }

  onDisconnect(socket: Socket, reason: DisconnectReason): void {
    this.#tokenExpiry.forget(socket);
    if (this.#log.isLevelEnabled("debug")) {
      this.#log.debug({ ...whoIs(socket), reason }, "socket disconnected");
    }
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
    const published = this.rooms.publish(socket.nsp.name, room, rule.emit, args, {
      except: rule.exceptSender ? socket.id : undefined,
      origin: socket.id,
    });
    // #succeed and #fail never throw, so neither chain can end in an unhandled rejection.
    if (ack === undefined) {
      published.catch((error: SwitchyardError) => this.#fail(socket, rule.event, undefined, error));
    } else {
      published.then(
        () => this.#succeed(rule, ctx, room, captures, ack, socket),
        (error: SwitchyardError) => this.#fail(socket, rule.event, ack, error),
      );
    }
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
    const budget = this.#budgetOf(socket);
    const busy = this.#budgets.startForward(budget);
    if (busy !== undefined) {
      this.#fail(socket, rule.event, ack, busy);
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
    const { maxRoomLength, maxHttpBufferSize, maxDepth } = this.#config.server;
    forwardEvent(rule, request, { maxRoomLength, maxBodyBytes: maxHttpBufferSize, maxDepth })
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
      })
      .catch((error: unknown) => this.#internal(socket, rule.event, ack, error))
      .finally(() => this.#budgets.endForward(budget));
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
        this.rooms.publish(nsp, e.room, e.event, e.args, {
          except: e.exceptSender ? socket.id : undefined,
          origin: socket.id,
        }),
      ),
    );
    const failed = published.find((p) => p.status === "rejected");
    if (failed === undefined) ack?.(answer.ack);
    else this.#fail(socket, rule.event, ack, failed.reason as SwitchyardError);
    if (answer.disconnect) socket.disconnect();
  }

  /** Acks a rule's success. Never throws: a bug is reported and answered SWY_INTERNAL. */
  #succeed(
    rule: JoinRule | LeaveRule | BroadcastRule,
    ctx: TemplateContext,
    room: string,
    captures: Readonly<Record<string, string>> | undefined,
    ack: AckCallback | undefined,
    socket: Socket,
  ): void {
    if (ack === undefined) return;
    try {
      ack(rule.ack === undefined ? { ok: true } : rule.ack({ ...ctx, room, captures }));
    } catch (error) {
      this.#internal(socket, rule.event, ack, error);
    }
  }

  #newState(autoJoin: readonly string[], claims: Claims | undefined): SocketState {
    const state = new SocketState(autoJoin, claims);
    this.#budgets.open(state);
    return state;
  }

  /** The socket's budget; a socket accepted before the router knew it gets a fresh one. */
  #budgetOf(socket: Socket): SocketBudget {
    let state = stateOf(socket);
    if (state === undefined) {
      state = this.#newState(NO_ROOMS, undefined);
      socket.data = state;
    }
    return state;
  }

  /** A bug on a client's path: reported, and the client told SWY_INTERNAL rather than nothing. */
  #internal(socket: Socket, event: string, ack: AckCallback | undefined, error: unknown): void {
    reportInternalError(this.#log, "event", error);
    this.#fail(socket, event, ack, new SwitchyardError("SWY_INTERNAL", ["event failed"]));
  }

  /**
   * Tells the sender what went wrong: in its ack, or as a `switchyard:error` event.
   * Never throws (a failure to tell is reported), so it can end any promise chain.
   */
  #fail(socket: Socket, event: string, ack: AckCallback | undefined, error: SwitchyardError): void {
    metrics.errors.inc({ code: error.code });
    this.#logRefusal(socket, { event, code: error.code }, `event refused: ${error.message}`);
    try {
      if (ack !== undefined) ack({ ok: false, error: error.toJSON() });
      else socket.emit(ERROR_EVENT, { event, ...error.toJSON() });
    } catch (again) {
      reportInternalError(this.#log, "event:answer", again);
    }
  }
}

/**
 * `ack`, observed in switchyard_ack_latency_seconds when it is sent: from the event's
 * arrival, by the rule's action and whether the ack reports an error (`ok: false`).
 */
function timedAck(ack: AckCallback, action: string): AckCallback {
  const started = performance.now();
  let isSent = false;
  return (...args: unknown[]) => {
    if (!isSent) {
      isSent = true;
      const first = args[0] as { ok?: unknown } | null | undefined;
      const outcome = typeof first === "object" && first?.ok === false ? "error" : "ok";
      metrics.ackLatency.observe({ action, outcome }, (performance.now() - started) / 1000);
    }
    ack(...args);
  };
}

/** A failure as the coded error the sender gets; anything uncoded is SWY_INTERNAL. */
function asCoded(error: unknown): SwitchyardError {
  return error instanceof SwitchyardError
    ? error
    : new SwitchyardError("SWY_INTERNAL", ["event failed"], { cause: error });
}

function authenticatorsOf(config: SwitchyardConfig): Map<string, Authenticator> {
  const out = new Map<string, Authenticator>();
  for (const nsp of config.namespaces.values()) {
    if (nsp.auth.kind === "jwt") out.set(nsp.name, new Authenticator(nsp.auth));
  }
  return out;
}

const ANY: Readonly<Record<string, string>> = Object.freeze({});

/** {@link matchAny} for callers that need no captures: ANY when a pattern matches. */
function testAny(
  patterns: readonly RoomPattern[],
  room: string,
): Readonly<Record<string, string>> | undefined {
  if (patterns.length === 0) return ANY;
  for (const pattern of patterns) if (pattern.test(room)) return ANY;
  return undefined;
}

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

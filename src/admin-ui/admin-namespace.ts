import { hostname } from "node:os";
import type { Logger } from "pino";
import { SwitchyardError } from "../errors.js";
import type { Namespace, SocketObserver } from "../ingress/sio/namespace.js";
import type { SioServer, SocketHandler } from "../ingress/sio/server.js";
import type { AckCallback, DisconnectReason, Socket } from "../ingress/sio/socket.js";
import type { AdminUiConfig, ServerConfig } from "../mapping/types.js";
import { metrics } from "../metrics.js";
import { Budgets, type SocketBudget } from "../router/budgets.js";
import { AdminAuth } from "./admin-auth.js";
import type { AdminBus, AdminBusSink, AdminOperation } from "./admin-bus.js";
import { type AdminSocket, serializeSocket } from "./serialize.js";

/** ms between two `server_stats`, as `@socket.io/admin-ui` sends them. */
export const STATS_INTERVAL = 2_000;
/** Sockets of one node listed in `all_sockets`; the UI would not draw more anyway. */
export const MAX_LISTED_SOCKETS = 10_000;

/** `config.supportedFeatures` of `@socket.io/admin-ui`; `EMIT` is not offered (see docs). */
const OPERATIONS = ["JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"] as const;

export interface AdminNamespaceOptions {
  readonly config: AdminUiConfig;
  readonly server: Pick<
    ServerConfig,
    | "maxRoomLength"
    | "eventsPerSecond"
    | "eventBurst"
    | "maxRoomsPerSocket"
    | "maxForwardsPerSocket"
    | "maxForwards"
  >;
  readonly sio: SioServer;
  /** This node's cluster tag, when it is one node of a cluster. */
  readonly nodeTag?: string;
  /** The other nodes of the cluster, when there are any. */
  readonly bus?: AdminBus;
  readonly log: Logger;
}

/** What an admin socket keeps: its event budget, and the session id of its login. */
class AdminSocketState implements SocketBudget {
  tokens = 0;
  refilledAt = 0;
  forwards = 0;
  session: string | undefined;
}

/**
 * The Socket.IO Admin UI's namespace (`@socket.io/admin-ui`'s protocol) on Switchyard:
 * basic auth, `config`, `server_stats` every {@link STATS_INTERVAL} with this node's
 * `serverId`, and in `development` mode `all_sockets` and each socket's connection,
 * rooms and events, from the ingress's {@link SocketObserver} hooks. Unless `readonly`,
 * the UI's `join`, `leave` and `_disconnect` act on the sockets they name, on this node
 * and, through the {@link AdminBus}, on every node of the cluster.
 *
 * The namespace sits outside the mapping: no event rule, room route or backend sees its
 * sockets, and it never lists itself. Its sockets have the event budget every socket
 * has (`limits.eventsPerSecond`, `limits.eventBurst`).
 */
export class AdminNamespace implements SocketHandler, SocketObserver, AdminBusSink {
  readonly #options: AdminNamespaceOptions;
  readonly #nsp: Namespace;
  readonly #auth: AdminAuth;
  readonly #budgets: Budgets;
  readonly #features: readonly string[];
  readonly #isDevelopment: boolean;
  readonly #serverId: string;
  readonly #timer: NodeJS.Timeout;
  /** Counter totals at the last stats, for the per-interval counts the UI's charts draw. */
  #totals = new Map<string, number>();

  constructor(options: AdminNamespaceOptions) {
    this.#options = options;
    const { config, sio } = options;
    this.#auth = new AdminAuth(config.auth, options.bus);
    this.#budgets = new Budgets(options.server);
    this.#isDevelopment = config.mode === "development";
    this.#features = [
      ...(config.readonly ? [] : OPERATIONS),
      "AGGREGATED_EVENTS",
      ...(this.#isDevelopment ? ["ALL_EVENTS"] : []),
    ];
    // In a cluster, two nodes may share a host (and a pid, in tests): the node tag tells them apart.
    this.#serverId =
      config.serverId ??
      (options.nodeTag === undefined ? hostname() : `${hostname()}#${options.nodeTag}`);
    this.#nsp = sio.addNamespace(config.namespace, this);
    // Production mode watches nothing per socket: the hooks stay unset and cost nothing.
    if (this.#isDevelopment) sio.observe(this);
    this.#timer = setInterval(() => this.#tick(), STATS_INTERVAL);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#options.sio.observe(undefined);
  }

  // The namespace's handler.

  onConnect(socket: Socket, auth: Readonly<Record<string, unknown>>): Promise<void> {
    const state = new AdminSocketState();
    this.#budgets.open(state);
    socket.data = state;
    return this.#auth.check(auth).then((session) => {
      state.session = session;
    });
  }

  onConnected(socket: Socket): void {
    const state = socket.data as AdminSocketState;
    if (state.session !== undefined) socket.emit("session", state.session);
    socket.emit("config", { supportedFeatures: this.#features });
    // The other nodes start publishing for this UI; this node's stats come at once.
    this.#options.bus?.watch();
    this.#stats().then(
      (stats) => {
        if (socket.isConnected) socket.emit("server_stats", stats);
      },
      (error: unknown) => this.onError(error),
    );
    if (this.#isDevelopment) this.#sendAllSockets(socket);
  }

  onEvent(socket: Socket, event: string, args: unknown[], ack: AckCallback | undefined): void {
    const limited = this.#budgets.takeEvent(socket.data as AdminSocketState);
    if (limited !== undefined) {
      this.#fail(ack, limited);
      return;
    }
    if (event !== "join" && event !== "leave" && event !== "_disconnect") {
      this.#fail(ack, invalid(event, "not an operation of the Admin UI"));
      return;
    }
    if (this.#options.config.readonly) {
      this.#fail(ack, new SwitchyardError("SWY_ADMIN_UI_READONLY", [event]));
      return;
    }
    const operation = this.#parse(event, args);
    if (typeof operation === "string") {
      this.#fail(ack, invalid(event, operation));
      return;
    }
    this.#options.log.info(
      { operation: operation.op, nsp: operation.nsp, filter: operation.filter },
      "admin ui operation",
    );
    this.#apply(operation);
    this.#options.bus?.operate(operation);
    ack?.({ ok: true });
  }

  onEventRefused(
    socket: Socket,
    _event: string,
    error: SwitchyardError,
    ack: AckCallback | undefined,
  ): void {
    this.#fail(ack, this.#budgets.takeEvent(socket.data as AdminSocketState) ?? error);
  }

  onDisconnect(_socket: Socket, _reason: DisconnectReason): void {}

  onError(error: unknown): void {
    metrics.errors.inc({ code: "SWY_INTERNAL" });
    this.#options.log.error({ err: error }, "admin ui: internal error");
  }

  // The ingress's hooks: what the UI shows of every other socket (development mode).

  onSocketConnected(socket: Socket): void {
    if (this.#isWatched()) this.#emit("socket_connected", [serializeSocket(socket), new Date()]);
  }

  onEventReceived(socket: Socket, event: string, args: readonly unknown[]): void {
    if (this.#isWatched()) {
      this.#emit("event_received", [socket.nsp.name, socket.id, [event, ...args], new Date()]);
    }
  }

  onEventSent(socket: Socket, event: string, args: readonly unknown[]): void {
    if (this.#isWatched()) {
      this.#emit("event_sent", [socket.nsp.name, socket.id, [event, ...args], new Date()]);
    }
  }

  onRoomJoined(socket: Socket, room: string): void {
    if (this.#isWatched())
      this.#emit("room_joined", [socket.nsp.name, room, socket.id, new Date()]);
  }

  onRoomLeft(socket: Socket, room: string): void {
    if (this.#isWatched()) this.#emit("room_left", [socket.nsp.name, room, socket.id, new Date()]);
  }

  /** As `@socket.io/admin-ui` tells it: the socket's new transport. */
  onUpgraded(socket: Socket): void {
    if (this.#isWatched()) {
      this.#emit("socket_updated", [
        { id: socket.id, nsp: socket.nsp.name, transport: socket.client.session.transportName },
      ]);
    }
  }

  onSocketDisconnected(socket: Socket, reason: DisconnectReason): void {
    if (this.#isWatched()) {
      this.#emit("socket_disconnected", [socket.nsp.name, socket.id, reason, new Date()]);
    }
  }

  // What the other nodes send.

  onEmit(event: string, args: readonly unknown[]): void {
    this.#emitHere(event, args);
  }

  onOperation(operation: unknown): void {
    // Checked again as it arrives: another node's words are read like a UI's.
    const op = (operation ?? {}) as Partial<Record<string, unknown>>;
    const name = op.op;
    if (name !== "join" && name !== "leave" && name !== "_disconnect") return;
    const parsed = this.#parse(name, [
      op.nsp,
      name === "_disconnect" ? op.close : op.room,
      op.filter,
    ]);
    if (typeof parsed !== "string") this.#apply(parsed);
  }

  #apply(operation: AdminOperation): void {
    // #parse made sure it is one of the mapping's namespaces, never the admin one.
    const nsp = this.#options.sio.namespace(operation.nsp)!;
    const sockets = nsp.select({ rooms: operation.filter === undefined ? [] : [operation.filter] });
    for (const socket of sockets) {
      if (operation.op === "_disconnect") socket.disconnect(operation.close);
      else if (operation.op === "join") socket.join(operation.room);
      else socket.leave(operation.room);
    }
  }

  localSockets(): AdminSocket[] {
    if (!this.#isDevelopment) return [];
    const out: AdminSocket[] = [];
    for (const nsp of this.#options.sio.namespaces()) {
      for (const socket of nsp.sockets.values()) {
        if (out.length >= MAX_LISTED_SOCKETS) return out;
        out.push(serializeSocket(socket));
      }
    }
    return out;
  }

  onWatched(): void {
    this.#tick();
  }

  /** The UI's operations as `@socket.io/admin-ui` receives them, or why not. */
  #parse(event: "join" | "leave" | "_disconnect", args: unknown[]): AdminOperation | string {
    const [nsp, second, filter] = args;
    if (typeof nsp !== "string") return "the namespace must be a string";
    const namespace = this.#options.sio.namespace(nsp);
    if (namespace === undefined || namespace.handler !== undefined) {
      return `no namespace ${nsp.slice(0, 100)}`;
    }
    const { maxRoomLength } = this.#options.server;
    if (filter !== undefined && filter !== null && !isRoom(filter, maxRoomLength)) {
      return `the filter must be a room or socket id of at most ${maxRoomLength} characters`;
    }
    const filtered = typeof filter === "string" ? { filter } : {};
    if (event === "_disconnect") {
      if (typeof second !== "boolean") return "close must be true or false";
      return { op: event, nsp, close: second, ...filtered };
    }
    if (!isRoom(second, maxRoomLength)) {
      return `the room must be a non-empty string of at most ${maxRoomLength} characters`;
    }
    return { op: event, nsp, room: second, ...filtered };
  }

  #fail(ack: AckCallback | undefined, error: SwitchyardError): void {
    metrics.errors.inc({ code: error.code });
    this.#options.log.debug({ code: error.code }, error.message);
    ack?.({ ok: false, error: error.toJSON() });
  }

  /** Whether a UI is connected to this node or, as the bus last heard, to another one. */
  #isWatched(): boolean {
    return this.#nsp.sockets.size > 0 || this.#options.bus?.isWatched === true;
  }

  /** To this node's UIs and, through the bus, every other node's. */
  #emit(event: string, args: readonly unknown[]): void {
    this.#emitHere(event, args);
    this.#options.bus?.emit(event, args);
  }

  /** Encoded once for every UI connected here. */
  #emitHere(event: string, args: readonly unknown[]): void {
    if (this.#nsp.sockets.size > 0) this.#nsp.broadcast({ rooms: [] }, event, args);
  }

  #sendAllSockets(socket: Socket): void {
    const local = this.localSockets();
    const remote = this.#options.bus?.fetchSockets() ?? Promise.resolve([]);
    remote.then(
      (sockets) => {
        if (socket.isConnected) socket.emit("all_sockets", [...local, ...sockets]);
      },
      (error: unknown) => this.onError(error),
    );
  }

  #tick(): void {
    if (this.#nsp.sockets.size > 0) this.#options.bus?.watch();
    if (!this.#isWatched()) {
      // Counted anyway, so that the first stats a UI gets cover one interval, not all time.
      this.#aggregatedEvents().catch((error: unknown) => this.onError(error));
      return;
    }
    this.#stats().then(
      (stats) => this.#emit("server_stats", [stats]),
      (error: unknown) => this.onError(error),
    );
  }

  /** `server_stats` of `@socket.io/admin-ui`, this node's. */
  async #stats(): Promise<Record<string, unknown>> {
    const { sio } = this.#options;
    const namespaces: { name: string; socketsCount: number }[] = [];
    const polling = new Set<unknown>();
    for (const nsp of sio.namespaces()) {
      namespaces.push({ name: nsp.name, socketsCount: nsp.sockets.size });
      for (const socket of nsp.sockets.values()) {
        if (socket.client.session.transportName === "polling") polling.add(socket.client);
      }
    }
    return {
      serverId: this.#serverId,
      hostname: hostname(),
      pid: process.pid,
      uptime: process.uptime(),
      clientsCount: sio.engine.size,
      pollingClientsCount: polling.size,
      aggregatedEvents: await this.#aggregatedEvents(),
      namespaces,
    };
  }

  /**
   * What happened since the last stats, from the process's own counters: connections,
   * disconnections by reason, packets and bytes in and out, as the UI's charts draw them.
   */
  async #aggregatedEvents(): Promise<
    { timestamp: number; type: string; subType?: string; count: number }[]
  > {
    const timestamp = Math.floor(Date.now() / 1000) * 1000;
    const totals = new Map<string, number>();
    const add = (key: string, value: number) => totals.set(key, (totals.get(key) ?? 0) + value);
    for (const v of (await metrics.sessionsOpened.get()).values) add("rawConnection", v.value);
    for (const v of (await metrics.sessionsClosed.get()).values) {
      add(`rawDisconnection;${String(v.labels.reason ?? "")}`, v.value);
    }
    for (const [type, counter] of [
      ["packetsIn", metrics.packetsIn],
      ["packetsOut", metrics.packetsOut],
      ["bytesIn", metrics.bytesIn],
      ["bytesOut", metrics.bytesOut],
    ] as const) {
      for (const v of (await counter.get()).values) add(type, v.value);
    }
    const events = [];
    for (const [key, total] of totals) {
      const count = total - (this.#totals.get(key) ?? 0);
      if (count <= 0) continue;
      const [type, subType] = key.split(";") as [string, string | undefined];
      events.push({ timestamp, type, ...(subType === undefined ? {} : { subType }), count });
    }
    this.#totals = totals;
    return events;
  }
}

function isRoom(value: unknown, maxLength: number): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= maxLength;
}

function invalid(event: string, reason: string): SwitchyardError {
  return new SwitchyardError("SWY_ADMIN_UI_OPERATION_INVALID", [event.slice(0, 100), reason]);
}

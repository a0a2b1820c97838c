import { metrics } from "../../metrics.js";
import { Outbound } from "../engine/outbound.js";
import type { BroadcastLog } from "./broadcast-log.js";
import { encode, SioType } from "./parser.js";
import { type ConnectionRecovery, isRecoverable } from "./recovery.js";
import type { SocketHandler } from "./server.js";
import type { DisconnectReason, Socket } from "./socket.js";

/** Counted once per broadcast: tallies, not prom-client calls (src/metrics.ts). */
const packetsOut = metrics.packetsOut.tally();
const bytesOut = metrics.bytesOut.tally();

/**
 * Told when a room gains its first local member or loses its last, and, when it asks,
 * of every member that joins or leaves (after the room was created, before it is
 * deleted).
 */
export interface RoomObserver {
  onRoomCreated(nsp: string, room: string): void;
  onRoomDeleted(nsp: string, room: string): void;
  onMemberJoined?(socket: Socket, room: string): void;
  onMemberLeft?(socket: Socket, room: string): void;
}

/**
 * Told of everything that happens to a namespace's sockets, for a watcher such as the
 * Admin UI (src/admin-ui/). Unset, which is the default, each hook costs one field read.
 */
export interface SocketObserver {
  /** The socket was accepted; it has joined no room yet. */
  onSocketConnected(socket: Socket): void;
  /** The socket left its namespace, after it left each of its rooms. */
  onSocketDisconnected(socket: Socket, reason: DisconnectReason): void;
  onRoomJoined(socket: Socket, room: string): void;
  onRoomLeft(socket: Socket, room: string): void;
  /** An event from the client, before any rule or limit judged it. */
  onEventReceived(socket: Socket, event: string, args: readonly unknown[]): void;
  /** An event sent to this socket alone (broadcasts are not reported, as in socket.io). */
  onEventSent(socket: Socket, event: string, args: readonly unknown[]): void;
  /** The socket's session moved from polling to WebSocket. */
  onUpgraded(socket: Socket): void;
}

/**
 * Who receives a broadcast. As in socket.io, a socket id names a room holding just
 * that socket, in `rooms` and in `exceptRooms`.
 */
export interface BroadcastTarget {
  /** Rooms whose members receive it; empty means every socket of the namespace. */
  readonly rooms: readonly string[];
  /** A socket id left out (the sender, for except-sender broadcasts). */
  readonly except?: string;
  /** Rooms whose members are left out (socket.io's `except(rooms)`). */
  readonly exceptRooms?: readonly string[];
}

/** Called for every socket that leaves the namespace. */
export type DisconnectListener = (socket: Socket, reason: DisconnectReason) => void;

/**
 * One namespace's sockets and its local room registry: room → members and, on each
 * socket, socket → rooms.
 */
export class Namespace {
  readonly name: string;
  readonly sockets = new Map<string, Socket>();
  readonly #rooms = new Map<string, Set<Socket>>();
  /** Rooms kept sockets hold (docs/recovery.md): room → how many; kept even without members. */
  readonly #held = new Map<string, number>();
  readonly #observer: RoomObserver | undefined;
  readonly #onDisconnect: DisconnectListener;
  readonly #recovery: ConnectionRecovery | undefined;
  /** This namespace's broadcasts, when recovery is on. */
  readonly #log: BroadcastLog | undefined;
  /**
   * @internal Set by the server: the watcher of this namespace's sockets (the Admin UI),
   * when one is on.
   */
  socketObserver: SocketObserver | undefined;
  /**
   * The handler of a namespace outside the mapping (the Admin UI's); undefined: the
   * server's handler.
   */
  handler: SocketHandler | undefined;

  constructor(
    name: string,
    onDisconnect: DisconnectListener,
    observer?: RoomObserver,
    recovery?: ConnectionRecovery,
  ) {
    this.name = name;
    this.#onDisconnect = onDisconnect;
    this.#observer = observer;
    this.#recovery = recovery;
    this.#log = recovery?.logOf(name);
  }

  /** Number of rooms with at least one member. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /** The members of a room (do not mutate). */
  members(room: string): ReadonlySet<Socket> | undefined {
    return this.#rooms.get(room);
  }

  roomNames(): IterableIterator<string> {
    return this.#rooms.keys();
  }

  /**
   * Sends an event to every targeted socket. The packet is encoded once and the
   * same bytes go to every recipient. Returns the number of recipients.
   */
  broadcast(
    target: BroadcastTarget,
    event: string,
    args: readonly unknown[],
    options: {
      readonly volatile?: boolean;
      /** The entry id of a broadcast read from a shared stream: its offset. */
      readonly offset?: string | undefined;
      /** Where its channel's history holds it (an Ably message id), logged with it. */
      readonly position?: string | undefined;
    } = {},
  ): number {
    // With recovery on, a broadcast carries its offset as its last argument (as
    // socket.io's does, volatile ones excepted), which the client keeps to recover from:
    // the entry id of one read from a shared stream, this node's own otherwise.
    const log = options.volatile === true ? undefined : this.#log;
    // A message a restored socket already got from its channel's history, which this
    // node's own subscription delivers only now, is kept from that socket.
    const replayedTo =
      options.position === undefined ? undefined : this.#recovery?.replayedTo(options.position);
    if (replayedTo !== undefined) {
      target = { ...target, exceptRooms: [...(target.exceptRooms ?? []), ...replayedTo] };
    }
    const streamId = log === undefined ? undefined : options.offset;
    const offset = streamId ?? log?.nextOffset();
    const [text, ...attachments] = encode({
      type: SioType.EVENT,
      nsp: this.name,
      data: offset === undefined ? [event, ...args] : [event, ...args, offset],
    });
    const packets = [Outbound.message(text), ...attachments.map((b) => Outbound.message(b))];
    if (log !== undefined) {
      const { position } = options;
      log.append(
        target,
        text,
        attachments,
        Date.now(),
        streamId,
        position === undefined ? undefined : { rooms: target.rooms, id: position },
      );
    }
    const recipients = this.#deliver(target, packets);
    packetsOut.add(recipients);
    bytesOut.add(recipients * text.length);
    return recipients;
  }

  #deliver(target: BroadcastTarget, packets: readonly Outbound[]): number {
    let count = 0;
    this.forEachTarget(target, (socket) => {
      const session = socket.client.session;
      for (const packet of packets) session.send(packet);
      count++;
    });
    return count;
  }

  /** The sockets a target selects, each once. */
  select(target: BroadcastTarget): Socket[] {
    const out: Socket[] = [];
    this.forEachTarget(target, (socket) => out.push(socket));
    return out;
  }

  /** Calls `fn` once for every socket the target selects. */
  forEachTarget(target: BroadcastTarget, fn: (socket: Socket) => void): void {
    const { rooms, except } = target;
    const excluded = this.#excluded(target.exceptRooms);
    const visit =
      excluded === undefined
        ? (socket: Socket) => {
            if (socket.id !== except) fn(socket);
          }
        : (socket: Socket) => {
            if (socket.id !== except && !excluded.has(socket)) fn(socket);
          };
    if (rooms.length === 0) {
      for (const socket of this.sockets.values()) visit(socket);
    } else if (rooms.length === 1) {
      const members = this.#membersOf(rooms[0]!);
      if (members !== undefined) for (const socket of members) visit(socket);
    } else {
      // A socket in several of the target rooms still receives the packet once.
      const seen = new Set<Socket>();
      for (const room of rooms) {
        const members = this.#membersOf(room);
        if (members === undefined) continue;
        for (const socket of members) {
          if (seen.has(socket)) continue;
          seen.add(socket);
          visit(socket);
        }
      }
    }
  }

  /** A room's members; a socket id that is no room names its own socket. */
  #membersOf(room: string): Iterable<Socket> | undefined {
    const members = this.#rooms.get(room);
    if (members !== undefined) return members;
    const socket = this.sockets.get(room);
    return socket === undefined ? undefined : [socket];
  }

  #excluded(rooms: readonly string[] | undefined): Set<Socket> | undefined {
    if (rooms === undefined || rooms.length === 0) return undefined;
    const out = new Set<Socket>();
    for (const room of rooms) {
      for (const socket of this.#membersOf(room) ?? []) out.add(socket);
    }
    return out;
  }

  /** @internal */
  addToRoom(socket: Socket, room: string): void {
    let members = this.#rooms.get(room);
    if (members === undefined) {
      members = new Set();
      this.#rooms.set(room, members);
      metrics.rooms.inc({ namespace: this.name });
      this.#observer?.onRoomCreated(this.name, room);
    }
    members.add(socket);
    this.#observer?.onMemberJoined?.(socket, room);
    this.socketObserver?.onRoomJoined(socket, room);
  }

  /** @internal */
  removeFromRoom(socket: Socket, room: string): void {
    const members = this.#rooms.get(room);
    if (members === undefined || !members.delete(socket)) return;
    this.#observer?.onMemberLeft?.(socket, room);
    this.socketObserver?.onRoomLeft(socket, room);
    this.#deleteIfUnused(room, members);
  }

  #deleteIfUnused(room: string, members: Set<Socket>): void {
    if (members.size > 0 || this.#held.has(room)) return;
    this.#rooms.delete(room);
    metrics.rooms.dec({ namespace: this.name });
    this.#observer?.onRoomDeleted(this.name, room);
  }

  /**
   * @internal A socket's connection was lost: with recovery on and a reason socket.io
   * recovers from, the socket is kept and its rooms held, before it leaves them.
   */
  onSocketLost(socket: Socket, reason: DisconnectReason): void {
    const recovery = this.#recovery;
    if (recovery === undefined || socket.pid === undefined || !isRecoverable(reason)) return;
    const rooms = [...socket.rooms];
    for (const room of rooms) this.#held.set(room, (this.#held.get(room) ?? 0) + 1);
    recovery.keep({
      id: socket.id,
      pid: socket.pid,
      nsp: this.name,
      rooms,
      data: socket.data,
      auth: socket.auth,
    });
  }

  /**
   * @internal Holds rooms for a socket about to be restored here from another node:
   * each exists (its channel subscribed) even without members until released.
   */
  holdRooms(rooms: readonly string[]): void {
    for (const room of rooms) {
      this.#held.set(room, (this.#held.get(room) ?? 0) + 1);
      if (this.#rooms.has(room)) continue;
      this.#rooms.set(room, new Set());
      metrics.rooms.inc({ namespace: this.name });
      this.#observer?.onRoomCreated(this.name, room);
    }
  }

  /** @internal A kept socket was restored or forgotten: its rooms are no longer held. */
  releaseRooms(rooms: readonly string[]): void {
    for (const room of rooms) {
      const count = this.#held.get(room);
      if (count === undefined) continue;
      if (count > 1) this.#held.set(room, count - 1);
      else this.#held.delete(room);
      const members = this.#rooms.get(room);
      if (members !== undefined) this.#deleteIfUnused(room, members);
    }
  }

  /** @internal */
  onSocketConnected(socket: Socket): void {
    this.sockets.set(socket.id, socket);
    metrics.sockets.inc({ namespace: this.name });
    this.socketObserver?.onSocketConnected(socket);
  }

  /** @internal */
  onSocketClosed(socket: Socket, reason: DisconnectReason): void {
    if (!this.sockets.delete(socket.id)) return;
    metrics.sockets.dec({ namespace: this.name });
    this.#onDisconnect(socket, reason);
    this.socketObserver?.onSocketDisconnected(socket, reason);
  }
}

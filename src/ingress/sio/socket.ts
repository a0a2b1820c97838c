import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type { CloseReason } from "../engine/options.js";
import { Outbound } from "../engine/outbound.js";
import type { Client } from "./client.js";
import type { Namespace } from "./namespace.js";
import { encode, type SioPacket, SioType } from "./parser.js";

/** Counted once per packet: tallies, not prom-client calls (src/metrics.ts). */
const packetsOut = metrics.packetsOut.tally();
const bytesOut = metrics.bytesOut.tally();

/** Why a socket left its namespace: socket.io's reasons, plus `slow consumer`. */
export type DisconnectReason =
  | CloseReason
  | "client namespace disconnect"
  | "server namespace disconnect"
  | "forced server close";

/** Replies to a client's event that asked for an ack. Calling it twice sends once. */
export type AckCallback = (...args: unknown[]) => void;

interface PendingAck {
  resolve(args: unknown[]): void;
  reject(error: SwitchyardError): void;
  timer: NodeJS.Timeout;
}

/**
 * A session's attachment to one namespace: what the router sees of a client.
 * Membership changes go through {@link join} and {@link leave} so the namespace's
 * room registry stays the one truth.
 */
export class Socket {
  readonly id: string;
  readonly nsp: Namespace;
  readonly client: Client;
  /** The auth payload of the client's CONNECT (`{}` when none). */
  readonly auth: Readonly<Record<string, unknown>>;
  /** Rooms this socket is in. */
  readonly rooms = new Set<string>();
  /** Free for the router's per-socket state. */
  data: unknown;
  /**
   * The private id its client recovers it with (docs/recovery.md); set when
   * `connectionStateRecovery` is on, for Socket.IO v5 clients.
   */
  pid: string | undefined;
  /** Whether this socket is one that was kept and came back (socket.io's `socket.recovered`). */
  recovered = false;
  #isConnected = false;
  #acks: Map<number, PendingAck> | undefined;
  #nextAckId = 0;

  constructor(id: string, nsp: Namespace, client: Client, auth: Readonly<Record<string, unknown>>) {
    this.id = id;
    this.nsp = nsp;
    this.client = client;
    this.auth = auth;
  }

  get isConnected(): boolean {
    return this.#isConnected;
  }

  /** Sends an event to this socket alone. */
  emit(event: string, ...args: unknown[]): void {
    this.sendPacket({ type: SioType.EVENT, nsp: this.nsp.name, data: [event, ...args] });
    this.nsp.socketObserver?.onEventSent(this, event, args);
  }

  /**
   * Sends an event and waits for the client's ack.
   * Rejects with SWY_ACK_TIMEOUT after `timeoutMs`, or SWY_SOCKET_DISCONNECTED.
   */
  emitWithAck(event: string, args: readonly unknown[], timeoutMs: number): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      if (!this.#isConnected) {
        reject(new SwitchyardError("SWY_SOCKET_DISCONNECTED"));
        return;
      }
      const id = this.#nextAckId++;
      const timer = setTimeout(() => {
        this.#acks?.delete(id);
        reject(new SwitchyardError("SWY_ACK_TIMEOUT", [event, timeoutMs]));
      }, timeoutMs);
      this.#acks ??= new Map();
      this.#acks.set(id, { resolve, reject, timer });
      this.sendPacket({ type: SioType.EVENT, nsp: this.nsp.name, id, data: [event, ...args] });
      this.nsp.socketObserver?.onEventSent(this, event, args);
    });
  }

  join(room: string): void {
    if (this.rooms.has(room) || !this.#isConnected) return;
    this.rooms.add(room);
    this.nsp.addToRoom(this, room);
  }

  leave(room: string): void {
    if (!this.rooms.delete(room)) return;
    this.nsp.removeFromRoom(this, room);
  }

  /**
   * Disconnects the socket from its namespace (the client gets DISCONNECT and does
   * not reconnect on its own); with `closeSession`, closes the whole connection.
   */
  disconnect(closeSession = false): void {
    if (!this.#isConnected) return;
    this.sendPacket({ type: SioType.DISCONNECT, nsp: this.nsp.name });
    this.onClose("server namespace disconnect");
    if (closeSession) this.client.session.close("forced close");
  }

  /** Encodes and queues a packet for this socket. */
  sendPacket(packet: SioPacket): void {
    const [text, ...attachments] = encode(packet);
    const session = this.client.session;
    session.send(Outbound.message(text));
    for (const buffer of attachments) session.send(Outbound.message(buffer));
    packetsOut.add();
    bytesOut.add(text.length);
  }

  /** @internal The namespace accepted the connection. */
  onConnected(): void {
    this.#isConnected = true;
  }

  /** @internal An ACK arrived for one of our {@link emitWithAck} calls. */
  onAck(id: number, args: unknown[]): void {
    const pending = this.#acks?.get(id);
    if (pending === undefined) return;
    this.#acks!.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(args);
  }

  /** @internal Leaves every room and tells the namespace. Idempotent. */
  onClose(reason: DisconnectReason): void {
    if (!this.#isConnected) return;
    this.#isConnected = false;
    // Kept before it leaves its rooms, so that they stay held while it is away.
    this.nsp.onSocketLost(this, reason);
    for (const room of this.rooms) this.nsp.removeFromRoom(this, room);
    this.rooms.clear();
    if (this.#acks !== undefined) {
      for (const pending of this.#acks.values()) {
        clearTimeout(pending.timer);
        pending.reject(new SwitchyardError("SWY_SOCKET_DISCONNECTED"));
      }
      this.#acks = undefined;
    }
    this.client.onSocketClosed(this);
    this.nsp.onSocketClosed(this, reason);
  }
}

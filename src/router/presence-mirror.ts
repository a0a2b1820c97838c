import type { Logger } from "pino";
import type { Backend } from "../egress/backend.js";
import type { Socket } from "../ingress/sio/socket.js";

/** Where one member is present: the backend, the channel and its clientId there. */
interface Presence {
  readonly backend: Backend;
  readonly channel: string;
  readonly clientId: string;
}

/**
 * The presence mirror of routes with `presence`: each local member of such a room is a
 * presence member of the room's channel, under its clientId, on its backend's own
 * connection. Counted per (backend, channel, clientId), so that two sockets of one
 * user (one clientId) make one presence member, which leaves with the last of them.
 * Failures are logged; a member's presence never holds up its join.
 */
export class PresenceMirror {
  readonly #log: Logger;
  /** Backend → channel → clientId → local members under it. */
  readonly #counts = new Map<Backend, Map<string, Map<string, number>>>();
  /** Socket → room → where the socket is present for that room. */
  readonly #members = new Map<Socket, Map<string, Presence>>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** `socket`, a member of `room`, is present as `clientId` on `backend`'s `channel`. */
  enter(socket: Socket, room: string, presence: Presence): void {
    let rooms = this.#members.get(socket);
    if (rooms === undefined) {
      rooms = new Map();
      this.#members.set(socket, rooms);
    }
    if (rooms.has(room)) return;
    rooms.set(room, presence);
    const { backend, channel, clientId } = presence;
    let channels = this.#counts.get(backend);
    if (channels === undefined) {
      channels = new Map();
      this.#counts.set(backend, channels);
    }
    let clients = channels.get(channel);
    if (clients === undefined) {
      clients = new Map();
      channels.set(channel, clients);
    }
    const count = clients.get(clientId) ?? 0;
    clients.set(clientId, count + 1);
    if (count > 0) return;
    backend.enterPresence?.(channel, clientId).catch((error: unknown) => {
      this.#log.warn(
        { err: error, backend: backend.name, channel, clientId },
        "presence enter failed",
      );
    });
  }

  /** `socket` is no longer present for `room` (it left it, or moved it elsewhere). */
  leave(socket: Socket, room: string): void {
    const rooms = this.#members.get(socket);
    const presence = rooms?.get(room);
    if (rooms === undefined || presence === undefined) return;
    rooms.delete(room);
    if (rooms.size === 0) this.#members.delete(socket);
    const { backend, channel, clientId } = presence;
    const channels = this.#counts.get(backend);
    const clients = channels?.get(channel);
    const count = clients?.get(clientId) ?? 0;
    if (channels === undefined || clients === undefined || count === 0) return;
    if (count > 1) {
      clients.set(clientId, count - 1);
      return;
    }
    clients.delete(clientId);
    if (clients.size === 0) channels.delete(channel);
    if (channels.size === 0) this.#counts.delete(backend);
    backend.leavePresence?.(channel, clientId).catch((error: unknown) => {
      this.#log.warn(
        { err: error, backend: backend.name, channel, clientId },
        "presence leave failed",
      );
    });
  }
}

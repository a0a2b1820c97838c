import type { Backend } from "../egress/backend.js";
import type { ShadowBinding, Template } from "../mapping/types.js";

/** A room with local members, and the backend channel that carries it. */
export interface Binding {
  readonly nsp: string;
  readonly room: string;
  readonly backend: Backend;
  readonly channel: string;
  /** Event names changed on deliveries, from the room's route. */
  readonly rename: ReadonlyMap<string, string>;
  /** The route's presence mirror: the clientId of each member; absent: no mirror. */
  readonly presence?: Template | undefined;
  /** Where the room's publications are written a second time; absent: not shadowed. */
  readonly shadow?: ShadowBinding | undefined;
  /** Settles when the channel's subscription does: shared by the rooms of one channel. */
  readonly ready: Promise<void>;
  /** Publications to the room on this channel that the backend has not settled yet. */
  inflight: number;
  /** Set while the binding is retired (see {@link ChannelBindings.retire}): called when `inflight` reaches 0. */
  onIdle: (() => void) | undefined;
}

/**
 * Which backend channel carries each room that has members on this node, and the
 * reverse: which local rooms a channel's deliveries are for. Several rooms may share
 * one channel (a route may map them together); the node holds one subscription per
 * backend and channel, opened with the first room and closed with the last.
 *
 * A room that moves to another channel is bound to the new one at once while its old
 * binding is retired rather than dropped: the old channel still delivers to the room
 * until the caller releases it (make-before-break), so what was already on its way on
 * the old channel reaches the members.
 */
export class ChannelBindings {
  /** `nsp NUL room` → binding. */
  readonly #byRoom = new Map<string, Binding>();
  readonly #byChannel = new Map<Backend, Map<string, Binding[]>>();

  get(nsp: string, room: string): Binding | undefined {
    return this.#byRoom.get(keyOf(nsp, room));
  }

  /** Every binding, in the order rooms were bound. */
  all(): Binding[] {
    return [...this.#byRoom.values()];
  }

  /** The subscription of `backend`'s `channel`, when some local room holds it. */
  subscription(backend: Backend, channel: string): Promise<void> | undefined {
    return this.#byChannel.get(backend)?.get(channel)?.[0]?.ready;
  }

  /** The local rooms `backend`'s `channel` carries; empty when none. */
  rooms(backend: Backend, channel: string): readonly Binding[] {
    return this.#byChannel.get(backend)?.get(channel) ?? NONE;
  }

  /**
   * Binds a room (replacing nothing: unbind it first).
   *
   * @returns Whether the room is the channel's first, so the caller subscribes.
   */
  bind(binding: Binding): boolean {
    this.#byRoom.set(keyOf(binding.nsp, binding.room), binding);
    let channels = this.#byChannel.get(binding.backend);
    if (channels === undefined) {
      channels = new Map();
      this.#byChannel.set(binding.backend, channels);
    }
    const rooms = channels.get(binding.channel);
    if (rooms === undefined) {
      channels.set(binding.channel, [binding]);
      return true;
    }
    rooms.push(binding);
    return false;
  }

  /**
   * Unbinds a room.
   *
   * @returns The binding it had and whether it was its channel's last room, so the
   *   caller unsubscribes; `undefined` when the room was not bound.
   */
  unbind(nsp: string, room: string): { binding: Binding; isLast: boolean } | undefined {
    const binding = this.retire(nsp, room);
    return binding === undefined ? undefined : { binding, isLast: this.release(binding) };
  }

  /**
   * Takes a room's binding off the room, so that the room can be bound anew, while its
   * channel keeps delivering to the room until {@link release}.
   *
   * @returns The retired binding; `undefined` when the room was not bound.
   */
  retire(nsp: string, room: string): Binding | undefined {
    const key = keyOf(nsp, room);
    const binding = this.#byRoom.get(key);
    if (binding === undefined) return undefined;
    this.#byRoom.delete(key);
    return binding;
  }

  /**
   * Ends a retired binding's deliveries.
   *
   * @returns Whether it was its channel's last room, so the caller unsubscribes.
   */
  release(binding: Binding): boolean {
    const channels = this.#byChannel.get(binding.backend);
    const list = channels?.get(binding.channel);
    if (channels === undefined || list === undefined || !list.includes(binding)) return false;
    const rooms = list.filter((b) => b !== binding);
    if (rooms.length > 0) {
      channels.set(binding.channel, rooms);
      return false;
    }
    channels.delete(binding.channel);
    if (channels.size === 0) this.#byChannel.delete(binding.backend);
    return true;
  }
}

const NONE: readonly Binding[] = Object.freeze([]);

function keyOf(nsp: string, room: string): string {
  return `${nsp}\u0000${room}`;
}

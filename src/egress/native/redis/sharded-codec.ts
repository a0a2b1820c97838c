import { randomBytes } from "node:crypto";
import { hasBinary } from "../../../binary.js";
import {
  type ClusterCodec,
  distinct,
  encodeMsgpack,
  eventPacket,
  type Outbound,
} from "./cluster-codec.js";
import { ClusterAdapterCodec, ClusterMessageType, MAY_CARRY_BINARY } from "./cluster-message.js";
import type { ShardedSubscriptionMode } from "./redis-settings.js";

/** `MessageType` of socket.io-adapter's `ClusterAdapter`, which the sharded adapter speaks. */
export const ShardedMessageType = ClusterMessageType;

/** socket.io's socket ids are 20 characters; the sharded adapter tells rooms from ids by that. */
const SOCKET_ID_LENGTH = 20;

/**
 * The sharded dialect (`createShardedAdapter`, Redis 7 SPUBLISH/SSUBSCRIBE):
 * `ClusterMessage` `{type, data, uid, nsp}` as JSON, or MessagePack when a
 * broadcast, ack or fetch reply carries binary.
 *
 * - `${key}#${nsp}#`: every broadcast and request, always listened on;
 * - `${key}#${nsp}#${uid}#`: replies to the node `uid`;
 * - `${key}#${nsp}#${room}#`: single-room broadcasts without ack in the `dynamic`
 *   modes (not for 20-character rooms in `dynamic`, taken for socket ids).
 *
 * `uid` is 16 hex characters, like the adapter's.
 */
export class ShardedCodec extends ClusterAdapterCodec implements ClusterCodec {
  readonly #mode: ShardedSubscriptionMode;

  constructor(
    key: string,
    mode: ShardedSubscriptionMode,
    uid: string = randomBytes(8).toString("hex"),
  ) {
    super(key, uid);
    this.#mode = mode;
  }

  roomListening(nsp: string, room: string): string | undefined {
    return this.#hasRoomChannel(room) ? `${this.mainChannel(nsp)}${room}#` : undefined;
  }

  encodeBroadcast(
    nsp: string,
    room: string,
    except: readonly string[],
    event: string,
    args: readonly unknown[],
  ): Outbound {
    const data = {
      packet: eventPacket(nsp, event, args),
      opts: { rooms: [room], except: distinct(except), flags: {} },
    };
    return {
      channel: this.#hasRoomChannel(room)
        ? `${this.mainChannel(nsp)}${room}#`
        : this.mainChannel(nsp),
      payload: this.encodeMessage(nsp, ShardedMessageType.BROADCAST, data),
    };
  }

  /**
   * Whether single-room broadcasts of `room` travel on their own channel; publishing
   * and listening use the same rule. `dynamic` takes 20-character rooms for socket
   * ids, which socket.io nodes publish on the main channel.
   */
  #hasRoomChannel(room: string): boolean {
    if (this.#mode === "dynamic-private") return true;
    return this.#mode === "dynamic" && room.length !== SOCKET_ID_LENGTH;
  }

  protected encodeMessage(nsp: string, type: number, data: unknown): Buffer | string {
    // `uid` first (the adapter writes it third; key order means nothing to a reader),
    // so that this node tells its own messages from their first bytes (isOwn).
    const message = { uid: this.uid, type, data, nsp };
    // The adapter's rule: an object's `toJSON()` form counts (it is what JSON would send).
    return MAY_CARRY_BINARY.has(type) && hasBinary(data, true)
      ? encodeMsgpack(message)
      : JSON.stringify(message);
  }
}

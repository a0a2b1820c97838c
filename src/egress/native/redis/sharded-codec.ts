import { randomBytes } from "node:crypto";
import { hasBinary } from "../../../binary.js";
import type { SocketSelector } from "../../cluster.js";
import {
  asRecord,
  type ChannelRole,
  type ClusterCodec,
  decodePayload,
  distinct,
  encodeMsgpack,
  eventPacket,
  type Inbound,
  type Listening,
  type Outbound,
  OwnPrefix,
  type ReplyOut,
} from "./cluster-codec.js";
import {
  ClusterMessageType,
  decodeClusterMessage,
  decodeClusterReply,
  fetchSocketsBody,
  MAY_CARRY_BINARY,
  replyBody,
} from "./cluster-message.js";
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
export class ShardedCodec implements ClusterCodec {
  readonly uid: string;
  readonly #own: OwnPrefix;
  readonly #key: string;
  readonly #mode: ShardedSubscriptionMode;

  constructor(
    key: string,
    mode: ShardedSubscriptionMode,
    uid: string = randomBytes(8).toString("hex"),
  ) {
    this.#key = key;
    this.#mode = mode;
    this.uid = uid;
    this.#own = new OwnPrefix(uid);
  }

  isOwn(payload: Buffer): boolean {
    return this.#own.matches(payload);
  }

  mainChannel(nsp: string): string {
    return `${this.#key}#${nsp}#`;
  }

  listening(nsp: string): Listening {
    return {
      patterns: [],
      channels: [
        { channel: this.mainChannel(nsp), role: "broadcast" },
        { channel: `${this.mainChannel(nsp)}${this.uid}#`, role: "response" },
      ],
    };
  }

  countChannel(nsp: string): string {
    return this.mainChannel(nsp);
  }

  roomListening(nsp: string, room: string): string | undefined {
    return this.#hasRoomChannel(room) ? `${this.mainChannel(nsp)}${room}#` : undefined;
  }

  /** Room channels are listened on only while the room has local members: nothing to drop. */
  roomOfChannel(): undefined {
    return undefined;
  }

  decode(nsp: string, role: ChannelRole, payload: Buffer): Inbound {
    const message = asRecord(decodePayload(payload), "message");
    if (role === "response") return decodeClusterReply(message);
    return decodeClusterMessage(nsp, this.uid, message);
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
      payload: this.#encode(nsp, ShardedMessageType.BROADCAST, data),
    };
  }

  /** The sharded protocol has no all-rooms request. */
  encodeAllRooms(): undefined {
    return undefined;
  }

  encodeFetchSockets(nsp: string, requestId: string, selector: SocketSelector): Outbound {
    const { type, data } = fetchSocketsBody(requestId, selector);
    return { channel: this.mainChannel(nsp), payload: this.#encode(nsp, type, data) };
  }

  encodeReply(nsp: string, to: string, reply: ReplyOut): Outbound | undefined {
    const body = replyBody(reply);
    if (body === undefined) return undefined;
    return {
      channel: `${this.mainChannel(nsp)}${to}#`,
      payload: this.#encode(nsp, body.type, body.data),
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

  #encode(nsp: string, type: number, data: unknown): Buffer | string {
    // `uid` first (the adapter writes it third; key order means nothing to a reader),
    // so that this node tells its own messages from their first bytes (isOwn).
    const message = { uid: this.uid, type, data, nsp };
    // The adapter's rule: an object's `toJSON()` form counts (it is what JSON would send).
    return MAY_CARRY_BINARY.has(type) && hasBinary(data, true)
      ? encodeMsgpack(message)
      : JSON.stringify(message);
  }
}

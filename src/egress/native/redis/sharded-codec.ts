import { randomBytes } from "node:crypto";
import { hasBinary } from "../../../binary.js";
import type { SocketSelector } from "../../cluster.js";
import {
  asRecord,
  asRequestId,
  asRooms,
  broadcastOf,
  type ChannelRole,
  type ClusterCodec,
  decodePayload,
  encodeMsgpack,
  eventPacket,
  type Inbound,
  type Listening,
  MalformedMessageError,
  type Outbound,
  type ReplyOut,
  selectorOf,
  socketsOf,
  timeoutOf,
} from "./cluster-codec.js";
import type { ShardedSubscriptionMode } from "./redis-settings.js";

/** `MessageType` of socket.io-adapter's `ClusterAdapter`, which the sharded adapter speaks. */
export const ShardedMessageType = {
  INITIAL_HEARTBEAT: 1,
  HEARTBEAT: 2,
  BROADCAST: 3,
  SOCKETS_JOIN: 4,
  SOCKETS_LEAVE: 5,
  DISCONNECT_SOCKETS: 6,
  FETCH_SOCKETS: 7,
  FETCH_SOCKETS_RESPONSE: 8,
  SERVER_SIDE_EMIT: 9,
  SERVER_SIDE_EMIT_RESPONSE: 10,
  BROADCAST_CLIENT_COUNT: 11,
  BROADCAST_ACK: 12,
  ADAPTER_CLOSE: 13,
} as const;

/** Types whose payload becomes MessagePack when their `data` holds binary. */
const MAY_CARRY_BINARY: ReadonlySet<number> = new Set([
  ShardedMessageType.BROADCAST,
  ShardedMessageType.BROADCAST_ACK,
  ShardedMessageType.FETCH_SOCKETS_RESPONSE,
  ShardedMessageType.SERVER_SIDE_EMIT,
  ShardedMessageType.SERVER_SIDE_EMIT_RESPONSE,
]);

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
    if (role === "response") return decodeReply(message);
    if (message.uid === this.uid) return { type: "ignored", reason: "own message" };
    if (message.nsp !== nsp) return { type: "ignored", reason: "other namespace" };
    const from = typeof message.uid === "string" ? message.uid : "";
    switch (message.type) {
      case ShardedMessageType.BROADCAST: {
        const data = asRecord(message.data, "data");
        const broadcast = broadcastOf(nsp, data.packet, data.opts);
        if ("ignored" in broadcast) return { type: "ignored", reason: broadcast.ignored };
        if (data.requestId === undefined) return { type: "broadcast", from, broadcast };
        return {
          type: "broadcast-with-ack",
          from,
          requestId: asRequestId(data.requestId),
          broadcast,
          timeoutMs: timeoutOf(data.opts),
        };
      }
      case ShardedMessageType.SOCKETS_JOIN:
      case ShardedMessageType.SOCKETS_LEAVE: {
        const data = asRecord(message.data, "data");
        return {
          type: message.type === ShardedMessageType.SOCKETS_JOIN ? "join" : "leave",
          selector: selectorOf(nsp, data.opts),
          rooms: asRooms(data.rooms, "rooms"),
        };
      }
      case ShardedMessageType.DISCONNECT_SOCKETS: {
        const data = asRecord(message.data, "data");
        return {
          type: "disconnect",
          selector: selectorOf(nsp, data.opts),
          close: data.close === true,
        };
      }
      case ShardedMessageType.FETCH_SOCKETS: {
        const data = asRecord(message.data, "data");
        return {
          type: "fetch-sockets",
          from,
          requestId: asRequestId(data.requestId),
          selector: selectorOf(nsp, data.opts),
        };
      }
      case ShardedMessageType.SERVER_SIDE_EMIT:
        return { type: "server-side-emit", from };
      case ShardedMessageType.FETCH_SOCKETS_RESPONSE:
      case ShardedMessageType.SERVER_SIDE_EMIT_RESPONSE:
      case ShardedMessageType.BROADCAST_CLIENT_COUNT:
      case ShardedMessageType.BROADCAST_ACK:
        // Like the adapter: a reply that arrives on the main channel is still a reply.
        return decodeReply(message);
      default:
        return { type: "ignored", reason: `message type ${String(message.type)}` };
    }
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
      opts: { rooms: [room], except: [...new Set(except)], flags: {} },
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
    const data = {
      opts: { rooms: [...selector.rooms], except: [...selector.except], flags: {} },
      requestId,
    };
    return {
      channel: this.mainChannel(nsp),
      payload: this.#encode(nsp, ShardedMessageType.FETCH_SOCKETS, data),
    };
  }

  encodeReply(nsp: string, to: string, reply: ReplyOut): Outbound | undefined {
    const channel = `${this.mainChannel(nsp)}${to}#`;
    const { requestId } = reply;
    switch (reply.kind) {
      case "sockets":
        return {
          channel,
          payload: this.#encode(nsp, ShardedMessageType.FETCH_SOCKETS_RESPONSE, {
            requestId,
            sockets: reply.sockets,
          }),
        };
      case "count":
        return {
          channel,
          payload: this.#encode(nsp, ShardedMessageType.BROADCAST_CLIENT_COUNT, {
            requestId,
            clientCount: reply.clientCount,
          }),
        };
      case "ack":
        return {
          channel,
          payload: this.#encode(nsp, ShardedMessageType.BROADCAST_ACK, {
            requestId,
            packet: reply.arg,
          }),
        };
      default:
        return undefined;
    }
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
    const message = { type, data, uid: this.uid, nsp };
    // The adapter's rule: an object's `toJSON()` form counts (it is what JSON would send).
    return MAY_CARRY_BINARY.has(type) && hasBinary(data, true)
      ? encodeMsgpack(message)
      : JSON.stringify(message);
  }
}

function decodeReply(message: Record<string, unknown>): Inbound {
  const data = asRecord(message.data, "data");
  const requestId = asRequestId(data.requestId);
  switch (message.type) {
    case ShardedMessageType.FETCH_SOCKETS_RESPONSE:
      return { type: "reply", reply: { requestId, sockets: socketsOf(data.sockets) } };
    case ShardedMessageType.BROADCAST_CLIENT_COUNT:
      if (typeof data.clientCount !== "number") {
        throw new MalformedMessageError("clientCount is not a number");
      }
      return { type: "reply", reply: { requestId, clientCount: data.clientCount } };
    case ShardedMessageType.BROADCAST_ACK:
      return { type: "reply", reply: { requestId, ack: { arg: data.packet } } };
    default:
      return { type: "ignored", reason: `reply type ${String(message.type)}` };
  }
}

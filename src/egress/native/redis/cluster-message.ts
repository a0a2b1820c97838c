/**
 * The message format of socket.io-adapter's `ClusterAdapter`, `{type, data, uid, nsp}`,
 * which both the sharded dialect of `@socket.io/redis-adapter` and
 * `@socket.io/redis-streams-adapter` carry (each in its own envelope). Pure: decoding
 * a message already taken out of its envelope.
 */

import type { SocketSelector } from "../../cluster.js";
import {
  asRecord,
  asRequestId,
  asRooms,
  broadcastOf,
  type ChannelRole,
  type ClusterCodec,
  decodePayload,
  type Inbound,
  type Listening,
  MalformedMessageError,
  type Outbound,
  OwnPrefix,
  type ReplyOut,
  selectorOf,
  socketsOf,
  timeoutOf,
} from "./cluster-codec.js";

/** `MessageType` of socket.io-adapter's `ClusterAdapter`. */
export const ClusterMessageType = {
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

/** Types whose `data` the adapters send as MessagePack when it holds binary. */
export const MAY_CARRY_BINARY: ReadonlySet<number> = new Set([
  ClusterMessageType.BROADCAST,
  ClusterMessageType.BROADCAST_ACK,
  ClusterMessageType.FETCH_SOCKETS_RESPONSE,
  ClusterMessageType.SERVER_SIDE_EMIT,
  ClusterMessageType.SERVER_SIDE_EMIT_RESPONSE,
]);

/** A `ClusterAdapter` message's type and data, before its envelope. */
export interface ClusterMessageBody {
  readonly type: number;
  readonly data: unknown;
}

/** The `fetchSockets()` request for the sockets `selector` targets. */
export function fetchSocketsBody(requestId: string, selector: SocketSelector): ClusterMessageBody {
  return {
    type: ClusterMessageType.FETCH_SOCKETS,
    data: {
      opts: { rooms: [...selector.rooms], except: [...selector.except], flags: {} },
      requestId,
    },
  };
}

/** This node's reply to another's request; `undefined` when `ClusterAdapter` has no such reply. */
export function replyBody(reply: ReplyOut): ClusterMessageBody | undefined {
  const { requestId } = reply;
  switch (reply.kind) {
    case "sockets":
      return {
        type: ClusterMessageType.FETCH_SOCKETS_RESPONSE,
        data: { requestId, sockets: reply.sockets },
      };
    case "count":
      return {
        type: ClusterMessageType.BROADCAST_CLIENT_COUNT,
        data: { requestId, clientCount: reply.clientCount },
      };
    case "ack":
      return { type: ClusterMessageType.BROADCAST_ACK, data: { requestId, packet: reply.arg } };
    default:
      return undefined;
  }
}

/**
 * What a message from another node asks of this one, as `ClusterAdapter.onMessage`
 * reads it: its own messages (by `ownUid`) and other namespaces' are ignored, and a
 * reply that arrives where requests do is still a reply. Throws
 * {@link MalformedMessageError} when the message has the wrong shape.
 */
export function decodeClusterMessage(
  nsp: string,
  ownUid: string,
  message: Record<string, unknown>,
): Inbound {
  if (message.uid === ownUid) return { type: "ignored", reason: "own message" };
  if (message.nsp !== nsp) return { type: "ignored", reason: "other namespace" };
  const from = typeof message.uid === "string" ? message.uid : "";
  switch (message.type) {
    case ClusterMessageType.BROADCAST: {
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
    case ClusterMessageType.SOCKETS_JOIN:
    case ClusterMessageType.SOCKETS_LEAVE: {
      const data = asRecord(message.data, "data");
      return {
        type: message.type === ClusterMessageType.SOCKETS_JOIN ? "join" : "leave",
        selector: selectorOf(nsp, data.opts),
        rooms: asRooms(data.rooms, "rooms"),
      };
    }
    case ClusterMessageType.DISCONNECT_SOCKETS: {
      const data = asRecord(message.data, "data");
      return {
        type: "disconnect",
        selector: selectorOf(nsp, data.opts),
        close: data.close === true,
      };
    }
    case ClusterMessageType.FETCH_SOCKETS: {
      const data = asRecord(message.data, "data");
      return {
        type: "fetch-sockets",
        from,
        requestId: asRequestId(data.requestId),
        selector: selectorOf(nsp, data.opts),
      };
    }
    case ClusterMessageType.SERVER_SIDE_EMIT:
      return { type: "server-side-emit", from };
    case ClusterMessageType.FETCH_SOCKETS_RESPONSE:
    case ClusterMessageType.SERVER_SIDE_EMIT_RESPONSE:
    case ClusterMessageType.BROADCAST_CLIENT_COUNT:
    case ClusterMessageType.BROADCAST_ACK:
      return decodeClusterReply(message);
    default:
      return { type: "ignored", reason: `message type ${String(message.type)}` };
  }
}

/** A reply to a request this node made (fetch sockets, or a broadcast's count and acks). */
export function decodeClusterReply(message: Record<string, unknown>): Inbound {
  const data = asRecord(message.data, "data");
  const requestId = asRequestId(data.requestId);
  switch (message.type) {
    case ClusterMessageType.FETCH_SOCKETS_RESPONSE:
      return { type: "reply", reply: { requestId, sockets: socketsOf(data.sockets) } };
    case ClusterMessageType.BROADCAST_CLIENT_COUNT:
      if (typeof data.clientCount !== "number") {
        throw new MalformedMessageError("clientCount is not a number");
      }
      return { type: "reply", reply: { requestId, clientCount: data.clientCount } };
    case ClusterMessageType.BROADCAST_ACK:
      return { type: "reply", reply: { requestId, ack: { arg: data.packet } } };
    default:
      return { type: "ignored", reason: `reply type ${String(message.type)}` };
  }
}

/**
 * What the sharded and the streams dialects share on pub/sub: `ClusterAdapter` messages
 * with a 16-hex `uid`, on `${prefix}#${nsp}#` (every node's requests; its subscribers are
 * the node count) and `${prefix}#${nsp}#${uid}#` (replies to the node `uid`). A dialect
 * says how a message is written ({@link encodeMessage}) and how broadcasts travel.
 */
export abstract class ClusterAdapterCodec
  implements Omit<ClusterCodec, "encodeBroadcast" | "roomListening">
{
  readonly uid: string;
  readonly #own: OwnPrefix;
  readonly #prefix: string;

  constructor(prefix: string, uid: string) {
    this.#prefix = prefix;
    this.uid = uid;
    this.#own = new OwnPrefix(uid);
  }

  /** A message of this node: `{uid, type, data, nsp}` with `uid` first (see {@link isOwn}). */
  protected abstract encodeMessage(nsp: string, type: number, data: unknown): Buffer | string;

  isOwn(payload: Buffer): boolean {
    return this.#own.matches(payload);
  }

  /** `${prefix}#${nsp}#`: requests to every node; its subscribers are the node count. */
  mainChannel(nsp: string): string {
    return `${this.#prefix}#${nsp}#`;
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

  /** Room channels, where a dialect has them, are listened on only while the room has members. */
  roomOfChannel(): undefined {
    return undefined;
  }

  decode(nsp: string, role: ChannelRole, payload: Buffer): Inbound {
    const message = asRecord(decodePayload(payload), "message");
    if (role === "response") return decodeClusterReply(message);
    return decodeClusterMessage(nsp, this.uid, message);
  }

  /** `ClusterAdapter` has no all-rooms request. */
  encodeAllRooms(): undefined {
    return undefined;
  }

  encodeFetchSockets(nsp: string, requestId: string, selector: SocketSelector): Outbound {
    const { type, data } = fetchSocketsBody(requestId, selector);
    return { channel: this.mainChannel(nsp), payload: this.encodeMessage(nsp, type, data) };
  }

  encodeReply(nsp: string, to: string, reply: ReplyOut): Outbound | undefined {
    const body = replyBody(reply);
    if (body === undefined) return undefined;
    return {
      channel: `${this.mainChannel(nsp)}${to}#`,
      payload: this.encodeMessage(nsp, body.type, body.data),
    };
  }
}

import { randomBytes } from "node:crypto";
import { decode as msgpackDecode } from "notepack.io";
import type { SocketSelector } from "../../cluster.js";
import {
  asRecord,
  asRequestId,
  asRooms,
  asString,
  broadcastOf,
  type ChannelRole,
  type ClusterCodec,
  decodePayload,
  distinct,
  encodeMsgpack,
  eventPacket,
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

/** The classic adapter's request types (`RequestType` of `@socket.io/redis-adapter`). */
export const ClassicRequestType = {
  SOCKETS: 0,
  ALL_ROOMS: 1,
  REMOTE_JOIN: 2,
  REMOTE_LEAVE: 3,
  REMOTE_DISCONNECT: 4,
  REMOTE_FETCH: 5,
  SERVER_SIDE_EMIT: 6,
  BROADCAST: 7,
  BROADCAST_CLIENT_COUNT: 8,
  BROADCAST_ACK: 9,
} as const;

const UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A random id of `length` characters, of the alphabet the adapter's `uid2` uses. */
export function randomUid(length: number): string {
  const bytes = randomBytes(length);
  let uid = "";
  for (const byte of bytes) uid += UID_ALPHABET[byte % UID_ALPHABET.length];
  return uid;
}

/**
 * The classic pub/sub dialect (`createAdapter` and `@socket.io/redis-emitter`):
 *
 * - broadcasts: MessagePack `[uid, packet, {rooms, except, flags}]` on
 *   `${key}#${nsp}#` or, for exactly one room, `${key}#${nsp}#${room}#`; every node
 *   PSUBSCRIBEs `${key}#${nsp}#*`;
 * - requests on `${key}-request#${nsp}#` and replies on `${key}-response#${nsp}#`:
 *   JSON, except the broadcast-with-ack request and its acks (MessagePack). A
 *   payload starting with `{` is read as JSON, anything else as MessagePack.
 *
 * `uid` is 6 characters, like the adapter's; the emitter's is `"emitter"`.
 */
export class ClassicCodec implements ClusterCodec {
  readonly uid: string;
  readonly #key: string;

  /**
   * How this node's own broadcasts begin on the wire: the array header and the uid,
   * MessagePack-encoded (notepack.io writes `[uid, packet, opts]` in that order).
   */
  readonly #ownBroadcast: Buffer;
  /** Its requests: JSON objects opening with `uid`. */
  readonly #own: OwnPrefix;

  constructor(key: string, uid: string = randomUid(6)) {
    this.#key = key;
    this.uid = uid;
    const encoded = encodeMsgpack([uid, 0, 0]);
    // The array header and the uid string: everything before the packet.
    this.#ownBroadcast = encoded.subarray(0, encoded.length - 2);
    this.#own = new OwnPrefix(uid);
  }

  isOwn(payload: Buffer): boolean {
    const prefix = this.#ownBroadcast;
    if (
      payload.length > prefix.length &&
      payload.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
    ) {
      return true;
    }
    return this.#own.matches(payload);
  }

  /** `${key}#${nsp}#`: the broadcast channel for no room or several. */
  broadcastChannel(nsp: string): string {
    return `${this.#key}#${nsp}#`;
  }

  requestChannel(nsp: string): string {
    return `${this.#key}-request#${nsp}#`;
  }

  responseChannel(nsp: string): string {
    return `${this.#key}-response#${nsp}#`;
  }

  listening(nsp: string): Listening {
    return {
      patterns: [`${this.broadcastChannel(nsp)}*`],
      channels: [
        { channel: this.requestChannel(nsp), role: "request" },
        { channel: this.responseChannel(nsp), role: "response" },
        // Where a node with publishOnSpecificResponseChannel answers this one.
        { channel: `${this.responseChannel(nsp)}${this.uid}#`, role: "response" },
      ],
    };
  }

  countChannel(nsp: string): string {
    return this.requestChannel(nsp);
  }

  roomListening(): undefined {
    return undefined;
  }

  roomOfChannel(nsp: string, channel: string): string | undefined {
    const prefix = this.broadcastChannel(nsp);
    if (!channel.startsWith(prefix) || channel.length <= prefix.length + 1) return undefined;
    return channel.slice(prefix.length, -1);
  }

  decode(nsp: string, role: ChannelRole, payload: Buffer): Inbound {
    if (role === "broadcast") return this.#decodeBroadcast(nsp, payload);
    const message = asRecord(decodePayload(payload), "message");
    return role === "request" ? this.#decodeRequest(nsp, message) : decodeReply(message);
  }

  encodeBroadcast(
    nsp: string,
    room: string,
    except: readonly string[],
    event: string,
    args: readonly unknown[],
  ): Outbound {
    const opts = { rooms: [room], except: distinct(except), flags: {} };
    return {
      channel: `${this.broadcastChannel(nsp)}${room}#`,
      payload: encodeMsgpack([this.uid, eventPacket(nsp, event, args), opts]),
    };
  }

  encodeAllRooms(nsp: string, requestId: string): Outbound {
    return {
      channel: this.requestChannel(nsp),
      payload: JSON.stringify({ uid: this.uid, requestId, type: ClassicRequestType.ALL_ROOMS }),
    };
  }

  encodeFetchSockets(nsp: string, requestId: string, selector: SocketSelector): Outbound {
    return {
      channel: this.requestChannel(nsp),
      payload: JSON.stringify({
        uid: this.uid,
        requestId,
        type: ClassicRequestType.REMOTE_FETCH,
        opts: { rooms: [...selector.rooms], except: [...selector.except] },
      }),
    };
  }

  /** Replies go to the common response channel, whoever asked (the adapter's default). */
  encodeReply(nsp: string, _to: string, reply: ReplyOut): Outbound {
    const channel = this.responseChannel(nsp);
    const { requestId } = reply;
    switch (reply.kind) {
      case "rooms":
        return { channel, payload: JSON.stringify({ requestId, rooms: reply.rooms }) };
      case "sockets":
        return { channel, payload: JSON.stringify({ requestId, sockets: reply.sockets }) };
      case "socket-ids":
        return { channel, payload: JSON.stringify({ requestId, sockets: reply.ids }) };
      case "done":
        return { channel, payload: JSON.stringify({ requestId }) };
      case "count":
        return {
          channel,
          payload: JSON.stringify({
            type: ClassicRequestType.BROADCAST_CLIENT_COUNT,
            requestId,
            clientCount: reply.clientCount,
          }),
        };
      case "ack":
        return {
          channel,
          payload: encodeMsgpack({
            type: ClassicRequestType.BROADCAST_ACK,
            requestId,
            packet: reply.arg,
          }),
        };
    }
  }

  #decodeBroadcast(nsp: string, payload: Buffer): Inbound {
    const message = msgpackDecode(payload) as unknown;
    if (!Array.isArray(message) || message.length < 3) {
      throw new MalformedMessageError("broadcast is not [uid, packet, opts]");
    }
    const from = asString(message[0], "uid");
    if (from === this.uid) return { type: "ignored", reason: "own message" };
    const broadcast = broadcastOf(nsp, message[1], message[2]);
    if ("ignored" in broadcast) return { type: "ignored", reason: broadcast.ignored };
    return { type: "broadcast", from, broadcast };
  }

  #decodeRequest(nsp: string, request: Record<string, unknown>): Inbound {
    const from = typeof request.uid === "string" ? request.uid : "";
    switch (request.type) {
      case ClassicRequestType.SOCKETS:
        return {
          type: "legacy-sockets",
          requestId: asRequestId(request.requestId),
          rooms: asRooms(request.rooms, "rooms"),
        };
      case ClassicRequestType.ALL_ROOMS:
        if (from === this.uid) return { type: "ignored", reason: "own request" };
        return { type: "all-rooms", from, requestId: asRequestId(request.requestId) };
      case ClassicRequestType.REMOTE_JOIN:
      case ClassicRequestType.REMOTE_LEAVE: {
        const isJoin = request.type === ClassicRequestType.REMOTE_JOIN;
        if (request.opts !== undefined && request.opts !== null) {
          return {
            type: isJoin ? "join" : "leave",
            selector: selectorOf(nsp, request.opts),
            rooms: asRooms(request.rooms, "rooms"),
          };
        }
        return {
          type: isJoin ? "legacy-join" : "legacy-leave",
          requestId: asRequestId(request.requestId),
          sid: asString(request.sid, "sid"),
          room: asString(request.room, "room"),
        };
      }
      case ClassicRequestType.REMOTE_DISCONNECT:
        if (request.opts !== undefined && request.opts !== null) {
          return {
            type: "disconnect",
            selector: selectorOf(nsp, request.opts),
            close: request.close === true,
          };
        }
        return {
          type: "legacy-disconnect",
          requestId: asRequestId(request.requestId),
          sid: asString(request.sid, "sid"),
          close: request.close === true,
        };
      case ClassicRequestType.REMOTE_FETCH:
        if (from === this.uid) return { type: "ignored", reason: "own request" };
        return {
          type: "fetch-sockets",
          from,
          requestId: asRequestId(request.requestId),
          selector: selectorOf(nsp, request.opts),
        };
      case ClassicRequestType.SERVER_SIDE_EMIT:
        if (from === this.uid) return { type: "ignored", reason: "own request" };
        return { type: "server-side-emit", from };
      case ClassicRequestType.BROADCAST: {
        if (from === this.uid) return { type: "ignored", reason: "own request" };
        // The adapter drops the flags of an acked broadcast on receipt: never volatile.
        const broadcast = broadcastOf(nsp, request.packet, {
          ...asRecord(request.opts ?? {}, "opts"),
          flags: {},
        });
        if ("ignored" in broadcast) return { type: "ignored", reason: broadcast.ignored };
        return {
          type: "broadcast-with-ack",
          from,
          requestId: asRequestId(request.requestId),
          broadcast,
          timeoutMs: timeoutOf(request.opts),
        };
      }
      default:
        return { type: "ignored", reason: `request type ${String(request.type)}` };
    }
  }
}

function decodeReply(response: Record<string, unknown>): Inbound {
  const requestId = asRequestId(response.requestId);
  switch (response.type) {
    case ClassicRequestType.BROADCAST_CLIENT_COUNT:
      if (typeof response.clientCount !== "number") {
        throw new MalformedMessageError("clientCount is not a number");
      }
      return { type: "reply", reply: { requestId, clientCount: response.clientCount } };
    case ClassicRequestType.BROADCAST_ACK:
      return { type: "reply", reply: { requestId, ack: { arg: response.packet } } };
    case ClassicRequestType.SERVER_SIDE_EMIT:
      return { type: "ignored", reason: "server-side emit reply" };
    default:
      return {
        type: "reply",
        reply: {
          requestId,
          ...(response.rooms === undefined ? {} : { rooms: asRooms(response.rooms, "rooms") }),
          // A 7.x `sockets()` reply lists ids; only `fetchSockets()` replies are this node's.
          ...(isSocketList(response.sockets) ? { sockets: socketsOf(response.sockets) } : {}),
        },
      };
  }
}

function isSocketList(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => item !== null && typeof item === "object");
}

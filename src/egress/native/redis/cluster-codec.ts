/**
 * What the wire dialects of `@socket.io/redis-adapter` (classic and sharded) and
 * `@socket.io/redis-streams-adapter` have in common, seen from this node: the messages it acts on, the replies it
 * sends, and the payload rules (MessagePack by `notepack.io`, or JSON). Pure: no
 * socket, timer or configuration.
 */

import { decode as msgpackDecode, encode as msgpackEncode } from "notepack.io";
import type { ClusterBroadcast, ClusterSocket, SocketSelector } from "../../cluster.js";

/** What a channel carries for this node, so a message can be decoded by its role. */
export type ChannelRole = "broadcast" | "request" | "response";

/** A channel or pattern to listen on for one namespace. */
export interface Listening {
  /** PSUBSCRIBE patterns (classic only). */
  readonly patterns: readonly string[];
  /** SUBSCRIBE (classic) or SSUBSCRIBE (sharded) channels, by role. */
  readonly channels: readonly { readonly channel: string; readonly role: ChannelRole }[];
}

/** A bytes-or-text payload on its channel, ready for PUBLISH or SPUBLISH. */
export interface Outbound {
  readonly channel: string;
  readonly payload: Buffer | string;
}

/** An entry for a Redis stream (streams mode), ready for XADD. */
export interface StreamOutbound {
  readonly stream: string;
  /** Field, value, field, value…, in the order the adapter writes them. */
  readonly fields: readonly string[];
}

/** An answer from another node to a request this node made. */
export interface Reply {
  readonly requestId: string;
  readonly rooms?: readonly string[];
  readonly sockets?: readonly ClusterSocket[];
  readonly clientCount?: number;
  /** Present (possibly `undefined`) for a broadcast ack. */
  readonly ack?: { readonly arg: unknown };
}

/** A message from another node or an emitter, decoded. */
export type Inbound =
  | { readonly type: "broadcast"; readonly from: string; readonly broadcast: ClusterBroadcast }
  | {
      readonly type: "broadcast-with-ack";
      readonly from: string;
      readonly requestId: string;
      readonly broadcast: ClusterBroadcast;
      /** The sender's `flags.timeout`, when it sent one. */
      readonly timeoutMs: number | undefined;
    }
  | {
      readonly type: "join" | "leave";
      readonly selector: SocketSelector;
      readonly rooms: readonly string[];
    }
  | { readonly type: "disconnect"; readonly selector: SocketSelector; readonly close: boolean }
  | {
      readonly type: "legacy-join" | "legacy-leave";
      readonly requestId: string;
      readonly sid: string;
      readonly room: string;
    }
  | {
      readonly type: "legacy-disconnect";
      readonly requestId: string;
      readonly sid: string;
      readonly close: boolean;
    }
  | { readonly type: "all-rooms"; readonly from: string; readonly requestId: string }
  | {
      readonly type: "fetch-sockets";
      readonly from: string;
      readonly requestId: string;
      readonly selector: SocketSelector;
    }
  | {
      readonly type: "legacy-sockets";
      readonly requestId: string;
      readonly rooms: readonly string[];
    }
  | { readonly type: "server-side-emit"; readonly from: string }
  | { readonly type: "reply"; readonly reply: Reply }
  /** Valid, but nothing for this node to do (own message, other namespace, heartbeat). */
  | { readonly type: "ignored"; readonly reason: string };

/** A reply this node sends to a request from another node. */
export type ReplyOut =
  | { readonly kind: "rooms"; readonly requestId: string; readonly rooms: readonly string[] }
  | {
      readonly kind: "sockets";
      readonly requestId: string;
      readonly sockets: readonly ClusterSocket[];
    }
  | { readonly kind: "socket-ids"; readonly requestId: string; readonly ids: readonly string[] }
  | { readonly kind: "done"; readonly requestId: string }
  | { readonly kind: "count"; readonly requestId: string; readonly clientCount: number }
  | { readonly kind: "ack"; readonly requestId: string; readonly arg: unknown };

/** One dialect of the adapter's protocol, bound to a key and this node's uid. */
export interface ClusterCodec {
  /** This node's id on the wire; messages carrying it are its own. */
  readonly uid: string;
  /**
   * Whether a pub/sub payload is this node's own, told from its first bytes before it
   * is decoded: a node receives what it publishes, and decoding a packet to learn that
   * costs about what delivering it does.
   */
  isOwn(payload: Buffer): boolean;
  /** What to listen on for `nsp`. */
  listening(nsp: string): Listening;
  /** The channel whose subscriber count (NUMSUB or SHARDNUMSUB) is the node count. */
  countChannel(nsp: string): string;
  /** A per-room channel to listen on while `room` has local members, if the dialect has one. */
  roomListening(nsp: string, room: string): string | undefined;
  /**
   * The room a received broadcast channel is dedicated to, read from the channel
   * name alone so that messages for rooms without local members are dropped
   * undecoded; `undefined` for channels that carry any room.
   */
  roomOfChannel(nsp: string, channel: string): string | undefined;
  /** Decodes a payload received on a channel of `role` for `nsp`; throws when malformed. */
  decode(nsp: string, role: ChannelRole, payload: Buffer): Inbound;
  /**
   * `io.to(room).except(except).emit(event, ...args)` as a node publishes it: on a
   * channel, or (streams mode) as a stream entry.
   */
  encodeBroadcast(
    nsp: string,
    room: string,
    except: readonly string[],
    event: string,
    args: readonly unknown[],
  ): Outbound | StreamOutbound;
  /** The `allRooms()` request; `undefined` when the dialect has none. */
  encodeAllRooms(nsp: string, requestId: string): Outbound | undefined;
  /** The `fetchSockets()` request. */
  encodeFetchSockets(nsp: string, requestId: string, selector: SocketSelector): Outbound;
  /** A reply to the node `to` (its uid); `undefined` when the dialect has no such reply. */
  encodeReply(nsp: string, to: string, reply: ReplyOut): Outbound | undefined;
}

/**
 * The first bytes of the messages a node writes with its uid first: a MessagePack map
 * (any size) or JSON object opening with `uid`. Other nodes' messages may carry the
 * same uid field later, never first with this node's uid.
 */
export class OwnPrefix {
  /** `"uid"` and the uid in MessagePack, after the map header. */
  readonly #msgpack: Buffer;
  /** `{"uid":"<uid>"` */
  readonly #json: Buffer;

  constructor(uid: string) {
    this.#msgpack = encodeMsgpack({ uid }).subarray(1);
    this.#json = Buffer.from(JSON.stringify({ uid }).slice(0, -1));
  }

  /** Whether `payload` opens with this node's uid (and has something after it). */
  matches(payload: Buffer): boolean {
    const json = this.#json;
    if (payload[0] === 0x7b) {
      return (
        payload.length > json.length && payload.compare(json, 0, json.length, 0, json.length) === 0
      );
    }
    const msgpack = this.#msgpack;
    // A fixmap header (0x80–0x8f), then the uid entry.
    return (
      payload.length > msgpack.length + 1 &&
      (payload[0]! & 0xf0) === 0x80 &&
      payload.compare(msgpack, 0, msgpack.length, 1, msgpack.length + 1) === 0
    );
  }
}

/** MessagePack exactly as the adapter and the emitter write it (notepack.io 3). */
export function encodeMsgpack(value: unknown): Buffer {
  return msgpackEncode(value) as Buffer;
}

/**
 * The adapter's reading rule: a payload whose first byte is `{` is JSON, anything
 * else MessagePack. Throws when the payload is neither.
 */
export function decodePayload(payload: Buffer): unknown {
  if (payload[0] === 0x7b) return JSON.parse(payload.toString("utf8"));
  return msgpackDecode(payload);
}

/** Thrown by a decoder for a payload of the wrong shape. */
export class MalformedMessageError extends Error {
  override readonly name = "MalformedMessageError";
}

export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new MalformedMessageError(`${what} is not a map`);
  }
  return value as Record<string, unknown>;
}

export function asString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new MalformedMessageError(`${what} is not a string`);
  return value;
}

/** Room names are strings; the adapter tolerates numbers (socket.io issue 418), so do we. */
export function asRooms(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new MalformedMessageError(`${what} is not an array`);
  // Decoded for this call alone: kept as it is when it holds names only (the usual case).
  let rooms = value as string[];
  for (let at = 0; at < value.length; at++) {
    const room: unknown = value[at];
    if (typeof room === "string") continue;
    if (typeof room !== "number") throw new MalformedMessageError(`${what} holds a ${typeof room}`);
    if (rooms === value) rooms = [...(value as string[])];
    rooms[at] = String(room);
  }
  return rooms;
}

/** A request id as the wire carries it (uid2 strings; numbers tolerated). */
export function asRequestId(value: unknown): string {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number") return String(value);
  throw new MalformedMessageError("requestId is missing");
}

/** A selector from the wire's `opts: {rooms, except}` (absent: every socket). */
export function selectorOf(nsp: string, opts: unknown): SocketSelector {
  if (opts === undefined || opts === null) return { nsp, rooms: [], except: [] };
  const record = asRecord(opts, "opts");
  return {
    nsp,
    rooms: asRooms(record.rooms, "opts.rooms"),
    except: asRooms(record.except, "opts.except"),
  };
}

/**
 * A broadcast from a socket.io packet `{type: 2, data: [event, ...args], nsp}` and
 * its options; the packet's `nsp` defaults to `/` as the adapter reads it.
 */
export function broadcastOf(
  nsp: string,
  packet: unknown,
  opts: unknown,
): ClusterBroadcast | { ignored: string } {
  const record = asRecord(packet, "packet");
  const packetNsp = record.nsp === undefined ? "/" : record.nsp;
  if (packetNsp !== nsp) return { ignored: "other namespace" };
  const data = record.data;
  if (!Array.isArray(data) || typeof data[0] !== "string") {
    throw new MalformedMessageError("packet.data is not [event, ...args]");
  }
  const options = opts === undefined || opts === null ? undefined : asRecord(opts, "opts");
  const flags =
    options?.flags === undefined || options.flags === null
      ? undefined
      : asRecord(options.flags, "flags");
  return {
    nsp,
    rooms: asRooms(options?.rooms, "opts.rooms"),
    except: asRooms(options?.except, "opts.except"),
    event: data[0],
    args: data.slice(1),
    volatile: flags?.volatile === true,
  };
}

/** The packet a node broadcasts for an event: type 2 (EVENT) even with binary arguments. */
export function eventPacket(
  nsp: string,
  event: string,
  args: readonly unknown[],
): { type: 2; data: unknown[]; nsp: string } {
  return { type: 2, data: [event, ...args], nsp };
}

/** `flags.timeout` of the wire options, when a sender gave one. */
export function timeoutOf(opts: unknown): number | undefined {
  if (opts === null || typeof opts !== "object") return undefined;
  const flags = (opts as { flags?: unknown }).flags;
  if (flags === null || typeof flags !== "object") return undefined;
  const timeout = (flags as { timeout?: unknown }).timeout;
  return typeof timeout === "number" && timeout > 0 ? timeout : undefined;
}

/** `values` without repeats, in order; the array itself when it cannot repeat (0 or 1). */
export function distinct(values: readonly string[]): readonly string[] {
  return values.length < 2 ? values : [...new Set(values)];
}

/** A socket list of a fetch reply, checked just enough to hand on. */
export function socketsOf(value: unknown): ClusterSocket[] {
  if (!Array.isArray(value)) throw new MalformedMessageError("sockets is not an array");
  return value.map((item) => {
    const record = asRecord(item, "socket");
    asString(record.id, "socket.id");
    return { ...record, rooms: asRooms(record.rooms, "socket.rooms") } as unknown as ClusterSocket;
  });
}

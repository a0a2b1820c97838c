import { randomBytes } from "node:crypto";
import { decode as msgpackDecode } from "notepack.io";
import { hasBinary } from "../../../binary.js";
import {
  type ClusterCodec,
  distinct,
  encodeMsgpack,
  eventPacket,
  type Inbound,
  MalformedMessageError,
  type StreamOutbound,
} from "./cluster-codec.js";
import {
  ClusterAdapterCodec,
  ClusterMessageType,
  decodeClusterMessage,
  MAY_CARRY_BINARY,
} from "./cluster-message.js";

/** Which streams a streams-mode cluster writes to (the adapter's `streamName`, `streamCount`). */
export interface StreamLayout {
  readonly streamName: string;
  readonly streamCount: number;
}

/** A stream entry's fields as the adapter writes them, before its `data` is decoded. */
export interface StreamEntry {
  readonly uid: string;
  readonly nsp: string;
  readonly type: number;
  /** JSON text (starts with `{`) or base64 MessagePack; absent for a message without data. */
  readonly data: string | undefined;
}

/** Standard base64 with its padding, as `Buffer.toString("base64")` writes it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const TYPE = /^[0-9]{1,3}$/;

/**
 * The streams dialect (`@socket.io/redis-streams-adapter` 0.3), messages in socket.io-adapter's
 * `ClusterAdapter` format `{type, data, uid, nsp}`:
 *
 * - what should outlive a short disconnection (broadcasts without ack, remote joins,
 *   leaves and disconnects) is an entry of the namespace's stream, fields
 *   `uid, nsp, type` (a decimal string) `, data` (JSON text, or base64 MessagePack
 *   when a broadcast carries binary); the entry's id is the offset a recovering client
 *   names;
 * - the rest (broadcasts with ack, server-side emits, fetch-sockets requests) is
 *   MessagePack on `${prefix}#${nsp}#`, and replies on `${prefix}#${nsp}#${uid}#`.
 *
 * `uid` is 16 hex characters, like `ClusterAdapter`'s.
 */
export class StreamsCodec extends ClusterAdapterCodec implements ClusterCodec {
  readonly #layout: StreamLayout;

  constructor(
    channelPrefix: string,
    layout: StreamLayout,
    uid: string = randomBytes(8).toString("hex"),
  ) {
    super(channelPrefix, uid);
    this.#layout = layout;
  }

  /**
   * The stream `nsp` is written to: `streamName`, or with several streams
   * `${streamName}-${hashCode(nsp) % streamCount}` (the adapter's hash, a 32-bit
   * signed one, so the index may be negative as it is for the adapter).
   */
  streamOf(nsp: string): string {
    const { streamName, streamCount } = this.#layout;
    if (streamCount === 1) return streamName;
    return `${streamName}-${hashCode(nsp) % streamCount}`;
  }

  /** No per-room channels: every broadcast without ack goes through the stream. */
  roomListening(): undefined {
    return undefined;
  }

  encodeBroadcast(
    nsp: string,
    room: string,
    except: readonly string[],
    event: string,
    args: readonly unknown[],
  ): StreamOutbound {
    const data = {
      packet: eventPacket(nsp, event, args),
      opts: { rooms: [room], except: distinct(except), flags: {} },
    };
    const type = ClusterMessageType.BROADCAST;
    return {
      stream: this.streamOf(nsp),
      fields: ["uid", this.uid, "nsp", nsp, "type", String(type), "data", encodeData(type, data)],
    };
  }

  /**
   * The fields of an entry as XREAD returns them (field, value, …). The adapter reads
   * an entry without `nsp` as nothing; here every field but `data` must be there, and
   * `type` a decimal number, or the entry is malformed.
   */
  parseEntry(fields: readonly unknown[]): StreamEntry {
    const record: Record<string, string> = {};
    if (fields.length % 2 !== 0) throw new MalformedMessageError("an odd number of fields");
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      if (typeof name !== "string" || typeof value !== "string") {
        throw new MalformedMessageError("a field that is not text");
      }
      record[name] = value;
    }
    const { uid, nsp, type, data } = record;
    if (uid === undefined || uid === "") throw new MalformedMessageError("uid is missing");
    if (nsp === undefined || !nsp.startsWith("/")) {
      throw new MalformedMessageError("nsp is missing or not a namespace");
    }
    if (type === undefined || !TYPE.test(type)) {
      throw new MalformedMessageError("type is missing or not a number");
    }
    return { uid, nsp, type: Number(type), data: data === "" ? undefined : data };
  }

  /**
   * What an entry with id `id` asks of this node. A broadcast carries `id` as its
   * `offset`. This node's own entries are ignored before their data is decoded, unless
   * `own` asks for them (recovery reads them back, and delivers them in stream order).
   * Throws {@link MalformedMessageError} (or the JSON or MessagePack decoder's error)
   * when the data cannot be read or has the wrong shape.
   */
  decodeEntry(id: string, entry: StreamEntry, options: { readonly own?: boolean } = {}): Inbound {
    if (entry.uid === this.uid && options.own !== true) {
      return { type: "ignored", reason: "own message" };
    }
    const message = {
      uid: entry.uid,
      nsp: entry.nsp,
      type: entry.type,
      data: entry.data === undefined ? undefined : decodeData(entry.data),
    };
    const inbound = decodeClusterMessage(entry.nsp, options.own === true ? "" : this.uid, message);
    if (inbound.type !== "broadcast") return inbound;
    return { ...inbound, broadcast: { ...inbound.broadcast, offset: id } };
  }

  /** A pub/sub message: always MessagePack, as the adapter sends them. */
  protected encodeMessage(nsp: string, type: number, data: unknown): Buffer {
    // `uid` first, as in the sharded dialect (isOwn).
    return encodeMsgpack({ uid: this.uid, type, data, nsp });
  }
}

/** An entry's `data`: JSON, or base64 MessagePack when it may carry binary and does. */
function encodeData(type: number, data: unknown): string {
  // The adapter's rule: an object's `toJSON()` form counts (it is what JSON would send).
  return MAY_CARRY_BINARY.has(type) && hasBinary(data, true)
    ? encodeMsgpack(data).toString("base64")
    : JSON.stringify(data);
}

/** The adapter's reading rule: text starting with `{` is JSON, anything else base64 MessagePack. */
function decodeData(data: string): unknown {
  if (data.startsWith("{")) return JSON.parse(data);
  if (!BASE64.test(data)) throw new MalformedMessageError("data is neither JSON nor base64");
  return msgpackDecode(Buffer.from(data, "base64"));
}

/** The adapter's `hashCode`: Java's `String.hashCode`, on UTF-16 code units. */
export function hashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = hash * 31 + text.charCodeAt(i);
    hash |= 0;
  }
  return hash;
}

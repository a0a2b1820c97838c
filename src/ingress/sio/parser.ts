/**
 * Socket.IO v5 packet codec, binary attachments included. Pure: no sockets, no
 * timers, no configuration.
 *
 * @see https://github.com/socketio/socket.io/blob/main/docs/socket.io-protocol/v5-current.md
 */

import { hasBinary, isBinary } from "../../binary.js";
import { textExceedsDepth } from "../../json-depth.js";
import { setOwn } from "../../own-property.js";

export const SioType = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
} as const;
export type SioType = (typeof SioType)[keyof typeof SioType];

export interface SioPacket {
  readonly type: SioType;
  /** `/` or `/name`. */
  readonly nsp: string;
  readonly data?: unknown;
  readonly id?: number;
}

/** Event names a client may not use: the Socket.IO client and server reserve them. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  "connect",
  "connect_error",
  "disconnect",
  "disconnecting",
  "newListener",
  "removeListener",
]);

// --- Encoding ---------------------------------------------------------------------

/**
 * Encodes a packet: the text part, then one Buffer per binary attachment. Packets
 * holding Buffers become BINARY_EVENT / BINARY_ACK with placeholders.
 */
export function encode(packet: SioPacket): [string, ...Buffer[]] {
  const attachments: Buffer[] = [];
  let { type } = packet;
  let data = packet.data;
  if ((type === SioType.EVENT || type === SioType.ACK) && hasBinary(data)) {
    data = deconstruct(data, attachments);
    type = type === SioType.EVENT ? SioType.BINARY_EVENT : SioType.BINARY_ACK;
  }
  let text = String(type);
  if (type === SioType.BINARY_EVENT || type === SioType.BINARY_ACK)
    text += `${attachments.length}-`;
  if (packet.nsp !== "/") text += `${packet.nsp},`;
  if (packet.id !== undefined) text += packet.id;
  if (data !== undefined) text += JSON.stringify(data);
  return [text, ...attachments];
}

function toBuffer(value: object): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  const view = value as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function deconstruct(value: unknown, attachments: Buffer[]): unknown {
  if (value === null || typeof value !== "object") return value;
  if (isBinary(value)) {
    attachments.push(toBuffer(value));
    return { _placeholder: true, num: attachments.length - 1 };
  }
  if (Array.isArray(value)) return value.map((item) => deconstruct(item, attachments));
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    setOwn(out, key, deconstruct((value as Record<string, unknown>)[key], attachments));
  }
  return out;
}

// --- Decoding ---------------------------------------------------------------------

type DecodeErrorCode =
  | "SWY_SESSION_PARSE_ERROR"
  | "SWY_SESSION_TOO_MANY_ATTACHMENTS"
  | "SWY_PAYLOAD_TOO_DEEP";

/** Why a packet was refused; the session is closed with `parse error`. */
export class SioDecodeError extends Error {
  override readonly name = "SioDecodeError";
  readonly code: DecodeErrorCode;

  constructor(message: string, code: DecodeErrorCode = "SWY_SESSION_PARSE_ERROR") {
    super(message);
    this.code = code;
  }
}

/** Limits the decoder enforces. */
export interface DecodeLimits {
  /** Binary attachments one packet may announce. */
  readonly maxAttachments: number;
  /**
   * How deep an event's arguments, an ack's arguments or a CONNECT's auth payload may
   * nest (see src/json-depth.ts); the packet's own argument list does not count.
   */
  readonly maxDepth: number;
}

/** A decoded text part; BINARY_* packets still wait for `attachments` buffers. */
export interface PartialPacket extends SioPacket {
  readonly attachments: number;
  /**
   * Set when the payload nests deeper than `maxDepth`: it was not parsed (`data` is
   * undefined) and the packet must be refused to its sender. Only EVENT, BINARY_EVENT
   * and CONNECT packets are refused this way; `event` is the event's name.
   */
  readonly tooDeep?: { readonly event?: string };
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;

function isDigit(code: number): boolean {
  return code >= DIGIT_0 && code <= DIGIT_9;
}

/**
 * Decodes the text part of a packet and checks it the way socket.io's parser does.
 * Throws {@link SioDecodeError} when the packet is malformed. A payload nested deeper
 * than `limits.maxDepth` is never parsed: an EVENT or CONNECT comes back marked
 * `tooDeep` (the client answers its sender with SWY_PAYLOAD_TOO_DEEP); any other packet
 * type throws.
 */
export function decodeText(text: string, limits: DecodeLimits): PartialPacket {
  const { maxAttachments, maxDepth } = limits;
  let i = 0;
  const type = text.charCodeAt(0) - DIGIT_0;
  if (!(type >= SioType.CONNECT && type <= SioType.BINARY_ACK) || text.length === 0) {
    throw new SioDecodeError("unknown packet type");
  }
  let attachments = 0;
  if (type === SioType.BINARY_EVENT || type === SioType.BINARY_ACK) {
    const dash = text.indexOf("-", 1);
    const count = dash === -1 ? "" : text.slice(1, dash);
    if (count.length === 0 || !/^\d+$/.test(count)) throw new SioDecodeError("illegal attachments");
    attachments = Number(count);
    if (attachments > maxAttachments)
      throw new SioDecodeError("too many attachments", "SWY_SESSION_TOO_MANY_ATTACHMENTS");
    i = dash;
  }
  let nsp = "/";
  if (text.charCodeAt(i + 1) === 47 /* / */) {
    const comma = text.indexOf(",", i + 1);
    const end = comma === -1 ? text.length : comma;
    nsp = text.slice(i + 1, end);
    i = end;
  }
  let id: number | undefined;
  let start = i + 1;
  while (start < text.length && isDigit(text.charCodeAt(start))) start++;
  if (start > i + 1) {
    id = Number(text.slice(i + 1, start));
    if (!Number.isSafeInteger(id)) throw new SioDecodeError("invalid ack id");
  }
  let data: unknown;
  if (start < text.length) {
    // An EVENT's or ACK's payload is the argument list, one level above the arguments.
    const limit =
      type === SioType.CONNECT || type === SioType.CONNECT_ERROR ? maxDepth : maxDepth + 1;
    if (textExceedsDepth(text, limit, start)) {
      return tooDeep(type as SioType, nsp, id, attachments, text.slice(start));
    }
    try {
      data = JSON.parse(text.slice(start));
    } catch {
      throw new SioDecodeError("invalid payload");
    }
  }
  const packet: PartialPacket = { type: type as SioType, nsp, data, id, attachments };
  if (!isPayloadValid(packet)) throw new SioDecodeError("invalid payload");
  return packet;
}

/** The first element of an event's JSON list, when it is a string or a number. */
const EVENT_NAME = /^\[\s*("(?:[^"\\]|\\.)*"|-?\d+)\s*[,\]]/;

/** The marked packet for a payload too deep to parse, or the error for types that cannot be refused. */
function tooDeep(
  type: SioType,
  nsp: string,
  id: number | undefined,
  attachments: number,
  json: string,
): PartialPacket {
  const error = new SioDecodeError("payload nested too deep", "SWY_PAYLOAD_TOO_DEEP");
  if (type === SioType.CONNECT) return { type, nsp, id, attachments, tooDeep: {} };
  if (type !== SioType.EVENT && type !== SioType.BINARY_EVENT) throw error;
  const match = EVENT_NAME.exec(json);
  if (match === null) throw error;
  const name: unknown = JSON.parse(match[1]!);
  const event = String(name);
  if (typeof name === "string" && RESERVED_EVENTS.has(name))
    throw new SioDecodeError("invalid payload");
  return { type, nsp, id, attachments, tooDeep: { event } };
}

function isPayloadValid(packet: SioPacket): boolean {
  const { data } = packet;
  switch (packet.type) {
    case SioType.CONNECT:
      return data === undefined || isObject(data);
    case SioType.DISCONNECT:
      return data === undefined;
    case SioType.CONNECT_ERROR:
      return typeof data === "string" || isObject(data);
    case SioType.EVENT:
    case SioType.BINARY_EVENT:
      return (
        Array.isArray(data) &&
        data.length > 0 &&
        (typeof data[0] === "number" ||
          (typeof data[0] === "string" && !RESERVED_EVENTS.has(data[0])))
      );
    case SioType.ACK:
    case SioType.BINARY_ACK:
      return Array.isArray(data) && packet.id !== undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Puts the attachments back in place of their placeholders. A packet marked
 * `tooDeep` keeps its mark and gets no data: its attachments are only swallowed.
 */
export function reconstruct(packet: PartialPacket, buffers: readonly Buffer[]): PartialPacket {
  if (packet.tooDeep !== undefined) return { ...packet, attachments: 0 };
  const data = replacePlaceholders(packet.data, buffers);
  return { type: packet.type, nsp: packet.nsp, data, id: packet.id, attachments: 0 };
}

function replacePlaceholders(value: unknown, buffers: readonly Buffer[]): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => replacePlaceholders(item, buffers));
  const record = value as Record<string, unknown>;
  if (record._placeholder === true) {
    const num = record.num;
    if (typeof num !== "number" || !Number.isInteger(num) || num < 0 || num >= buffers.length) {
      throw new SioDecodeError("illegal attachment index");
    }
    return buffers[num];
  }
  for (const key of Object.keys(record)) record[key] = replacePlaceholders(record[key], buffers);
  return record;
}

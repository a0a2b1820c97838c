/**
 * Engine.IO v4 packet and payload codec. Pure: it touches no socket, timer or
 * configuration, and is tested by feeding it strings and bytes.
 *
 * @see https://github.com/socketio/socket.io/blob/main/docs/engine.io-protocol/v4-current.md
 */

/** Engine.IO packet types, as they appear on the wire (one ASCII digit). */
export const PacketType = {
  OPEN: 0,
  CLOSE: 1,
  PING: 2,
  PONG: 3,
  MESSAGE: 4,
  UPGRADE: 5,
  NOOP: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** A decoded Engine.IO packet. Binary data is always a `message`. */
export interface Packet {
  readonly type: PacketType;
  readonly data?: string | Buffer;
}

/** The record separator between packets of a polling payload. */
export const SEPARATOR = "\x1e";

const ZERO = 48; // "0"

/**
 * Decodes one text packet (a WebSocket text frame, or one record of a polling
 * payload). Returns `undefined` when the packet is malformed.
 */
export function decodeText(text: string): Packet | undefined {
  if (text.length === 0) return undefined;
  const first = text.charCodeAt(0);
  if (first === 98 /* b */) {
    const base64 = text.slice(1);
    if (!isBase64(base64)) return undefined;
    return { type: PacketType.MESSAGE, data: Buffer.from(base64, "base64") };
  }
  const type = first - ZERO;
  if (type < PacketType.OPEN || type > PacketType.NOOP) return undefined;
  return text.length > 1
    ? { type: type as PacketType, data: text.slice(1) }
    : { type: type as PacketType };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isBase64(text: string): boolean {
  return text.length % 4 === 0 && BASE64.test(text);
}

/** Decodes a polling payload (packets joined by `\x1e`). `undefined` when any record is malformed. */
export function decodePayload(body: string): Packet[] | undefined {
  const records = body.split(SEPARATOR);
  const packets: Packet[] = [];
  for (const record of records) {
    const packet = decodeText(record);
    if (packet === undefined) return undefined;
    packets.push(packet);
  }
  return packets;
}

/**
 * Encodes a packet for the polling transport: text as `<type><data>`, binary as
 * `b<base64>`.
 */
export function encodeForPolling(packet: Packet): string {
  if (Buffer.isBuffer(packet.data)) return `b${packet.data.toString("base64")}`;
  return packet.data === undefined ? String(packet.type) : `${packet.type}${packet.data}`;
}

/** Encodes packets as one polling payload. */
export function encodePayload(packets: readonly Packet[]): string {
  return packets.map(encodeForPolling).join(SEPARATOR);
}

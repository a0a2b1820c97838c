/**
 * Engine.IO v3 payload codec (socket.io 2.x clients). Pure, like parser.ts.
 *
 * Packets are the same as in v4 except binary: in text they are `b<type><base64>`,
 * on a WebSocket the binary frame starts with the type byte. Polling payloads are
 * length-prefixed, as text (`<length>:<packet>`, lengths in UTF-16 code units) or,
 * for clients that take binary (no `b64=1`), in a binary form: per packet a 0/1
 * byte (text/binary), the decimal length one byte per digit, 0xFF, then the bytes.
 *
 * @see https://github.com/socketio/socket.io/blob/main/docs/engine.io-protocol/v3.md
 */
import { type Packet, PacketType } from "./parser.js";

const ZERO = 48;
const SEPARATOR_BYTE = 0xff;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes one v3 text packet. `undefined` when it is malformed. */
export function decodeTextV3(text: string): Packet | undefined {
  if (text.length === 0) return undefined;
  if (text.charCodeAt(0) === 98 /* b */) {
    const type = text.charCodeAt(1) - ZERO;
    const base64 = text.slice(2);
    if (type !== PacketType.MESSAGE || base64.length % 4 !== 0 || !BASE64.test(base64)) {
      return undefined;
    }
    return { type: PacketType.MESSAGE, data: Buffer.from(base64, "base64") };
  }
  const type = text.charCodeAt(0) - ZERO;
  if (!(type >= PacketType.OPEN && type <= PacketType.NOOP)) return undefined;
  return text.length > 1
    ? { type: type as PacketType, data: text.slice(1) }
    : { type: type as PacketType };
}

/** Decodes a v3 binary WebSocket frame: the type byte, then the data. */
export function decodeBinaryFrameV3(frame: Buffer): Packet | undefined {
  if (frame.length === 0 || frame[0] !== PacketType.MESSAGE) return undefined;
  return { type: PacketType.MESSAGE, data: frame.subarray(1) };
}

/** Decodes a length-prefixed text payload. `undefined` when any part is malformed. */
export function decodePayloadV3(body: string): Packet[] | undefined {
  const packets: Packet[] = [];
  let i = 0;
  while (i < body.length) {
    const colon = body.indexOf(":", i);
    if (colon === -1 || colon === i || colon - i > 16) return undefined;
    const digits = body.slice(i, colon);
    if (!/^\d+$/.test(digits)) return undefined;
    const length = Number(digits);
    const start = colon + 1;
    if (length === 0 || start + length > body.length) return undefined;
    const packet = decodeTextV3(body.slice(start, start + length));
    if (packet === undefined) return undefined;
    packets.push(packet);
    i = start + length;
  }
  return packets.length > 0 ? packets : undefined;
}

/** Decodes a binary (XHR2) payload. `undefined` when any part is malformed. */
export function decodeBinaryPayloadV3(body: Buffer): Packet[] | undefined {
  const packets: Packet[] = [];
  let i = 0;
  while (i < body.length) {
    const kind = body[i];
    if (kind !== 0 && kind !== 1) return undefined;
    let length = 0;
    let digits = 0;
    i++;
    while (i < body.length && body[i] !== SEPARATOR_BYTE) {
      const digit = body[i]!;
      if (digit > 9 || ++digits > 16) return undefined;
      length = length * 10 + digit;
      i++;
    }
    if (digits === 0 || i >= body.length || length === 0) return undefined;
    const start = i + 1;
    if (start + length > body.length) return undefined;
    const data = body.subarray(start, start + length);
    const packet = kind === 0 ? decodeTextV3(data.toString()) : decodeBinaryFrameV3(data);
    if (packet === undefined) return undefined;
    packets.push(packet);
    i = start + length;
  }
  return packets.length > 0 ? packets : undefined;
}

/** One packet as a v3 text record, length prefix included (binary as base64). */
export function encodeRecordV3(packet: Packet): string {
  const { data } = packet;
  const text = Buffer.isBuffer(data)
    ? `b${packet.type}${data.toString("base64")}`
    : data === undefined
      ? String(packet.type)
      : `${packet.type}${data}`;
  return `${text.length}:${text}`;
}

/** Packets as one binary (XHR2) payload. */
export function encodeBinaryPayloadV3(packets: readonly Packet[]): Buffer {
  const parts: Buffer[] = [];
  for (const packet of packets) {
    const { data } = packet;
    const isBinary = Buffer.isBuffer(data);
    const bytes = isBinary
      ? Buffer.concat([Buffer.from([packet.type]), data])
      : Buffer.from(data === undefined ? String(packet.type) : `${packet.type}${data}`);
    const digits = String(bytes.length);
    const header = Buffer.alloc(digits.length + 2);
    header[0] = isBinary ? 1 : 0;
    for (let d = 0; d < digits.length; d++) header[d + 1] = digits.charCodeAt(d) - ZERO;
    header[digits.length + 1] = SEPARATOR_BYTE;
    parts.push(header, bytes);
  }
  return Buffer.concat(parts);
}

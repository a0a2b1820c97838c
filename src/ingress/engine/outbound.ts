import { Sender } from "ws";
import { encodeForPolling, type Packet, PacketType } from "./parser.js";

/**
 * One Engine.IO packet on its way out, shared by every session it goes to.
 *
 * A broadcast builds one `Outbound` per packet and hands the same object to every
 * recipient: the WebSocket frame and the polling record are each encoded at most
 * once, however many sessions receive it.
 */
export class Outbound {
  readonly packet: Packet;
  #frame: Buffer | undefined;
  #record: string | undefined;

  constructor(packet: Packet) {
    this.packet = packet;
  }

  /** A `message` packet with text data (e.g. an encoded Socket.IO packet). */
  static message(data: string | Buffer): Outbound {
    return new Outbound({ type: PacketType.MESSAGE, data });
  }

  /** The whole WebSocket frame (header and payload), unmasked, as a server sends it. */
  wsFrame(): Buffer {
    if (this.#frame === undefined) this.#frame = frame(this.packet);
    return this.#frame;
  }

  /** The record for a polling payload. */
  pollingRecord(): string {
    if (this.#record === undefined) this.#record = encodeForPolling(this.packet);
    return this.#record;
  }
}

const TEXT = 0x1;
const BINARY = 0x2;

function frame(packet: Packet): Buffer {
  const { data } = packet;
  // A binary message travels as a binary frame without a type byte (Engine.IO v4).
  const payload = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data === undefined ? String(packet.type) : `${packet.type}${data}`);
  const parts = Sender.frame(payload, {
    fin: true,
    rsv1: false,
    opcode: Buffer.isBuffer(data) ? BINARY : TEXT,
    mask: false,
    readOnly: false,
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** The packets every session sends, made once. */
export const PING = new Outbound({ type: PacketType.PING });
export const PONG = new Outbound({ type: PacketType.PONG });
export const NOOP = new Outbound({ type: PacketType.NOOP });
export const CLOSE = new Outbound({ type: PacketType.CLOSE });

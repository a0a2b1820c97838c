import { Sender } from "ws";
import { encodeForPolling, type Packet, PacketType } from "./parser.js";
import { encodeRecordV3 } from "./parser-v3.js";

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
  #frameV3: Buffer | undefined;
  #frameV3Base64: Buffer | undefined;
  #record: string | undefined;
  #recordV3: string | undefined;

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

  /** The WebSocket frame for an Engine.IO v3 client: binary frames lead with the type byte. */
  wsFrameV3(): Buffer {
    if (!Buffer.isBuffer(this.packet.data)) return this.wsFrame();
    if (this.#frameV3 === undefined) {
      const data = Buffer.concat([Buffer.from([this.packet.type]), this.packet.data]);
      this.#frameV3 = frameBytes(data, BINARY);
    }
    return this.#frameV3;
  }

  /**
   * The WebSocket frame for an Engine.IO v3 client that asked for base64 (`b64=1`):
   * binary data travels in a text frame as `b4<base64>`.
   */
  wsFrameV3Base64(): Buffer {
    const { data } = this.packet;
    if (!Buffer.isBuffer(data)) return this.wsFrame();
    if (this.#frameV3Base64 === undefined) {
      this.#frameV3Base64 = frameBytes(
        Buffer.from(`b${this.packet.type}${data.toString("base64")}`),
        TEXT,
      );
    }
    return this.#frameV3Base64;
  }

  /** The record for a polling payload. */
  pollingRecord(): string {
    if (this.#record === undefined) this.#record = encodeForPolling(this.packet);
    return this.#record;
  }

  /** The length-prefixed record for an Engine.IO v3 text payload (binary as base64). */
  pollingRecordV3(): string {
    if (this.#recordV3 === undefined) this.#recordV3 = encodeRecordV3(this.packet);
    return this.#recordV3;
  }
}

const TEXT = 0x1;
const BINARY = 0x2;

function frame(packet: Packet): Buffer {
  const { data } = packet;
  // A binary message travels as a binary frame without a type byte (Engine.IO v4).
  if (Buffer.isBuffer(data)) return frameBytes(data, BINARY);
  return frameBytes(
    Buffer.from(data === undefined ? String(packet.type) : `${packet.type}${data}`),
    TEXT,
  );
}

function frameBytes(payload: Buffer, opcode: number): Buffer {
  const parts = Sender.frame(payload, {
    fin: true,
    rsv1: false,
    opcode,
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

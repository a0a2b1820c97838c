import type { Outbound } from "../outbound.js";
import { decodePayload, type Packet, SEPARATOR } from "../parser.js";
import { decodeBinaryPayloadV3, decodePayloadV3, encodeBinaryPayloadV3 } from "../parser-v3.js";

/** How one session's polling bodies are written and read: the protocol's payload format. */
export interface PollingCodec {
  /** Bytes a queued packet will take, for the slow-consumer limit. */
  size(out: Outbound): number;
  encode(outs: readonly Outbound[]): { body: string | Buffer; contentType: string };
  /** `undefined` for a malformed or refused body. */
  decode(body: Buffer, contentType: string | undefined): Packet[] | undefined;
}

const TEXT = "text/plain; charset=UTF-8";
const BINARY = "application/octet-stream";

/** Engine.IO v4: text records joined by `\x1e`, binary as base64; binary bodies refused. */
export const V4_CODEC: PollingCodec = {
  size: (out) => out.pollingRecord().length,
  encode: (outs) => ({
    body: outs.map((out) => out.pollingRecord()).join(SEPARATOR),
    contentType: TEXT,
  }),
  decode: (body, contentType) =>
    contentType === BINARY ? undefined : decodePayload(body.toString()),
};

/**
 * Engine.IO v3. `supportsBinary` is false for clients that asked for base64
 * (`b64=1`); the others get a binary payload whenever it holds binary data.
 */
export function v3Codec(supportsBinary: boolean): PollingCodec {
  return {
    size: (out) => out.pollingRecordV3().length,
    encode(outs) {
      if (supportsBinary && outs.some((out) => Buffer.isBuffer(out.packet.data))) {
        return { body: encodeBinaryPayloadV3(outs.map((out) => out.packet)), contentType: BINARY };
      }
      return { body: outs.map((out) => out.pollingRecordV3()).join(""), contentType: TEXT };
    },
    decode: (body, contentType) =>
      contentType === BINARY ? decodeBinaryPayloadV3(body) : decodePayloadV3(body.toString()),
  };
}

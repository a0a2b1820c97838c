/**
 * The pure codec between a Socket.IO event (a name and a list of arguments) and an Ably
 * message (a `name` and a `data` the `ably` SDK encodes: a string, binary, or an object
 * or array it sends as JSON). No socket, timer or setting here.
 *
 * Rules (docs/backends/ably.md, "Payload mapping"), chosen so that native Ably clients
 * read and write the same values as Socket.IO clients:
 * - One argument that is a string, binary, or an object or array holding no binary
 *   travels as the message's `data` itself: a native subscriber gets exactly that value.
 * - Anything else travels in the shared envelope (src/egress/envelope.ts): no argument
 *   or several; a number, boolean or null (Ably refuses bare ones with 40013); binary
 *   nested in an object or array (Ably would send it as JSON); an object that itself has
 *   the envelope's marker key.
 * - Received `data` that is an envelope unpacks to its arguments; any other value is the
 *   single argument, binary as a Buffer.
 */

import { hasBinary, isBinary } from "../../binary.js";
import { looksLikeEnvelope, packEnvelope, unpackEnvelope } from "../envelope.js";

/** What an Ably message's `data` may be: the SDK refuses anything else. */
export type AblyData = string | Buffer | Record<string, unknown> | readonly unknown[];

/** A Socket.IO event as an Ably message. */
export interface AblyOutgoing {
  readonly name: string;
  readonly data: AblyData;
  /** Whether `data` is an envelope (for logs and tests). */
  readonly isEnvelope: boolean;
}

/** An Ably message as a Socket.IO event. */
export interface AblyIncoming {
  readonly event: string;
  readonly args: readonly unknown[];
}

/** Encodes a Socket.IO event for publishing (see the module comment). Never throws. */
export function encodeAblyEvent(event: string, args: readonly unknown[]): AblyOutgoing {
  if (args.length === 1) {
    const plain = plainData(args[0]);
    if (plain !== undefined) return { name: event, data: plain, isEnvelope: false };
  }
  return { name: event, data: packEnvelope(args) as unknown as AblyData, isEnvelope: true };
}

/** The value as Ably data of its own, or `undefined` when it needs the envelope. */
function plainData(value: unknown): AblyData | undefined {
  if (typeof value === "string") return value;
  if (isBinary(value)) {
    if (Buffer.isBuffer(value)) return value;
    if (value instanceof ArrayBuffer) return Buffer.from(value);
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  if (typeof value !== "object" || value === null) return undefined;
  if (hasBinary(value) || looksLikeEnvelope(value)) return undefined;
  return value as Record<string, unknown> | readonly unknown[];
}

/**
 * Decodes a message an Ably subscription received: `data` as the SDK hands it over
 * (decoded from JSON and base64 already). The name is kept exactly as received.
 *
 * @throws Error for an envelope whose attachments do not match its placeholders.
 */
export function decodeAblyMessage(name: string, data: unknown): AblyIncoming {
  const args = unpackEnvelope(data);
  return { event: name, args: args ?? [data] };
}

/**
 * The bytes Ably counts against `maxMessageSize` for this message, as the SDK does:
 * the name's and the data's (a string's UTF-8, binary's length, an object's JSON).
 */
export function ablyMessageSize(message: AblyOutgoing): number {
  const { name, data } = message;
  const dataBytes =
    typeof data === "string"
      ? Buffer.byteLength(data, "utf8")
      : Buffer.isBuffer(data)
        ? data.length
        : Buffer.byteLength(JSON.stringify(data) ?? "", "utf8");
  return Buffer.byteLength(name, "utf8") + dataBytes;
}

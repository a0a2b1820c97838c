/**
 * The pure codec between a Socket.IO event (a name and a list of arguments) and a
 * Pusher event (a name and a `data` string). No socket, timer or setting here.
 *
 * Rules (docs/backends/pusher.md, "Payload mapping"):
 * - One argument that is not binary travels as its own JSON text, so a native
 *   pusher-js client, which `JSON.parse`s string data, reads exactly that value:
 *   `{a: 1}` → `{"a":1}`, `"hi"` → `"\"hi\""`, `123` → `"123"`, `null` → `"null"`.
 * - Anything else (no argument, several, binary anywhere, or one object that itself
 *   has the envelope's marker key) travels in the envelope every managed kind shares
 *   (src/egress/envelope.ts): `{"$switchyard": 1, "args": [...]}`, binary values as
 *   placeholders whose bytes, base64, go to `"attachments": [...]`.
 * - Received data is read the way pusher-js reads it (a string is `JSON.parse`d
 *   when it parses, else kept), then an envelope unpacks to its arguments and any
 *   other value becomes the single argument.
 */

import { hasBinary } from "../../binary.js";
import { looksLikeEnvelope, packEnvelope, unpackEnvelope } from "../envelope.js";

export { ENVELOPE_DEPTH, ENVELOPE_MARKER, type Envelope } from "../envelope.js";

/** A Socket.IO event as a Pusher event. */
export interface EncodedEvent {
  readonly name: string;
  /** The `data` string to publish, as sent on the wire. */
  readonly data: string;
  /** Whether `data` is an envelope (for logs and tests). */
  readonly isEnvelope: boolean;
}

/** A Pusher event as a Socket.IO event. */
export interface DecodedEvent {
  readonly event: string;
  readonly args: readonly unknown[];
}

/** Encodes a Socket.IO event for publishing (see the module comment). Never throws. */
export function encodeEvent(event: string, args: readonly unknown[]): EncodedEvent {
  if (args.length === 1) {
    const [only] = args;
    if (only !== undefined && !hasBinary(only) && !looksLikeEnvelope(only)) {
      const plain = JSON.stringify(only);
      // Values JSON cannot write (a function, a symbol) make no plain payload.
      if (plain !== undefined) return { name: event, data: plain, isEnvelope: false };
    }
  }
  return { name: event, data: JSON.stringify(packEnvelope(args)), isEnvelope: true };
}

/**
 * Reads a `data` string as it arrives on the wire, exactly as pusher-js does: JSON
 * when it parses, else the string itself.
 */
export function parseWireData(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

/**
 * Decodes an event a pusher-js connection received. `data` is what pusher-js hands
 * over (already parsed from the wire by {@link parseWireData}'s rule; client events
 * arrive as the sender's value). The event name is kept exactly as received.
 *
 * @throws Error for an envelope with attachments whose placeholders name none of them.
 */
export function decodeEvent(event: string, data: unknown): DecodedEvent {
  return { event, args: unpackEnvelope(data) ?? [data] };
}

/** Whether an event name is Pusher's own (`pusher:*`, `pusher_internal:*`), never an app's. */
export function isProtocolEvent(event: string): boolean {
  return event.startsWith("pusher:") || event.startsWith("pusher_internal:");
}

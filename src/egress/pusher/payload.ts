/**
 * The pure codec between a Socket.IO event (a name and a list of arguments) and a
 * Pusher event (a name and a `data` string). No socket, timer or setting here.
 *
 * Rules (docs/backends/pusher.md, "Payload mapping"):
 * - One argument that is not binary travels as its own JSON text, so a native
 *   pusher-js client, which `JSON.parse`s string data, reads exactly that value:
 *   `{a: 1}` → `{"a":1}`, `"hi"` → `"\"hi\""`, `123` → `"123"`, `null` → `"null"`.
 * - Anything else (no argument, several, binary anywhere, or one object that itself
 *   has the envelope's marker key) travels in the envelope
 *   `{"$switchyard": 1, "args": [...]}`; binary values become Socket.IO-style
 *   placeholders `{"_placeholder": true, "num": i}` and their bytes, base64, go to
 *   `"attachments": [...]`.
 * - Received data is read the way pusher-js reads it (a string is `JSON.parse`d
 *   when it parses, else kept), then an envelope unpacks to its arguments and any
 *   other value becomes the single argument.
 */

import { hasBinary, isBinary } from "../../binary.js";
import { setOwn } from "../../own-property.js";

/** The key whose value `1` marks an envelope. */
export const ENVELOPE_MARKER = "$switchyard";

/** Levels the envelope adds above an argument: the envelope object and its `args` list. */
export const ENVELOPE_DEPTH = 2;

/** The envelope of events that cannot travel as a plain payload. */
export interface Envelope {
  readonly [ENVELOPE_MARKER]: 1;
  readonly args: readonly unknown[];
  /** Base64 bytes of the binary arguments, in placeholder order. */
  readonly attachments?: readonly string[];
}

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
  const attachments: string[] = [];
  const packed = args.map((arg) => deconstruct(arg, attachments));
  const envelope =
    attachments.length === 0
      ? { [ENVELOPE_MARKER]: 1, args: packed }
      : { [ENVELOPE_MARKER]: 1, args: packed, attachments };
  return { name: event, data: JSON.stringify(envelope), isEnvelope: true };
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
  if (isEnvelope(data)) {
    const buffers = (data.attachments ?? []).map((b64) => Buffer.from(b64, "base64"));
    return { event, args: data.args.map((arg) => reconstruct(arg, buffers)) };
  }
  return { event, args: [data] };
}

/** Whether an event name is Pusher's own (`pusher:*`, `pusher_internal:*`), never an app's. */
export function isProtocolEvent(event: string): boolean {
  return event.startsWith("pusher:") || event.startsWith("pusher_internal:");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isBinary(value);
}

/** An object carrying the marker key must be wrapped, or it would decode as an envelope. */
function looksLikeEnvelope(value: unknown): boolean {
  return isPlainObject(value) && Object.hasOwn(value, ENVELOPE_MARKER);
}

function isEnvelope(value: unknown): value is Envelope {
  if (!isPlainObject(value) || value[ENVELOPE_MARKER] !== 1 || !Array.isArray(value.args)) {
    return false;
  }
  const { attachments } = value;
  return (
    attachments === undefined ||
    (Array.isArray(attachments) && attachments.every((a) => typeof a === "string"))
  );
}

function toBuffer(value: Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function deconstruct(value: unknown, attachments: string[]): unknown {
  if (isBinary(value)) {
    attachments.push(toBuffer(value).toString("base64"));
    return { _placeholder: true, num: attachments.length - 1 };
  }
  if (Array.isArray(value)) return value.map((item) => deconstruct(item, attachments));
  if (isPlainObject(value) && hasBinary(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      setOwn(out, key, deconstruct(item, attachments));
    return out;
  }
  return value;
}

function reconstruct(value: unknown, buffers: readonly Buffer[]): unknown {
  if (buffers.length === 0) return value;
  if (Array.isArray(value)) return value.map((item) => reconstruct(item, buffers));
  if (!isPlainObject(value)) return value;
  if (value._placeholder === true) {
    const buffer = typeof value.num === "number" ? buffers[value.num] : undefined;
    // Left in place next to real binary, a client would read it as an attachment that
    // does not exist and drop its connection.
    if (buffer === undefined) throw new Error("a placeholder names no attachment");
    return buffer;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) setOwn(out, key, reconstruct(item, buffers));
  return out;
}

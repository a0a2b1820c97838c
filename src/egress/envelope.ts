/**
 * The payload envelope every managed kind shares, for Socket.IO events that cannot
 * travel as one plain value on the service (several arguments, none, binary nested
 * in an object, or a value the service refuses on its own): `{"$switchyard": 1,
 * "args": [...]}`, binary values replaced by Socket.IO-style placeholders
 * `{"_placeholder": true, "num": i}` whose bytes, base64, go to `"attachments": [...]`.
 * Pure: no socket, timer or setting. docs/backends/pusher.md ("Payload mapping")
 * documents it for native clients of every kind.
 */

import { hasBinary, isBinary } from "../binary.js";
import { setOwn } from "../own-property.js";

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

/** Wraps arguments in an envelope, their binary values as base64 attachments. Never throws. */
export function packEnvelope(args: readonly unknown[]): Envelope {
  const attachments: string[] = [];
  const packed = args.map((arg) => deconstruct(arg, attachments));
  return attachments.length === 0
    ? { [ENVELOPE_MARKER]: 1, args: packed }
    : { [ENVELOPE_MARKER]: 1, args: packed, attachments };
}

/**
 * The arguments of a received value that is an envelope, binary restored; `undefined`
 * for any other value (it is then the event's single argument).
 *
 * @throws Error for an envelope with attachments whose placeholders name none of them:
 *   delivered, a client would read it as an attachment that does not exist and drop
 *   its connection.
 */
export function unpackEnvelope(value: unknown): readonly unknown[] | undefined {
  if (!isEnvelope(value)) return undefined;
  const buffers = (value.attachments ?? []).map((b64) => Buffer.from(b64, "base64"));
  return value.args.map((arg) => reconstruct(arg, buffers));
}

/** An object carrying the marker key must be wrapped, or it would decode as an envelope. */
export function looksLikeEnvelope(value: unknown): boolean {
  return isPlainObject(value) && Object.hasOwn(value, ENVELOPE_MARKER);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isBinary(value);
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
    if (buffer === undefined) throw new Error("a placeholder names no attachment");
    return buffer;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) setOwn(out, key, reconstruct(item, buffers));
  return out;
}

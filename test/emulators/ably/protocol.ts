/**
 * Wire constants and pure helpers of the Ably realtime protocol (v2–v6) and REST
 * API, shared by the realtime and REST halves of the emulator. Nothing here
 * touches a socket or a timer. "Reference §N" cites
 * /work/shared/reference/ably-protocol.md.
 */
import { randomBytes } from "node:crypto";
import { decode as msgpackDecode, encode as msgpackEncode } from "notepack.io";

/** ProtocolMessage actions (reference §3, TR2). */
export const Action = {
  HEARTBEAT: 0,
  ACK: 1,
  NACK: 2,
  CONNECTED: 4,
  DISCONNECT: 5,
  DISCONNECTED: 6,
  CLOSE: 7,
  CLOSED: 8,
  ERROR: 9,
  ATTACH: 10,
  ATTACHED: 11,
  DETACH: 12,
  DETACHED: 13,
  PRESENCE: 14,
  MESSAGE: 15,
  SYNC: 16,
  AUTH: 17,
} as const;

/** ProtocolMessage `flags` bits (reference §3, TR3). */
export const Flag = {
  HAS_PRESENCE: 1 << 0,
  HAS_BACKLOG: 1 << 1,
  RESUMED: 1 << 2,
  PRESENCE: 1 << 16,
  PUBLISH: 1 << 17,
  SUBSCRIBE: 1 << 18,
  PRESENCE_SUBSCRIBE: 1 << 19,
} as const;

/** Every channel mode the emulator grants: 983040, what ATTACHED carries by default. */
export const ALL_MODES = Flag.PRESENCE | Flag.PUBLISH | Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE;

/** PresenceMessage actions (reference §9). */
export const PresenceAction = { ABSENT: 0, PRESENT: 1, ENTER: 2, LEAVE: 3, UPDATE: 4 } as const;

/** Protocol versions accepted in the `v` query parameter (reference §18: ably-js 2.x sends 3–6). */
export const PROTOCOL_VERSIONS = { min: 2, max: 6 } as const;

/** The first version whose ACKs carry `res` with message serials (reference §18). */
export const FIRST_VERSION_WITH_ACK_RES = 4;

/** Ably error codes the emulator sends (reference §14). */
export const AblyCode = {
  BAD_REQUEST: 40000,
  INVALID_MESSAGE: 40001,
  MESSAGE_TOO_LARGE: 40009,
  INVALID_CHANNEL_NAME: 40010,
  INVALID_CLIENT_ID: 40012,
  INVALID_MESSAGE_DATA: 40013,
  INVALID_CREDENTIALS: 40101,
  CAPABILITY_REFUSED: 40160,
  NOT_FOUND: 40400,
  INTERNAL: 50000,
  DISCONNECTED: 80003,
  CONNECTION_EXPIRED: 80008,
  PRESENCE_NO_CLIENT_ID: 91000,
  PRESENCE_NOT_ATTACHED: 91001,
} as const;

/** An Ably ErrorInfo as it travels on the wire (reference §3). */
export interface ErrorInfo {
  code: number;
  statusCode: number;
  message: string;
  href?: string;
}

/** An ErrorInfo with the help link the service adds. */
export function errorInfo(code: number, statusCode: number, message: string): ErrorInfo {
  return { code, statusCode, message, href: `https://help.ably.io/error/${code}` };
}

/** The serialisation a connection or a REST request asked for (reference §2, §13). */
export type Format = "json" | "msgpack";

/** Encodes one ProtocolMessage: a text frame for json, a binary frame for msgpack. */
export function encodeFrame(message: object, format: Format): string | Buffer {
  return format === "json" ? JSON.stringify(message) : msgpackEncode(message);
}

/** Decodes one frame in the connection's format; throws on malformed input. */
export function decodeFrame(raw: Buffer, format: Format): unknown {
  return format === "json" ? JSON.parse(raw.toString("utf8")) : msgpackDecode(raw);
}

/** A short random id safe inside serials, ids and keys: base64url has no `:`, `@` or `!`. */
export function randomId(bytes = 8): string {
  return randomBytes(bytes).toString("base64url");
}

/**
 * Why `name` is not a usable channel name, or undefined when it is (reference §6):
 * not empty, no leading `[` (qualifiers are not emulated) or `:`, no newline.
 */
export function channelNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string" || name === "") return "channel name is empty";
  if (name.startsWith("[")) return "channel qualifiers ([...]) are not supported";
  if (name.startsWith(":")) return "channel name must not start with ':'";
  if (name.includes("\n")) return "channel name must not contain a newline";
  return undefined;
}

/** Capability operations the emulator checks (Ably's `capabilityOp`, a subset). */
export type CapabilityOp = "publish" | "subscribe" | "presence" | "history" | "*";

/**
 * A key's capability as Ably writes it: resource pattern → operations.
 * `"*"` matches every channel, a pattern ending in `*` matches by prefix
 * (`"room:*"`), anything else matches exactly.
 */
export type Capability = Record<string, readonly CapabilityOp[]>;

/** The operations `capability` allows on `channel` (union over every matching pattern). */
export function allowedOps(capability: Capability, channel: string): Set<CapabilityOp> {
  const ops = new Set<CapabilityOp>();
  for (const [pattern, granted] of Object.entries(capability)) {
    const matches = pattern.endsWith("*")
      ? channel.startsWith(pattern.slice(0, -1))
      : channel === pattern;
    if (!matches) continue;
    for (const op of granted) ops.add(op);
  }
  if (ops.has("*")) return new Set(["publish", "subscribe", "presence", "history"]);
  return ops;
}

/** The channel modes a set of operations allows (presence subscribe rides on subscribe). */
export function modesAllowedBy(ops: Set<CapabilityOp>): number {
  let modes = 0;
  if (ops.has("publish")) modes |= Flag.PUBLISH;
  if (ops.has("subscribe")) modes |= Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE;
  if (ops.has("presence")) modes |= Flag.PRESENCE;
  return modes;
}

/** The message for a capability refusal, as the service words it. */
export function capabilityRefusal(channel: string, op: string): ErrorInfo {
  return errorInfo(
    AblyCode.CAPABILITY_REFUSED,
    401,
    `Channel denied access based on given capability (operation ${op}); channel = ${channel}`,
  );
}

/** An API key split into its parts (reference §12): `appId.keyId:secret`. */
export interface ParsedKey {
  appId: string;
  keyName: string;
  secret: string;
}

/** Splits a full API key; undefined when it has no `:` or no `.` in the key name. */
export function parseKey(key: string): ParsedKey | undefined {
  const colon = key.indexOf(":");
  if (colon <= 0) return undefined;
  const keyName = key.slice(0, colon);
  const dot = keyName.indexOf(".");
  if (dot <= 0) return undefined;
  return { appId: keyName.slice(0, dot), keyName, secret: key.slice(colon + 1) };
}

/**
 * A message or presence payload as the emulator keeps it, independent of the
 * format it came in: binary is a Buffer and `encoding` has no trailing
 * `base64` step, so it can be written to json and msgpack alike (reference §2).
 */
export interface Payload {
  data?: string | Buffer;
  encoding?: string;
}

/**
 * Reads `data`/`encoding` off the wire. A trailing `base64` step is decoded to
 * bytes; strings and bytes pass; anything else (a bare number, boolean or an
 * object that was not stringified with `encoding: json`) is 40013, as the
 * SDKs themselves refuse it (reference §16.11).
 */
export function payloadFromWire(data: unknown, encoding: unknown): Payload | ErrorInfo {
  if (encoding !== undefined && encoding !== null && typeof encoding !== "string") {
    return errorInfo(AblyCode.INVALID_MESSAGE_DATA, 400, "Invalid message encoding");
  }
  let steps = typeof encoding === "string" && encoding !== "" ? encoding.split("/") : [];
  if (data === undefined || data === null) {
    return steps.length === 0 ? {} : { encoding: steps.join("/") };
  }
  let value: string | Buffer;
  if (Buffer.isBuffer(data)) {
    value = data;
  } else if (data instanceof Uint8Array) {
    value = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  } else if (typeof data === "string") {
    value = data;
  } else {
    return errorInfo(
      AblyCode.INVALID_MESSAGE_DATA,
      400,
      `Invalid message data: type ${Array.isArray(data) ? "array" : typeof data} is unsupported`,
    );
  }
  if (steps.at(-1) === "base64") {
    if (typeof value !== "string") {
      return errorInfo(AblyCode.INVALID_MESSAGE_DATA, 400, "base64 encoding on binary data");
    }
    value = Buffer.from(value, "base64");
    steps = steps.slice(0, -1);
  }
  return steps.length === 0 ? { data: value } : { data: value, encoding: steps.join("/") };
}

/** Writes a payload for `format`: bytes stay bytes in msgpack and become base64 in json. */
export function payloadToWire(payload: Payload, format: Format): Payload {
  const { data, encoding } = payload;
  if (format === "json" && Buffer.isBuffer(data)) {
    return {
      data: data.toString("base64"),
      encoding: encoding === undefined ? "base64" : `${encoding}/base64`,
    };
  }
  const wire: Payload = {};
  if (data !== undefined) wire.data = data;
  if (encoding !== undefined) wire.encoding = encoding;
  return wire;
}

/** Bytes a payload counts towards `maxMessageSize`. */
export function payloadSize(payload: Payload): number {
  const { data } = payload;
  if (data === undefined) return 0;
  return Buffer.isBuffer(data) ? data.length : Buffer.byteLength(data, "utf8");
}

/** A published message as stored and delivered (TM2); `serial` orders it on its channel. */
export interface StoredMessage extends Payload {
  id: string;
  name?: string;
  clientId?: string;
  connectionId?: string;
  timestamp: number;
  serial: string;
  extras?: unknown;
}

/** A presence event or member (TP3). */
export interface StoredPresence extends Payload {
  id: string;
  action: number;
  clientId: string;
  connectionId: string;
  timestamp: number;
  extras?: unknown;
}

/**
 * How the SDK sizes a message (name + clientId + JSON extras + data bytes,
 * reference §7); the server applies the same sum to one publish.
 */
export function messageSize(message: {
  name?: string;
  clientId?: string;
  extras?: unknown;
  payload: Payload;
}): number {
  return (
    (message.name?.length ?? 0) +
    (message.clientId?.length ?? 0) +
    (message.extras === undefined ? 0 : JSON.stringify(message.extras).length) +
    payloadSize(message.payload)
  );
}

/** A stored message with only the fields the service sends (reference §2, §8). */
export function messageToWire(message: StoredMessage, format: Format): Record<string, unknown> {
  const wire: Record<string, unknown> = { id: message.id };
  if (message.name !== undefined) wire.name = message.name;
  Object.assign(wire, payloadToWire(message, format));
  if (message.clientId !== undefined) wire.clientId = message.clientId;
  if (message.connectionId !== undefined) wire.connectionId = message.connectionId;
  wire.timestamp = message.timestamp;
  if (message.extras !== undefined) wire.extras = message.extras;
  wire.serial = message.serial;
  // MESSAGE_CREATE: v6 messages carry an action (reference §8).
  wire.action = 0;
  return wire;
}

/** A presence event or member with the fields the service sends (reference §9). */
export function presenceToWire(presence: StoredPresence, format: Format): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    id: presence.id,
    action: presence.action,
    clientId: presence.clientId,
    connectionId: presence.connectionId,
    timestamp: presence.timestamp,
  };
  Object.assign(wire, payloadToWire(presence, format));
  if (presence.extras !== undefined) wire.extras = presence.extras;
  return wire;
}

/** A server → client ProtocolMessage before its payloads are written for a format. */
export interface OutboundMessage {
  action: number;
  id?: string;
  channel?: string;
  channelSerial?: string;
  connectionId?: string;
  timestamp?: number;
  flags?: number;
  messages?: StoredMessage[];
  presence?: StoredPresence[];
  [field: string]: unknown;
}

/**
 * One outbound ProtocolMessage, encoded at most once per format however many
 * connections it goes to (a broadcast writes its bytes once).
 */
export class OutboundFrame {
  readonly message: OutboundMessage;
  #encoded: { json?: string | Buffer; msgpack?: string | Buffer } = {};

  constructor(message: OutboundMessage) {
    this.message = message;
  }

  /** The frame's bytes (json text or msgpack binary). */
  encoded(format: Format): string | Buffer {
    const cached = this.#encoded[format];
    if (cached !== undefined) return cached;
    const { messages, presence, ...rest } = this.message;
    const wire: Record<string, unknown> = { ...rest };
    if (messages !== undefined) wire.messages = messages.map((m) => messageToWire(m, format));
    if (presence !== undefined) wire.presence = presence.map((p) => presenceToWire(p, format));
    // Both encoders leave undefined fields out, as the service does (reference §2).
    const encoded = encodeFrame(wire, format);
    this.#encoded[format] = encoded;
    return encoded;
  }
}

/** One message of a publish after validation. */
export interface ParsedMessage {
  id?: string;
  name?: string;
  clientId?: string;
  extras?: unknown;
  payload: { data?: string | Buffer; encoding?: string };
}

/**
 * Validates the messages of one publish, realtime or REST (reference §7, §13):
 * field types (40001), data (40013), clientId against the connection's (40012)
 * and the total size (40009). Only known fields are kept; the SDK's `size` is not.
 */
export function parseMessages(
  raw: unknown,
  connectionClientId: string | undefined,
  maxMessageSize: number,
): ParsedMessage[] | ErrorInfo {
  if (!Array.isArray(raw) || raw.length === 0) {
    return errorInfo(AblyCode.INVALID_MESSAGE, 400, "A publish needs at least one message");
  }
  const parsed: ParsedMessage[] = [];
  let size = 0;
  for (const item of raw) {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      return errorInfo(AblyCode.INVALID_MESSAGE, 400, "Message is not an object");
    }
    const entry = item as Record<string, unknown>;
    for (const field of ["id", "name", "clientId"] as const) {
      const value = entry[field];
      if (value !== undefined && value !== null && typeof value !== "string") {
        return errorInfo(AblyCode.INVALID_MESSAGE, 400, `Message ${field} must be a string`);
      }
    }
    const extras = entry.extras ?? undefined;
    if (extras !== undefined && (typeof extras !== "object" || Array.isArray(extras))) {
      return errorInfo(AblyCode.INVALID_MESSAGE, 400, "Message extras must be an object");
    }
    const payload = payloadFromWire(entry.data, entry.encoding);
    if ("code" in payload) return payload;
    const clientId = resolveClientId(entry.clientId, connectionClientId);
    if (typeof clientId === "object") return clientId;
    const message: ParsedMessage = { payload };
    if (typeof entry.id === "string") message.id = entry.id;
    if (typeof entry.name === "string") message.name = entry.name;
    if (clientId !== undefined) message.clientId = clientId;
    if (extras !== undefined) message.extras = extras;
    size += messageSize({ ...message, payload });
    parsed.push(message);
  }
  if (size > maxMessageSize) {
    return errorInfo(
      AblyCode.MESSAGE_TOO_LARGE,
      400,
      `Maximum size of messages that can be published at once exceeded (was ${size} bytes; limit is ${maxMessageSize} bytes)`,
    );
  }
  return parsed;
}

/**
 * A message's clientId: its own, else the connection's. A connection with a
 * clientId may not speak for another (40012); an API key without one may name any.
 */
export function resolveClientId(
  given: unknown,
  connectionClientId: string | undefined,
): string | undefined | ErrorInfo {
  if (typeof given !== "string" || given === "") return connectionClientId;
  if (connectionClientId !== undefined && given !== connectionClientId) {
    return errorInfo(
      AblyCode.INVALID_CLIENT_ID,
      400,
      `Mismatched clientId ${given}; the connection is ${connectionClientId}`,
    );
  }
  return given;
}

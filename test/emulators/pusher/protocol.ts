/**
 * Wire constants and pure helpers of Pusher Channels protocol v7, shared by the
 * WebSocket and REST halves of the emulator. Nothing here touches a socket.
 */

/** The only WebSocket protocol version the emulator speaks (reference §1). */
export const PROTOCOL_VERSION = 7;

/**
 * Close codes and `pusher:error` codes the emulator uses (reference §5). The
 * ranges drive pusher-js: 4000–4099 and ≥4300 stop it for good, 4100–4199 back
 * off, 4200–4299 reconnect at once.
 */
export const PusherCode = {
  APP_NOT_FOUND: 4001,
  PATH_NOT_FOUND: 4005,
  INVALID_VERSION: 4006,
  UNSUPPORTED_PROTOCOL: 4007,
  NO_PROTOCOL: 4008,
  RECONNECT: 4200,
  PONG_NOT_RECEIVED: 4201,
  CLIENT_EVENT_RATE_LIMIT: 4301,
} as const;

/** Documented limits of the hosted service (reference §10). */
export const Limits = {
  /** Bytes of an event's `data` string (REST and client events); 10 KB read as 10,240. */
  dataBytes: 10_240,
  channelsPerTrigger: 100,
  eventsPerBatch: 10,
  eventNameChars: 200,
  channelNameChars: 164,
  presenceUserIdChars: 128,
  /** REST `auth_timestamp` skew accepted, in seconds. */
  timestampSkewSeconds: 600,
} as const;

/** What a channel's name prefix makes it (reference §6). */
export type ChannelKind = "public" | "private" | "private-encrypted" | "presence";

const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]+$/;

/**
 * True when `name` is a channel a client or a publisher may use: the allowed
 * characters, 1–164 of them, and no reserved `#` prefix (reference §6). The
 * allowed set already excludes `#`, so `#server-to-user-…` fails here too.
 */
export function isValidChannelName(name: unknown): name is string {
  return (
    typeof name === "string" && name.length <= Limits.channelNameChars && CHANNEL_NAME.test(name)
  );
}

/** The kind of an already validated channel name. Cache variants share their base kind. */
export function channelKind(name: string): ChannelKind {
  if (name.startsWith("presence-")) return "presence";
  if (name.startsWith("private-encrypted-")) return "private-encrypted";
  if (name.startsWith("private-")) return "private";
  return "public";
}

/** Socket ids are two decimal integers joined by a dot; the REST SDK insists (reference §1). */
export const SOCKET_ID = /^\d+\.\d+$/;

/** Byte length of a string as UTF-8, the unit of the 10 KB data limit. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** A frame the server sends. `data` is a string except on `pusher:error` (reference §2). */
export interface ServerFrame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

/** Encodes one frame; callers encode a broadcast once and reuse the text. */
export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * A `pusher:error` frame. `code` is null for the rejections the hosted service
 * reports without a code, such as a bad subscription signature (reference §3, §13.6).
 */
export function errorFrame(code: number | null, message: string): string {
  return encodeFrame({ event: "pusher:error", data: { code, message } });
}

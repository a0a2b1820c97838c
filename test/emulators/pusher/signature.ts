/**
 * The HMAC signatures Pusher checks: channel authorization strings from
 * clients (reference §7) and signed REST requests (reference §9).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Limits } from "./protocol.js";

/** Lowercase hex HMAC-SHA256 of `text` keyed by the app secret. */
export function hmacHex(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text, "utf8").digest("hex");
}

/** Lowercase hex MD5 of the exact body bytes (REST `body_md5`). */
export function md5Hex(body: Buffer | string): string {
  return createHash("md5").update(body).digest("hex");
}

/** Compares two strings without leaking where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The string a channel `auth` signs: `socket_id:channel` for private channels,
 * `socket_id:channel:channel_data` for presence, with `channel_data` the exact
 * bytes the client sent (reference §7).
 */
export function channelAuthString(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined
    ? `${socketId}:${channel}`
    : `${socketId}:${channel}:${channelData}`;
}

/**
 * Checks a subscription's `auth` value, `"{key}:{hexsig}"`. Returns the signature
 * the client sent (for the error message), and whether it matches.
 */
export function checkChannelAuth(
  app: { key: string; secret: string },
  auth: unknown,
  signed: string,
): { ok: boolean; given: string } {
  const text = typeof auth === "string" ? auth : "";
  const colon = text.indexOf(":");
  const key = colon === -1 ? "" : text.slice(0, colon);
  const given = colon === -1 ? text : text.slice(colon + 1);
  const ok = key === app.key && safeEqual(given, hmacHex(app.secret, signed));
  return { ok, given };
}

/** A REST request as the signature check needs it. */
export interface SignedRequest {
  method: string;
  /** The request path as sent, without the query (includes `/apps/{id}`). */
  path: string;
  /** Decoded query parameters; repeated keys keep the last value. */
  query: Map<string, string>;
  /** The raw body, empty for GET. */
  body: Buffer;
}

/**
 * Verifies `auth_key`, `auth_timestamp` (within 600 s of `nowSeconds`),
 * `auth_version=1.0`, `body_md5` (required when the body is non-empty) and
 * `auth_signature` over `METHOD\nPATH\nQUERY` with keys lowercased and sorted,
 * values unescaped (reference §9). Returns null when valid, else the reason
 * for a 401 body.
 */
export function verifyRestSignature(
  app: { key: string; secret: string },
  request: SignedRequest,
  nowSeconds: number,
): string | null {
  const { query } = request;
  if (query.get("auth_key") !== app.key) return "Unknown auth_key";
  if (query.get("auth_version") !== "1.0") return "Invalid auth_version, expected 1.0";
  const timestamp = Number(query.get("auth_timestamp"));
  if (!Number.isInteger(timestamp)) return "Missing or invalid auth_timestamp";
  if (Math.abs(nowSeconds - timestamp) > Limits.timestampSkewSeconds) {
    return `Timestamp expired: Given timestamp (${timestamp}) not within ${Limits.timestampSkewSeconds}s of server time (${nowSeconds})`;
  }
  if (request.body.length > 0) {
    const md5 = query.get("body_md5");
    if (md5 === undefined) return "Missing body_md5 for a request with a body";
    if (md5 !== md5Hex(request.body)) return "Invalid body_md5";
  }
  const given = query.get("auth_signature");
  if (given === undefined) return "Missing auth_signature";
  const expected = hmacHex(app.secret, restStringToSign(request));
  if (!safeEqual(given, expected)) {
    return `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(restStringToSign(request))}, your_secret_key), but you sent "${given}"`;
  }
  return null;
}

/** `METHOD\nPATH\nsorted query` with `auth_signature` left out (reference §9). */
export function restStringToSign(request: Omit<SignedRequest, "body">): string {
  const pairs = [...request.query]
    .filter(([key]) => key.toLowerCase() !== "auth_signature")
    .map(([key, value]): [string, string] => [key.toLowerCase(), value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`);
  return `${request.method.toUpperCase()}\n${request.path}\n${pairs.join("&")}`;
}

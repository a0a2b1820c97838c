import { createHmac } from "node:crypto";
import type { Secret } from "../mapping/secret.js";

/** The request header holding the time of signing, in Unix seconds. */
export const TIMESTAMP_HEADER = "x-switchyard-timestamp";

/** The request header holding `sha256=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY`. */
export const SIGNATURE_HEADER = "x-switchyard-signature";

/**
 * The headers that let an app tell Switchyard's requests (connect webhook, forward
 * rules) from anyone else's: {@link TIMESTAMP_HEADER} and {@link SIGNATURE_HEADER},
 * the HMAC-SHA256 with `secret` of the timestamp, a `.`, and `body` exactly as sent.
 * The timestamp lets the app refuse a recorded request replayed later.
 *
 * @param body The request body, byte for byte as it goes on the wire.
 * @param nowMs The time of signing, in ms since the epoch; default now.
 */
export function signatureHeaders(
  secret: Secret,
  body: string,
  nowMs: number = Date.now(),
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const digest = createHmac("sha256", secret.reveal())
    .update(`${timestamp}.${body}`, "utf8")
    .digest("hex");
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: `sha256=${digest}` };
}

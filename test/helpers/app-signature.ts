import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/**
 * Whether a request to the app carries a valid Switchyard signature made with
 * `secret` less than 5 minutes ago: the verification docs/mapping.md ("Signed
 * requests") shows an app, line for line, so the tests prove the recipe works.
 *
 * @param rawBody The body exactly as received, before JSON.parse.
 */
export function isFromSwitchyard(
  headers: IncomingHttpHeaders,
  rawBody: string,
  secret: string,
): boolean {
  const timestamp = headers["x-switchyard-timestamp"];
  const signature = headers["x-switchyard-signature"];
  if (typeof timestamp !== "string" || typeof signature !== "string") return false;
  const age = Math.abs(Date.now() / 1000 - Number(timestamp));
  if (!(age <= 300)) return false; // more than 5 minutes off, or not a number: refuse
  const expected = `sha256=${createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex")}`;
  const a = Buffer.from(signature);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

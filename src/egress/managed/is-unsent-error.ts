/**
 * System error codes of a request that failed before its connection was established:
 * nothing of it reached the service. ECONNRESET, EPIPE and timeouts are not among
 * them: a request may have been written, and even processed, before those.
 */
const BEFORE_CONNECT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  // A link of our own with no connection at that moment (the websocket kind's bus link).
  "ENOTCONN",
]);

/** How deep a chain of wrapped errors is followed. */
const MAX_DEPTH = 5;

/**
 * Whether `error`, or an error it wraps (`cause`, or `error` as the `pusher` SDK and
 * node-fetch wrap theirs), says the request never reached the service, so that sending
 * it again cannot deliver it twice.
 */
export function isUnsentError(error: unknown): boolean {
  let current: unknown = error;
  for (
    let depth = 0;
    depth < MAX_DEPTH && typeof current === "object" && current !== null;
    depth++
  ) {
    const {
      code,
      cause,
      error: inner,
    } = current as {
      code?: unknown;
      cause?: unknown;
      error?: unknown;
    };
    if (typeof code === "string" && BEFORE_CONNECT.has(code)) return true;
    current = cause ?? inner;
  }
  return false;
}

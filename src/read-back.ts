/**
 * Reading back what a client missed (connection state recovery, docs/recovery.md), in
 * the words both sides use: the ingress, which keeps where a socket stood, and the
 * backends, which read their channels' histories. Here because neither may import the
 * other.
 */

/**
 * Where a read of a channel's history starts: after the message with this id, or after
 * the last message published before the attachment this serial names (a backend's
 * `attachPoint`).
 */
export type HistoryPoint = { readonly after: string } | { readonly attach: string };

/**
 * Why what followed a point (an offset in a shared stream, a message in a channel's
 * history) cannot all be read back: the point is no longer there (or never was), or
 * more than the limit followed it. The client starts afresh.
 */
export type MissedFailure = "offset_gone" | "too_many_missed";

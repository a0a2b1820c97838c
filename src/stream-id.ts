/**
 * Redis stream entry ids, `<ms>-<seq>` with both parts unsigned 64-bit integers: the
 * offsets of broadcasts read from the native core's streams (docs/recovery.md).
 */

const STREAM_ID = /^([0-9]{1,20})-([0-9]{1,20})$/;
const MAX_PART = 2n ** 64n - 1n;

/** Whether `offset` is a stream entry id Redis would take. */
export function isStreamId(offset: string): boolean {
  const match = STREAM_ID.exec(offset);
  return match !== null && BigInt(match[1]!) <= MAX_PART && BigInt(match[2]!) <= MAX_PART;
}

/** Orders two stream entry ids as the stream does (both checked with {@link isStreamId}). */
export function compareStreamIds(a: string, b: string): number {
  const [msA, seqA] = parts(a);
  const [msB, seqB] = parts(b);
  if (msA !== msB) return msA < msB ? -1 : 1;
  if (seqA !== seqB) return seqA < seqB ? -1 : 1;
  return 0;
}

/**
 * The id right after `id`: XRANGE's start is inclusive, and exclusive ranges need Redis
 * 6.2 (streams mode runs on 5).
 */
export function nextStreamId(id: string): string {
  const [ms, seq] = parts(id);
  return seq === MAX_PART ? `${ms + 1n}-0` : `${ms}-${seq + 1n}`;
}

function parts(id: string): [bigint, bigint] {
  const dash = id.indexOf("-");
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}

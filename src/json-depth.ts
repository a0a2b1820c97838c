/**
 * Nesting limits for untrusted JSON, checked where data enters (the Socket.IO decoder,
 * the HTTP API, backends' inbound messages, the app's answers, Redis messages).
 *
 * Depth counts containers: a scalar is 0 deep, `[]` and `{}` are 1, `[[1]]` is 2.
 * `JSON.parse` builds any depth without trouble, but `JSON.stringify`, our encoders
 * and every recursive walk fail past a few thousand levels with a `RangeError` that
 * no caller expects; bounding the depth at the door keeps the rest of the code free
 * of that failure. Both checks are bounded themselves: the text scan is one pass,
 * the value walk never descends more than `maxDepth + 1` levels.
 */

import { isBinary } from "./binary.js";

/** `server.limits.maxDepth`'s default: deeper than any real message, far below trouble. */
export const DEFAULT_MAX_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether the JSON text from `from` on nests containers deeper than `maxDepth`, without
 * parsing it. Text inside strings is skipped; malformed text is left for `JSON.parse`
 * to refuse (the answer is then `false` unless the depth was already passed).
 */
export function textExceedsDepth(text: string, maxDepth: number, from = 0): boolean {
  let depth = 0;
  const end = text.length;
  for (let i = from; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i + 1);
      if (i < 0) return false;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/** The index of the quote that closes a string starting at `from`, or -1. */
function closingQuote(text: string, from: number): number {
  let i = from;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return -1;
    // A quote preceded by an odd run of backslashes is escaped.
    let slash = quote - 1;
    while (slash >= from && text.charCodeAt(slash) === BACKSLASH) slash--;
    if ((quote - 1 - slash) % 2 === 0) return quote;
    i = quote + 1;
  }
}

/**
 * Whether a value nests arrays and objects deeper than `maxDepth`. Binary values
 * (Buffer, ArrayBuffer, typed arrays) are leaves. A cyclic value counts as too deep.
 */
export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (isBinary(value)) return false;
  if (maxDepth <= 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (exceedsDepth(item, maxDepth - 1)) return true;
    return false;
  }
  // Own keys only: an inherited getter is not data, and may throw when read.
  for (const key of Object.keys(value)) {
    if (exceedsDepth((value as Record<string, unknown>)[key], maxDepth - 1)) return true;
  }
  return false;
}

/** Whether any of `values` nests deeper than `maxDepth` (an event's arguments). */
export function anyExceedsDepth(values: readonly unknown[], maxDepth: number): boolean {
  for (const value of values) if (exceedsDepth(value, maxDepth)) return true;
  return false;
}

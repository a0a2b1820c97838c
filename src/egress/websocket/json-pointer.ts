/**
 * JSON Pointers (RFC 6901) over frames a bus sent: parsed once when the settings load,
 * evaluated on every inbound frame. Written here rather than taken from a package
 * because evaluation must read own properties only (a pointer `/__proto__` or
 * `/constructor` must find nothing in a hostile frame, not `Object.prototype`), and
 * the parsed tokens are kept for the hot path; both are a dozen lines.
 */

/** A parsed pointer: its reference tokens, unescaped; array indexes stay strings. */
export type JsonPointer = readonly string[];

/** Parses `text`; returns the problem in words when it is not a JSON Pointer. */
export function parsePointer(text: string): JsonPointer | string {
  if (text === "") return [];
  if (!text.startsWith("/"))
    return `'${text}' is not a JSON Pointer: it must be empty or start with '/'`;
  const tokens: string[] = [];
  for (const raw of text.slice(1).split("/")) {
    if (/~(?![01])/.test(raw)) {
      return `'${text}' is not a JSON Pointer: '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')`;
    }
    tokens.push(raw.replaceAll("~1", "/").replaceAll("~0", "~"));
  }
  return tokens;
}

/** An array index token: `0` or digits without a leading zero (RFC 6901 §4). */
const INDEX = /^(?:0|[1-9][0-9]*)$/;

/** The value `pointer` refers to in `value`, or `undefined` when there is none. */
export function resolvePointer(value: unknown, pointer: JsonPointer): unknown {
  let at = value;
  for (const token of pointer) {
    if (Array.isArray(at)) {
      if (!INDEX.test(token)) return undefined;
      at = at[Number(token)];
    } else if (typeof at === "object" && at !== null) {
      if (!Object.hasOwn(at, token)) return undefined;
      at = (at as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return at;
}

/** The pointer as written, for messages. */
export function formatPointer(pointer: JsonPointer): string {
  return pointer.map((token) => `/${token.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

/**
 * How a backend kind names its channels, and the one escaping scheme that turns any
 * room text into a channel-name fragment, the same for every kind.
 *
 * Escaping: ASCII letters and digits stay as they are; every other character
 * (`-`, `_`, `.`, the escape character, `:`, spaces, non-ASCII...) becomes the
 * escape character followed by the two upper-case hex digits of each of its UTF-8
 * bytes. With `=` as the escape character `room:1` becomes `room=3A1`, `42-staff`
 * becomes `42=2Dstaff` and `a=b` becomes `a=3Db`. So escaped text is a non-empty
 * run of `[A-Za-z0-9]` and `=HH` groups and never holds a separator such as `-`:
 * the scheme is injective (two different texts never escape to the same fragment),
 * and a template's literal separators cannot be forged by a room
 * (src/mapping/channel-overlap.ts relies on exactly this language).
 *
 * A lone UTF-16 surrogate, which JSON text can carry, is encoded as its own three
 * bytes (as WTF-8 does) instead of the replacement character, so two rooms that
 * differ only there keep distinct channels.
 */
export interface ChannelNaming {
  /** Longest channel name the service accepts, in characters. */
  readonly maxLength: number;
  /** The characters literal template text may hold, for people: `A-Z a-z 0-9 _ - = @ , . ;`. */
  readonly allowedText: string;
  /** The character that starts an escape: one allowed character, not an ASCII letter or digit. */
  readonly escapeChar: string;
  /**
   * Prefixes that change what a channel is (Pusher: `private-`, `presence-`,
   * `private-encrypted-`). A channel template on such a kind must begin with literal
   * text, and no room may give a template that does not start with one of these a
   * channel that does. None when absent.
   */
  readonly reservedPrefixes?: readonly string[];
  /**
   * Text no channel name may begin with (Ably: `[`, which starts a qualifier, and
   * `:`). A template whose literal text begins with one is refused; escaped text never
   * begins with one. None when absent.
   */
  readonly invalidStarts?: readonly string[];
  /** Whether `char` (one UTF-16 code unit) may appear in literal template text. */
  isAllowed(char: string): boolean;
}

/** The characters of `text` that `naming` does not allow, each once, in order. */
export function disallowedChars(naming: ChannelNaming, text: string): string[] {
  const out = new Set<string>();
  for (const char of text) if (!isAllowedChar(naming, char)) out.add(char);
  return [...out];
}

/** Whether escaping keeps the UTF-16 code unit `code` as it is: ASCII letters and digits. */
export function isKeptAsIs(code: number): boolean {
  return code < 128 && KEPT[code] === 1;
}

/** Escapes `text` (see the module comment). Returns `text` itself when nothing needs escaping. */
export function escapeChannelText(naming: ChannelNaming, text: string): string {
  const mark = naming.escapeChar;
  let out = "";
  let plainFrom = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 128 && KEPT[code] === 1) continue;
    out += text.slice(plainFrom, i);
    let point = code;
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        point = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i += 1;
      }
    }
    out += escapeCodePoint(mark, point);
    plainFrom = i + 1;
  }
  return plainFrom === 0 ? text : out + text.slice(plainFrom);
}

/** `[A-Za-z0-9]` by ASCII code. */
const KEPT = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  KEPT[c] = /^[A-Za-z0-9]$/.test(String.fromCharCode(c)) ? 1 : 0;
}

/** `00` to `FF`, by byte. */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) =>
  b.toString(16).toUpperCase().padStart(2, "0"),
);

/** The UTF-8 bytes of `point` (a lone surrogate included), each as escape + two hex digits. */
function escapeCodePoint(mark: string, point: number): string {
  if (point < 0x80) return mark + HEX_BYTE[point];
  if (point < 0x800) {
    return mark + HEX_BYTE[0xc0 | (point >> 6)] + mark + HEX_BYTE[0x80 | (point & 0x3f)];
  }
  if (point < 0x10000) {
    return (
      mark +
      HEX_BYTE[0xe0 | (point >> 12)] +
      mark +
      HEX_BYTE[0x80 | ((point >> 6) & 0x3f)] +
      mark +
      HEX_BYTE[0x80 | (point & 0x3f)]
    );
  }
  return (
    mark +
    HEX_BYTE[0xf0 | (point >> 18)] +
    mark +
    HEX_BYTE[0x80 | ((point >> 12) & 0x3f)] +
    mark +
    HEX_BYTE[0x80 | ((point >> 6) & 0x3f)] +
    mark +
    HEX_BYTE[0x80 | (point & 0x3f)]
  );
}

/** ASCII answers of each naming, computed once: `isAllowed` may be a regular expression. */
const asciiTables = new WeakMap<ChannelNaming, Uint8Array>();

function isAllowedChar(naming: ChannelNaming, char: string): boolean {
  // A character outside the BMP is two code units; no kind allows those.
  if (char.length !== 1) return false;
  const code = char.charCodeAt(0);
  if (code >= 128) return naming.isAllowed(char);
  let table = asciiTables.get(naming);
  if (table === undefined) {
    table = new Uint8Array(128);
    for (let c = 0; c < 128; c++) table[c] = naming.isAllowed(String.fromCharCode(c)) ? 1 : 0;
    asciiTables.set(naming, table);
  }
  return table[code] === 1;
}

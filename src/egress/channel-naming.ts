/**
 * How a backend kind names its channels, and the one escaping scheme that turns any
 * room text into a name the kind accepts.
 *
 * Escaping: every character outside the kind's allowed set, and the escape character
 * itself, becomes the escape character followed by the two upper-case hex digits of
 * each of its UTF-8 bytes. With `=` as the escape character `room:1` becomes
 * `room=3A1` and `a=b` becomes `a=3Db`. The scheme is injective (two different texts
 * never escape to the same name) and leaves text made only of allowed characters
 * other than the escape character unchanged.
 */
export interface ChannelNaming {
  /** Longest channel name the service accepts, in characters. */
  readonly maxLength: number;
  /** The allowed characters, for people: `A-Z a-z 0-9 _ - = @ , . ;`. */
  readonly allowedText: string;
  /** The character that starts an escape; itself allowed. */
  readonly escapeChar: string;
  /** Whether `char` (one UTF-16 code unit) may appear in a channel name as it is. */
  isAllowed(char: string): boolean;
}

/** The characters of `text` that `naming` does not allow, each once, in order. */
export function disallowedChars(naming: ChannelNaming, text: string): string[] {
  const out = new Set<string>();
  for (const char of text) if (!isAllowedChar(naming, char)) out.add(char);
  return [...out];
}

/** Escapes `text` into characters `naming` allows (see the module comment). */
export function escapeChannelText(naming: ChannelNaming, text: string): string {
  let out = "";
  let plainFrom = 0;
  let i = 0;
  for (const char of text) {
    if (char === naming.escapeChar || !isAllowedChar(naming, char)) {
      out += text.slice(plainFrom, i);
      for (const byte of Buffer.from(char, "utf8")) {
        out += naming.escapeChar + byte.toString(16).toUpperCase().padStart(2, "0");
      }
      plainFrom = i + char.length;
    }
    i += char.length;
  }
  return plainFrom === 0 ? text : out + text.slice(plainFrom);
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

/**
 * Room patterns, the language of `allow` lists.
 *
 * A pattern is literal text with `{name}` captures; `{name}` matches one or more
 * characters other than `:` and `/`, and the whole room must match. `*` on its own
 * matches any room. `{{` and `}}` are a literal `{` and `}`. Capture names are
 * identifiers, each used once per pattern, and two captures need literal text
 * between them (`{a}{b}` could split a room many ways).
 */

import type { RoomPattern } from "./types.js";

/** A problem in a room pattern. */
export interface PatternProblem {
  /** For people; quotes the pattern. */
  readonly message: string;
  /** The same without quoting the pattern, for values that may be secrets. */
  readonly summary: string;
}

/** A parsed room pattern. */
export interface ParsedRoomPattern {
  readonly source: string;
  /** `*`: any room. */
  readonly isAny: boolean;
  /** Literal text and capture names in order (`{ capture }` for captures). */
  readonly parts: readonly (string | { readonly capture: string })[];
  /** The capture names, in order, each once. */
  readonly captures: readonly string[];
  /** Empty when the pattern is valid. */
  readonly problems: readonly PatternProblem[];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NO_CAPTURES: Readonly<Record<string, string>> = Object.freeze({});

/** Parses one room pattern. Pure; never throws. */
export function parseRoomPattern(source: string): ParsedRoomPattern {
  return parseBraced(source, "pattern");
}

/**
 * Parses a channel template such as `private-room-{id}`: the pattern language's
 * literal text, `{name}` references and `{{`/`}}` escapes, where a name may appear
 * more than once, references may touch and `*` is literal. Pure; never throws.
 */
export function parseChannelTemplate(source: string): ParsedRoomPattern {
  return parseBraced(source, "template");
}

function parseBraced(source: string, mode: "pattern" | "template"): ParsedRoomPattern {
  const isPattern = mode === "pattern";
  if (isPattern && source === "*") {
    return { source, isAny: true, parts: [], captures: [], problems: [] };
  }
  const parts: (string | { capture: string })[] = [];
  const captures: string[] = [];
  const problems: PatternProblem[] = [];
  const label = isPattern ? "Room pattern" : "Channel template";
  const problem = (message: string, summary: string) =>
    problems.push({ message: `${label} '${source}': ${message}`, summary });
  let literal = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === "{" && source[i + 1] === "{") {
      literal += "{";
      i += 2;
    } else if (c === "}" && source[i + 1] === "}") {
      literal += "}";
      i += 2;
    } else if (c === "}") {
      problem("single '}' (write '}}' for a literal '}')", "single '}'");
      i += 1;
    } else if (c === "{") {
      const close = source.indexOf("}", i + 1);
      const reopen = source.indexOf("{", i + 1);
      if (close < 0 || (reopen >= 0 && reopen < close)) {
        problem("unclosed '{' (write '{{' for a literal '{')", "unclosed '{'");
        if (close < 0) break;
        i = reopen;
        continue;
      }
      const name = source.slice(i + 1, close).trim();
      if (!IDENTIFIER.test(name) || name === "__proto__") {
        problem(
          `capture name '{${name}}' is not an identifier (letters, digits and _, not first a digit)`,
          "capture name is not an identifier",
        );
      } else if (isPattern && captures.includes(name)) {
        problem(`capture {${name}} appears twice`, "duplicate capture name");
      } else {
        const previous = parts[parts.length - 1];
        if (isPattern && literal === "" && previous !== undefined && typeof previous !== "string") {
          problem(
            `captures {${previous.capture}} and {${name}} need literal text between them`,
            "adjacent captures",
          );
        }
        if (literal) parts.push(literal);
        literal = "";
        parts.push({ capture: name });
        if (!captures.includes(name)) captures.push(name);
      }
      i = close + 1;
    } else {
      if (isPattern && c === "*") {
        problem(
          "'*' means any room only on its own; use a capture such as {id}",
          "'*' in a pattern",
        );
      }
      literal += c;
      i += 1;
    }
  }
  if (literal) parts.push(literal);
  return { source, isAny: false, parts, captures, problems };
}

/** Patterns with the same shape match the same rooms: capture names do not matter. */
export function patternShape(pattern: ParsedRoomPattern): string {
  if (pattern.isAny) return "*";
  return JSON.stringify(pattern.parts.map((p) => (typeof p === "string" ? p : 0)));
}

/**
 * Compiles a room pattern into a matcher. A pattern without captures is compared as
 * a string; one with captures becomes one anchored regular expression. `match`
 * returns a shared frozen empty object for patterns without captures, a new object
 * otherwise. The caller bounds the room's length (maxRoomLength) before matching.
 *
 * @throws Error when the pattern has problems: validate (src/mapping/validate.ts) first.
 */
export function compileRoomPattern(source: string): RoomPattern {
  const parsed = parseRoomPattern(source);
  if (parsed.problems.length > 0) {
    throw new Error(
      `Invalid room pattern (${parsed.problems[0]!.summary}); validate the configuration first`,
    );
  }
  if (parsed.isAny) return Object.freeze({ source, match: () => NO_CAPTURES, test: () => true });
  if (parsed.captures.length === 0) {
    const literal = parsed.parts.join("");
    return Object.freeze({
      source,
      match: (room: string) => (room === literal ? NO_CAPTURES : undefined),
      test: (room: string) => room === literal,
    });
  }
  const names = parsed.captures;
  const regex = new RegExp(
    `^${parsed.parts.map((p) => (typeof p === "string" ? escapeRegExp(p) : "([^:/]+)")).join("")}$`,
  );
  return Object.freeze({
    source,
    test: (room: string) => regex.test(room),
    match(room: string) {
      const m = regex.exec(room);
      if (m === null) return undefined;
      const captures: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) captures[names[i]!] = m[i + 1]!;
      return captures;
    },
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

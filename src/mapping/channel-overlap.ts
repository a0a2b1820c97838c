/**
 * Which channels a route's channel template can give, decided on the template alone,
 * so that `validate` can refuse two routes of one backend that could put two rooms
 * on one channel.
 *
 * A template is reduced to a {@link ChannelShape}: literal characters and references.
 * What a reference brings in is escaped (src/egress/channel-naming.ts), so it is a
 * word of the language ( [A-Za-z0-9] | E HEX HEX )+ where E is the escape character
 * and HEX is `[0-9A-F]`. `{nsp}` is the namespace's escaped name, a constant;
 * `{room}` is the room pattern with its literal text escaped and a reference for each
 * capture (for an exact room, a constant; for `*`, one reference). Each shape is then
 * a regular language, and two templates can give the same channel exactly when the
 * two languages share a word no longer than the kind's `maxLength` (longer channels
 * are refused where they are used).
 *
 * Escaped text never holds a separator (a character other than letters, digits and
 * the escape character), so the separators of a channel are exactly its template's
 * literal ones, in order. Two templates with different separators never meet; with
 * the same, they meet exactly when each pair of segments between separators shares
 * a word. Per segment, literal prefixes and suffixes that disagree settle most pairs;
 * the rest take a breadth-first search of the product of the two segments' automata,
 * over the character classes that matter (one literal character, letters and digits,
 * hex digits), which finds the shortest shared word or proves there is none.
 */

import { type ChannelNaming, escapeChannelText, isKeptAsIs } from "../egress/channel-naming.js";
import type { ParsedRoomPattern } from "./pattern.js";

/** A token of a {@link ChannelShape} that stands for escaped text from a reference. */
export const REFERENCE = -1;

/** A channel template as the overlap decision sees it. */
export interface ChannelShape {
  /** UTF-16 code units of literal (and constant) text, and {@link REFERENCE}s. */
  readonly tokens: readonly number[];
  /** The escape character's code unit. */
  readonly escapeCode: number;
  /** The longest channel the kind accepts. */
  readonly maxLength: number;
  /**
   * The separators of the template in order: its literal characters other than
   * letters, digits and the escape character. Every channel it gives holds exactly
   * these, in this order, since escaped text holds none.
   */
  readonly skeleton: string;
  /** The tokens between separators: `skeleton.length + 1` of them, some maybe empty. */
  readonly segments: readonly Segment[];
}

/** Tokens between two separators. */
interface Segment {
  readonly tokens: readonly number[];
  /** Equal keys, equal tokens. */
  readonly key: string;
}

/** Any letter or digit; any upper-case hex digit. Literal characters are their code units. */
const ALNUM = -1;
const HEX = -2;
const CODE_x = "x".charCodeAt(0);
const CODE_0 = "0".charCodeAt(0);

/**
 * The shape of `template`, a valid channel template of a route whose room pattern is
 * `pattern`, in namespace `nsp`, on a kind named by `naming`.
 */
export function channelShape(
  template: ParsedRoomPattern,
  pattern: ParsedRoomPattern,
  nsp: string,
  naming: ChannelNaming,
): ChannelShape {
  const tokens: number[] = [];
  const literal = (text: string) => {
    for (let i = 0; i < text.length; i++) tokens.push(text.charCodeAt(i));
  };
  for (const part of template.parts) {
    if (typeof part === "string") literal(part);
    else if (pattern.captures.includes(part.capture)) tokens.push(REFERENCE);
    else if (part.capture === "nsp") literal(escapeChannelText(naming, nsp));
    else if (pattern.isAny) tokens.push(REFERENCE);
    else {
      // `{room}`: the pattern itself, its literal text escaped as a room's would be.
      for (const piece of pattern.parts) {
        if (typeof piece === "string") literal(escapeChannelText(naming, piece));
        else tokens.push(REFERENCE);
      }
    }
  }
  const escapeCode = naming.escapeChar.charCodeAt(0);
  let skeleton = "";
  const segments: Segment[] = [];
  let from = 0;
  const cut = (to: number) => {
    const piece = tokens.slice(from, to);
    segments.push({ tokens: piece, key: piece.join(",") });
  };
  tokens.forEach((token, i) => {
    if (token === REFERENCE || token === escapeCode || isKeptAsIs(token)) return;
    cut(i);
    skeleton += String.fromCharCode(token);
    from = i + 1;
  });
  cut(tokens.length);
  return { tokens, escapeCode, maxLength: naming.maxLength, skeleton, segments };
}

/**
 * Whether the template part `name` (a `{name}` reference) brings in text a room
 * chooses, rather than a constant: a capture, or `{room}` of a pattern that is not an
 * exact room. `{nsp}` is constant.
 */
export function isVariableReference(name: string, pattern: ParsedRoomPattern): boolean {
  if (pattern.captures.includes(name)) return true;
  if (name === "room") return pattern.isAny || pattern.captures.length > 0;
  return false;
}

/**
 * Two variable references of `template` with nothing between them that escaped text
 * cannot hold (a character other than letters, digits and the escape character):
 * `{a}{b}` and `{a}x{b}` give one channel for two rooms. `undefined` when every pair
 * is separated.
 */
export function unseparatedReferences(
  template: ParsedRoomPattern,
  pattern: ParsedRoomPattern,
  naming: ChannelNaming,
): readonly [string, string] | undefined {
  let previous: string | undefined;
  let isSeparated = false;
  for (const part of template.parts) {
    if (typeof part === "string") {
      for (let i = 0; i < part.length && !isSeparated; i++) {
        isSeparated = !isKeptAsIs(part.charCodeAt(i)) && part[i] !== naming.escapeChar;
      }
    } else if (isVariableReference(part.capture, pattern)) {
      if (previous !== undefined && !isSeparated) return [previous, part.capture];
      previous = part.capture;
      isSeparated = false;
    }
    // A constant reference is escaped text: it never separates.
  }
  return undefined;
}

/**
 * The first of `prefixes` that some room could give `shape` although its leading
 * literal text does not choose it (`pr{a}-x` gives `private-x` for a = `ivate`);
 * `undefined` when none can, or when the literal text already starts with one of them
 * (the file chose that kind of channel).
 */
export function reachableReservedPrefix(
  shape: ChannelShape,
  prefixes: readonly string[],
): string | undefined {
  const lead = String.fromCharCode(...leadingLiteral(shape.tokens));
  if (prefixes.some((prefix) => lead.startsWith(prefix))) return undefined;
  const nfa = automaton(shape, shape.escapeCode);
  for (const prefix of prefixes) {
    let states = new Set([0]);
    for (let i = 0; i < prefix.length && states.size > 0; i++) {
      const code = prefix.charCodeAt(i);
      const next = new Set<number>();
      for (const state of states) {
        const edges = nfa.edges[state]!;
        for (let e = 0; e < edges.length; e += 2) {
          if (meet(edges[e]!, code) >= 0) next.add(edges[e + 1]!);
        }
      }
      states = next;
    }
    // Every state can still reach an accepting one: the rest of the channel exists.
    if (states.size > 0) return prefix;
  }
  return undefined;
}

/**
 * The shortest channel both shapes can give, at most `maxLength` long (the smaller of
 * the two), or `undefined` when they share none.
 *
 * Separators line up in every channel both give, so the shapes share a channel
 * exactly when their skeletons are equal and each pair of segments shares a word; the
 * shortest channel is then the shortest shared words joined by the separators.
 */
export function sharedChannel(a: ChannelShape, b: ChannelShape): string | undefined {
  if (a.skeleton !== b.skeleton) return undefined;
  const count = a.segments.length;
  for (let i = 0; i < count; i++) {
    if (!literalEndsAgree(a.segments[i]!.tokens, b.segments[i]!.tokens)) return undefined;
  }
  const maxLength = Math.min(a.maxLength, b.maxLength);
  let length = a.skeleton.length;
  let channel = "";
  for (let i = 0; i < count; i++) {
    const x = a.segments[i]!;
    const y = b.segments[i]!;
    // Equal segments share their shortest word: literal text, one letter per reference.
    const word =
      x.key === y.key
        ? String.fromCharCode(...x.tokens.map((t) => (t === REFERENCE ? CODE_x : t)))
        : sharedWord(x, y, a.escapeCode, maxLength - length);
    if (word === undefined || length + word.length > maxLength) return undefined;
    length += word.length;
    channel += word + (i < count - 1 ? a.skeleton[i] : "");
  }
  return channel;
}

// Scratch space of the product search, grown as needed: validation runs it for many
// pairs of short segments, where allocating per pair would cost more than searching.
let seen = new Uint32Array(256);
let parent = new Int32Array(256);
let via = new Uint16Array(256);
let depth = new Int32Array(256);
let queue = new Int32Array(256);
let generation = 0;

/**
 * The shortest word of both segments, at most `budget` long, or `undefined`: a
 * breadth-first search of the product automaton.
 */
function sharedWord(
  a: Segment,
  b: Segment,
  escapeCode: number,
  budget: number,
): string | undefined {
  if (budget < 0) return undefined;
  const na = automaton(a, escapeCode);
  const nb = automaton(b, escapeCode);
  const width = nb.edges.length;
  const size = na.edges.length * width;
  if (seen.length < size) {
    const grown = Math.max(size, seen.length * 2);
    seen = new Uint32Array(grown);
    parent = new Int32Array(grown);
    via = new Uint16Array(grown);
    depth = new Int32Array(grown);
    queue = new Int32Array(grown);
    generation = 0;
  }
  generation += 1;
  if (generation === 0xffffffff) {
    seen.fill(0);
    generation = 1;
  }
  let head = 0;
  let tail = 0;
  seen[0] = generation;
  depth[0] = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const state = queue[head++]!;
    const p = Math.floor(state / width);
    const q = state - p * width;
    if (na.accepting[p] === 1 && nb.accepting[q] === 1) return spell(state);
    if (depth[state]! >= budget) continue;
    const ea = na.edges[p]!;
    const eb = nb.edges[q]!;
    for (let i = 0; i < ea.length; i += 2) {
      for (let j = 0; j < eb.length; j += 2) {
        const code = meet(ea[i]!, eb[j]!);
        if (code < 0) continue;
        const next = ea[i + 1]! * width + eb[j + 1]!;
        if (seen[next] === generation) continue;
        seen[next] = generation;
        parent[next] = state;
        via[next] = code;
        depth[next] = depth[state]! + 1;
        queue[tail++] = next;
      }
    }
  }
  return undefined;
}

function spell(state: number): string {
  const codes: number[] = [];
  for (let s = state; s !== 0; s = parent[s]!) codes.push(via[s]!);
  return String.fromCharCode(...codes.reverse());
}

/**
 * A character both labels accept (an example of it), or -1. A label is a literal
 * code unit (≥ 0), {@link ALNUM} or {@link HEX}.
 */
function meet(a: number, b: number): number {
  if (a >= 0 && b >= 0) return a === b ? a : -1;
  if (a >= 0) return accepts(b, a) ? a : -1;
  if (b >= 0) return accepts(a, b) ? b : -1;
  return a === HEX || b === HEX ? CODE_0 : CODE_x;
}

function accepts(label: number, code: number): boolean {
  if (label === ALNUM) return isKeptAsIs(code);
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46);
}

/** Whether the literal text before the first and after the last reference can agree. */
function literalEndsAgree(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === REFERENCE || y === REFERENCE) break;
    if (x !== y) return false;
  }
  for (let i = a.length - 1, j = b.length - 1; i >= 0 && j >= 0; i--, j--) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === REFERENCE || y === REFERENCE) break;
    if (x !== y) return false;
  }
  // Without references the whole texts were compared: equal only with equal lengths.
  if (!a.includes(REFERENCE) && !b.includes(REFERENCE)) return a.length === b.length;
  return true;
}

function leadingLiteral(tokens: readonly number[]): number[] {
  const end = tokens.indexOf(REFERENCE);
  return tokens.slice(0, end < 0 ? tokens.length : end);
}

/**
 * A nondeterministic automaton without empty moves: `edges[state]` holds pairs
 * (label, next state); state 0 starts. A reference is three states: `done` (at least
 * one letter, digit or escape read: may stop, or go on), and the two hex digits after
 * an escape character.
 */
interface Automaton {
  readonly edges: readonly (readonly number[])[];
  readonly accepting: Uint8Array;
}

const automata = new WeakMap<ChannelShape | Segment, Automaton>();

function automaton(of: ChannelShape | Segment, escapeCode: number): Automaton {
  const known = automata.get(of);
  if (known !== undefined) return known;
  const edges: number[][] = [[]];
  const add = () => edges.push([]) - 1;
  let frontier = [0];
  for (const token of of.tokens) {
    if (token !== REFERENCE) {
      const to = add();
      for (const from of frontier) edges[from]!.push(token, to);
      frontier = [to];
      continue;
    }
    const done = add();
    const escaped = add();
    const firstHex = add();
    for (const from of [...frontier, done]) edges[from]!.push(ALNUM, done, escapeCode, escaped);
    edges[escaped]!.push(HEX, firstHex);
    edges[firstHex]!.push(HEX, done);
    frontier = [done];
  }
  const accepting = new Uint8Array(edges.length);
  for (const state of frontier) accepting[state] = 1;
  const built = { edges, accepting };
  automata.set(of, built);
  return built;
}

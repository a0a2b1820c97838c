/**
 * A namespace's `routes`, compiled into a {@link RouteTable} that answers "which
 * backend and channel carry room R" without parsing anything per lookup.
 *
 * Lookup: a map of exact room names; then the patterns whose literal prefix (the
 * text before their first capture) begins the room, found by walking a character
 * trie of those prefixes, tried in precedence order; then `*`; then `native`.
 * Nothing is cached here: the router keeps the answer for every room with local
 * members (src/router/channel-bindings.ts), and a cache of answers for the rest
 * cost more in garbage collection than it saved (bench/routing.ts).
 *
 * Rollout hash: FNV-1a (32-bit) over the room name's UTF-8 bytes, modulo 10000. A
 * room moves to the rollout target when that bucket is below `percent × 100`, so
 * every node agrees, and raising the percentage only moves rooms onto the target.
 */

import { type ChannelNaming, escapeChannelText } from "../egress/channel-naming.js";
import { roomChannel } from "../egress/registry.js";
import { compileRoomPattern, parseChannelTemplate, parseRoomPattern } from "./pattern.js";
import { DEFAULTS, NATIVE_BACKEND } from "./schema.js";
import { compileTemplate } from "./template.js";
import type {
  ChannelTooLong,
  RoomBinding,
  RoomPattern,
  RouteRule,
  RouteTable,
  ShadowRoute,
  ShadowVerdictThresholds,
  Template,
} from "./types.js";

/** A `shadow:` as validation left it. */
export interface RawShadow {
  readonly backend: string;
  readonly channel?: string;
  readonly percent?: number;
  readonly window?: number;
  readonly verdict?: Partial<ShadowVerdictThresholds>;
}

/** A route as validation left it. */
export interface RawRoute {
  readonly room: string;
  readonly backend: string;
  readonly channel?: string;
  readonly rename?: Readonly<Record<string, string>>;
  /** `true` (clientId `{socket.id}`) or the clientId's template. */
  readonly presence?: boolean | { readonly clientId: string };
  readonly rollout?: {
    readonly backend: string;
    readonly channel?: string;
    readonly percent: number;
    readonly shadow?: RawShadow;
  };
  readonly shadow?: RawShadow;
}

/** How a backend names channels: `undefined` for kinds that carry rooms by name. */
export type NamingOf = (backend: string) => ChannelNaming | undefined;

type Captures = Readonly<Record<string, string>>;
type Lookup = RoomBinding | ChannelTooLong;

interface Target {
  readonly backend: string;
  channel(room: string, captures: Captures): string;
  readonly maxLength: number;
  /** Its `shadow:`, over the rooms whose rollout bucket is below `threshold`. */
  readonly shadow?: {
    readonly target: Target;
    readonly threshold: number;
    readonly route: ShadowRoute;
  };
}

interface Route {
  readonly rule: RouteRule;
  readonly pattern: RoomPattern;
  /** Position in precedence order: lower wins. */
  readonly rank: number;
  readonly rename: ReadonlyMap<string, string>;
  readonly presence: Template | undefined;
  readonly primary: Target;
  readonly rollout?: { readonly target: Target; readonly threshold: number };
}

interface TrieNode {
  readonly next: Map<string, TrieNode>;
  /** Patterns whose literal prefix ends here. */
  readonly routes: Route[];
  /** This node's and its ancestors' patterns, in precedence order: a room reaching it tries these. */
  candidates: readonly Route[];
}

const NO_CAPTURES: Captures = Object.freeze({});
const NO_RENAMES: ReadonlyMap<string, string> = new Map();

/** Compiles validated routes. @throws Error on an invalid pattern or template (validate first). */
export function compileRouteTable(
  nsp: string,
  routes: readonly RawRoute[],
  namingOf: NamingOf,
): RouteTable {
  const exact = new Map<string, Route>();
  const trie: TrieNode = { next: new Map(), routes: [], candidates: [] };
  let catchAll: Route | undefined;

  const ordered = routes
    .map((raw, order) => ({ raw, order, parsed: parseRoomPattern(raw.room) }))
    .sort((a, b) => literalLength(b.parsed) - literalLength(a.parsed) || a.order - b.order);
  const shadowRoutes: { order: number; route: ShadowRoute }[] = [];
  const rules = routes.map(ruleOf);
  ordered.forEach(({ raw, parsed, order }, rank) => {
    const target = (
      role: ShadowRoute["role"],
      { backend, channel, shadow }: { backend: string; channel?: string; shadow?: RawShadow },
    ): Target => {
      const compiled = compileTarget(nsp, parsed.captures, backend, channel, namingOf);
      if (shadow === undefined) return compiled;
      const route = shadowRoute(nsp, raw.room, role, backend, shadow);
      shadowRoutes.push({ order: order * 2 + (role === "rollout" ? 1 : 0), route });
      return {
        ...compiled,
        shadow: {
          target: compileTarget(nsp, parsed.captures, shadow.backend, shadow.channel, namingOf),
          threshold: Math.round((shadow.percent ?? DEFAULTS.shadow.percent) * 100),
          route,
        },
      };
    };
    const route: Route = {
      rule: rules[order]!,
      pattern: compileRoomPattern(raw.room),
      rank,
      rename: raw.rename === undefined ? NO_RENAMES : new Map(Object.entries(raw.rename)),
      presence: presenceTemplate(raw.presence),
      primary: target("route", raw),
      ...(raw.rollout === undefined
        ? {}
        : {
            rollout: {
              target: target("rollout", raw.rollout),
              threshold: Math.round(raw.rollout.percent * 100),
            },
          }),
    };
    if (parsed.isAny) {
      catchAll ??= route;
    } else if (parsed.captures.length === 0) {
      if (!exact.has(raw.room)) exact.set(raw.room, route);
    } else {
      const prefix = typeof parsed.parts[0] === "string" ? parsed.parts[0] : "";
      let node = trie;
      for (const char of prefix) {
        let child = node.next.get(char);
        if (child === undefined) {
          child = { next: new Map(), routes: [], candidates: [] };
          node.next.set(char, child);
        }
        node = child;
      }
      node.routes.push(route);
    }
  });
  const fallback = compileTarget(nsp, [], NATIVE_BACKEND, undefined, namingOf);
  inheritCandidates(trie, []);

  function find(room: string): { route: Route; captures: Captures } | undefined {
    const literal = exact.get(room);
    if (literal !== undefined) return { route: literal, captures: NO_CAPTURES };
    // The deepest node the room's first characters reach holds every pattern whose prefix begins it.
    let node = trie;
    for (let i = 0; i < room.length; i++) {
      const child = node.next.get(room[i]!);
      if (child === undefined) break;
      node = child;
    }
    for (const route of node.candidates) {
      const captures = route.pattern.match(room);
      if (captures !== undefined) return { route, captures };
    }
    return catchAll && { route: catchAll, captures: NO_CAPTURES };
  }

  function lookup(room: string): Lookup {
    const found = find(room);
    let target = fallback;
    const captures = found?.captures ?? NO_CAPTURES;
    if (found !== undefined) {
      const { rollout, primary } = found.route;
      // Only routes with a rollout or a shadow need the room's bucket.
      const bucket =
        rollout !== undefined || primary.shadow !== undefined ? rolloutBucket(room) : 0;
      target = rollout !== undefined && bucket < rollout.threshold ? rollout.target : primary;
      if (target.shadow !== undefined) {
        return withShadow(room, captures, found.route, target, target.shadow, bucket);
      }
    }
    return plain(room, captures, found?.route, target);
  }

  function plain(
    room: string,
    captures: Captures,
    route: Route | undefined,
    target: Target,
  ): Lookup {
    const channel = target.channel(room, captures);
    if (channel.length > target.maxLength) {
      return Object.freeze({
        ok: false,
        backend: target.backend,
        length: channel.length,
        maxLength: target.maxLength,
      });
    }
    const rename = route?.rename ?? NO_RENAMES;
    const presence = route?.presence;
    return Object.freeze(
      presence === undefined
        ? { ok: true, backend: target.backend, channel, rename }
        : { ok: true, backend: target.backend, channel, rename, presence },
    );
  }

  /**
   * A room of a shadowed target: its binding, with the shadow when the room's bucket is
   * below the shadow's share and the shadow can name its channel (a channel too long
   * for the shadow's kind leaves the room unshadowed: nothing of the primary changes).
   */
  function withShadow(
    room: string,
    captures: Captures,
    route: Route,
    target: Target,
    shadow: NonNullable<Target["shadow"]>,
    bucket: number,
  ): Lookup {
    const binding = plain(room, captures, route, target);
    if (!binding.ok || bucket >= shadow.threshold) return binding;
    const channel = shadow.target.channel(room, captures);
    if (channel.length > shadow.target.maxLength) return binding;
    return Object.freeze({
      ...(binding as RoomBinding),
      shadow: Object.freeze({ backend: shadow.target.backend, channel, route: shadow.route }),
    });
  }

  function explain(room: string): ReturnType<RouteTable["ruleOf"]> {
    const found = find(room);
    if (found === undefined) return undefined;
    const { rollout, rule } = found.route;
    return { rule, isRollout: rollout !== undefined && rolloutBucket(room) < rollout.threshold };
  }

  const shadows = shadowRoutes.sort((a, b) => a.order - b.order).map(({ route }) => route);
  return Object.freeze({
    resolve: lookup,
    shadows: Object.freeze(shadows),
    rules: Object.freeze(rules),
    ruleOf: explain,
  });
}

/**
 * A route as the console shows it: its targets as written, the shadows' default share
 * applied. Frozen, as the rest of the table.
 */
function ruleOf(raw: RawRoute): RouteRule {
  const target = (t: { backend: string; channel?: string }) =>
    t.channel === undefined ? { backend: t.backend } : { backend: t.backend, channel: t.channel };
  const shadow = (s: RawShadow | undefined) =>
    s === undefined
      ? {}
      : {
          shadow: Object.freeze({
            ...target(s),
            percent: s.percent ?? DEFAULTS.shadow.percent,
          }),
        };
  const rollout = raw.rollout;
  return Object.freeze({
    room: raw.room,
    ...target(raw),
    ...(rollout === undefined
      ? {}
      : {
          rollout: Object.freeze({
            ...target(rollout),
            percent: rollout.percent,
            ...shadow(rollout.shadow),
          }),
        }),
    ...shadow(raw.shadow),
  });
}

/** The report's key of a target's shadow, with its window and verdict thresholds. */
function shadowRoute(
  nsp: string,
  room: string,
  role: ShadowRoute["role"],
  primary: string,
  raw: RawShadow,
): ShadowRoute {
  const verdict: ShadowVerdictThresholds = { ...DEFAULTS.shadow.verdict, ...raw.verdict };
  return Object.freeze({
    id: role === "route" ? `${nsp} ${room}` : `${nsp} ${room} (rollout)`,
    namespace: nsp,
    room,
    primary,
    shadow: raw.backend,
    role,
    window: raw.window ?? DEFAULTS.shadow.window,
    verdict: Object.freeze(verdict),
  });
}

/** The default clientId of a presence mirror: the socket's id. */
export const DEFAULT_PRESENCE_CLIENT_ID = "{socket.id}";

function presenceTemplate(presence: RawRoute["presence"]): Template | undefined {
  if (presence === undefined || presence === false) return undefined;
  return compileTemplate(presence === true ? DEFAULT_PRESENCE_CLIENT_ID : presence.clientId);
}

/** Fills every node's `candidates`: its ancestors' patterns and its own, by rank. */
function inheritCandidates(node: TrieNode, inherited: readonly Route[]): void {
  node.candidates =
    node.routes.length === 0
      ? inherited
      : [...inherited, ...node.routes].sort((a, b) => a.rank - b.rank);
  for (const child of node.next.values()) inheritCandidates(child, node.candidates);
}

/**
 * A target's channel renderer. Literal text and `{nsp}` (escaped once, here) are
 * constants; `{room}` and captures are escaped per room (src/egress/channel-naming.ts).
 */
function compileTarget(
  nsp: string,
  captured: readonly string[],
  backend: string,
  channel: string | undefined,
  namingOf: NamingOf,
): Target {
  const naming = namingOf(backend);
  if (naming === undefined || channel === undefined) {
    return {
      backend,
      maxLength: Number.POSITIVE_INFINITY,
      channel: (room) => roomChannel(nsp, room),
    };
  }
  // Constant text, or the capture to read (null: the whole room).
  const pieces: (string | { readonly capture: string | null })[] = [];
  for (const part of parseChannelTemplate(channel).parts) {
    let piece: string | { capture: string | null };
    if (typeof part === "string") piece = part;
    else if (captured.includes(part.capture)) piece = { capture: part.capture };
    else if (part.capture === "nsp") piece = escapeChannelText(naming, nsp);
    else piece = { capture: null };
    const last = pieces[pieces.length - 1];
    if (typeof piece === "string" && typeof last === "string")
      pieces[pieces.length - 1] = last + piece;
    else pieces.push(piece);
  }
  return {
    backend,
    maxLength: naming.maxLength,
    channel(room, captures) {
      let out = "";
      for (const piece of pieces) {
        if (typeof piece === "string") out += piece;
        else
          out += escapeChannelText(
            naming,
            piece.capture === null ? room : captures[piece.capture]!,
          );
      }
      return out;
    },
  };
}

function literalLength(parsed: ReturnType<typeof parseRoomPattern>): number {
  if (parsed.isAny) return -1;
  let length = 0;
  for (const part of parsed.parts) if (typeof part === "string") length += part.length;
  return length;
}

/** The room's rollout bucket, 0–9999: FNV-1a 32-bit of its UTF-8 bytes, modulo 10000. */
export function rolloutBucket(room: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(room, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 10_000;
}

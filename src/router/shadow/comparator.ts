/**
 * The shadow comparator of one node: pairs each message a shadowed room's primary
 * channel delivered here with the same message on its shadow channel, and decides,
 * once a message's window has passed, what became of it (docs/shadow.md).
 *
 * Identity: a message is its channel, its event and a hash of its normalised
 * arguments; the n-th delivery of one such key on the primary is paired with the n-th
 * on the shadow. Where both sides' deliveries carry the stamp the bridge gave the
 * publication (kinds with room beside the payload: the native core in process, Ably's
 * `extras`), the stamp decides instead: a pair with different payloads is `mismatched`
 * at once, a second copy of a stamp is a duplicate, and equal payloads of different
 * stamps are never paired. Stamps never touch the payload.
 *
 * Decisions, per route and per channel:
 * - `matched`: both sides delivered it (counted when the pair forms, with the latency
 *   gap shadow − primary);
 * - `reordered`: a matched message this node wrote that the shadow delivered after one
 *   of this node's the primary delivered later (decided in the shadow's order). Order
 *   holds per publisher, as on Socket.IO: messages of several nodes may interleave
 *   differently on two providers, so each node checks its own;
 * - `missing`: the primary delivered it and the shadow did not within the window;
 * - `duplicates`: an unpaired shadow copy of a message matched within the window;
 * - `mismatched`: a primary message and a shadow message of the same event, both left
 *   unpaired by the window (same event, different payload);
 * - `extra`: a shadow message with no counterpart at all.
 *
 * Memory is bounded: at most `maxPending` messages wait for a decision on the node;
 * past it new ones are not tracked and counted as `shed` (the verdict then says the
 * evidence is incomplete).
 */

import { createHash } from "node:crypto";
import type { ShadowRoute } from "../../mapping/types.js";

/** The failure counts of a route, as the report names them. */
export interface ShadowCounts {
  matched: number;
  missing: number;
  extra: number;
  duplicates: number;
  reordered: number;
  mismatched: number;
  shadowDropped: number;
  shadowErrors: number;
}

export type ShadowOutcome = keyof ShadowCounts;

/** A delivery as the comparator sees it. */
export interface ComparedMessage {
  readonly event: string;
  readonly args: readonly unknown[];
  /** The stamp the bridge gave the publication, when the delivery carries it. */
  readonly stamp?: string | undefined;
}

/** Where the comparator reports each decision (metrics). */
export interface ComparatorListener {
  counted(route: ShadowRoute, outcome: ShadowOutcome, count: number): void;
  /** A matched message's shadow delivery time minus its primary delivery time, in ms. */
  gap(route: ShadowRoute, gapMs: number): void;
  /** A message was not tracked: the comparator held `maxPending` already. */
  shed(route: ShadowRoute): void;
}

export interface ComparatorOptions {
  /** Most messages waiting for a decision on this node. Default 100,000. */
  readonly maxPending?: number;
  /** Latency gaps kept per route for the percentiles. Default 10,000. */
  readonly gapSamples?: number;
  /** The clock, in ms. Default `performance.now`. */
  readonly now?: () => number;
  readonly listener?: ComparatorListener;
}

/** One route's evidence since the last reset. */
export interface RouteEvidence {
  readonly route: ShadowRoute;
  readonly counts: Readonly<ShadowCounts>;
  /** Messages not tracked because `maxPending` was reached. */
  readonly shed: number;
  /** Percentiles of the latency gap, in ms; null without matched messages. */
  readonly latencyGap: { p50: number | null; p95: number | null; p99: number | null };
  /** Per channel counts (at most {@link MAX_CHANNELS_PER_ROUTE} channels). */
  readonly channels: ReadonlyMap<string, Readonly<ShadowCounts>>;
}

/** Channels whose counts a route keeps one by one; more are counted in the route only. */
export const MAX_CHANNELS_PER_ROUTE = 1_000;

type Side = "primary" | "shadow";

interface Sighting {
  readonly side: Side;
  readonly key: string;
  readonly event: string;
  readonly at: number;
  /** Position on its side of the channel. */
  readonly seq: number;
  partner: Sighting | undefined;
  /** Paired as mismatched, or excused: nothing more to decide. */
  settled: boolean;
  /** A primary delivery of a message this node wrote to the shadow itself. */
  own: boolean;
  /** The bridge's stamp, when the delivery carried one. */
  readonly stamp: string | undefined;
}

/** What one primary channel of one route has seen, waiting for decisions. */
class Ledger {
  readonly queues: Record<Side, Sighting[]> = { primary: [], shadow: [] };
  /** Heads of the queues (indexes): decided sightings before them are gone. */
  readonly heads: Record<Side, number> = { primary: 0, shadow: 0 };
  readonly seqs: Record<Side, number> = { primary: 0, shadow: 0 };
  /** Unpaired sightings by key, oldest first. */
  readonly unpaired = new Map<string, Record<Side, Sighting[]>>();
  /** Unpaired stamped sightings by stamp. */
  readonly unpairedByStamp: Record<Side, Map<string, Sighting>> = {
    primary: new Map(),
    shadow: new Map(),
  };
  /** Stamps paired within the window: stamp → when. */
  readonly recentStamps = new Map<string, number>();
  /** Unpaired, undecided sightings by side and event: worth a scan for mismatches. */
  readonly unpairedByEvent: Record<Side, Map<string, number>> = {
    primary: new Map(),
    shadow: new Map(),
  };
  /** Keys matched within the window: key → when last matched. */
  readonly recentlyMatched = new Map<string, number>();
  /** The highest primary position of the shadow's decided matches (the reorder check). */
  maxMatchedPrimarySeq = -1;
  readonly counts: ShadowCounts | undefined;

  constructor(counts: ShadowCounts | undefined) {
    this.counts = counts;
  }

  get pending(): number {
    return (
      this.queues.primary.length -
      this.heads.primary +
      this.queues.shadow.length -
      this.heads.shadow
    );
  }
}

class RouteState {
  route: ShadowRoute;
  counts: ShadowCounts = zeroCounts();
  shed = 0;
  readonly gaps: Float64Array;
  gapCount = 0;
  /** primary channel → its ledger. */
  readonly ledgers = new Map<string, Ledger>();
  readonly channelCounts = new Map<string, ShadowCounts>();

  constructor(route: ShadowRoute, gapSamples: number) {
    this.route = route;
    this.gaps = new Float64Array(gapSamples);
  }
}

export class ShadowComparator {
  readonly #routes = new Map<string, RouteState>();
  readonly #maxPending: number;
  readonly #gapSamples: number;
  readonly #now: () => number;
  readonly #listener: ComparatorListener | undefined;
  #pending = 0;
  #since = Date.now();

  constructor(options: ComparatorOptions = {}) {
    this.#maxPending = options.maxPending ?? 100_000;
    this.#gapSamples = options.gapSamples ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
    this.#listener = options.listener;
  }

  /** When the evidence began (the start, or the last {@link reset}), ms since the epoch. */
  get since(): number {
    return this.#since;
  }

  /** Messages waiting for a decision. */
  get pending(): number {
    return this.#pending;
  }

  /** A delivery of the room's primary channel `channel` reached this node. */
  primary(route: ShadowRoute, channel: string, message: ComparedMessage): void {
    this.#observe(route, channel, "primary", message);
  }

  /**
   * A delivery of the shadow channel of primary channel `channel` reached this node
   * (the caller maps the shadow's channel back to the primary's).
   */
  shadow(route: ShadowRoute, channel: string, message: ComparedMessage): void {
    this.#observe(route, channel, "shadow", message);
  }

  /**
   * A publication this node could not write to the shadow (`shadowDropped`: the shadow's
   * queue was full; `shadowErrors`: the shadow refused it). Its primary delivery here,
   * if any, is not counted missing.
   */
  notWritten(
    route: ShadowRoute,
    channel: string,
    message: ComparedMessage,
    outcome: "shadowDropped" | "shadowErrors",
  ): void {
    const state = this.#state(route);
    const ledger = state.ledgers.get(channel);
    this.#count(state, ledger, channel, outcome, 1);
    const sighting = ledger === undefined ? undefined : this.#unpairedPrimary(ledger, message);
    if (ledger !== undefined && sighting !== undefined) this.#settle(ledger, sighting);
  }

  /**
   * This node wrote the message the primary just delivered here to the shadow: its order
   * on the shadow is this node's to check (order holds per publisher, as on Socket.IO).
   */
  written(route: ShadowRoute, channel: string, message: ComparedMessage): void {
    const ledger = this.#routes.get(route.id)?.ledgers.get(channel);
    const sighting = ledger === undefined ? undefined : this.#unpairedPrimary(ledger, message);
    if (sighting !== undefined) sighting.own = true;
  }

  /** The primary's unpaired sighting of `message` not yet marked, by stamp or content. */
  #unpairedPrimary(ledger: Ledger, message: ComparedMessage): Sighting | undefined {
    if (message.stamp !== undefined) {
      const stamped = ledger.unpairedByStamp.primary.get(message.stamp);
      if (stamped !== undefined) return stamped.own || stamped.settled ? undefined : stamped;
    }
    const waiting = ledger.unpaired.get(keyOf(message.event, message.args))?.primary;
    return waiting?.find((s) => !s.own && !s.settled);
  }

  /** Decides every message whose window has passed. Call periodically. */
  sweep(): void {
    const now = this.#now();
    for (const state of this.#routes.values()) {
      const window = state.route.window;
      for (const [channel, ledger] of state.ledgers) {
        this.#decide(state, channel, ledger, "shadow", now);
        this.#decide(state, channel, ledger, "primary", now);
        // Kept two windows: a duplicate may come a window after its match and wait another.
        for (const [key, at] of ledger.recentlyMatched) {
          if (at > now - 2 * window) break;
          ledger.recentlyMatched.delete(key);
        }
        for (const [stamp, at] of ledger.recentStamps) {
          if (at > now - 2 * window) break;
          ledger.recentStamps.delete(stamp);
        }
        if (
          ledger.pending === 0 &&
          ledger.recentlyMatched.size === 0 &&
          ledger.recentStamps.size === 0
        ) {
          state.ledgers.delete(channel);
        }
      }
    }
  }

  /** Starts a new window of evidence: counts, gaps and waiting messages are forgotten. */
  reset(): void {
    for (const state of this.#routes.values()) {
      state.counts = zeroCounts();
      state.shed = 0;
      state.gapCount = 0;
      state.ledgers.clear();
      state.channelCounts.clear();
    }
    this.#pending = 0;
    this.#since = Date.now();
  }

  /**
   * A reload's routes: a route still configured under the same id goes on under its new
   * settings (window, verdict), its evidence kept. A route the file no longer has keeps
   * its evidence in the report until a reset: what a migration step showed stays readable.
   */
  retain(routes: readonly ShadowRoute[]): void {
    for (const route of routes) {
      const state = this.#routes.get(route.id);
      if (state !== undefined) state.route = route;
    }
  }

  /** The evidence of every route seen since the last reset, in the order first seen. */
  evidence(): RouteEvidence[] {
    return [...this.#routes.values()].map((state) => {
      const gaps = state.gaps.slice(0, Math.min(state.gapCount, state.gaps.length)).sort();
      return {
        route: state.route,
        counts: { ...state.counts },
        shed: state.shed,
        latencyGap: {
          p50: percentile(gaps, 0.5),
          p95: percentile(gaps, 0.95),
          p99: percentile(gaps, 0.99),
        },
        channels: new Map(
          [...state.channelCounts].map(([channel, counts]) => [channel, { ...counts }]),
        ),
      };
    });
  }

  // --- Observing -------------------------------------------------------------------

  #state(route: ShadowRoute): RouteState {
    let state = this.#routes.get(route.id);
    if (state === undefined) {
      state = new RouteState(route, this.#gapSamples);
      this.#routes.set(route.id, state);
    }
    return state;
  }

  #observe(route: ShadowRoute, channel: string, side: Side, message: ComparedMessage): void {
    const { event, args, stamp } = message;
    const state = this.#state(route);
    if (this.#pending >= this.#maxPending) {
      state.shed += 1;
      this.#listener?.shed(route);
      return;
    }
    let ledger = state.ledgers.get(channel);
    if (ledger === undefined) {
      ledger = new Ledger(this.#channelCounts(state, channel));
      state.ledgers.set(channel, ledger);
    }
    const key = keyOf(event, args);
    const sighting: Sighting = {
      side,
      key,
      event,
      at: this.#now(),
      seq: ledger.seqs[side]++,
      partner: undefined,
      settled: false,
      own: false,
      stamp,
    };
    ledger.queues[side].push(sighting);
    this.#pending += 1;
    const other = side === "primary" ? "shadow" : "primary";
    if (stamp !== undefined && this.#pairByStamp(state, channel, ledger, sighting, other)) return;
    let lists = ledger.unpaired.get(key);
    // Equal payloads of two stamped messages are two messages: never paired by content.
    const partner = lists?.[other].find((s) => s.stamp === undefined || stamp === undefined);
    if (partner !== undefined) {
      this.#dropUnpaired(ledger, partner);
      const [primary, shadow] = side === "primary" ? [sighting, partner] : [partner, sighting];
      this.#pair(state, channel, ledger, primary, shadow);
      return;
    }
    if (lists === undefined) {
      lists = { primary: [], shadow: [] };
      ledger.unpaired.set(key, lists);
    }
    lists[side].push(sighting);
    if (stamp !== undefined) ledger.unpairedByStamp[side].set(stamp, sighting);
    const byEvent = ledger.unpairedByEvent[side];
    byEvent.set(event, (byEvent.get(event) ?? 0) + 1);
  }

  /**
   * A stamped sighting: paired with the other side's copy of its stamp (mismatched when
   * the payloads differ), or a duplicate of a stamp paired already. Returns whether it
   * was decided so.
   */
  #pairByStamp(
    state: RouteState,
    channel: string,
    ledger: Ledger,
    sighting: Sighting,
    other: Side,
  ): boolean {
    const stamp = sighting.stamp!;
    const twin = ledger.unpairedByStamp[other].get(stamp);
    if (twin !== undefined) {
      this.#dropUnpaired(ledger, twin);
      const [primary, shadow] = sighting.side === "primary" ? [sighting, twin] : [twin, sighting];
      if (twin.key === sighting.key) {
        this.#pair(state, channel, ledger, primary, shadow);
      } else {
        primary.settled = true;
        shadow.settled = true;
        this.#count(state, ledger, channel, "mismatched", 1);
      }
      return true;
    }
    if (sighting.side === "shadow" && ledger.recentStamps.has(stamp)) {
      sighting.settled = true;
      this.#count(state, ledger, channel, "duplicates", 1);
      return true;
    }
    return false;
  }

  /** Pairs a primary sighting with its shadow copy. */
  #pair(state: RouteState, channel: string, ledger: Ledger, p: Sighting, s: Sighting): void {
    p.partner = s;
    s.partner = p;
    // Kept in the order of matching, so the sweep forgets the oldest first.
    const at = Math.max(p.at, s.at);
    ledger.recentlyMatched.delete(p.key);
    ledger.recentlyMatched.set(p.key, at);
    if (p.stamp !== undefined) ledger.recentStamps.set(p.stamp, at);
    this.#count(state, ledger, channel, "matched", 1);
    const gap = s.at - p.at;
    state.gaps[state.gapCount % state.gaps.length] = gap;
    state.gapCount += 1;
    this.#listener?.gap(state.route, gap);
  }

  /** An unpaired sighting left its lists: one fewer of its event to look for. */
  #unpairedGone(ledger: Ledger, sighting: Sighting): void {
    const byEvent = ledger.unpairedByEvent[sighting.side];
    const left = (byEvent.get(sighting.event) ?? 1) - 1;
    if (left === 0) byEvent.delete(sighting.event);
    else byEvent.set(sighting.event, left);
  }

  // --- Deciding --------------------------------------------------------------------

  /** Decides the sightings of `side` seen before `before`, in their order. */
  #decide(state: RouteState, channel: string, ledger: Ledger, side: Side, now: number): void {
    const { window } = state.route;
    const before = now - window;
    const queue = ledger.queues[side];
    let head = ledger.heads[side];
    while (head < queue.length && queue[head]!.at <= before) {
      const sighting = queue[head]!;
      head += 1;
      this.#pending -= 1;
      if (sighting.settled) continue;
      if (sighting.partner !== undefined) {
        if (side === "shadow" && sighting.partner.own) {
          // In the shadow's order, a match whose primary came before an earlier match's.
          if (sighting.partner.seq < ledger.maxMatchedPrimarySeq) {
            this.#count(state, ledger, channel, "reordered", 1);
          } else {
            ledger.maxMatchedPrimarySeq = sighting.partner.seq;
          }
        }
        continue;
      }
      this.#dropUnpaired(ledger, sighting);
      // A stamped copy's duplicates were found by stamp when they came.
      const matchedAt =
        sighting.stamp === undefined ? ledger.recentlyMatched.get(sighting.key) : undefined;
      if (side === "shadow" && matchedAt !== undefined && matchedAt >= sighting.at - window) {
        this.#count(state, ledger, channel, "duplicates", 1);
        continue;
      }
      const counterpart = this.#unpairedOfEvent(
        ledger,
        side === "primary" ? "shadow" : "primary",
        sighting,
      );
      if (counterpart !== undefined) {
        this.#settle(ledger, counterpart);
        this.#count(state, ledger, channel, "mismatched", 1);
        continue;
      }
      this.#count(state, ledger, channel, side === "primary" ? "missing" : "extra", 1);
    }
    // Drop decided sightings from the front once they are many, so queues stay short.
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    ledger.heads[side] = head;
  }

  /**
   * The oldest unpaired, undecided sighting of `side` with the event of `of`, if any: its
   * counterpart with another payload. Two stamped ones would have met by stamp.
   */
  #unpairedOfEvent(ledger: Ledger, side: Side, of: Sighting): Sighting | undefined {
    if ((ledger.unpairedByEvent[side].get(of.event) ?? 0) === 0) return undefined;
    const queue = ledger.queues[side];
    for (let i = ledger.heads[side]; i < queue.length; i++) {
      const s = queue[i]!;
      if (s.settled || s.partner !== undefined || s.event !== of.event) continue;
      if (s.stamp === undefined || of.stamp === undefined) return s;
    }
    return undefined;
  }

  /** Takes an unpaired sighting out of play: it is decided without a count of its own. */
  #settle(ledger: Ledger, sighting: Sighting): void {
    sighting.settled = true;
    this.#dropUnpaired(ledger, sighting);
  }

  #dropUnpaired(ledger: Ledger, sighting: Sighting): void {
    const lists = ledger.unpaired.get(sighting.key);
    const list = lists?.[sighting.side];
    const at = list?.indexOf(sighting) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (lists!.primary.length === 0 && lists!.shadow.length === 0) {
      ledger.unpaired.delete(sighting.key);
    }
    if (sighting.stamp !== undefined) ledger.unpairedByStamp[sighting.side].delete(sighting.stamp);
    this.#unpairedGone(ledger, sighting);
  }

  #count(
    state: RouteState,
    ledger: Ledger | undefined,
    channel: string,
    outcome: ShadowOutcome,
    count: number,
  ): void {
    state.counts[outcome] += count;
    const perChannel = ledger?.counts ?? this.#channelCounts(state, channel);
    if (perChannel !== undefined) perChannel[outcome] += count;
    this.#listener?.counted(state.route, outcome, count);
  }

  #channelCounts(state: RouteState, channel: string): ShadowCounts | undefined {
    let counts = state.channelCounts.get(channel);
    if (counts === undefined && state.channelCounts.size < MAX_CHANNELS_PER_ROUTE) {
      counts = zeroCounts();
      state.channelCounts.set(channel, counts);
    }
    return counts;
  }
}

export function zeroCounts(): ShadowCounts {
  return {
    matched: 0,
    missing: 0,
    extra: 0,
    duplicates: 0,
    reordered: 0,
    mismatched: 0,
    shadowDropped: 0,
    shadowErrors: 0,
  };
}

/** A message's identity within its channel: its event and its normalised arguments' hash. */
export function keyOf(event: string, args: readonly unknown[]): string {
  const hash = createHash("sha1");
  hash.update(event);
  hash.update("\u0000");
  hash.update(normalised(args));
  return hash.digest("base64url");
}

/**
 * JSON with object keys sorted and binary as `<hex of its bytes>`, so that what two
 * providers carry alike compares alike: key order and the binary's container type
 * (Buffer, ArrayBuffer, a typed array) do not count.
 */
export function normalised(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return value === undefined ? "null" : JSON.stringify(value);
  }
  // `<hex>` is no JSON text, so binary never reads like a string or an object.
  if (ArrayBuffer.isView(value)) {
    return `<${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}>`;
  }
  if (value instanceof ArrayBuffer) return `<${Buffer.from(value).toString("hex")}>`;
  if (Array.isArray(value)) return `[${value.map(normalised).join(",")}]`;
  const keys = Object.keys(value).sort();
  const record = value as Record<string, unknown>;
  return `{${keys.map((key) => `${JSON.stringify(key)}:${normalised(record[key])}`).join(",")}}`;
}

function percentile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null;
  const at = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, at)]! * 1000) / 1000;
}

import type { HistoryPoint, MissedFailure } from "../../read-back.js";
import type { BroadcastLog, Logged } from "./broadcast-log.js";

/**
 * Where a kept socket stood in the histories of its rooms' channels (rooms carried by
 * a backend that keeps one: Ably), persisted with it so that another node can read
 * back what it missed (docs/recovery.md, "Across nodes: rooms on Ably").
 *
 * The client tells only its last offset, and at keep time nobody knows which one that
 * will be: the last broadcasts it may not have received are still in flight. So the
 * keeping node writes down, for each of its last {@link TAIL_LIMIT} broadcasts that
 * concern it, the offset the client would hold after it, the history id it carried and
 * the stream position at that point; and, for each room, where the room stood before
 * them. The node the client comes back to finds its offset among them and knows, for
 * every room, the newest message it got.
 *
 * In the session (MessagePack), compact: `{r, b, t, f}`:
 * - `r`: the rooms with a history;
 * - `b`: per room, where it stood before `t`: `a:<id>` (after that message), `s:<serial>`
 *   (after what was published before this node's attachment), `""` (not known);
 * - `t`: entries, oldest first: `[offset, streamAt, id, ...room indexes]` (`""` when
 *   the entry has no stream position or no history id);
 * - `f`: 1 when older entries were left out (`t` is full).
 */
export interface HistoryTail {
  readonly r: readonly string[];
  readonly b: readonly string[];
  readonly t: readonly (readonly (string | number)[])[];
  readonly f: 0 | 1;
}

/** Broadcasts a tail holds at most: a client is behind by what was in flight when it dropped. */
export const TAIL_LIMIT = 512;

/** Longest offset, id or serial a tail may carry (a forged one is refused past it). */
const MAX_TEXT = 256;

/** Where a client stood when it came back: the stream's position and each room's point. */
export interface StandPoint {
  /** Where a read of the shared stream resumes; undefined when nothing tells. */
  readonly stream: string | undefined;
  readonly rooms: ReadonlyMap<string, HistoryPoint>;
}

/**
 * The tail of a socket being kept, for its `historyRooms`: `selects` tells which
 * entries reached it, `attachPoint` where this node's attachment of a room's channel
 * began.
 */
export function tailOf(
  log: BroadcastLog,
  historyRooms: readonly string[],
  selects: (entry: Logged) => boolean,
  attachPoint: (room: string) => string | undefined,
): HistoryTail {
  const index = new Map(historyRooms.map((room, at) => [room, at]));
  const t: (string | number)[][] = [];
  const bases: (string | undefined)[] = historyRooms.map(() => undefined);
  let unset = historyRooms.length;
  let isFull = false;
  for (const entry of log.newestFirst()) {
    const on = entry.position?.rooms.filter((room) => index.has(room)) ?? [];
    const isSelected = selects(entry);
    if (!isSelected && on.length === 0) continue;
    if (t.length < TAIL_LIMIT) {
      t.push([
        log.offsetOf(entry),
        entry.streamAt ?? "",
        entry.position?.id ?? "",
        ...on.map((room) => index.get(room)!),
      ]);
      continue;
    }
    isFull ||= isSelected;
    // Past the tail: each room's newest message before it, found from the newest back.
    for (const room of on) {
      const at = index.get(room)!;
      if (bases[at] !== undefined) continue;
      bases[at] = `a:${entry.position!.id}`;
      unset -= 1;
    }
    if (unset === 0 && isFull) break;
  }
  const b = historyRooms.map((room, at) => {
    const found = bases[at];
    if (found !== undefined) return found;
    const dropped = log.droppedPosition(room);
    if (dropped === undefined) return "";
    if (dropped !== null) return `a:${dropped}`;
    // Nothing of it reached this node since the log began: all before the attachment.
    const serial = attachPoint(room);
    return serial === undefined ? "" : `s:${serial}`;
  });
  t.reverse();
  return { r: historyRooms, b, t, f: isFull ? 1 : 0 };
}

/** A tail read from the shared store (anyone who can write there wrote it): checked. */
export function parseTail(value: unknown): HistoryTail | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const { r, b, t, f } = value as Record<string, unknown>;
  if (!isTextList(r) || !isTextList(b) || b.length !== r.length || (f !== 0 && f !== 1)) {
    return undefined;
  }
  if (!Array.isArray(t) || t.length > TAIL_LIMIT) return undefined;
  for (const entry of t) {
    if (!Array.isArray(entry) || entry.length < 3 || entry.length > 3 + r.length) return undefined;
    if (!isTextList(entry.slice(0, 3))) return undefined;
    for (const at of entry.slice(3)) {
      if (!Number.isInteger(at) || (at as number) < 0 || (at as number) >= r.length) {
        return undefined;
      }
    }
  }
  return { r, b, t: t as (string | number)[][], f };
}

/**
 * Where a client holding `offset` stood, from its kept socket's tail: its rooms'
 * points and the stream's position; or why it cannot be told.
 */
export function standPointOf(tail: HistoryTail, offset: string): StandPoint | MissedFailure {
  let at = tail.t.length - 1;
  while (at >= 0 && tail.t[at]![0] !== offset) at--;
  if (at < 0) return tail.f === 1 ? "too_many_missed" : "offset_gone";
  const stream = (tail.t[at]![1] as string) || undefined;
  const rooms = new Map<string, HistoryPoint>();
  for (let room = 0; room < tail.r.length; room++) {
    let point: HistoryPoint | undefined;
    for (let back = at; back >= 0 && point === undefined; back--) {
      const entry = tail.t[back]!;
      if (entry.indexOf(room, 3) >= 3 && entry[2] !== "") point = { after: entry[2] as string };
    }
    point ??= pointOf(tail.b[room]!);
    if (point === undefined) return "offset_gone";
    rooms.set(tail.r[room]!, point);
  }
  return { stream, rooms };
}

function pointOf(base: string): HistoryPoint | undefined {
  if (base.startsWith("a:") && base.length > 2) return { after: base.slice(2) };
  if (base.startsWith("s:") && base.length > 2) return { attach: base.slice(2) };
  return undefined;
}

function isTextList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= TAIL_LIMIT &&
    value.every((item) => typeof item === "string" && item.length <= MAX_TEXT)
  );
}

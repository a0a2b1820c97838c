import { compareStreamIds, isStreamId } from "../../stream-id.js";
import type { BroadcastTarget } from "./namespace.js";
import type { RecoveryOptions } from "./recovery.js";

/** Where a channel's history holds a broadcast: the rooms that channel carries, and its id. */
export interface LoggedPosition {
  readonly rooms: readonly string[];
  readonly id: string;
}

/** One broadcast as it went on the wire, with whom it went to. */
export interface Logged {
  readonly seq: number;
  /** The stream entry id it carried as its offset, when it came from a shared stream. */
  readonly streamId: string | undefined;
  /**
   * The newest stream entry delivered here when it was logged (its own id for one read
   * from the stream): where a read of the stream resumes for a client that got it.
   */
  readonly streamAt: string | undefined;
  /** Where its channel's history holds it, when its backend keeps one (Ably). */
  readonly position: LoggedPosition | undefined;
  readonly at: number;
  readonly target: BroadcastTarget;
  /**
   * The encoded packet and its attachments, not the `Outbound`s that went out: those
   * cache their WebSocket frames, which a log kept for minutes should not hold.
   */
  readonly text: string;
  readonly attachments: readonly Buffer[];
  readonly bytes: number;
}

/**
 * One namespace's recent broadcasts, oldest first, bounded in count, bytes and age. An
 * offset names an entry by its sequence number, prefixed with this process's boot id so
 * that an offset from before a restart (or from another node) is never taken for one of
 * ours.
 */
export class BroadcastLog {
  /** Entries before `#head` are dropped ones, cleared until the array is compacted. */
  readonly #entries: (Logged | undefined)[] = [];
  /** Index of the oldest entry still in use: entries are dropped by moving it. */
  #head = 0;
  #nextSeq = 0;
  #bytes = 0;
  /** The stream id of the newest entry dropped that had one. */
  #droppedStreamId: string | undefined;
  /** The newest stream id logged. */
  #lastStreamId: string | undefined;
  /** Room → the history id of the newest dropped entry on its channel (at most MAX_DROPPED_ROOMS). */
  readonly #droppedPositions = new Map<string, string>();
  /** Whether a room was pushed out of {@link #droppedPositions}: then its absence tells nothing. */
  #hasForgottenDropped = false;
  /**
   * The shared stream's cursor for this namespace, when recovery spans nodes: what an
   * entry logged before any stream entry records as its {@link Logged.streamAt}.
   */
  streamCursor: (() => string | undefined) | undefined;

  constructor(
    readonly boot: string,
    readonly options: RecoveryOptions,
  ) {}

  get size(): number {
    return this.#entries.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The offset the next {@link append} will give. */
  nextOffset(): string {
    return `${this.boot}${this.#nextSeq.toString(36)}`;
  }

  /**
   * Logs a broadcast; `streamId`: the stream entry id it carries as its offset instead
   * of {@link nextOffset} (a broadcast read from a shared stream).
   */
  append(
    target: BroadcastTarget,
    text: string,
    attachments: readonly Buffer[],
    now: number,
    streamId?: string,
    position?: LoggedPosition,
  ): void {
    let bytes = ENTRY_OVERHEAD + text.length;
    if (position !== undefined) bytes += POSITION_OVERHEAD + position.id.length;
    if (streamId !== undefined) this.#lastStreamId = streamId;
    for (const buffer of attachments) bytes += buffer.length;
    const kept = attachments.length === 0 ? NO_ATTACHMENTS : attachments;
    this.#entries.push({
      seq: this.#nextSeq++,
      streamId,
      streamAt: this.#lastStreamId ?? this.streamCursor?.(),
      position,
      at: now,
      target,
      text,
      attachments: kept,
      bytes,
    });
    this.#bytes += bytes;
    this.trim(now);
  }

  /** Drops entries past the bounds, and those older than any kept socket can ask for. */
  trim(now: number): void {
    const { maxPackets, maxBytes, maxDisconnectionDuration } = this.options;
    const oldest = now - maxDisconnectionDuration;
    while (
      this.size > 0 &&
      (this.size > maxPackets || this.#bytes > maxBytes || this.#entries[this.#head]!.at < oldest)
    ) {
      const dropped = this.#entries[this.#head]!;
      this.#bytes -= dropped.bytes;
      if (dropped.streamId !== undefined) this.#droppedStreamId = dropped.streamId;
      if (dropped.position !== undefined) this.#dropPosition(dropped.position);
      this.#entries[this.#head++] = undefined;
    }
    // Compact once the dropped prefix is the larger part, so dropping stays O(1) amortised.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #dropPosition({ rooms, id }: LoggedPosition): void {
    for (const room of rooms) {
      // Moved to the end: the rooms dropped longest ago are the ones pushed out.
      this.#droppedPositions.delete(room);
      this.#droppedPositions.set(room, id);
    }
    while (this.#droppedPositions.size > MAX_DROPPED_ROOMS) {
      this.#droppedPositions.delete(this.#droppedPositions.keys().next().value!);
      this.#hasForgottenDropped = true;
    }
  }

  /**
   * The history id of the newest entry of `room`'s channel dropped from this log;
   * `null` when none was, `undefined` when that is no longer known.
   */
  droppedPosition(room: string): string | null | undefined {
    const id = this.#droppedPositions.get(room);
    if (id !== undefined) return id;
    return this.#hasForgottenDropped ? undefined : null;
  }

  /** The entries, newest first. */
  *newestFirst(): IterableIterator<Logged> {
    for (let at = this.#entries.length - 1; at >= this.#head; at--) yield this.#entries[at]!;
  }

  /** The offset a client holds for an entry. */
  offsetOf(entry: Logged): string {
    return entry.streamId ?? `${this.boot}${entry.seq.toString(36)}`;
  }

  /** A point in the log: {@link since} gives what is logged after it. */
  mark(): number {
    return this.#nextSeq;
  }

  /** The entries logged since `mark`, oldest first; undefined when some were dropped. */
  since(mark: number): Logged[] | undefined {
    const first = this.size === 0 ? this.#nextSeq : this.#entries[this.#head]!.seq;
    if (mark < first) return undefined;
    return this.#entries.slice(this.#head + (mark - first)) as Logged[];
  }

  /** The entries after `offset`, or undefined when `offset` is not one this log still holds. */
  after(offset: string): Logged[] | undefined {
    if (isStreamId(offset)) return this.#afterStreamId(offset);
    if (!offset.startsWith(this.boot) || offset.length > this.boot.length + 11) return undefined;
    const seq = Number.parseInt(offset.slice(this.boot.length), 36);
    if (!Number.isSafeInteger(seq) || seq.toString(36) !== offset.slice(this.boot.length)) {
      return undefined;
    }
    const first = this.size === 0 ? this.#nextSeq : this.#entries[this.#head]!.seq;
    // Every entry after `offset` must still be here: the one it names may be gone, not
    // the next.
    if (seq < first - 1 || seq >= this.#nextSeq) return undefined;
    // Past `#head` every slot holds an entry.
    return this.#entries.slice(this.#head + (seq + 1 - first)) as Logged[];
  }

  /**
   * The entries after the one a stream id names, found from the newest back (a client
   * recovers from near the end); undefined when it is not here.
   */
  #afterStreamId(id: string): Logged[] | undefined {
    for (let at = this.#entries.length - 1; at >= this.#head; at--) {
      if (this.#entries[at]!.streamId === id) return this.#entries.slice(at + 1) as Logged[];
    }
    return undefined;
  }

  /**
   * The entries read from a stream whose ids are after `from` and not after `to`, in
   * the order they were logged; undefined when some of them may have been dropped.
   */
  streamEntriesBetween(from: string, to: string): Logged[] | undefined {
    if (this.#droppedStreamId !== undefined && compareStreamIds(this.#droppedStreamId, from) > 0) {
      return undefined;
    }
    const out: Logged[] = [];
    // From the newest back to the first at or before `from`: the stream's order is the
    // log's, so nothing older can be after it.
    for (let at = this.#entries.length - 1; at >= this.#head; at--) {
      const { streamId } = this.#entries[at]!;
      if (streamId === undefined) continue;
      if (compareStreamIds(streamId, from) <= 0) break;
      if (compareStreamIds(streamId, to) <= 0) out.push(this.#entries[at]!);
    }
    return out.reverse();
  }
}

/**
 * What a log entry holds beside its encoded bytes (the entry, its target, the string's
 * header), counted against `maxBytes` so that the bound is near the memory it keeps:
 * a one-room broadcast of 120 encoded bytes took 465 bytes of heap on Node 20, and its
 * two stream and history fields 16 more (measured with 200,000 entries).
 */
const ENTRY_OVERHEAD = 384;

/**
 * What a history position adds to an entry beside its id's characters (its object and
 * the id string's header): measured 96 bytes for a 17-character Ably id on Node 20.
 */
const POSITION_OVERHEAD = 80;

const NO_ATTACHMENTS: readonly Buffer[] = Object.freeze([]);

/** Rooms whose newest dropped history id a log remembers at most. */
const MAX_DROPPED_ROOMS = 65_536;

import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { metrics } from "../../metrics.js";
import { Outbound } from "../engine/outbound.js";
import type { BroadcastTarget } from "./namespace.js";
import type { DisconnectReason } from "./socket.js";

/** `server.connectionStateRecovery` with its bounds (docs/recovery.md). */
export interface RecoveryOptions {
  /** ms a disconnected socket is kept for its client to come back. */
  readonly maxDisconnectionDuration: number;
  /** Whether a recovering socket skips the namespace's auth (as socket.io's option). */
  readonly skipMiddlewares: boolean;
  /** Disconnected sockets kept at most; past it the oldest is forgotten. */
  readonly maxSessions: number;
  /** Broadcasts a namespace's log keeps at most. */
  readonly maxPackets: number;
  /** Bytes a namespace's log keeps at most: encoded sizes plus each entry's overhead. */
  readonly maxBytes: number;
}

/** The disconnect reasons socket.io recovers from: the connection was lost, not ended. */
const RECOVERABLE: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>([
  "transport error",
  "transport close",
  "forced close",
  "ping timeout",
  "forced server close",
]);

export function isRecoverable(reason: DisconnectReason): boolean {
  return RECOVERABLE.has(reason);
}

/** A disconnected socket waiting for its client: what it is restored with. */
export interface KeptSocket {
  readonly id: string;
  readonly pid: string;
  readonly nsp: string;
  /** Its rooms, its own id left out. */
  readonly rooms: readonly string[];
  /** The layer above's per-socket state (`socket.data`). */
  readonly data: unknown;
  /** Its CONNECT's auth, which the client must send again (without `pid` and `offset`). */
  readonly auth: Readonly<Record<string, unknown>>;
  /** When it is forgotten (ms since the epoch). */
  readonly until: number;
}

/** Why a recovery failed: a new session starts instead (docs/recovery.md). */
export type RecoveryMiss =
  | "unknown_session"
  | "expired"
  | "offset_gone"
  | "other_namespace"
  | "auth_changed";

/** One broadcast as it went on the wire, with whom it went to. */
interface Logged {
  readonly seq: number;
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

  append(target: BroadcastTarget, text: string, attachments: readonly Buffer[], now: number): void {
    let bytes = ENTRY_OVERHEAD + text.length;
    for (const buffer of attachments) bytes += buffer.length;
    const kept = attachments.length === 0 ? NO_ATTACHMENTS : attachments;
    this.#entries.push({ seq: this.#nextSeq++, at: now, target, text, attachments: kept, bytes });
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
      this.#bytes -= this.#entries[this.#head]!.bytes;
      this.#entries[this.#head++] = undefined;
    }
    // Compact once the dropped prefix is the larger part, so dropping stays O(1) amortised.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** The entries after `offset`, or undefined when `offset` is not one this log still holds. */
  after(offset: string): Logged[] | undefined {
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
}

/**
 * Connection state recovery in process (docs/recovery.md): each namespace's broadcasts
 * are logged with an offset the client tracks, and a socket whose connection was lost is
 * kept for `maxDisconnectionDuration` with its id, rooms and state; a client that comes
 * back with its `pid` and last offset gets them again, with every broadcast it missed.
 *
 * While a socket is kept, its rooms stay held (the namespace does not delete them), so
 * the channels carrying them stay subscribed on every backend and their broadcasts keep
 * reaching the log.
 */
export class ConnectionRecovery {
  readonly options: RecoveryOptions;
  /** pid → kept socket, in the order they were kept (the oldest first). */
  readonly #kept = new Map<string, KeptSocket>();
  readonly #logs = new Map<string, BroadcastLog>();
  /** This process's offsets' prefix. */
  readonly #boot = `${randomBytes(3).toString("base64url")}.`;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(
    options: RecoveryOptions,
    /** Told when a kept socket is dropped unrecovered: release its rooms. */
    private readonly onForget: (kept: KeptSocket) => void,
  ) {
    this.options = options;
    metrics.recoverySources.add(this.#size);
  }

  readonly #size = () => ({ kept: this.#kept.size, ...this.logSize() });

  /** A new private id for a socket: only its client learns it. */
  newPid(): string {
    return randomBytes(15).toString("base64url");
  }

  /** Broadcasts and bytes in every namespace's log. */
  logSize(): { packets: number; bytes: number } {
    let packets = 0;
    let bytes = 0;
    for (const log of this.#logs.values()) {
      packets += log.size;
      bytes += log.bytes;
    }
    return { packets, bytes };
  }

  /** Keeps a socket whose connection was lost; the oldest is forgotten past `maxSessions`. */
  keep(socket: Omit<KeptSocket, "until">): void {
    const kept = { ...socket, until: Date.now() + this.options.maxDisconnectionDuration };
    this.#kept.set(socket.pid, kept);
    if (this.#kept.size > this.options.maxSessions) {
      const [pid, oldest] = this.#kept.entries().next().value!;
      this.#kept.delete(pid);
      metrics.recoveries.inc({ outcome: "forgotten" });
      this.onForget(oldest);
    }
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
  }

  /**
   * Takes back the socket `pid` names, with the broadcasts after `offset` still to be
   * selected for it, or says why it cannot be restored. A taken socket is no longer
   * kept (a pid recovers once); a miss releases it.
   */
  take(
    nsp: string,
    auth: Readonly<Record<string, unknown>>,
  ): { kept: KeptSocket; missed: () => readonly Outbound[] } | { miss: RecoveryMiss } {
    const { pid, offset } = auth as { pid: string; offset: string };
    const kept = this.#kept.get(pid);
    if (kept === undefined) return { miss: "unknown_session" };
    if (kept.nsp !== nsp) return { miss: "other_namespace" };
    // The pid alone does not hand over a socket: whoever comes back with it must also
    // bring the same credentials (a stolen pid without the token gets a new session,
    // and that session's auth decides).
    if (!sameAuth(kept.auth, auth)) return { miss: "auth_changed" };
    this.#kept.delete(pid);
    if (kept.until < Date.now()) {
      this.onForget(kept);
      return { miss: "expired" };
    }
    const log = this.logOf(nsp);
    if (log.after(offset) === undefined) {
      this.onForget(kept);
      return { miss: "offset_gone" };
    }
    const rooms = new Set([kept.id, ...kept.rooms]);
    // Selected when the socket is restored, so that what is logged meanwhile (while an
    // auth runs again) is not lost between the two.
    const missed = (): Outbound[] => {
      const out: Outbound[] = [];
      for (const entry of log.after(offset) ?? []) {
        if (!selects(entry.target, kept.id, rooms)) continue;
        out.push(Outbound.message(entry.text));
        for (const buffer of entry.attachments) out.push(Outbound.message(buffer));
      }
      return out;
    };
    return { kept, missed };
  }

  close(): void {
    metrics.recoverySources.delete(this.#size);
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /**
   * The log of `nsp`'s broadcasts: a broadcast takes its {@link BroadcastLog.nextOffset}
   * as its last argument, then is {@link BroadcastLog.append}ed.
   */
  logOf(nsp: string): BroadcastLog {
    let log = this.#logs.get(nsp);
    if (log === undefined) {
      log = new BroadcastLog(this.#boot, this.options);
      this.#logs.set(nsp, log);
    }
    return log;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [pid, kept] of this.#kept) {
      if (kept.until >= now) break;
      this.#kept.delete(pid);
      metrics.recoveries.inc({ outcome: "forgotten" });
      this.onForget(kept);
    }
    for (const log of this.#logs.values()) log.trim(now);
    if (this.#kept.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

/**
 * What a log entry holds beside its encoded bytes (the entry, its target, the string's
 * header), counted against `maxBytes` so that the bound is near the memory it keeps:
 * a one-room broadcast of 120 encoded bytes took 465 bytes of heap on Node 20.
 */
const ENTRY_OVERHEAD = 368;

const NO_ATTACHMENTS: readonly Buffer[] = Object.freeze([]);

/** How often expired sockets are forgotten and old broadcasts dropped. */
const SWEEP_MS = 1000;

/** Whether two CONNECT auth payloads are the same, `pid` and `offset` aside. */
function sameAuth(
  before: Readonly<Record<string, unknown>>,
  now: Readonly<Record<string, unknown>>,
): boolean {
  const { pid: _p1, offset: _o1, ...a } = before;
  const { pid: _p2, offset: _o2, ...b } = now;
  return isDeepStrictEqual(a, b);
}

/** Whether a broadcast to `target` reached a socket `id` in `rooms` (its own id included). */
function selects(target: BroadcastTarget, id: string, rooms: ReadonlySet<string>): boolean {
  if (target.except === id) return false;
  if (target.exceptRooms?.some((room) => rooms.has(room))) return false;
  return target.rooms.length === 0 || target.rooms.some((room) => rooms.has(room));
}

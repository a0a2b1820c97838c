import { createHash, randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { LogBudget } from "../../log-budget.js";
import { metrics } from "../../metrics.js";
import { compareStreamIds, isStreamId } from "../../stream-id.js";
import type { EngineLog } from "../engine/options.js";
import { Outbound } from "../engine/outbound.js";
import { randomId } from "../engine/random-id.js";
import type { BroadcastTarget } from "./namespace.js";
import { encode, SioType } from "./parser.js";
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

/**
 * The disconnect reasons socket.io recovers from: the connection was lost, not ended,
 * or the server is going away (a drain: with recovery across nodes, the client comes
 * back on another node with everything it missed).
 */
const RECOVERABLE: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>([
  "transport error",
  "transport close",
  "forced close",
  "ping timeout",
  "server shutting down",
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
  | "too_many_missed"
  | "other_namespace"
  | "auth_changed"
  | "not_in_stream"
  | "store_unavailable";

/** A kept socket in the store shared by the nodes (socket.io's streams adapter's form). */
export interface SharedSession {
  readonly sid: string;
  readonly pid: string;
  /** Its rooms, its own id left out. */
  readonly rooms: readonly string[];
  readonly data: unknown;
  /** Set by Switchyard nodes: the namespace and {@link authDigest} of the CONNECT's auth. */
  readonly swy?: { readonly nsp: string; readonly auth: string };
}

/** A broadcast read back from the shared stream, with its entry id as `offset`. */
export interface SharedBroadcast {
  readonly rooms: readonly string[];
  readonly except: readonly string[];
  readonly event: string;
  readonly args: readonly unknown[];
  readonly offset?: string;
}

/**
 * Recovery across nodes (docs/recovery.md): the native core's store in streams mode,
 * with what the router knows of rooms and state. Given to {@link ConnectionRecovery.shared}.
 */
export interface SharedSessions {
  persist(session: SharedSession, ttlMs: number): Promise<void>;
  /** The session `pid` names, left in place; undefined when there is none. */
  peek(pid: string): Promise<SharedSession | undefined>;
  /** Takes a session once, on one node; undefined when there is none. */
  take(pid: string): Promise<SharedSession | undefined>;
  /** `nsp`'s broadcasts after `offset`, in order, `limit` at most; or why not. */
  after(
    nsp: string,
    offset: string,
    limit: number,
  ): Promise<readonly SharedBroadcast[] | "offset_gone" | "too_many_missed">;
  /** The last stream entry of `nsp` this node has delivered; undefined before the first. */
  cursor(nsp: string): string | undefined;
  /** Whether `room`'s broadcasts go through the stream (so that they can be read back). */
  carries(nsp: string, room: string): boolean;
  /** What a kept socket's `data` is stored as (the router keeps its claims, not its budget). */
  portable(data: unknown): unknown;
}

/** A kept socket given back, with what it missed, selected when it is restored. */
export interface Restored {
  readonly kept: KeptSocket;
  readonly missed: () => readonly Outbound[];
  /**
   * Whether its state is Switchyard's own and its auth was checked against the kept
   * one: `skipMiddlewares` applies. A socket kept by a socket.io node runs auth again.
   */
  readonly trusted: boolean;
  /** Whether this node held its rooms while it was kept (to release once restored). */
  readonly heldRooms: boolean;
}

export type Taken = Restored | { readonly miss: RecoveryMiss };

/** One broadcast as it went on the wire, with whom it went to. */
interface Logged {
  readonly seq: number;
  /** The stream entry id it carried as its offset, when it came from a shared stream. */
  readonly streamId: string | undefined;
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
  ): void {
    let bytes = ENTRY_OVERHEAD + text.length;
    for (const buffer of attachments) bytes += buffer.length;
    const kept = attachments.length === 0 ? NO_ATTACHMENTS : attachments;
    this.#entries.push({
      seq: this.#nextSeq++,
      streamId,
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
  /**
   * The store shared by the nodes, when the native core runs on Redis streams: kept
   * sockets are persisted there too, and a client may come back to any node.
   */
  shared: SharedSessions | undefined;
  /** Misses logged at most: 100 per 10 s. */
  readonly #missLines = new LogBudget(100, 10_000);
  /** Kept sockets the shared store did not take: no other node can restore them. */
  readonly #unshared = new Set<string>();

  constructor(
    options: RecoveryOptions,
    /** Told when a kept socket is dropped unrecovered: release its rooms. */
    private readonly onForget: (kept: KeptSocket) => void,
    private readonly log?: EngineLog,
  ) {
    this.options = options;
    metrics.recoverySources.add(this.#size);
  }

  readonly #size = () => ({ kept: this.#kept.size, ...this.logSize() });

  /** A new private id for a socket: only its client learns it. */
  newPid(): string {
    return randomId();
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
    this.#persist(kept);
    if (this.#kept.size > this.options.maxSessions) {
      const [pid, oldest] = this.#kept.entries().next().value!;
      this.#kept.delete(pid);
      this.#unshared.delete(pid);
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
  take(nsp: string, auth: Readonly<Record<string, unknown>>): Taken | Promise<Taken> {
    const taken = this.#take(nsp, auth);
    return taken instanceof Promise
      ? taken.then((outcome) => this.#counted(outcome, nsp))
      : this.#counted(taken, nsp);
  }

  /**
   * Counts a restored socket or a miss; a miss is logged at info with its reason (a
   * budgeted line: a client repeating a bad pid cannot flood the log).
   */
  #counted(taken: Taken, nsp: string): Taken {
    if (!("miss" in taken)) return taken;
    metrics.recoveries.inc({ outcome: taken.miss });
    const suppressed = this.#missLines.take();
    if (suppressed !== undefined) {
      this.log?.info(
        { nsp, reason: taken.miss, ...(suppressed > 0 ? { suppressed } : {}) },
        "recovery: not recovered, a new socket starts",
      );
    }
    return taken;
  }

  #take(nsp: string, auth: Readonly<Record<string, unknown>>): Taken | Promise<Taken> {
    const { pid, offset } = auth as { pid: string; offset: string };
    const kept = this.#kept.get(pid);
    const shared = this.shared;
    if (kept === undefined) {
      // Kept by another node (or by this one before a restart), or by nobody.
      return shared === undefined || !isStreamId(offset)
        ? { miss: "unknown_session" }
        : this.#takeShared(shared, nsp, auth);
    }
    if (kept.nsp !== nsp) return { miss: "other_namespace" };
    // The pid alone does not hand over a socket: whoever comes back with it must also
    // bring the same credentials (a stolen pid without the token gets a new session,
    // and that session's auth decides).
    if (!sameAuth(kept.auth, auth)) return { miss: "auth_changed" };
    this.#kept.delete(pid);
    const isShared = shared !== undefined && !this.#unshared.delete(pid);
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
      for (const entry of log.after(offset) ?? []) replayEntry(entry, kept.id, rooms, out);
      return out;
    };
    const restored: Restored = { kept, missed, trusted: true, heldRooms: true };
    if (!isShared) return restored;
    // Persisted too: it is this node's only if the store still has it (no other node
    // took it meanwhile), and then no other node can.
    return shared!.take(pid).then(
      (session): Taken => {
        if (session !== undefined) return restored;
        this.onForget(kept);
        return { miss: "unknown_session" };
      },
      (error: unknown): Taken => {
        this.onForget(kept);
        this.log?.warn({ err: error }, "recovery: the shared session store cannot be asked");
        return { miss: "store_unavailable" };
      },
    );
  }

  /**
   * A socket kept by another node, from the shared store: restored when every one of
   * its rooms is carried by the stream, with the broadcasts it missed read back from
   * the stream up to where this node's own delivery takes over.
   */
  async #takeShared(
    shared: SharedSessions,
    nsp: string,
    auth: Readonly<Record<string, unknown>>,
  ): Promise<Taken> {
    const { pid, offset } = auth as { pid: string; offset: string };
    let session: SharedSession | undefined;
    let fromStream: Awaited<ReturnType<SharedSessions["after"]>>;
    try {
      // Looked at before it is taken: a client without the owner's credentials (or
      // with an offset the stream lost) leaves it for the owner.
      session = await shared.peek(pid);
      if (session === undefined) return { miss: "unknown_session" };
      if (session.swy !== undefined && session.swy.nsp !== nsp) return { miss: "other_namespace" };
      if (session.swy !== undefined && session.swy.auth !== authDigest(auth)) {
        return { miss: "auth_changed" };
      }
      // A room another backend carries left no trace another node can read back.
      if (session.rooms.some((room) => !shared.carries(nsp, room)))
        return { miss: "not_in_stream" };
      fromStream = await shared.after(nsp, offset, this.options.maxPackets);
      if (typeof fromStream !== "string") {
        // Another node may have taken it meanwhile: only one does.
        session = await shared.take(pid);
        if (session === undefined) return { miss: "unknown_session" };
      }
    } catch (error) {
      this.log?.warn({ err: error }, "recovery: the shared session store cannot be asked");
      return { miss: "store_unavailable" };
    }
    if (typeof fromStream === "string") return { miss: fromStream };
    const { sid } = session;
    const kept: KeptSocket = {
      id: sid,
      pid,
      nsp,
      rooms: session.rooms,
      data: session.data,
      auth,
      until: Date.now(),
    };
    const read = fromStream;
    const log = this.logOf(nsp);
    const rooms = new Set([sid, ...session.rooms]);
    // Selected when the socket is restored, in the same turn as its joins: what the
    // stream read gave up to this node's cursor, then what this node delivered after
    // the read's end; everything after the cursor reaches the socket live.
    const missed = (): Outbound[] => {
      const out: Outbound[] = [];
      const cursor = shared.cursor(nsp);
      for (const broadcast of read) {
        if (cursor !== undefined && compareStreamIds(broadcast.offset!, cursor) > 0) break;
        const target = { rooms: broadcast.rooms, exceptRooms: broadcast.except };
        if (!selects(target, sid, rooms)) continue;
        const data = [broadcast.event, ...broadcast.args, broadcast.offset];
        for (const part of encode({ type: SioType.EVENT, nsp, data })) {
          out.push(Outbound.message(part));
        }
      }
      const readTo = read.at(-1)?.offset ?? offset;
      if (cursor !== undefined && compareStreamIds(cursor, readTo) > 0) {
        const logged = log.streamEntriesBetween(readTo, cursor);
        if (logged === undefined) {
          metrics.recoveries.inc({ outcome: "incomplete" });
          this.log?.warn(
            { socket: sid, nsp, from: readTo, to: cursor },
            "recovery: broadcasts between the stream read and this node's log were dropped from the log; the socket is restored without them",
          );
        }
        for (const entry of logged ?? []) replayEntry(entry, sid, rooms, out);
      }
      return out;
    };
    return { kept, missed, trusted: session.swy !== undefined, heldRooms: false };
  }

  /** Persists a kept socket in the shared store, when there is one; a failure is logged. */
  #persist(kept: KeptSocket): void {
    const shared = this.shared;
    if (shared === undefined) return;
    const session: SharedSession = {
      sid: kept.id,
      pid: kept.pid,
      rooms: kept.rooms,
      data: shared.portable(kept.data),
      swy: { nsp: kept.nsp, auth: authDigest(kept.auth) },
    };
    shared.persist(session, this.options.maxDisconnectionDuration).catch((error: unknown) => {
      if (this.#kept.get(kept.pid) === kept) this.#unshared.add(kept.pid);
      metrics.recoveries.inc({ outcome: "persist_failed" });
      this.log?.warn(
        { err: error, socket: kept.id, nsp: kept.nsp },
        "recovery: the kept socket could not be persisted; it recovers on this node only",
      );
    });
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
      this.#unshared.delete(pid);
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

/** Adds a logged broadcast to `out` when it reached socket `id` in `rooms`. */
function replayEntry(entry: Logged, id: string, rooms: ReadonlySet<string>, out: Outbound[]): void {
  if (!selects(entry.target, id, rooms)) return;
  out.push(Outbound.message(entry.text));
  for (const buffer of entry.attachments) out.push(Outbound.message(buffer));
}

/**
 * A digest of a CONNECT's auth, `pid` and `offset` aside, with its keys sorted: what
 * another node compares a recovering client's auth with, without the store holding
 * the credentials.
 */
export function authDigest(auth: Readonly<Record<string, unknown>>): string {
  const { pid: _pid, offset: _offset, ...rest } = auth;
  return createHash("sha256").update(canonicalJson(rest)).digest("base64url");
}

/** JSON with every object's keys sorted (the auth was bounded in depth when decoded). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    const fields = keys.map(
      (key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`,
    );
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Whether a broadcast to `target` reached a socket `id` in `rooms` (its own id included). */
function selects(target: BroadcastTarget, id: string, rooms: ReadonlySet<string>): boolean {
  if (target.except === id) return false;
  if (target.exceptRooms?.some((room) => rooms.has(room))) return false;
  return target.rooms.length === 0 || target.rooms.some((room) => rooms.has(room));
}

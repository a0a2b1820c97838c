import { createHash, randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { LogBudget } from "../../log-budget.js";
import { metrics } from "../../metrics.js";
import type { HistoryPoint, MissedFailure } from "../../read-back.js";
import { compareStreamIds, isStreamId } from "../../stream-id.js";
import type { EngineLog } from "../engine/options.js";
import { Outbound } from "../engine/outbound.js";
import { randomId } from "../engine/random-id.js";
import { BroadcastLog, type Logged } from "./broadcast-log.js";
import { type HistoryTail, parseTail, standPointOf, tailOf } from "./history-tail.js";
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
  | "store_unavailable"
  | "history_unavailable";

/** A kept socket in the store shared by the nodes (socket.io's streams adapter's form). */
export interface SharedSession {
  readonly sid: string;
  readonly pid: string;
  /** Its rooms, its own id left out. */
  readonly rooms: readonly string[];
  readonly data: unknown;
  /**
   * Set by Switchyard nodes: the namespace and {@link authDigest} of the CONNECT's auth;
   * `h`, for a socket in rooms with a channel history, its {@link HistoryTail}
   * (anyone who can write to the store may have written it: parsed before use).
   */
  readonly swy?: { readonly nsp: string; readonly auth: string; readonly h?: unknown };
}

/** A message read back from a room's channel history, as the room's members get it. */
export interface ReplayedEvent {
  readonly event: string;
  readonly args: readonly unknown[];
  readonly except?: string | undefined;
  /** Its id in the channel's history. */
  readonly position: string;
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
  ): Promise<readonly SharedBroadcast[] | MissedFailure>;
  /** The last stream entry of `nsp` this node has delivered; undefined before the first. */
  cursor(nsp: string): string | undefined;
  /**
   * How another node can read back `room`'s broadcasts: from the stream, from its
   * channel's history (Ably), or not at all.
   */
  readBack(nsp: string, room: string): "stream" | "history" | undefined;
  /** Where this node's subscription to a history room's channel began in that history. */
  attachPoint(nsp: string, room: string): string | undefined;
  /**
   * Holds `rooms` on this node for a socket about to be restored (released as kept
   * sockets' rooms are); resolves once their channels are subscribed, rejects when one
   * cannot be.
   */
  hold(nsp: string, rooms: readonly string[]): Promise<void>;
  /** A history room's messages after `from`, oldest first, `limit` at most; or why not. */
  history(
    nsp: string,
    room: string,
    from: HistoryPoint,
    limit: number,
  ): Promise<readonly ReplayedEvent[] | MissedFailure>;
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
  /**
   * History id → the restored sockets it was replayed to, and until when this node's
   * own delivery of it is kept from them ({@link replayedTo}), oldest first.
   */
  readonly #replayed = new Map<string, { readonly sids: string[]; readonly until: number }>();
  /** Channel history reads running now (at most {@link HISTORY_READS_AT_ONCE}). */
  #historyReads = 0;
  /** Restores waiting for a history read, first come first served. */
  readonly #historyWaiting: (() => void)[] = [];

  constructor(
    options: RecoveryOptions,
    /** Told when a kept socket is dropped unrecovered: release its rooms. */
    private readonly onForget: (kept: KeptSocket) => void,
    private readonly log?: EngineLog,
  ) {
    this.options = options;
    metrics.recoverySources.add(this.#size);
  }

  readonly #size = () => ({
    kept: this.#kept.size,
    ...this.logSize(),
    historyReads: { running: this.#historyReads, waiting: this.#historyWaiting.length },
  });

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
    this.#sweepSoon();
  }

  #sweepSoon(): void {
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
  }

  /**
   * The restored sockets a message of a history room was replayed to from its channel's
   * history, when this node's own subscription delivers it after the read (its live
   * feed behind the history): they have it already. Undefined for nearly every message.
   */
  replayedTo(position: string): readonly string[] | undefined {
    if (this.#replayed.size === 0) return undefined;
    const replayed = this.#replayed.get(position);
    return replayed !== undefined && replayed.until >= Date.now() ? replayed.sids : undefined;
  }

  #noteReplayed(position: string, sid: string, until: number): void {
    const replayed = this.#replayed.get(position);
    if (replayed !== undefined) {
      replayed.sids.push(sid);
      return;
    }
    this.#replayed.set(position, { sids: [sid], until });
    this.#sweepSoon();
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
      return shared === undefined || offset.length > MAX_OFFSET_LENGTH
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
   * its rooms can be read back (from the stream, or from its channel's history), with
   * the broadcasts it missed read back up to where this node's own delivery takes over.
   */
  async #takeShared(
    shared: SharedSessions,
    nsp: string,
    auth: Readonly<Record<string, unknown>>,
  ): Promise<Taken> {
    const { pid, offset } = auth as { pid: string; offset: string };
    let session: SharedSession | undefined;
    try {
      // Looked at before it is taken: a client without the owner's credentials (or
      // with an offset the stream lost) leaves it for the owner.
      session = await shared.peek(pid);
    } catch (error) {
      this.log?.warn({ err: error }, "recovery: the shared session store cannot be asked");
      return { miss: "store_unavailable" };
    }
    if (session === undefined) return { miss: "unknown_session" };
    if (session.swy !== undefined && session.swy.nsp !== nsp) return { miss: "other_namespace" };
    if (session.swy !== undefined && session.swy.auth !== authDigest(auth)) {
      return { miss: "auth_changed" };
    }
    const stand = standPointFor(shared, session, nsp, offset);
    if (typeof stand === "string") return { miss: stand };
    const kept: KeptSocket = {
      id: session.sid,
      pid,
      nsp,
      rooms: session.rooms,
      data: session.data,
      auth,
      until: Date.now(),
    };
    let fromStream: Awaited<ReturnType<SharedSessions["after"]>>;
    try {
      fromStream = await shared.after(nsp, stand.stream, this.options.maxPackets);
    } catch (error) {
      this.log?.warn({ err: error }, "recovery: the shared session store cannot be asked");
      return { miss: "store_unavailable" };
    }
    if (typeof fromStream === "string") return { miss: fromStream };
    const log = this.logOf(nsp);
    let replay: HistoryReplay | undefined;
    if (stand.rooms.size > 0) {
      const read = await this.#readHistories(shared, kept, stand, this.options.maxPackets);
      if ("miss" in read) return read;
      replay = read;
    }
    try {
      // Another node may have taken it meanwhile: only one does.
      session = await shared.take(pid);
    } catch (error) {
      this.log?.warn({ err: error }, "recovery: the shared session store cannot be asked");
      if (replay !== undefined) this.onForget(kept);
      return { miss: "store_unavailable" };
    }
    if (session === undefined) {
      if (replay !== undefined) this.onForget(kept);
      return { miss: "unknown_session" };
    }
    const { id: sid } = kept;
    const read = fromStream;
    const rooms = new Set([sid, ...kept.rooms]);
    // Selected when the socket is restored, in the same turn as its joins: what the
    // stream read gave up to this node's cursor, then what this node delivered after
    // the read's end, then what the histories gave; everything later reaches the
    // socket live.
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
      const readTo = read.at(-1)?.offset ?? stand.stream;
      if (cursor !== undefined && compareStreamIds(cursor, readTo) > 0) {
        const logged = log.streamEntriesBetween(readTo, cursor);
        if (logged === undefined) this.#incomplete(sid, nsp, { from: readTo, to: cursor });
        for (const entry of logged ?? []) replayEntry(entry, sid, rooms, out);
      }
      if (replay !== undefined) this.#replayHistories(log, kept, rooms, replay, out);
      return out;
    };
    return {
      kept,
      missed,
      trusted: session.swy !== undefined,
      heldRooms: replay !== undefined,
    };
  }

  /**
   * Reads the history of each of a restored socket's history rooms from where its
   * client stood, with the rooms held here first (so that whatever is published after
   * the read reaches this node). A miss releases them.
   */
  async #readHistories(
    shared: SharedSessions,
    kept: KeptSocket,
    stand: SharedStandPoint,
    limit: number,
  ): Promise<HistoryReplay | { miss: RecoveryMiss }> {
    const mark = this.logOf(kept.nsp).mark();
    const histories = new Map<string, readonly ReplayedEvent[]>();
    const miss = (reason: RecoveryMiss): { miss: RecoveryMiss } => {
      this.onForget(kept);
      return { miss: reason };
    };
    try {
      await shared.hold(kept.nsp, kept.rooms);
      let budget = limit;
      for (const [room, point] of stand.rooms) {
        const read = await this.#budgetedRead(() => shared.history(kept.nsp, room, point, budget));
        if (typeof read === "string") return miss(read);
        histories.set(room, read);
        budget -= read.length;
      }
    } catch (error) {
      this.log?.warn(
        { err: error, socket: kept.id, nsp: kept.nsp },
        "recovery: a room's channel history could not be read",
      );
      return miss("history_unavailable");
    }
    return { mark, points: stand.rooms, histories };
  }

  /**
   * Runs a channel history read within the node's budget: at most
   * {@link HISTORY_READS_AT_ONCE} at once (a drain sends every client of a node to the
   * others at once, and each would read its rooms' histories), the rest waiting in turn,
   * at most {@link HISTORY_READS_WAITING} of them; past that it fails at once.
   */
  async #budgetedRead<T>(read: () => Promise<T>): Promise<T> {
    if (this.#historyReads < HISTORY_READS_AT_ONCE) this.#historyReads += 1;
    else if (this.#historyWaiting.length >= HISTORY_READS_WAITING) {
      throw new Error(`${HISTORY_READS_WAITING} channel history reads are waiting already`);
    } else {
      // Woken with the slot of a read that ended.
      await new Promise<void>((resolve) => this.#historyWaiting.push(resolve));
    }
    try {
      return await read();
    } finally {
      const next = this.#historyWaiting.shift();
      if (next !== undefined) next();
      else this.#historyReads -= 1;
    }
  }

  /**
   * Adds what the histories gave to `out`, then what reached this node on those rooms
   * since they were held and the histories did not hold yet; each as a copy logged for
   * this socket alone, so that its offsets go on rising (a later recovery from one of
   * them finds what follows).
   */
  #replayHistories(
    log: BroadcastLog,
    kept: KeptSocket,
    rooms: ReadonlySet<string>,
    replay: HistoryReplay,
    out: Outbound[],
  ): void {
    const { id: sid, nsp } = kept;
    const later = this.#loggedAfterHistories(log, kept, rooms, replay);
    const target: BroadcastTarget = { rooms: [sid] };
    const now = Date.now();
    const until = now + REPLAYED_KEPT_MS;
    for (const [room, events] of replay.histories) {
      for (const { event, args, except, position } of events) {
        if (except === sid) continue;
        this.#noteReplayed(position, sid, until);
        const [text, ...attachments] = encode({
          type: SioType.EVENT,
          nsp,
          data: [event, ...args, log.nextOffset()],
        });
        log.append(target, text, attachments, now, undefined, { rooms: [room], id: position });
        pushPacket(out, text, attachments);
      }
    }
    for (const { entry, room } of later) {
      const text = withOffset(entry.text, log.offsetOf(entry), log.nextOffset());
      if (text === undefined) continue;
      const position = { rooms: [room], id: entry.position!.id };
      log.append(target, text, entry.attachments, now, undefined, position);
      pushPacket(out, text, entry.attachments);
    }
  }

  /**
   * What this node logged on a restored socket's history rooms since they were held,
   * after the newest message each history read gave: newer than the read, in the order
   * it arrived. What it logged up to that message is in the read (or older, when this
   * node's delivery lagged behind the history).
   */
  #loggedAfterHistories(
    log: BroadcastLog,
    { id: sid, nsp }: KeptSocket,
    rooms: ReadonlySet<string>,
    replay: HistoryReplay,
  ): { entry: Logged; room: string }[] {
    const since = log.since(replay.mark);
    if (since === undefined) this.#incomplete(sid, nsp, { since: "hold" });
    const read = new Set<string>();
    const caughtUp = new Map<string, number>();
    for (const [room, point] of replay.points) {
      const events = replay.histories.get(room) ?? [];
      for (const { position } of events) read.add(position);
      const newest = events.at(-1)?.position ?? ("after" in point ? point.after : undefined);
      let at = (since?.length ?? 0) - 1;
      while (at >= 0 && since![at]!.position?.id !== newest) at--;
      caughtUp.set(room, at);
    }
    const out: { entry: Logged; room: string }[] = [];
    (since ?? []).forEach((entry, at) => {
      const position = entry.position;
      if (position === undefined || read.has(position.id)) return;
      const room = position.rooms.find((name) => caughtUp.has(name));
      if (room === undefined || at <= caughtUp.get(room)! || !selects(entry.target, sid, rooms)) {
        return;
      }
      out.push({ entry, room });
    });
    return out;
  }

  #incomplete(socket: string, nsp: string, between: Record<string, string>): void {
    metrics.recoveries.inc({ outcome: "incomplete" });
    this.log?.warn(
      { socket, nsp, ...between },
      "recovery: broadcasts between the read back and this node's log were dropped from the log; the socket is restored without them",
    );
  }

  /** Persists a kept socket in the shared store, when there is one; a failure is logged. */
  #persist(kept: KeptSocket): void {
    const shared = this.shared;
    if (shared === undefined) return;
    const historyRooms = kept.rooms.filter((room) => shared.readBack(kept.nsp, room) === "history");
    let h: HistoryTail | undefined;
    if (historyRooms.length > 0) {
      const rooms = new Set([kept.id, ...kept.rooms]);
      h = tailOf(
        this.logOf(kept.nsp),
        historyRooms,
        (entry) => selects(entry.target, kept.id, rooms),
        (room) => shared.attachPoint(kept.nsp, room),
      );
    }
    const session: SharedSession = {
      sid: kept.id,
      pid: kept.pid,
      rooms: kept.rooms,
      data: shared.portable(kept.data),
      swy: { nsp: kept.nsp, auth: authDigest(kept.auth), ...(h === undefined ? {} : { h }) },
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
      log.streamCursor = () => this.shared?.cursor(nsp);
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
    for (const [position, { until }] of this.#replayed) {
      if (until >= now) break;
      this.#replayed.delete(position);
    }
    if (this.#kept.size === 0 && this.#replayed.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

/** Channel history reads a node runs at once for restores from other nodes. */
const HISTORY_READS_AT_ONCE = 16;

/** Restores that may wait for a history read; past it one fails (`history_unavailable`). */
const HISTORY_READS_WAITING = 1000;

/** How often expired sockets are forgotten and old broadcasts dropped. */
const SWEEP_MS = 1000;

/**
 * How long a message replayed from a channel's history is kept from its socket when this
 * node's own subscription delivers it afterwards: longer than a live feed lags.
 */
const REPLAYED_KEPT_MS = 30_000;

/** Whether two CONNECT auth payloads are the same, `pid` and `offset` aside. */
function sameAuth(
  before: Readonly<Record<string, unknown>>,
  now: Readonly<Record<string, unknown>>,
): boolean {
  const { pid: _p1, offset: _o1, ...a } = before;
  const { pid: _p2, offset: _o2, ...b } = now;
  return isDeepStrictEqual(a, b);
}

/** Where a client coming back from another node stood: the stream's position and its history rooms' points. */
interface SharedStandPoint {
  readonly stream: string;
  readonly rooms: ReadonlyMap<string, HistoryPoint>;
}

/** What a restored socket's history rooms gave, and where this node's log stood when they were held. */
interface HistoryReplay {
  readonly mark: number;
  readonly points: ReadonlyMap<string, HistoryPoint>;
  readonly histories: ReadonlyMap<string, readonly ReplayedEvent[]>;
}

/** The id before every stream entry. */
const STREAM_START = "0-0";

/** Longest offset a client may name for a session kept on another node. */
const MAX_OFFSET_LENGTH = 256;

/**
 * Where a client holding `offset` stood in a session kept by another node: every room
 * must be one this node can read back, and its history rooms' points come from the
 * session's tail.
 */
function standPointFor(
  shared: SharedSessions,
  session: SharedSession,
  nsp: string,
  offset: string,
): SharedStandPoint | RecoveryMiss {
  const historyRooms: string[] = [];
  for (const room of session.rooms) {
    const readBack = shared.readBack(nsp, room);
    // A room another backend carries left no trace another node can read back.
    if (readBack === undefined) return "not_in_stream";
    if (readBack === "history") historyRooms.push(room);
  }
  // The start of the stream is where a node's tail may say a reader began, never an
  // offset a client could have been given.
  const isOffset = isStreamId(offset) && offset !== STREAM_START;
  if (historyRooms.length === 0) {
    if (offset === STREAM_START) return "offset_gone";
    return isOffset ? { stream: offset, rooms: new Map() } : "unknown_session";
  }
  const tail = parseTail(session.swy?.h);
  // Kept where the room was on another backend, or by a node that keeps no tail.
  if (tail === undefined || !sameMembers(tail.r, historyRooms)) return "not_in_stream";
  const stand = standPointOf(tail, offset);
  if (typeof stand === "string") return stand;
  const stream = stand.stream ?? (isOffset ? offset : undefined);
  if (stream === undefined) return "offset_gone";
  return { stream, rooms: stand.rooms };
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && b.every((item) => a.includes(item));
}

/** Adds an encoded packet and its attachments to `out`. */
function pushPacket(out: Outbound[], text: string, attachments: readonly Buffer[]): void {
  out.push(Outbound.message(text));
  for (const buffer of attachments) out.push(Outbound.message(buffer));
}

/**
 * A logged packet's text with its offset, its last argument, replaced; undefined if
 * it does not end with it. The packet is not decoded again: its bytes are as they went.
 */
function withOffset(text: string, offset: string, next: string): string | undefined {
  const suffix = `,${JSON.stringify(offset)}]`;
  if (!text.endsWith(suffix)) return undefined;
  return `${text.slice(0, text.length - suffix.length)},${JSON.stringify(next)}]`;
}

/** Adds a logged broadcast to `out` when it reached socket `id` in `rooms`. */
function replayEntry(entry: Logged, id: string, rooms: ReadonlySet<string>, out: Outbound[]): void {
  if (!selects(entry.target, id, rooms)) return;
  pushPacket(out, entry.text, entry.attachments);
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

import type { Redis } from "ioredis";
import { decode as msgpackDecode } from "notepack.io";
import { anyExceedsDepth, exceedsDepth } from "../../../json-depth.js";
import { isStreamId, nextStreamId } from "../../../stream-id.js";
import type { MissedFailure } from "../../backend.js";
import type { ClusterBroadcast, ClusterSessions, PersistedSession } from "../../cluster.js";
import {
  asRecord,
  asRooms,
  asString,
  encodeMsgpack,
  MalformedMessageError,
} from "./cluster-codec.js";
import type { StreamsCodec } from "./streams-codec.js";

/** How the store reads and writes; the adapter's option names where it has them. */
export interface SessionStoreOptions {
  /** The adapter's `sessionKeyPrefix` (default `sio:session:`). */
  readonly sessionKeyPrefix: string;
  /** Entries one XRANGE takes while the missed broadcasts are collected. */
  readonly readCount: number;
  /** How deep a missed broadcast's arguments may nest (`server.limits.maxDepth`). */
  readonly maxDepth: number;
  /** The id of the last entry of `stream` this node's reader handed on. */
  cursor(stream: string): string | undefined;
  /** Told of a session key holding something else than a session (it is passed over). */
  onMalformed(error: unknown, pid: string): void;
}

/** A session's encoded size at most: a session holds ids, room names and claims. */
const MAX_SESSION_BYTES = 256 * 1024;

/** The id before every entry: where a reader of an empty stream starts. */
const STREAM_START = "0-0";

/** How deep a session's history tail nests (`{t: [[…]]}`), with room to spare. */
const TAIL_DEPTH = 4;

/**
 * Connection state recovery across nodes on the Redis streams of streams mode, as
 * `@socket.io/redis-streams-adapter` 0.3 does it, so that a socket kept by one node
 * (Switchyard or socket.io) is restored by any other:
 *
 * - a kept socket is `{sid, pid, rooms, data}` in MessagePack, base64, at
 *   `<sessionKeyPrefix><pid>`, expiring with the recovery window (`rooms` with the
 *   socket's own id first, as socket.io lists them; Switchyard's `swy` rides along);
 * - it is taken with GETDEL, so a pid recovers once, on one node;
 * - the broadcasts a client missed are read back from its namespace's stream after the
 *   entry id it names. Unlike the adapter's, the read is bounded: more than `limit`
 *   missed broadcasts is a failure, not an endless loop.
 */
export class RedisSessionStore implements ClusterSessions {
  readonly #redis: () => Redis;
  readonly #codec: StreamsCodec;
  readonly #options: SessionStoreOptions;

  constructor(redis: () => Redis, codec: StreamsCodec, options: SessionStoreOptions) {
    this.#redis = redis;
    this.#codec = codec;
    this.#options = options;
  }

  cursor(nsp: string): string | undefined {
    return this.#options.cursor(this.#codec.streamOf(nsp));
  }

  /** Persists a kept socket for `ttlMs`; rejects when Redis did not take it. */
  async persist(session: PersistedSession, ttlMs: number): Promise<void> {
    const wire = {
      sid: session.sid,
      pid: session.pid,
      rooms: [session.sid, ...session.rooms],
      data: session.data,
      ...(session.swy === undefined ? {} : { swy: session.swy }),
    };
    const value = encodeMsgpack(wire).toString("base64");
    await this.#redis().set(this.#key(session.pid), value, "PX", Math.max(1, ttlMs));
  }

  /** The session `pid` names, left in place (GET); as {@link take} otherwise. */
  async peek(pid: string): Promise<PersistedSession | undefined> {
    return this.#decode(await this.#redis().get(this.#key(pid)), pid);
  }

  /**
   * Takes the session `pid` names (GETDEL: nobody else can take it after), or
   * undefined when there is none, or what is there is no session (counted, logged).
   * Rejects when Redis cannot be asked.
   */
  async take(pid: string): Promise<PersistedSession | undefined> {
    return this.#decode(await this.#redis().getdel(this.#key(pid)), pid);
  }

  #decode(raw: string | null, pid: string): PersistedSession | undefined {
    if (raw === null) return undefined;
    try {
      return this.#decodeSession(raw, pid);
    } catch (error) {
      this.#options.onMalformed(error, pid);
      return undefined;
    }
  }

  /**
   * The broadcasts to `nsp` after the entry `offset`, in stream order, each with its
   * entry id as `offset`; `offset_gone` when the stream no longer holds that entry
   * (trimmed by `maxLen`, or never there), `too_many_missed` past `limit`. Entries of
   * other namespaces and other kinds are passed over; a malformed or too deeply
   * nested one is passed over as the stream's reader passes it over.
   */
  async after(
    nsp: string,
    offset: string,
    limit: number,
  ): Promise<ClusterBroadcast[] | MissedFailure> {
    if (!isStreamId(offset)) return "offset_gone";
    const redis = this.#redis();
    const stream = this.#codec.streamOf(nsp);
    if (offset === STREAM_START) {
      // Read from before the stream's first entry (a reader that started on an empty
      // stream): whole unless Redis has trimmed it since.
      if (await this.#wasTrimmed(stream)) return "offset_gone";
    } else {
      const named = (await redis.xrange(stream, offset, offset)) as [string, unknown[]][];
      if (named.length === 0) return "offset_gone";
    }
    const out: ClusterBroadcast[] = [];
    let from = offset;
    for (;;) {
      const entries = (await redis.xrange(
        stream,
        nextStreamId(from),
        "+",
        "COUNT",
        this.#options.readCount,
      )) as [string, unknown[]][];
      for (const [id, fields] of entries) {
        const broadcast = this.#broadcastOf(nsp, id, fields);
        if (broadcast !== undefined) {
          if (out.length >= limit) return "too_many_missed";
          out.push(broadcast);
        }
        from = id;
      }
      if (entries.length < this.#options.readCount) return out;
    }
  }

  /** Whether entries were ever removed from `stream` (XINFO's `max-deleted-entry-id`). */
  async #wasTrimmed(stream: string): Promise<boolean> {
    let info: unknown[];
    try {
      info = (await this.#redis().xinfo("STREAM", stream)) as unknown[];
    } catch (error) {
      // No such key: nothing was ever added, so nothing was removed.
      if (error instanceof Error && /no such key/i.test(error.message)) return false;
      throw error;
    }
    const at = info.indexOf("max-deleted-entry-id");
    return at < 0 || info[at + 1] !== STREAM_START;
  }

  #broadcastOf(nsp: string, id: string, fields: unknown[]): ClusterBroadcast | undefined {
    try {
      const entry = this.#codec.parseEntry(fields);
      if (entry.nsp !== nsp) return undefined;
      const inbound = this.#codec.decodeEntry(id, entry, { own: true });
      if (inbound.type !== "broadcast" || inbound.broadcast.volatile) return undefined;
      if (anyExceedsDepth(inbound.broadcast.args, this.#options.maxDepth)) return undefined;
      return inbound.broadcast;
    } catch {
      // The reader counted and logged it when it went by; it reached nobody then either.
      return undefined;
    }
  }

  #key(pid: string): string {
    return `${this.#options.sessionKeyPrefix}${pid}`;
  }

  #decodeSession(raw: string, pid: string): PersistedSession {
    if (raw.length > (MAX_SESSION_BYTES * 4) / 3 + 4) {
      throw new MalformedMessageError("the session is larger than a session can be");
    }
    const record = asRecord(msgpackDecode(Buffer.from(raw, "base64")), "session");
    const sid = asString(record.sid, "session.sid");
    if (asString(record.pid, "session.pid") !== pid) {
      throw new MalformedMessageError("the session names another pid");
    }
    if (exceedsDepth(record.data, this.#options.maxDepth)) {
      throw new MalformedMessageError("the session's data nests too deep");
    }
    const rooms = asRooms(record.rooms, "session.rooms").filter((room) => room !== sid);
    let swy: PersistedSession["swy"];
    if (record.swy !== undefined) {
      const own = asRecord(record.swy, "session.swy");
      if (exceedsDepth(own.h, TAIL_DEPTH)) {
        throw new MalformedMessageError("the session's history tail nests too deep");
      }
      swy = {
        nsp: asString(own.nsp, "session.swy.nsp"),
        auth: asString(own.auth, "session.swy.auth"),
        // Where the socket stood in its rooms' channel histories: checked by its reader.
        ...(own.h === undefined ? {} : { h: own.h }),
      };
    }
    return { sid, pid, rooms, data: record.data ?? {}, ...(swy === undefined ? {} : { swy }) };
  }
}

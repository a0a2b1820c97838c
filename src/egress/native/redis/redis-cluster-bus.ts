import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { hasBinary, hasPlaceholder } from "../../../binary.js";
import { SwitchyardError } from "../../../errors.js";
import { anyExceedsDepth } from "../../../json-depth.js";
import { metrics, type Tally } from "../../../metrics.js";
import type { BackendHealth } from "../../backend.js";
import type {
  ClusterBroadcast,
  ClusterSessions,
  ClusterSink,
  ClusterSocket,
  ClusterView,
  SocketSelector,
} from "../../cluster.js";
import { ClassicCodec } from "./classic-codec.js";
import type {
  ChannelRole,
  ClusterCodec,
  Inbound,
  Listening,
  Outbound,
  Reply,
  ReplyOut,
  StreamOutbound,
} from "./cluster-codec.js";
import { PublishBatch } from "./publish-batch.js";
import {
  NATIVE_REDIS_STREAMS_DEFAULTS,
  type NativeRedisSettings,
  type NativeRedisStreamsSettings,
} from "./redis-settings.js";
import { RedisSessionStore } from "./session-store.js";
import { ShardedCodec } from "./sharded-codec.js";
import { type StreamReadEntry, StreamReader } from "./stream-reader.js";
import { type StreamEntry, StreamsCodec } from "./streams-codec.js";

/** A request this node made and the replies it still waits for. */
interface PendingRequest {
  readonly replies: Reply[];
  readonly expected: number;
  resolve(replies: Reply[]): void;
  reject(error: unknown): void;
  readonly timer: NodeJS.Timeout;
}

/** The reader exists in streams mode only. */
type Connection = "publisher" | "subscriber" | "reader";

/**
 * This node as a member of a socket.io cluster on Redis, speaking
 * `@socket.io/redis-adapter`'s protocol (classic or sharded) or
 * `@socket.io/redis-streams-adapter`'s (streams), see the codecs.
 *
 * - Two ioredis connections, neither with an offline queue: a publish while Redis
 *   is down fails at once, never waits unseen, and a subscription change while the
 *   subscriber is down is only recorded: this bus holds the channels it wants and
 *   subscribes them all again whenever the subscriber (re)connects, so nothing piles
 *   up in memory however long Redis stays away.
 * - For every namespace it is told to listen on, it listens exactly where the
 *   adapter does, so Redis counts it among the servers of that namespace, and it
 *   answers every request from other nodes once (requests it made itself are
 *   never answered). Whatever it receives is handed to the {@link ClusterSink}.
 * - It is ready only while both connections are ready and the subscriber has
 *   confirmed its subscriptions after (re)connecting.
 * - Streams mode adds a third connection, the {@link StreamReader}'s, which reads
 *   the streams of the namespaces listened on (it counts for readiness too); what
 *   it reads is handed to the sink like the rest, broadcasts with their entry id as
 *   `offset`, and this node's broadcasts are XADDed to the stream rather than
 *   published.
 */
export class RedisClusterBus implements ClusterView {
  readonly #name: string;
  readonly #settings: NativeRedisSettings;
  readonly #log: Logger;
  readonly #maxDepth: number;
  readonly #codec: ClusterCodec;
  readonly #isSharded: boolean;
  /** The codec again, in streams mode: it also reads and writes stream entries. */
  readonly #streams: StreamsCodec | undefined;
  #sink: ClusterSink | undefined;
  #pub: Redis | undefined;
  /** Classic mode's broadcasts on their way to Redis (see PublishBatch). */
  readonly #batch: PublishBatch | undefined;
  #sub: Redis | undefined;
  #reader: Redis | undefined;
  #streamReader: StreamReader | undefined;
  #isPubReady = false;
  #isSubReady = false;
  #isReaderReady = false;
  /** Each connection's last error ("connect ECONNREFUSED 127.0.0.1:6379") while it is not ready. */
  readonly #lastErrors = new Map<Connection, string>();
  #isClosed = false;
  /** Namespaces listened on, with what was subscribed for each. */
  readonly #listened = new Map<string, Listening>();
  /** SUBSCRIBE/SSUBSCRIBE channel → its namespace and role. */
  readonly #channels = new Map<string, { nsp: string; role: ChannelRole }>();
  /** PSUBSCRIBE pattern → its namespace. */
  readonly #patterns = new Map<string, string>();
  /** Rooms with local members by namespace, as the backend's subscriptions say. */
  readonly #rooms = new Map<string, Set<string>>();
  readonly #pending = new Map<string, PendingRequest>();
  #readyWaiters: (() => void)[] = [];
  /**
   * Streams mode with recovery across nodes ({@link sessions}): this node's own
   * broadcasts reach its sockets from the stream, like everyone's.
   */
  #deliversOwn = false;
  #sessions: RedisSessionStore | undefined;
  /** Publications Redis accepted: counted once each, so a tally (src/metrics.ts). */
  readonly #published: Tally;
  readonly #receivedByType = new Map<string, Tally>();

  /**
   * @param maxDepth How deep a broadcast's arguments from another node may nest; a
   *   deeper one is dropped (counted as `too_deep`) rather than sent on to clients.
   */
  constructor(name: string, settings: NativeRedisSettings, log: Logger, maxDepth: number) {
    this.#name = name;
    this.#published = metrics.nativeRedisPublished.tally({ backend: name });
    this.#settings = settings;
    this.#log = log;
    this.#maxDepth = maxDepth;
    this.#isSharded = settings.mode === "sharded";
    if (settings.mode === "streams") {
      this.#streams = new StreamsCodec(settings.key, streamsSettings(settings));
      this.#codec = this.#streams;
    } else {
      this.#codec = this.#isSharded
        ? new ShardedCodec(settings.key, settings.subscriptionMode)
        : new ClassicCodec(settings.key);
    }
    // Sharded mode is not batched: the shard channels of one batch hash to different
    // slots of a Redis Cluster, and one script runs on one shard.
    if (settings.mode === "classic") {
      // Tallies: in the fallback, a command is counted per publication.
      const commands = {
        eval: metrics.nativeRedisPublishCommands.tally({ backend: name, command: "eval" }),
        publish: metrics.nativeRedisPublishCommands.tally({ backend: name, command: "publish" }),
      };
      this.#batch = new PublishBatch(() => this.#requirePublisher(), {
        scriptsRefused: (error) =>
          this.#log.warn(
            { err: error },
            "native redis: Redis refuses scripts; broadcasts go out one PUBLISH each",
          ),
        sent: (command, count) => commands[command].add(count),
      });
    }
  }

  /** This node's uid on the wire (one per backend instance, for every namespace). */
  get uid(): string {
    return this.#codec.uid;
  }

  /**
   * Connects, listens on `namespaces`, and resolves once every connection is ready
   * or after `requestsTimeout` with the bus not ready (ioredis keeps trying).
   */
  async start(sink: ClusterSink, namespaces: readonly string[]): Promise<void> {
    this.#sink = sink;
    const { url, requestsTimeout } = this.#settings;
    const pub = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      // A publication in flight when the connection drops is not sent again after
      // the reconnection, out of order with what was published since; the command
      // timeout makes it fail instead.
      autoResendUnfulfilledCommands: false,
      commandTimeout: requestsTimeout,
      // Sharded and streams modes: every command sent in one event-loop turn goes out
      // in one write (a burst of publications from one read of client frames costs one
      // syscall, not one each). Order is kept: every command this connection sends in a
      // turn is pipelined (the exceptions, CLIENT and QUIT, follow no command they must
      // stay behind). Classic mode batches its broadcasts itself (PublishBatch), and
      // writes each batch at once, ahead of the turn's socket writes.
      enableAutoPipelining: this.#batch === undefined,
    });
    // Subscriptions are this bus's own state (#patterns, #channels), sent again on
    // every connection by #resubscribe; none waits in an ioredis queue.
    const sub = new Redis(url, {
      lazyConnect: true,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: null,
    });
    this.#pub = pub;
    this.#sub = sub;
    if (this.#streams !== undefined) this.#startReader(url, requestsTimeout, pub);
    this.#watch(pub, "publisher");
    this.#watch(sub, "subscriber");
    sub.on("pmessageBuffer", (pattern: string, channel: Buffer, message: Buffer) =>
      this.#onPatternMessage(pattern, channel, message),
    );
    sub.on("messageBuffer", (channel: Buffer, message: Buffer) =>
      this.#onChannelMessage(channel, message),
    );
    sub.on("smessageBuffer", (channel: Buffer, message: Buffer) =>
      this.#onChannelMessage(channel, message),
    );
    const ready = this.whenReady();
    // Failures surface as `error` events and reconnection attempts.
    pub.connect().catch(() => {});
    sub.connect().catch(() => {});
    this.#reader?.connect().catch(() => {});
    const listening = this.setNamespaces(namespaces).catch((error: unknown) => {
      this.#log.warn({ err: error }, "native redis: listening failed; it is retried on reconnect");
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), requestsTimeout);
    });
    const outcome = await Promise.race([Promise.all([ready, listening]), timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.#log.warn(
        { timeout: requestsTimeout, reason: this.health().reason },
        "native redis not ready yet; the backend reports not ready and keeps trying",
      );
    }
  }

  /** Resolves the next time every connection is ready (at once if they are). */
  whenReady(): Promise<void> {
    if (this.health().isReady) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  health(): BackendHealth {
    if (this.#isClosed) return { isReady: false, reason: "closed" };
    if (this.#pub === undefined || this.#sub === undefined) {
      return { isReady: false, reason: "not started" };
    }
    // ioredis emits its events a tick after the fact, and a connection the server
    // closed stops being writable before ioredis calls it closed: check all three.
    const connections: [Redis, boolean, Connection][] = [
      [this.#pub, this.#isPubReady, "publisher"],
      [this.#sub, this.#isSubReady, "subscriber"],
    ];
    if (this.#reader !== undefined) connections.push([this.#reader, this.#isReaderReady, "reader"]);
    for (const [redis, isReady, connection] of connections) {
      if (isUsable(redis, isReady)) continue;
      const error = this.#lastErrors.get(connection);
      const why = error === undefined ? "" : ` (${error})`;
      return { isReady: false, reason: `redis ${connection} connection is ${redis.status}${why}` };
    }
    return { isReady: true };
  }

  /**
   * Listens on exactly `namespaces`: new ones are subscribed, dropped ones unsubscribed;
   * in streams mode their streams are read from now on.
   */
  async setNamespaces(namespaces: readonly string[]): Promise<void> {
    const wanted = new Set(namespaces);
    const work: Promise<void>[] = [];
    const streams = this.#streams;
    if (streams !== undefined) {
      work.push(
        this.#streamReader?.setStreams([...wanted].map((nsp) => streams.streamOf(nsp))) ??
          Promise.resolve(),
      );
    }
    for (const nsp of this.#listened.keys()) {
      if (!wanted.has(nsp)) work.push(this.#unlisten(nsp));
    }
    for (const nsp of wanted) {
      if (!this.#listened.has(nsp)) work.push(this.#listen(nsp));
    }
    await Promise.all(work);
  }

  /**
   * `room` of `nsp` has local members now: messages on its own channel are decoded
   * (classic), or its channel is listened on (sharded `dynamic` modes).
   */
  async addRoom(nsp: string, room: string): Promise<void> {
    let rooms = this.#rooms.get(nsp);
    if (rooms === undefined) {
      rooms = new Set();
      this.#rooms.set(nsp, rooms);
    }
    if (rooms.has(room)) return;
    rooms.add(room);
    if (this.#listened.has(nsp)) await this.#listenRoom(nsp, room);
  }

  /** `room` of `nsp` has no local members any more. */
  async removeRoom(nsp: string, room: string): Promise<void> {
    const rooms = this.#rooms.get(nsp);
    if (rooms === undefined || !rooms.delete(room)) return;
    if (rooms.size === 0) this.#rooms.delete(nsp);
    if (this.#listened.has(nsp)) await this.#unlistenRoom(nsp, room);
  }

  /**
   * Publishes `io.to(room).except(except).emit(event, ...args)` as a socket.io node
   * would. Resolves once Redis accepted it; {@link publishWithOffset} tells the entry id.
   *
   * @throws SwitchyardError as {@link publishWithOffset}.
   */
  publish(
    nsp: string,
    room: string,
    except: readonly string[],
    event: string,
    args: readonly unknown[],
  ): Promise<void> {
    return this.publishWithOffset(nsp, room, except, event, args).then(NOTHING);
  }

  /**
   * {@link publish}, resolving with the id XADD gave the entry in streams mode (the
   * offset a recovering client names), with `undefined` in the other modes.
   *
   * One promise chain, no `async` layers: this runs once per publication.
   *
   * @throws SwitchyardError SWY_NATIVE_REDIS_UNAVAILABLE when Redis is unreachable,
   *   SWY_NATIVE_REDIS_ENCODE_FAILED when the arguments cannot be encoded,
   *   SWY_NATIVE_REDIS_CLOSED after {@link close}.
   */
  publishWithOffset(
    nsp: string,
    room: string,
    except: readonly string[],
    event: string,
    args: readonly unknown[],
  ): Promise<string | undefined> {
    if (this.#isClosed) {
      return Promise.reject(
        this.#publishFailure("closed", new SwitchyardError("SWY_NATIVE_REDIS_CLOSED")),
      );
    }
    let outbound: Outbound | StreamOutbound;
    try {
      outbound = this.#codec.encodeBroadcast(nsp, room, except, event, args);
    } catch (error) {
      return Promise.reject(
        this.#publishFailure(
          "encode",
          new SwitchyardError("SWY_NATIVE_REDIS_ENCODE_FAILED", [event, describe(error)], {
            cause: error,
          }),
          { nsp, room, event },
        ),
      );
    }
    let sent: Promise<unknown>;
    try {
      sent =
        this.#batch !== undefined && "channel" in outbound
          ? this.#batch.add(outbound.channel, outbound.payload)
          : this.#send(outbound);
    } catch (error) {
      sent = Promise.reject(error);
    }
    return sent.then(
      (reply) => {
        this.#published.add();
        return typeof reply === "string" ? reply : undefined;
      },
      (error: unknown) => {
        throw this.#publishFailure(
          "unavailable",
          new SwitchyardError("SWY_NATIVE_REDIS_UNAVAILABLE", [], { cause: error }),
          { nsp, room, event },
        );
      },
    );
  }

  /**
   * Connection state recovery across nodes (streams mode only; undefined otherwise).
   * From the first call on, this node's own broadcasts are handed to the sink when the
   * reader reads them back, in stream order, so that every socket of every node sees
   * one order and {@link ClusterSessions.cursor} splits what a restored socket missed
   * from what it is yet to get.
   */
  sessions(): ClusterSessions | undefined {
    const streams = this.#streams;
    if (streams === undefined) return undefined;
    this.#deliversOwn = true;
    this.#sessions ??= new RedisSessionStore(() => this.#requirePublisher(), streams, {
      sessionKeyPrefix: streamsSettings(this.#settings).sessionKeyPrefix,
      readCount: streamsSettings(this.#settings).readCount,
      maxDepth: this.#maxDepth,
      cursor: (stream) => this.#streamReader?.cursor(stream),
      onMalformed: (error) => this.#onMalformed(error, { sessionKey: true }),
    });
    return this.#sessions;
  }

  /** Whether this node's own broadcasts reach its sockets from the stream ({@link sessions}). */
  get deliversOwn(): boolean {
    return this.#deliversOwn;
  }

  /**
   * Nodes counted in `nsp` by Redis: subscribers of the request channel (classic,
   * `PUBSUB NUMSUB`) or of the namespace channel (sharded, `PUBSUB SHARDNUMSUB`;
   * streams, `PUBSUB NUMSUB`).
   * This node counts once it listens on `nsp`.
   */
  async serverCount(nsp: string): Promise<number> {
    const pub = this.#requirePublisher();
    const command = this.#isSharded ? "SHARDNUMSUB" : "NUMSUB";
    try {
      const reply = (await pub.call("PUBSUB", command, this.#codec.countChannel(nsp))) as unknown[];
      return Number.parseInt(String(reply[1]), 10);
    } catch (error) {
      metrics.nativeRedisRequestFailures.inc({
        backend: this.#name,
        request: "server_count",
        reason: "unavailable",
      });
      throw new SwitchyardError("SWY_NATIVE_REDIS_UNAVAILABLE", [], {
        cause: error,
      });
    }
  }

  /**
   * Every room of `nsp` on every node: classic asks with the adapter's ALL_ROOMS
   * request; the sharded and streams protocols have none, so there the rooms of every socket
   * (FETCH_SOCKETS) stand in, which leaves out rooms a node keeps without sockets.
   */
  async clusterRooms(nsp: string): Promise<string[]> {
    const sink = this.#requireListening(nsp);
    const rooms = new Set(sink.rooms(nsp));
    const requestId = newRequestId();
    const allRooms = this.#codec.encodeAllRooms(nsp, requestId);
    const replies =
      allRooms === undefined
        ? await this.#request(nsp, "fetch sockets", requestId, () =>
            this.#codec.encodeFetchSockets(nsp, requestId, { nsp, rooms: [], except: [] }),
          )
        : await this.#request(nsp, "all rooms", requestId, () => allRooms);
    for (const reply of replies) {
      for (const room of reply.rooms ?? []) rooms.add(room);
      for (const socket of reply.sockets ?? []) {
        for (const room of socket.rooms) rooms.add(room);
      }
    }
    return [...rooms];
  }

  /** Every socket of the cluster `selector` targets, this node's first. */
  async clusterSockets(selector: SocketSelector): Promise<ClusterSocket[]> {
    const sink = this.#requireListening(selector.nsp);
    const sockets = [...sink.fetchSockets(selector)];
    const requestId = newRequestId();
    const replies = await this.#request(selector.nsp, "fetch sockets", requestId, () =>
      this.#codec.encodeFetchSockets(selector.nsp, requestId, selector),
    );
    for (const reply of replies) sockets.push(...(reply.sockets ?? []));
    return sockets;
  }

  /** Unsubscribes, fails the requests still waiting, and closes the connections. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    // Publications of this turn go out before the connection's QUIT.
    this.#batch?.flush();
    this.#isClosed = true;
    for (const [requestId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new SwitchyardError("SWY_NATIVE_REDIS_CLOSED"));
      this.#pending.delete(requestId);
    }
    const sub = this.#sub;
    const pub = this.#pub;
    // Both steps are bounded: a connection that just lost its server would otherwise
    // hold its commands until a reconnection that may never come.
    const limit = this.#settings.requestsTimeout;
    if (sub !== undefined && isUsable(sub, this.#isSubReady)) {
      try {
        await bounded(this.setNamespaces([]), limit);
      } catch (error) {
        this.#log.debug({ err: error }, "native redis: unsubscribing at close failed");
      }
    }
    // A QUIT would wait behind the blocked XREAD: the reader is dropped at once.
    this.#reader?.disconnect();
    await Promise.all([quit(sub, limit), quit(pub, limit), this.#streamReader?.close()]);
    const connections: Connection[] = ["publisher", "subscriber"];
    if (this.#reader !== undefined) connections.push("reader");
    for (const connection of connections) {
      metrics.nativeRedisConnected.set({ backend: this.#name, connection }, 0);
    }
    this.#sink = undefined;
  }

  /** Streams mode: the reader's connection and loop, watched like the other two. */
  #startReader(url: string, requestsTimeout: number, pub: Redis): void {
    const settings = streamsSettings(this.#settings);
    // No command timeout: an XREAD blocks for blockTimeInMs by design; the reader's
    // own deadline catches a connection that died without a word.
    const reader = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: null,
    });
    this.#reader = reader;
    this.#streamReader = new StreamReader(reader, {
      readCount: settings.readCount,
      blockTimeInMs: settings.blockTimeInMs,
      graceMs: requestsTimeout,
      onEntries: (stream, entries) => this.#onStreamEntries(stream, entries),
      onReadFailure: (error) => {
        metrics.nativeRedisStreamReadFailures.inc({ backend: this.#name });
        this.#log.warn({ err: error }, "native redis: reading the stream failed; retrying");
      },
      unblock: (clientId) => pub.client("UNBLOCK", clientId),
    });
    this.#watch(reader, "reader");
    this.#streamReader.start();
  }

  #watch(redis: Redis, connection: Connection): void {
    const labels = { backend: this.#name, connection };
    metrics.nativeRedisConnected.set(labels, 0);
    let wasReady = false;
    let hasLoggedError = false;
    redis.on("ready", () => {
      if (connection === "publisher") {
        this.#onConnectionReady(connection, labels, wasReady);
        wasReady = true;
        hasLoggedError = false;
        return;
      }
      // A PING answered after the subscriptions proves they are in place before the
      // node counts as ready; the reader is ready once it knows where to read from.
      const preparing =
        connection === "subscriber"
          ? this.#resubscribe(redis).then(() => redis.ping())
          : (this.#streamReader?.onConnected() ?? Promise.resolve());
      preparing.then(
        () => {
          if (redis.status !== "ready" || this.#isClosed) return;
          this.#onConnectionReady(connection, labels, wasReady);
          wasReady = true;
          hasLoggedError = false;
        },
        () => {},
      );
    });
    const onDown = (): void => {
      if (connection === "publisher") this.#isPubReady = false;
      else if (connection === "subscriber") this.#isSubReady = false;
      else {
        this.#isReaderReady = false;
        this.#streamReader?.onDisconnected();
      }
      metrics.nativeRedisConnected.set(labels, 0);
    };
    redis.on("close", onDown);
    redis.on("end", onDown);
    redis.on("error", (error: Error) => {
      if (this.#isClosed) return;
      this.#lastErrors.set(connection, error.message);
      // ioredis reports every failed reconnection attempt; one warning per outage.
      if (hasLoggedError) {
        this.#log.debug({ err: error, connection }, "native redis connection error");
      } else {
        hasLoggedError = true;
        this.#log.warn({ err: error, connection }, "native redis connection lost; reconnecting");
      }
    });
  }

  #onConnectionReady(
    connection: Connection,
    labels: { backend: string; connection: Connection },
    wasReady: boolean,
  ): void {
    if (connection === "publisher") this.#isPubReady = true;
    else if (connection === "subscriber") this.#isSubReady = true;
    else this.#isReaderReady = true;
    this.#lastErrors.delete(connection);
    metrics.nativeRedisConnected.set(labels, 1);
    if (wasReady) {
      metrics.nativeRedisReconnects.inc(labels);
      this.#log.info({ connection }, "native redis connection back");
    }
    if (!this.health().isReady) return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Sends every subscription this bus wants on a connection that just became ready. */
  async #resubscribe(sub: Redis): Promise<void> {
    const patterns = [...this.#patterns.keys()];
    const channels = [...this.#channels.keys()];
    const work: Promise<unknown>[] = [];
    if (patterns.length > 0) work.push(sub.psubscribe(...patterns));
    if (this.#isSharded) for (const channel of channels) work.push(sub.ssubscribe(channel));
    else if (channels.length > 0) work.push(sub.subscribe(...channels));
    await Promise.all(work);
  }

  /** The subscriber, when commands can be sent on it now; else they wait for #resubscribe. */
  #liveSubscriber(): Redis | undefined {
    const sub = this.#sub;
    return sub !== undefined && sub.status === "ready" ? sub : undefined;
  }

  async #listen(nsp: string): Promise<void> {
    if (this.#sub === undefined) return;
    const listening = this.#codec.listening(nsp);
    this.#listened.set(nsp, listening);
    for (const pattern of listening.patterns) this.#patterns.set(pattern, nsp);
    for (const { channel, role } of listening.channels) this.#channels.set(channel, { nsp, role });
    const channels = listening.channels.map(({ channel }) => channel);
    const sub = this.#liveSubscriber();
    if (sub === undefined) {
      for (const room of this.#rooms.get(nsp) ?? []) void this.#listenRoom(nsp, room);
      return;
    }
    const work: Promise<unknown>[] = [];
    if (listening.patterns.length > 0) work.push(sub.psubscribe(...listening.patterns));
    if (this.#isSharded) {
      // One SSUBSCRIBE per channel: on a Redis Cluster they may live on different shards.
      for (const channel of channels) work.push(sub.ssubscribe(channel));
      for (const room of this.#rooms.get(nsp) ?? []) work.push(this.#listenRoom(nsp, room));
    } else {
      work.push(sub.subscribe(...channels));
    }
    await Promise.all(work);
  }

  async #unlisten(nsp: string): Promise<void> {
    const listening = this.#listened.get(nsp);
    if (this.#sub === undefined || listening === undefined) return;
    this.#listened.delete(nsp);
    const channels = listening.channels.map(({ channel }) => channel);
    const sub = this.#liveSubscriber();
    if (sub === undefined) {
      for (const room of this.#rooms.get(nsp) ?? []) void this.#unlistenRoom(nsp, room);
      for (const pattern of listening.patterns) this.#patterns.delete(pattern);
      for (const channel of channels) this.#channels.delete(channel);
      return;
    }
    const work: Promise<unknown>[] = [];
    if (this.#isSharded) {
      for (const room of this.#rooms.get(nsp) ?? []) work.push(this.#unlistenRoom(nsp, room));
      for (const channel of channels) work.push(sub.sunsubscribe(channel));
    } else {
      work.push(sub.unsubscribe(...channels));
    }
    if (listening.patterns.length > 0) work.push(sub.punsubscribe(...listening.patterns));
    await Promise.all(work);
    for (const pattern of listening.patterns) this.#patterns.delete(pattern);
    for (const channel of channels) this.#channels.delete(channel);
  }

  async #listenRoom(nsp: string, room: string): Promise<void> {
    const channel = this.#codec.roomListening(nsp, room);
    if (channel === undefined) return;
    this.#channels.set(channel, { nsp, role: "broadcast" });
    await this.#liveSubscriber()?.ssubscribe(channel);
  }

  async #unlistenRoom(nsp: string, room: string): Promise<void> {
    const channel = this.#codec.roomListening(nsp, room);
    if (channel === undefined) return;
    this.#channels.delete(channel);
    await this.#liveSubscriber()?.sunsubscribe(channel);
  }

  #onPatternMessage(pattern: string, channel: Buffer, payload: Buffer): void {
    const nsp = this.#patterns.get(pattern);
    if (nsp === undefined) return;
    // This node's own broadcasts come back to it: left before anything else.
    if (this.#codec.isOwn(payload)) return;
    const room = this.#codec.roomOfChannel(nsp, channel.toString());
    // The adapter's shortcut: a message for one room this node has no member of
    // is dropped before it is decoded. A socket id is the room of its socket.
    if (room !== undefined && this.#rooms.get(nsp)?.has(room) !== true) {
      const sink = this.#sink;
      if (sink === undefined || !sink.hasSocket(nsp, room)) return;
    }
    this.#onMessage(nsp, "broadcast", payload);
  }

  #onChannelMessage(channel: Buffer, payload: Buffer): void {
    const target = this.#channels.get(channel.toString());
    if (target === undefined || this.#codec.isOwn(payload)) return;
    this.#onMessage(target.nsp, target.role, payload);
  }

  #onMessage(nsp: string, role: ChannelRole, payload: Buffer): void {
    const sink = this.#sink;
    if (sink === undefined || this.#isClosed) return;
    let inbound: Inbound;
    try {
      inbound = this.#codec.decode(nsp, role, payload);
    } catch (error) {
      this.#onMalformed(error, { nsp, role });
      return;
    }
    this.#act(sink, nsp, inbound);
  }

  /**
   * Entries of one stream, in order (streams mode). Each is checked on its own: a
   * malformed one is counted and dropped, and the next ones still arrive.
   */
  #onStreamEntries(stream: string, entries: readonly StreamReadEntry[]): void {
    const sink = this.#sink;
    const codec = this.#streams;
    if (sink === undefined || codec === undefined || this.#isClosed) return;
    for (const [id, fields] of entries) {
      let entry: StreamEntry;
      let inbound: Inbound;
      try {
        entry = codec.parseEntry(fields);
        // Own entries (unless they are delivered from here) and other namespaces' are
        // left before their data is decoded.
        const isOwn = entry.uid === codec.uid;
        if (isOwn && !this.#deliversOwn) continue;
        if (!this.#listened.has(entry.nsp)) {
          metrics.nativeRedisStreamIgnored.inc({ backend: this.#name, reason: "other_namespace" });
          continue;
        }
        inbound = codec.decodeEntry(id, entry, { own: isOwn });
        // This node applied its own joins, leaves and disconnects when it sent them.
        if (isOwn && inbound.type !== "broadcast") continue;
      } catch (error) {
        this.#onMalformed(error, { stream, id });
        continue;
      }
      this.#act(sink, entry.nsp, inbound);
    }
  }

  /** The tally of received messages of this type (made once per type). */
  #received(type: Inbound["type"]): Tally {
    let tally = this.#receivedByType.get(type);
    if (tally === undefined) {
      tally = metrics.nativeRedisReceived.tally({ backend: this.#name, type });
      this.#receivedByType.set(type, tally);
    }
    return tally;
  }

  #onMalformed(error: unknown, context: Record<string, unknown>): void {
    metrics.nativeRedisReceiveErrors.inc({ backend: this.#name, reason: "malformed" });
    this.#log.warn({ err: error, ...context }, "native redis: malformed message dropped");
  }

  /** Checks a decoded message from another node and hands it to the sink. */
  #act(sink: ClusterSink, nsp: string, inbound: Inbound): void {
    if (inbound.type === "ignored") return;
    if (inbound.type === "broadcast" || inbound.type === "broadcast-with-ack") {
      const problem = unsafeArgs(inbound.broadcast.args, this.#maxDepth);
      if (problem !== undefined) {
        metrics.nativeRedisReceiveErrors.inc({ backend: this.#name, reason: problem });
        this.#log.warn({ nsp, reason: problem }, "native redis: broadcast dropped");
        return;
      }
    }
    this.#received(inbound.type).add();
    try {
      this.#handle(sink, nsp, inbound);
    } catch (error) {
      metrics.nativeRedisReceiveErrors.inc({ backend: this.#name, reason: "sink" });
      this.#log.error({ err: error, nsp, type: inbound.type }, "native redis: handling failed");
    }
  }

  #handle(sink: ClusterSink, nsp: string, inbound: Inbound): void {
    switch (inbound.type) {
      case "broadcast":
        sink.broadcast(inbound.broadcast);
        return;
      case "broadcast-with-ack":
        this.#broadcastWithAck(
          sink,
          nsp,
          inbound.from,
          inbound.requestId,
          inbound.broadcast,
          inbound.timeoutMs,
        );
        return;
      case "join":
        sink.joinSockets(inbound.selector, inbound.rooms);
        return;
      case "leave":
        sink.leaveSockets(inbound.selector, inbound.rooms);
        return;
      case "disconnect":
        sink.disconnectSockets(inbound.selector, inbound.close);
        return;
      case "legacy-join":
      case "legacy-leave":
      case "legacy-disconnect": {
        // The 7.x form names one socket; only the node that has it acts and answers.
        const selector = { nsp, rooms: [inbound.sid], except: [] };
        if (!sink.fetchSockets(selector).some((socket) => socket.id === inbound.sid)) return;
        if (inbound.type === "legacy-disconnect") sink.disconnectSockets(selector, inbound.close);
        else if (inbound.type === "legacy-join") sink.joinSockets(selector, [inbound.room]);
        else sink.leaveSockets(selector, [inbound.room]);
        this.#reply(nsp, "", { kind: "done", requestId: inbound.requestId });
        return;
      }
      case "all-rooms":
        if (this.#pending.has(inbound.requestId)) return;
        this.#reply(nsp, inbound.from, {
          kind: "rooms",
          requestId: inbound.requestId,
          rooms: sink.rooms(nsp),
        });
        return;
      case "fetch-sockets":
        if (this.#pending.has(inbound.requestId)) return;
        this.#reply(nsp, inbound.from, {
          kind: "sockets",
          requestId: inbound.requestId,
          sockets: sink.fetchSockets(inbound.selector),
        });
        return;
      case "legacy-sockets":
        this.#reply(nsp, "", {
          kind: "socket-ids",
          requestId: inbound.requestId,
          ids: sink.fetchSockets({ nsp, rooms: inbound.rooms, except: [] }).map((s) => s.id),
        });
        return;
      case "server-side-emit":
        // This node has no server-side listeners: like a socket.io server without
        // any, it neither acts nor answers (an acked emit counts it as silent).
        return;
      case "reply":
        this.#onReply(inbound.reply);
        return;
    }
  }

  #broadcastWithAck(
    sink: ClusterSink,
    nsp: string,
    from: string,
    requestId: string,
    broadcast: ClusterBroadcast,
    timeoutMs: number | undefined,
  ): void {
    if (this.#pending.has(requestId)) return;
    // The requester waits for exactly one count per node, even 0 and even on failure.
    let isCounted = false;
    const onCount = (count: number): void => {
      if (isCounted) return;
      isCounted = true;
      this.#reply(nsp, from, { kind: "count", requestId, clientCount: count });
    };
    try {
      sink.broadcastWithAck(
        broadcast,
        timeoutMs ?? this.#settings.requestsTimeout,
        onCount,
        (arg) => this.#reply(nsp, from, { kind: "ack", requestId, arg }),
      );
    } finally {
      onCount(0);
    }
  }

  #reply(nsp: string, to: string, reply: ReplyOut): void {
    let outbound: Outbound | undefined;
    try {
      outbound = this.#codec.encodeReply(nsp, to, reply);
    } catch (error) {
      this.#publishFailure(
        "reply",
        new SwitchyardError("SWY_NATIVE_REDIS_ENCODE_FAILED", [reply.kind, describe(error)], {
          cause: error,
        }),
        { nsp },
      );
      return;
    }
    if (outbound === undefined) return;
    const failed = (error: unknown): void => {
      this.#publishFailure(
        "reply",
        new SwitchyardError("SWY_NATIVE_REDIS_UNAVAILABLE", [], { cause: error }),
        { nsp, reply: reply.kind },
      );
    };
    try {
      this.#send(outbound).catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  #onReply(reply: Reply): void {
    const pending = this.#pending.get(reply.requestId);
    if (pending === undefined) return;
    pending.replies.push(reply);
    if (pending.replies.length < pending.expected) return;
    clearTimeout(pending.timer);
    this.#pending.delete(reply.requestId);
    pending.resolve(pending.replies);
  }

  /** Sends a request and collects one reply per other node counted in `nsp`. */
  async #request(
    nsp: string,
    what: string,
    requestId: string,
    encode: () => Outbound,
  ): Promise<Reply[]> {
    const expected = (await this.serverCount(nsp)) - 1;
    if (expected <= 0) return [];
    const timeoutMs = this.#settings.requestsTimeout;
    const replies = new Promise<Reply[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = this.#pending.get(requestId);
        this.#pending.delete(requestId);
        metrics.nativeRedisRequestFailures.inc({
          backend: this.#name,
          request: what.replace(" ", "_"),
          reason: "timeout",
        });
        const error = new SwitchyardError("SWY_NATIVE_REDIS_TIMEOUT", [
          what,
          pending?.replies.length ?? 0,
          expected,
          timeoutMs,
        ]);
        this.#log.warn({ nsp, requestId }, error.message);
        reject(error);
      }, timeoutMs);
      this.#pending.set(requestId, { replies: [], expected, resolve, reject, timer });
    });
    try {
      await this.#send(encode());
    } catch (error) {
      const pending = this.#pending.get(requestId);
      if (pending !== undefined) clearTimeout(pending.timer);
      this.#pending.delete(requestId);
      metrics.nativeRedisRequestFailures.inc({
        backend: this.#name,
        request: what.replace(" ", "_"),
        reason: "unavailable",
      });
      throw new SwitchyardError("SWY_NATIVE_REDIS_UNAVAILABLE", [], {
        cause: error,
      });
    }
    return replies;
  }

  /**
   * Sends a message or a stream entry, after the broadcasts batched so far; resolves
   * with Redis's reply: the entry id of an XADD (a string), the number of receivers of
   * a PUBLISH. May throw.
   */
  #send(outbound: Outbound | StreamOutbound): Promise<unknown> {
    this.#batch?.flush();
    const pub = this.#requirePublisher();
    if ("stream" in outbound) {
      const { maxLen } = streamsSettings(this.#settings);
      return pub.xadd(outbound.stream, "MAXLEN", "~", maxLen, "*", ...outbound.fields);
    }
    return this.#isSharded
      ? pub.spublish(outbound.channel, outbound.payload)
      : pub.publish(outbound.channel, outbound.payload);
  }

  #requirePublisher(): Redis {
    if (this.#isClosed) throw new SwitchyardError("SWY_NATIVE_REDIS_CLOSED");
    if (this.#pub === undefined) throw new Error("the native redis bus is not started");
    return this.#pub;
  }

  #requireListening(nsp: string): ClusterSink {
    if (this.#isClosed) throw new SwitchyardError("SWY_NATIVE_REDIS_CLOSED");
    if (this.#sink === undefined) throw new Error("the native redis bus is not started");
    // Replies come on channels of the namespace: only a listened one can be asked.
    if (!this.#listened.has(nsp)) throw new SwitchyardError("SWY_API_NAMESPACE_UNKNOWN", [nsp]);
    return this.#sink;
  }

  #publishFailure(
    reason: "unavailable" | "encode" | "closed" | "reply",
    error: SwitchyardError,
    context: Record<string, unknown> = {},
  ): SwitchyardError {
    metrics.nativeRedisPublishFailures.inc({ backend: this.#name, reason });
    this.#log.warn({ ...context, code: error.code, reason }, error.message);
    return error;
  }
}

/** Streams mode's settings; the defaults when a caller built streams settings without them. */
function streamsSettings(settings: NativeRedisSettings): NativeRedisStreamsSettings {
  return settings.streams ?? NATIVE_REDIS_STREAMS_DEFAULTS;
}

function isUsable(redis: Redis, isReady: boolean): boolean {
  return isReady && redis.status === "ready" && redis.stream?.writable === true;
}

function newRequestId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Why a broadcast's arguments must not reach clients: nested deeper than `maxDepth`,
 * or binary next to a placeholder-shaped object (the client would read it as an
 * attachment that does not exist and drop its connection).
 */
function unsafeArgs(args: readonly unknown[], maxDepth: number): string | undefined {
  if (anyExceedsDepth(args, maxDepth)) return "too_deep";
  if (hasBinary(args) && hasPlaceholder(args)) return "malformed";
  return undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function quit(redis: Redis | undefined, limit: number): Promise<void> {
  if (redis === undefined) return;
  try {
    if (redis.status === "ready") await bounded(redis.quit(), limit);
  } catch {
    // Closed below either way.
  }
  redis.disconnect();
}

/** `promise`, or a rejection after `ms` milliseconds. */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves a promise with nothing, whatever it had. */
function NOTHING(): undefined {
  return undefined;
}

import type { Redis } from "ioredis";

/** One entry as XREAD returns it: its id and its fields (field, value, …). */
export type StreamReadEntry = readonly [id: string, fields: readonly unknown[]];

/** How a {@link StreamReader} reads, and where what it reads goes. */
export interface StreamReaderOptions {
  /** Entries taken from each stream by one XREAD (`COUNT`). */
  readonly readCount: number;
  /** How long one XREAD waits for entries (`BLOCK`), in milliseconds. */
  readonly blockTimeInMs: number;
  /**
   * How much longer than `blockTimeInMs` an XREAD may stay unanswered before the
   * connection is taken for dead and dropped (ioredis then reconnects), in milliseconds.
   */
  readonly graceMs: number;
  /** Called with every batch read, in stream order; must not throw. */
  onEntries(stream: string, entries: readonly StreamReadEntry[]): void;
  /** Called when Redis refused an XREAD on a live connection; the read is retried after a pause. */
  onReadFailure(error: unknown): void;
  /**
   * Ends the XREAD blocked on the connection whose `CLIENT ID` is `clientId` (sent on
   * another connection: `CLIENT UNBLOCK`), so a stream added meanwhile is read at once;
   * resolves with Redis's answer, 1 when it ended one.
   */
  unblock(clientId: number): Promise<unknown>;
}

/** How many times a CLIENT UNBLOCK that ended nothing is sent again (see #endStaleRead). */
const MAX_UNBLOCK_ATTEMPTS = 50;

/** How long a read Redis refused waits before it is sent again (a stream key of another type…). */
const READ_RETRY_PAUSE_MS = 1000;

/**
 * The blocking XREAD loop of streams mode, on a connection of its own (a blocked
 * connection can send nothing else). It reads every stream it is given from where it
 * last stopped, `readCount` entries per stream at a time, and hands them on in order.
 *
 * - A stream starts at its last entry when it is added (XREVRANGE, the adapter's `$`
 *   made concrete), so whatever is added to it afterwards is read, even if the
 *   connection drops before the first XREAD.
 * - After a disconnection it goes on from the last id it read: entries added meanwhile
 *   that the stream still holds (`MAXLEN ~` trims the oldest) are read, none twice.
 * - The owner tells it when the connection is ready ({@link onConnected}) or lost
 *   ({@link onDisconnected}); it sends nothing while the connection is down.
 */
export class StreamReader {
  readonly #redis: Redis;
  readonly #options: StreamReaderOptions;
  /** Stream → the id after which it is read; `undefined` until its start is known. */
  readonly #offsets = new Map<string, string | undefined>();
  #isConnected = false;
  #isClosed = false;
  /** Counts connections, so a failed read can tell whether the connection changed since. */
  #epoch = 0;
  #clientId: number | undefined;
  /**
   * Rejects when the current connection is lost or the reader closes. ioredis leaves a
   * command in flight at a disconnection unsettled when it does not resend it, so
   * every command is raced against this.
   */
  #lost = lostSignal();
  /** The streams the XREAD in flight names, while there is one. */
  #reading: ReadonlySet<string> | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  /** Callers of {@link setStreams} waiting for the loop to find where their streams start. */
  #startWaiters: (() => void)[] = [];

  constructor(redis: Redis, options: StreamReaderOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * The id of the last entry of `stream` handed on (everything up to it was, everything
   * after it will be); undefined before its start is known.
   */
  cursor(stream: string): string | undefined {
    return this.#offsets.get(stream);
  }

  /** Starts the loop; it waits for {@link onConnected} before it reads. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Reads exactly `streams` from now on. Resolves once the new ones' starting points
   * are known (at once while the connection is down: they are found when it is back,
   * before the reader counts as connected again).
   *
   * The starting points are found by the loop, on the reader's own connection between
   * two reads (a command sent while an XREAD blocks would wait behind it): the XREAD
   * in flight is ended for that.
   */
  async setStreams(streams: readonly string[]): Promise<void> {
    const wanted = new Set(streams);
    for (const stream of this.#offsets.keys()) {
      if (!wanted.has(stream)) this.#offsets.delete(stream);
    }
    const added = [...wanted].filter((stream) => !this.#offsets.has(stream));
    if (added.length === 0) return;
    for (const stream of added) this.#offsets.set(stream, undefined);
    if (!this.#isConnected) return;
    const started = new Promise<void>((resolve) => this.#startWaiters.push(resolve));
    this.#wakeUp();
    await this.#endStaleRead(added);
    await started;
  }

  /**
   * Ends the XREAD in flight when it does not name all of `streams`, so the next one
   * does. CLIENT UNBLOCK travels on another connection and may reach Redis before the
   * XREAD it is meant for; it then ends nothing (answers 0) and is sent again, a
   * round trip later, until the XREAD ended or was replaced.
   */
  async #endStaleRead(streams: readonly string[]): Promise<void> {
    const clientId = this.#clientId;
    if (clientId === undefined) return;
    for (let attempt = 0; attempt < MAX_UNBLOCK_ATTEMPTS; attempt++) {
      const reading = this.#reading;
      if (reading === undefined || streams.every((stream) => reading.has(stream))) return;
      if (!this.#isConnected || this.#isClosed) return;
      const ended = await this.#options.unblock(clientId).catch(() => undefined);
      // Unanswered: the new streams are read once the XREAD in flight times out.
      if (ended === undefined || ended === 1) return;
    }
  }

  /** The connection is (again) ready: finds the streams' starting points, then reads. */
  async onConnected(): Promise<void> {
    this.#lost = lostSignal();
    const clientId = await this.#whileConnected(this.#redis.client("ID"));
    this.#clientId = typeof clientId === "number" ? clientId : undefined;
    await this.#resolveOffsets().catch((error: unknown) => {
      // A key of another type: connected all the same; the loop tries again.
      if (!isReplyError(error)) throw error;
      this.#options.onReadFailure(error);
    });
    this.#isConnected = true;
    this.#epoch++;
    this.#wakeUp();
  }

  /** The connection is down: nothing is sent until {@link onConnected}. */
  onDisconnected(): void {
    this.#isConnected = false;
    this.#lost.reject(new Error("the stream reader's connection was lost"));
    this.#settleStartWaiters();
  }

  /** Stops reading; the owner closes the connection (which ends a blocked XREAD). */
  async close(): Promise<void> {
    this.#isClosed = true;
    this.#lost.reject(new Error("the stream reader is closed"));
    this.#settleStartWaiters();
    this.#wakeUp();
    await this.#loop;
  }

  async #resolveOffsets(): Promise<void> {
    const pending = [...this.#offsets].filter(([, offset]) => offset === undefined);
    await Promise.all(
      pending.map(async ([stream]) => {
        const last: unknown = await this.#whileConnected(
          this.#redis.xrevrange(stream, "+", "-", "COUNT", 1),
        );
        // A stream removed meanwhile, or found by an earlier call, keeps what it has.
        if (!this.#offsets.has(stream) || this.#offsets.get(stream) !== undefined) return;
        this.#offsets.set(stream, lastId(last) ?? "0-0");
      }),
    );
  }

  async #run(): Promise<void> {
    while (!this.#isClosed) {
      const streams = [...this.#offsets].filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      );
      if (!this.#isConnected || this.#offsets.size === 0) {
        this.#settleStartWaiters();
        await this.#pause(undefined);
        continue;
      }
      const epoch = this.#epoch;
      let reply: unknown;
      try {
        if (streams.length < this.#offsets.size) {
          await this.#resolveOffsets();
          continue;
        }
        this.#settleStartWaiters();
        reply = await this.#read(streams);
      } catch (error) {
        if (this.#isClosed) return;
        // A connection lost and back while the read failed: read again at once.
        if (epoch !== this.#epoch) continue;
        if (this.#isConnected && this.#redis.status === "ready" && isReplyError(error)) {
          this.#options.onReadFailure(error);
        }
        // Down: onConnected ends the pause; refused: the pause keeps a bad key from
        // turning this loop into a busy one.
        await this.#pause(READ_RETRY_PAUSE_MS);
        continue;
      }
      if (this.#isClosed) return;
      for (const [stream, entries] of batchesOf(reply)) {
        const last = entries.at(-1);
        // A stream dropped while the read was in flight is not handed on.
        if (last === undefined || !this.#offsets.has(stream)) continue;
        this.#offsets.set(stream, last[0]);
        this.#options.onEntries(stream, entries);
      }
    }
  }

  /** One XREAD, with a deadline past its BLOCK after which the connection is dropped. */
  async #read(streams: readonly [string, string][]): Promise<unknown> {
    const { readCount, blockTimeInMs, graceMs } = this.#options;
    const names = streams.map(([stream]) => stream);
    const ids = streams.map(([, offset]) => offset);
    // A connection that died without a word (no RST) would hold this read forever.
    const watchdog = setTimeout(() => this.#redis.disconnect(true), blockTimeInMs + graceMs);
    this.#reading = new Set(names);
    try {
      return await this.#whileConnected(
        this.#redis.xread("COUNT", readCount, "BLOCK", blockTimeInMs, "STREAMS", ...names, ...ids),
      );
    } finally {
      this.#reading = undefined;
      clearTimeout(watchdog);
    }
  }

  /** `command`, or a rejection as soon as the connection it was sent on is lost. */
  #whileConnected<T>(command: Promise<T>): Promise<T> {
    return Promise.race([command, this.#lost.promise]);
  }

  /** Waits until woken (connected, streams added, closed) or, with `ms`, that long at most. */
  #pause(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #settleStartWaiters(): void {
    const waiters = this.#startWaiters;
    this.#startWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** A promise that only ever rejects, when told to; nobody needs to handle it. */
function lostSignal(): { promise: Promise<never>; reject(error: Error): void } {
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<never>((_, fail) => {
    reject = fail;
  });
  promise.catch(() => {});
  return { promise, reject };
}

/** The id of the one entry XREVRANGE … COUNT 1 returned, if any. */
function lastId(reply: unknown): string | undefined {
  if (!Array.isArray(reply)) return undefined;
  const entry: unknown = reply[0];
  if (!Array.isArray(entry) || typeof entry[0] !== "string") return undefined;
  return entry[0];
}

/** XREAD's `[[stream, [[id, fields], …]], …]`, anything else left out. */
function batchesOf(reply: unknown): [string, StreamReadEntry[]][] {
  if (!Array.isArray(reply)) return [];
  const batches: [string, StreamReadEntry[]][] = [];
  for (const batch of reply) {
    if (!Array.isArray(batch) || typeof batch[0] !== "string" || !Array.isArray(batch[1])) continue;
    const entries: StreamReadEntry[] = [];
    for (const entry of batch[1] as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== "string") continue;
      entries.push([entry[0], Array.isArray(entry[1]) ? (entry[1] as unknown[]) : []]);
    }
    batches.push([batch[0], entries]);
  }
  return batches;
}

/** An error Redis answered (as opposed to a connection that failed). */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === "ReplyError";
}

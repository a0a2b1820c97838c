import type { Redis } from "ioredis";
import { type Flushable, flushQueue } from "../../../flush-queue.js";

/**
 * PUBLISHes every pair of its arguments (channel, message) in order. A refused PUBLISH
 * (an ACL that denies the channel) stops it there: the reply tells how many went out
 * and why the next did not. No shebang, so Redis 6 runs it too; PUBLISH writes no key,
 * so the script runs wherever a PUBLISH would.
 */
const SCRIPT = `for i = 1, #ARGV, 2 do
  local reply = redis.pcall('PUBLISH', ARGV[i], ARGV[i + 1])
  if type(reply) == 'table' and reply.err then return {(i - 1) / 2, reply.err} end
end
return #ARGV / 2`;

/** A batch is sent at once when it holds this many publications… */
export const MAX_BATCH_COUNT = 256;
/** …or this many bytes of messages: one script call holds Redis for its whole run. */
export const MAX_BATCH_BYTES = 1024 * 1024;

const FIRST = { first: true };

interface Entry {
  readonly channel: string;
  readonly payload: Buffer | string;
  resolve(): void;
  reject(error: unknown): void;
}

/** What a batch tells its owner. */
export interface PublishBatchEvents {
  /** Redis refused to run scripts; told once, the batch publishes one by one from then on. */
  scriptsRefused(error: Error): void;
  /** `count` commands of this kind were sent. */
  sent(command: "eval" | "publish", count: number): void;
}

/**
 * The classic dialect's broadcasts of one event-loop turn, sent to Redis in one script
 * call that PUBLISHes each of them in order, instead of one PUBLISH command each.
 * Subscribers still get one message per broadcast, as `@socket.io/redis-adapter` reads
 * them: only the way to Redis is batched.
 *
 * Why by hand: ioredis's cost is per command (a `Command`, its promise and timeout
 * timer, the command's RESP text), and it was most of a publication's CPU and garbage
 * (docs/benchmarks.md, "The Redis crossing"). Its auto-pipelining saves the writes, not
 * that work; no library batches publications into one command.
 *
 * - A batch leaves at the end of the turn, on the flush queue (src/flush-queue.ts) ahead
 *   of the turn's socket writes, or at once on reaching {@link MAX_BATCH_COUNT}
 *   publications or {@link MAX_BATCH_BYTES}.
 * - {@link flush} sends it early: the bus calls it before any other command of its
 *   publisher, so a request published after a broadcast reaches other nodes after it.
 * - A batch of one is a plain PUBLISH.
 * - A Redis that refuses scripts (an ACL without `+@scripting`, EVAL renamed away)
 *   refuses the call before running it: that batch goes out again as PUBLISHes, and
 *   every later one does too (`scriptsRefused` is told once). Only then can a
 *   request overtake a broadcast: one sent while the refusal was on its way back.
 * - Each publication settles as its own PUBLISH would have: resolved once Redis took
 *   it, rejected with the connection's or Redis's error.
 */
export class PublishBatch implements Flushable {
  readonly #publisher: () => Redis;
  readonly #events: PublishBatchEvents;
  #entries: Entry[] = [];
  #bytes = 0;
  #isScripted = true;
  isFlushScheduled = false;

  /**
   * @param publisher The connection to send on; may throw (closed, not started), which
   *   fails the batch.
   */
  constructor(publisher: () => Redis, events: PublishBatchEvents) {
    this.#publisher = publisher;
    this.#events = events;
  }

  /** Resolves once Redis took the publication. */
  add(channel: string, payload: Buffer | string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#entries.push({ channel, payload, resolve, reject });
      this.#bytes += payload.length;
      if (this.#entries.length >= MAX_BATCH_COUNT || this.#bytes >= MAX_BATCH_BYTES) {
        this.flush();
      } else {
        flushQueue.schedule(this, FIRST);
      }
    });
  }

  /** Sends what is waiting now (nothing if nothing is). */
  flush(): void {
    const entries = this.#entries;
    if (entries.length === 0) return;
    this.#entries = [];
    this.#bytes = 0;
    let redis: Redis;
    try {
      redis = this.#publisher();
    } catch (error) {
      for (const entry of entries) entry.reject(error);
      return;
    }
    if (entries.length === 1 || !this.#isScripted) {
      this.#publishEach(redis, entries);
      return;
    }
    const args: (Buffer | string)[] = [];
    for (const entry of entries) args.push(entry.channel, entry.payload);
    this.#events.sent("eval", 1);
    // EVAL, not EVALSHA: a NOSCRIPT answer (a server that restarted or flushed its
    // scripts) would have the batch sent again after later ones, out of order. The
    // script's text costs ~170 bytes a batch; Redis keeps it compiled by its hash.
    redis.eval(SCRIPT, 0, ...args).then(
      (reply) => settle(entries, reply),
      (error: unknown) => this.#failed(redis, entries, error),
    );
  }

  #failed(redis: Redis, entries: Entry[], error: unknown): void {
    if (!isScriptRefusal(error)) {
      for (const entry of entries) entry.reject(error);
      return;
    }
    if (this.#isScripted) {
      this.#isScripted = false;
      this.#events.scriptsRefused(error as Error);
    }
    this.#publishEach(redis, entries);
  }

  /** One PUBLISH each; several go out in one write (this connection does not pipeline on its own). */
  #publishEach(redis: Redis, entries: readonly Entry[]): void {
    this.#events.sent("publish", entries.length);
    if (entries.length === 1) {
      const [entry] = entries as [Entry];
      redis.publish(entry.channel, entry.payload).then(() => entry.resolve(), entry.reject);
      return;
    }
    const pipeline = redis.pipeline();
    for (const entry of entries) pipeline.publish(entry.channel, entry.payload);
    pipeline.exec().then(
      (results) =>
        entries.forEach((entry, i) => {
          const error = results?.[i]?.[0];
          if (error) entry.reject(error);
          else entry.resolve();
        }),
      (error: unknown) => {
        for (const entry of entries) entry.reject(error);
      },
    );
  }
}

/**
 * The script answers the count published, or `[published, error]` when one was refused;
 * any other answer fails the whole batch (the caller hears of it; nothing is assumed).
 */
function settle(entries: readonly Entry[], reply: unknown): void {
  if (reply === entries.length) {
    for (const entry of entries) entry.resolve();
    return;
  }
  const [published, refusal] = isRefusal(reply, entries.length)
    ? reply
    : [0, "Redis answered a batch of publications with an unexpected reply"];
  const error = new Error(refusal);
  entries.forEach((entry, i) => {
    if (i < published) entry.resolve();
    else entry.reject(error);
  });
}

function isRefusal(reply: unknown, count: number): reply is [number, string] {
  if (!Array.isArray(reply) || reply.length !== 2) return false;
  const [published, refusal] = reply;
  return (
    Number.isInteger(published) &&
    published >= 0 &&
    published < count &&
    typeof refusal === "string"
  );
}

/** Redis refused to run scripts at all: nothing of the batch was published. */
function isScriptRefusal(error: unknown): boolean {
  const message = error instanceof Error ? error.message : "";
  return message.startsWith("NOPERM") || message.startsWith("ERR unknown command");
}

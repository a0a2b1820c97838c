import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";

/** Characters of a node tag: 4 base64url characters, 24 bits. */
export const NODE_TAG_LENGTH = 4;

/**
 * Follows the tag in a node's session ids. Neither base64url nor socket.io's own ids
 * use it, so a session id says whether it is a Switchyard node's at all: a legacy
 * server's (behind `passthrough:`) never passes for one, and needs no Redis lookup.
 */
export const SESSION_TAG_MARK = "~";

/** The prefix of the session ids of the node tagged `tag`. */
export function sessionIdPrefix(tag: string): string {
  return `${tag}${SESSION_TAG_MARK}`;
}

export interface NodeRegistryOptions {
  /** This node's tag (see {@link NodeRegistry.newTag}). */
  readonly tag: string;
  /** Redis URL of the registry. */
  readonly redis: string;
  /** Key prefix; the registry is the hash `<key>:nodes`. */
  readonly key: string;
  /** How other nodes reach this one, e.g. `http://10.0.0.5:3000`. */
  readonly advertise: string;
  /** ms a node stays listed without a heartbeat; it beats every third of it. */
  readonly ttl: number;
  readonly log: Logger;
}

interface Entry {
  readonly url: string;
  /** ms since the epoch after which the entry no longer counts. */
  readonly expires: number;
}

/**
 * The nodes of a Switchyard cluster and where they listen, kept in one Redis hash:
 * tag → `{url, expires}`. Each node writes its own entry every `ttl / 3` and reads
 * the whole hash as often, so {@link urlOf} answers from memory on the request path.
 * A node that stops beating drops out after `ttl`; one that closes removes itself.
 *
 * Redis being away does not stop this node serving: lookups answer from the last
 * copy, and the heartbeat resumes when Redis is back.
 */
export class NodeRegistry {
  /** This node's tag, the prefix of its session ids. */
  readonly tag: string;
  readonly #options: NodeRegistryOptions;
  readonly #redis: Redis;
  readonly #hash: string;
  #nodes = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;

  /** A random tag: 3 random bytes as 4 base64url characters. */
  static newTag(): string {
    return randomBytes(3).toString("base64url");
  }

  constructor(options: NodeRegistryOptions) {
    this.#options = options;
    this.tag = options.tag;
    this.#hash = `${options.key}:nodes`;
    this.#redis = new Redis(options.redis, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    this.#redis.on("error", (error: Error) => {
      options.log.warn({ err: error }, "node registry: redis error");
    });
  }

  /** Connects, lists this node and reads the others. */
  async start(): Promise<void> {
    await this.#redis.connect();
    await this.#beat();
    const every = Math.max(Math.floor(this.#options.ttl / 3), 100);
    this.#timer = setInterval(() => {
      this.#beat().catch((error: unknown) => {
        this.#options.log.warn({ err: error }, "node registry: heartbeat failed");
      });
    }, every);
    this.#timer.unref();
  }

  /**
   * Whose session `sessionId` is: `"local"` for this node's, the URL of another live
   * node, or `undefined` when its node is unknown or gone, or it is no node's id at all. A tag not in the last copy
   * of the registry is looked up in Redis at once (a node that joined since).
   */
  ownerOf(sessionId: string): "local" | string | undefined | Promise<string | undefined> {
    if (sessionId[NODE_TAG_LENGTH] !== SESSION_TAG_MARK) return undefined;
    const tag = sessionId.slice(0, NODE_TAG_LENGTH);
    if (tag === this.tag) return "local";
    const entry = this.#nodes.get(tag);
    if (entry !== undefined) return entry.expires > Date.now() ? entry.url : undefined;
    if (tag.length < NODE_TAG_LENGTH) return undefined;
    return this.#redis.hget(this.#hash, tag).then(
      (text) => {
        const found = text === null ? undefined : parseEntry(text);
        if (found === undefined || found.expires <= Date.now()) return undefined;
        this.#nodes.set(tag, found);
        return found.url;
      },
      () => undefined,
    );
  }

  /** Live nodes, this one included: tag → URL. */
  nodes(): Map<string, string> {
    const now = Date.now();
    return new Map([...this.#nodes].filter(([, e]) => e.expires > now).map(([t, e]) => [t, e.url]));
  }

  /** Unlists this node and disconnects. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    try {
      await this.#redis.hdel(this.#hash, this.tag);
    } catch {
      // Redis is away: the entry expires by itself.
    }
    this.#redis.disconnect();
  }

  async #beat(): Promise<void> {
    const entry: Entry = { url: this.#options.advertise, expires: Date.now() + this.#options.ttl };
    await this.#redis.hset(this.#hash, this.tag, JSON.stringify(entry));
    // The hash outlives its nodes only briefly: a cluster whose nodes all died leaves nothing.
    await this.#redis.pexpire(this.#hash, this.#options.ttl * 2);
    const all = await this.#redis.hgetall(this.#hash);
    const nodes = new Map<string, Entry>();
    const stale: string[] = [];
    for (const [tag, text] of Object.entries(all)) {
      const parsed = parseEntry(text);
      if (parsed === undefined || parsed.expires <= Date.now()) stale.push(tag);
      else nodes.set(tag, parsed);
    }
    this.#nodes = nodes;
    if (stale.length > 0) await this.#redis.hdel(this.#hash, ...stale);
  }
}

function parseEntry(text: string): Entry | undefined {
  try {
    const value = JSON.parse(text) as Partial<Entry>;
    if (typeof value.url === "string" && typeof value.expires === "number") {
      return { url: value.url, expires: value.expires };
    }
  } catch {
    // Not ours: skipped, and cleaned up below.
  }
  return undefined;
}

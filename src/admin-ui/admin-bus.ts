import { createHash, randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { textExceedsDepth } from "../json-depth.js";
import type { SessionStore } from "./admin-auth.js";
import type { AdminSocket } from "./serialize.js";

/** An operation a UI asked of every node: the UI's `join`, `leave` and `_disconnect`. */
export type AdminOperation =
  | {
      readonly op: "join" | "leave";
      readonly nsp: string;
      readonly room: string;
      readonly filter?: string;
    }
  | {
      readonly op: "_disconnect";
      readonly nsp: string;
      readonly close: boolean;
      readonly filter?: string;
    };

/** What a node does with what the other nodes send over the bus. */
export interface AdminBusSink {
  /** An event another node emitted for the UIs: deliver it to this node's admin sockets. */
  onEmit(event: string, args: readonly unknown[]): void;
  /** A UI connected to another node asked for this: apply it to this node's sockets. */
  onOperation(operation: unknown): void;
  /** This node's sockets, for a UI connected to another node. */
  localSockets(): AdminSocket[];
  /** Some node has a UI connected again after none had: time to say who this node is. */
  onWatched(): void;
}

export interface AdminBusOptions {
  /** The cluster's Redis (`cluster.redis`). */
  readonly redis: string;
  /** The cluster's key prefix: the channel is `<key>:admin-ui`. */
  readonly key: string;
  /** How deep a message may nest (the server's `limits.maxDepth` plus the envelope's own). */
  readonly maxDepth: number;
  readonly log: Logger;
}

/** ms a node counts as watched after the last `watch` it heard. */
export const WATCH_TTL = 6_000;
/** ms a node waits for the other nodes' sockets when a UI connects. */
export const FETCH_TIMEOUT = 2_000;
/** Fetches of the other nodes' sockets waiting at once; more get this node's sockets only. */
export const MAX_PENDING_FETCHES = 16;
/** Largest bus message read (the other nodes' socket lists are the big ones). */
export const MAX_BUS_MESSAGE_BYTES = 32 * 1_048_576;

type Message =
  | { t: "watch"; from: string }
  | { t: "emit"; from: string; event: string; args: unknown[] }
  | { t: "op"; from: string; operation: unknown }
  | { t: "fetch"; from: string; id: string }
  | { t: "sockets"; from: string; id: string; sockets: AdminSocket[] };

interface PendingFetch {
  readonly sockets: AdminSocket[];
  expected: number;
  readonly resolve: (sockets: AdminSocket[]) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The Admin UI across a Switchyard cluster: one Redis pub/sub channel on the cluster's
 * Redis, `<key>:admin-ui`, so that a UI connected to any node sees every node, as
 * socket.io's admin namespace does through its adapter.
 *
 * - Each node publishes what its own admin namespace emits (server stats with its own
 *   `serverId`, its sockets' connections, rooms and events), and every node hands
 *   what the others publish to its own admin sockets.
 * - A UI's `join`, `leave` and `_disconnect` are applied where the UI is, then
 *   published for the other nodes to apply to theirs.
 * - A UI's first list of sockets asks every node (counted by `PUBSUB NUMSUB`) and waits
 *   up to {@link FETCH_TIMEOUT} for their answers.
 * - Nothing is published while no node has a UI connected: a node with one says
 *   `watch` every stats interval, and the others publish for {@link WATCH_TTL} after.
 *
 * Delivery is at-most-once, like Redis pub/sub: a message published while Redis is away
 * is dropped (logged at debug); the UI catches up with the next stats and lists.
 */
export class AdminBus implements SessionStore {
  readonly #options: AdminBusOptions;
  readonly #channel: string;
  readonly #uid = randomBytes(8).toString("hex");
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #pending = new Map<string, PendingFetch>();
  #sink: AdminBusSink | undefined;
  #watchedUntil = 0;

  constructor(options: AdminBusOptions) {
    this.#options = options;
    this.#channel = `${options.key}:admin-ui`;
    const settings = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 };
    this.#pub = new Redis(options.redis, settings);
    this.#sub = new Redis(options.redis, settings);
    for (const redis of [this.#pub, this.#sub]) {
      redis.on("error", (error: Error) => {
        options.log.warn({ err: error }, "admin ui bus: redis error");
      });
    }
  }

  /** Connects and listens; the sink gets what the other nodes send. */
  async start(sink: AdminBusSink): Promise<void> {
    this.#sink = sink;
    this.#sub.on("message", (_channel: string, text: string) => this.#onMessage(text));
    await Promise.all([this.#pub.connect(), this.#sub.connect()]);
    await this.#sub.subscribe(this.#channel);
  }

  /** Whether some other node said, within {@link WATCH_TTL}, that it has a UI connected. */
  get isWatched(): boolean {
    return this.#watchedUntil > Date.now();
  }

  /** Tells the other nodes this one has a UI connected. */
  watch(): void {
    this.#publish({ t: "watch", from: this.#uid });
  }

  emit(event: string, args: readonly unknown[]): void {
    this.#publish({ t: "emit", from: this.#uid, event, args: [...args] });
  }

  /**
   * Keeps a UI's session id in the cluster's Redis for `ttlMs`, under a hash of it
   * (`<key>:admin-ui:session:<sha256>`): whoever reads Redis does not get a usable id.
   */
  remember(id: string, ttlMs: number): void {
    this.#pub.set(this.#sessionKey(id), "1", "PX", ttlMs).catch((error: unknown) => {
      this.#options.log.debug({ err: error }, "admin ui bus: session not kept");
    });
  }

  async remaining(id: string): Promise<number> {
    try {
      return Math.max(0, await this.#pub.pttl(this.#sessionKey(id)));
    } catch (error) {
      this.#options.log.debug({ err: error }, "admin ui bus: session not looked up");
      return 0;
    }
  }

  #sessionKey(id: string): string {
    return `${this.#channel}:session:${createHash("sha256").update(id).digest("hex")}`;
  }

  operate(operation: AdminOperation): void {
    this.#publish({ t: "op", from: this.#uid, operation });
  }

  /** The sockets of every other node that answers within {@link FETCH_TIMEOUT}. */
  async fetchSockets(): Promise<AdminSocket[]> {
    if (this.#pending.size >= MAX_PENDING_FETCHES) return [];
    let nodes: number;
    try {
      const answer = (await this.#pub.pubsub("NUMSUB", this.#channel)) as [string, number];
      nodes = Number(answer[1]);
    } catch (error) {
      this.#options.log.debug({ err: error }, "admin ui bus: cannot count the nodes");
      return [];
    }
    // This node listens on the channel too; it answers for itself locally.
    const expected = nodes - 1;
    if (expected <= 0) return [];
    const id = randomBytes(8).toString("hex");
    return new Promise((resolve) => {
      const done = (): void => {
        const pending = this.#pending.get(id);
        if (pending === undefined) return;
        clearTimeout(pending.timer);
        this.#pending.delete(id);
        resolve(pending.sockets);
      };
      const timer = setTimeout(done, FETCH_TIMEOUT);
      timer.unref();
      this.#pending.set(id, { sockets: [], expected, resolve: done, timer });
      this.#publish({ t: "fetch", from: this.#uid, id });
    });
  }

  async close(): Promise<void> {
    for (const pending of [...this.#pending.values()]) pending.resolve(pending.sockets);
    this.#sink = undefined;
    this.#pub.disconnect();
    this.#sub.disconnect();
  }

  #publish(message: Message): void {
    this.#pub.publish(this.#channel, JSON.stringify(message)).catch((error: unknown) => {
      this.#options.log.debug({ err: error, type: message.t }, "admin ui bus: not published");
    });
  }

  #onMessage(text: string): void {
    const sink = this.#sink;
    // The cluster's Redis is trusted, but what it carries is still read within bounds.
    if (sink === undefined || text.length > MAX_BUS_MESSAGE_BYTES) return;
    if (textExceedsDepth(text, this.#options.maxDepth)) return;
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (typeof message !== "object" || message === null || message.from === this.#uid) return;
    switch (message.t) {
      case "watch": {
        const wasWatched = this.isWatched;
        this.#watchedUntil = Date.now() + WATCH_TTL;
        if (!wasWatched) sink.onWatched();
        return;
      }
      case "emit":
        if (typeof message.event === "string" && Array.isArray(message.args)) {
          sink.onEmit(message.event, message.args);
        }
        return;
      case "op":
        sink.onOperation(message.operation);
        return;
      case "fetch":
        if (typeof message.id === "string") {
          this.#publish({
            t: "sockets",
            from: this.#uid,
            id: message.id,
            sockets: sink.localSockets(),
          });
        }
        return;
      case "sockets": {
        const pending = this.#pending.get(message.id);
        if (pending === undefined || !Array.isArray(message.sockets)) return;
        pending.sockets.push(...message.sockets);
        if (--pending.expected === 0) pending.resolve(pending.sockets);
        return;
      }
      default:
        return;
    }
  }
}

/** Something that buffers writes and wants one chance per event-loop turn to send them. */
export interface Flushable {
  /** Set and cleared by the queue; a flushable is queued at most once per turn. */
  isFlushScheduled: boolean;
  flush(): void;
}

/**
 * Coalesces writes: everything queued for a transport during one turn of the event
 * loop goes out in one write (one syscall) in the check phase that follows, after
 * every socket read of that turn has been handled.
 *
 * Why not per-write `socket.write`: at saturation most of a broadcast server's CPU
 * is kernel time in socket writes, and one write per message per recipient is what
 * makes a naive server slow. `setImmediate` rather than `process.nextTick`, because
 * deliveries can arrive in promise continuations, which run after the nextTick
 * queue has drained.
 *
 * Items scheduled `first` (what other nodes wait for: the broadcasts on their way to
 * Redis) are flushed before the rest, so a room's remote members are not kept waiting
 * behind the writes to its local ones.
 */
export class FlushQueue {
  #first: Flushable[] = [];
  #pending: Flushable[] = [];
  #isScheduled = false;
  readonly #run = (): void => {
    this.#isScheduled = false;
    const first = this.#first;
    const pending = this.#pending;
    this.#first = [];
    this.#pending = [];
    for (const item of first) {
      item.isFlushScheduled = false;
      item.flush();
    }
    for (const item of pending) {
      item.isFlushScheduled = false;
      item.flush();
    }
  };

  schedule(item: Flushable, options?: { first: boolean }): void {
    if (item.isFlushScheduled) return;
    item.isFlushScheduled = true;
    if (options?.first === true) this.#first.push(item);
    else this.#pending.push(item);
    if (!this.#isScheduled) {
      this.#isScheduled = true;
      setImmediate(this.#run);
    }
  }
}

/** The process-wide queue. */
export const flushQueue = new FlushQueue();

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
 */
export class FlushQueue {
  #pending: Flushable[] = [];
  #isScheduled = false;
  readonly #run = (): void => {
    this.#isScheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (const item of pending) {
      item.isFlushScheduled = false;
      item.flush();
    }
  };

  schedule(item: Flushable): void {
    if (item.isFlushScheduled) return;
    item.isFlushScheduled = true;
    this.#pending.push(item);
    if (!this.#isScheduled) {
      this.#isScheduled = true;
      setImmediate(this.#run);
    }
  }
}

/** The process-wide queue. */
export const flushQueue = new FlushQueue();

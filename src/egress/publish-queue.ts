/** Something to send on a channel. */
export interface ChannelItem {
  readonly channel: string;
  /** Who asked for it (a socket id), for {@link PublishQueue.countOf}; absent for the API. */
  readonly origin?: string | undefined;
}

/** Limits of a {@link PublishQueue}. */
export interface PublishQueueOptions<T extends ChannelItem> {
  /** Most items per call of `send`. */
  readonly batchSize: number;
  /** Most calls of `send` in flight at once. */
  readonly maxInflight: number;
  /**
   * Sends one batch, in order. Resolves when every item of it is accepted; a rejection
   * fails every item of the batch with that error.
   */
  send(batch: readonly T[]): Promise<void>;
}

interface Entry<T> {
  readonly item: T;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * A FIFO of items sent in batches, with at most `maxInflight` batches in flight: the
 * outgoing half every managed backend kind shares.
 *
 * Order per channel is kept: while a batch holding a channel is in flight, no other
 * batch takes that channel's items, so two requests racing each other never carry
 * the same channel. Items of other channels overtake them. Within a batch, items
 * keep their queue order. The queue itself has no length limit: the caller checks
 * {@link waiting} (the whole queue) and {@link countOf} (one sender's share) before
 * {@link push}, so that one sender cannot fill the queue every sender shares.
 */
export class PublishQueue<T extends ChannelItem> {
  readonly #options: PublishQueueOptions<T>;
  #waiting: Entry<T>[] = [];
  /** Channel → number of its items in flight. */
  readonly #busy = new Map<string, number>();
  #inflight = 0;
  #inflightItems = 0;
  /** Origin → its items waiting or in flight. */
  readonly #byOrigin = new Map<string, number>();

  constructor(options: PublishQueueOptions<T>) {
    this.#options = options;
  }

  /** Items not yet handed to `send`. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Items waiting or in flight. */
  get size(): number {
    return this.#waiting.length + this.#inflightItems;
  }

  /** Items of `origin` waiting or in flight. */
  countOf(origin: string): number {
    return this.#byOrigin.get(origin) ?? 0;
  }

  /** Queues an item; settles as its batch does. */
  push(item: T): Promise<void> {
    const { origin } = item;
    if (origin !== undefined) this.#byOrigin.set(origin, this.countOf(origin) + 1);
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#pump();
    });
  }

  /** Fails every item not yet handed to `send`; batches in flight finish as they will. */
  failWaiting(error: unknown): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const entry of waiting) this.#settle(entry, error);
  }

  #pump(): void {
    const { batchSize, maxInflight } = this.#options;
    while (this.#inflight < maxInflight && this.#waiting.length > 0) {
      const batch: Entry<T>[] = [];
      const rest: Entry<T>[] = [];
      for (const entry of this.#waiting) {
        // A busy channel's items all stay behind, so its later items cannot overtake.
        if (batch.length < batchSize && !this.#busy.has(entry.item.channel)) batch.push(entry);
        else rest.push(entry);
      }
      if (batch.length === 0) return;
      this.#waiting = rest;
      this.#start(batch);
    }
  }

  #start(batch: Entry<T>[]): void {
    this.#inflight += 1;
    this.#inflightItems += batch.length;
    for (const { item } of batch)
      this.#busy.set(item.channel, (this.#busy.get(item.channel) ?? 0) + 1);
    let sent: Promise<void>;
    try {
      sent = this.#options.send(batch.map((entry) => entry.item));
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => this.#finish(batch, undefined),
      (error: unknown) => this.#finish(batch, error ?? new Error("send failed")),
    );
  }

  #finish(batch: Entry<T>[], error: unknown): void {
    this.#inflight -= 1;
    this.#inflightItems -= batch.length;
    for (const { item } of batch) {
      const left = (this.#busy.get(item.channel) ?? 1) - 1;
      if (left === 0) this.#busy.delete(item.channel);
      else this.#busy.set(item.channel, left);
    }
    for (const entry of batch) this.#settle(entry, error);
    this.#pump();
  }

  #settle(entry: Entry<T>, error: unknown): void {
    const { origin } = entry.item;
    if (origin !== undefined) {
      const left = this.countOf(origin) - 1;
      if (left <= 0) this.#byOrigin.delete(origin);
      else this.#byOrigin.set(origin, left);
    }
    if (error === undefined) entry.resolve();
    else entry.reject(error);
  }
}

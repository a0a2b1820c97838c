/** Something to send on a channel. */
export interface ChannelItem {
  readonly channel: string;
  /** Who asked for it (a socket id), for {@link PublishQueue.countOf}; absent for the API. */
  readonly origin?: string | undefined;
}

/**
 * Whether sending is possible now (a managed backend's connection is up and its
 * calls succeed). Items wait in the queue while it is closed.
 */
export interface SendGate {
  readonly isOpen: boolean;
  /** Calls `listener` each time the gate opens; returns a function that stops it. */
  onOpen(listener: () => void): () => void;
}

/**
 * Where an item was when its deadline passed: `blocked` (waiting while the gate was
 * closed), `queued` (waiting behind its channel's call in flight, or for a free call),
 * `sending` (its call was in flight: the service may still have accepted it).
 */
export type ExpiryStage = "blocked" | "queued" | "sending";

/** Limits and hooks of a {@link PublishQueue}. */
export interface PublishQueueOptions<T extends ChannelItem> {
  /** Most items per call of `send`. */
  readonly batchSize: number;
  /** Most calls of `send` in flight at once. */
  readonly maxInflight: number;
  /** Longest time from `push` to the item's settlement, in ms. */
  readonly timeout: number;
  /** The error an item fails with when `timeout` passes first. */
  expired(item: T, stage: ExpiryStage): unknown;
  /** Opens and closes sending; without one the queue always sends. */
  readonly gate?: SendGate;
  /**
   * Whether a rejection of `send` means that nothing of the batch reached the service
   * (the connection was refused before a byte was sent). Those items go back into the
   * queue, in order, and wait for the gate; the kind closes the gate before it rejects
   * so. Every other rejection fails the batch's items.
   */
  isUnsent?(error: unknown): boolean;
  /**
   * Sends one batch, in order. Resolves when every item of it is accepted, or with one
   * outcome per item (`undefined`: accepted; anything else: that item's error) when the
   * service answers each on its own; a rejection fails every item of the batch with
   * that error (see `isUnsent`).
   */
  send(batch: readonly T[]): Promise<readonly unknown[] | undefined>;
  /** Called after {@link PublishQueue.size} may have changed (for a gauge). */
  sizeChanged?(size: number): void;
}

interface Entry<T> {
  readonly item: T;
  /** Arrival order: a requeued batch goes back where its items were. */
  readonly seq: number;
  readonly deadline: NodeJS.Timeout;
  isSending: boolean;
  isSettled: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * A FIFO of items sent in batches, with at most `maxInflight` batches in flight and a
 * deadline per item: the outgoing half every managed backend kind shares.
 *
 * - Order per channel: while a batch holding a channel is in flight, no other batch
 *   takes that channel's items, so two requests racing each other never carry the same
 *   channel. Items of other channels overtake them. Within a batch, items keep their
 *   queue order.
 * - Deadlines: every item settles within `timeout` of its `push`, wherever it is. One
 *   that expires while waiting is taken out and never sent. One that expires while its
 *   call is in flight fails with `expired(item, "sending")` although the call goes on:
 *   the channel stays busy until the call really ends, so a later item of the channel
 *   cannot overtake it, and the service may still accept it — a timed-out publication
 *   may have been delivered.
 * - The gate: batches leave only while it is open; a batch the service never saw
 *   (`isUnsent`) goes back and waits for the gate within its items' deadlines.
 * - The queue has no length limit of its own: the caller checks {@link waiting} (the
 *   whole queue) and {@link countOf} (one sender's share) before {@link push}, so that
 *   one sender cannot fill the queue every sender shares.
 */
export class PublishQueue<T extends ChannelItem> {
  readonly #options: PublishQueueOptions<T>;
  /** Waiting entries in arrival order. */
  #waiting: Entry<T>[] = [];
  /** Channel → number of its items in calls not yet ended. */
  readonly #busy = new Map<string, number>();
  #inflight = 0;
  #inflightItems = 0;
  /** Origin → its items not yet settled. */
  readonly #byOrigin = new Map<string, number>();
  #seq = 0;

  constructor(options: PublishQueueOptions<T>) {
    this.#options = options;
    options.gate?.onOpen(() => this.#pump());
  }

  /** Items not yet handed to `send`. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Items waiting or in calls not yet ended (timed out ones included). */
  get size(): number {
    return this.#waiting.length + this.#inflightItems;
  }

  /** Items of `origin` not yet settled. */
  countOf(origin: string): number {
    return this.#byOrigin.get(origin) ?? 0;
  }

  /** Queues an item; settles as its batch does, or at its deadline. */
  push(item: T): Promise<void> {
    const { origin } = item;
    if (origin !== undefined) this.#byOrigin.set(origin, this.countOf(origin) + 1);
    return new Promise<void>((resolve, reject) => {
      const entry: Entry<T> = {
        item,
        seq: this.#seq++,
        deadline: setTimeout(() => this.#expire(entry), this.#options.timeout),
        isSending: false,
        isSettled: false,
        resolve,
        reject,
      };
      this.#waiting.push(entry);
      // Behind its channel's call in flight, the item changes nothing the pump could send
      // now; skipping the pump keeps a hot channel's pushes from rescanning the queue.
      if (!this.#busy.has(item.channel)) this.#pump();
      this.#sizeChanged();
    });
  }

  /** Fails every item not yet handed to `send`; batches in flight finish as they will. */
  failWaiting(error: unknown): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const entry of waiting) this.#settle(entry, error);
    this.#sizeChanged();
  }

  #pump(): void {
    const { batchSize, maxInflight, gate } = this.#options;
    while (this.#inflight < maxInflight && this.#waiting.length > 0) {
      if (gate !== undefined && !gate.isOpen) return;
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
    for (const entry of batch) {
      entry.isSending = true;
      const { channel } = entry.item;
      this.#busy.set(channel, (this.#busy.get(channel) ?? 0) + 1);
    }
    let sent: Promise<readonly unknown[] | undefined>;
    try {
      sent = this.#options.send(batch.map((entry) => entry.item));
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (outcomes) => this.#finish(batch, undefined, outcomes ?? undefined),
      (error: unknown) => this.#finish(batch, error ?? new Error("send failed")),
    );
  }

  #finish(batch: Entry<T>[], error: unknown, outcomes?: readonly unknown[]): void {
    this.#inflight -= 1;
    this.#inflightItems -= batch.length;
    for (const { item } of batch) {
      const left = (this.#busy.get(item.channel) ?? 1) - 1;
      if (left === 0) this.#busy.delete(item.channel);
      else this.#busy.set(item.channel, left);
    }
    const live = batch.filter((entry) => !entry.isSettled);
    if (error !== undefined && live.length > 0 && this.#options.isUnsent?.(error) === true) {
      this.#requeue(live);
    } else if (outcomes !== undefined) {
      for (const [i, entry] of batch.entries()) this.#settle(entry, outcomes[i]);
    } else {
      for (const entry of live) this.#settle(entry, error);
    }
    this.#pump();
    this.#sizeChanged();
  }

  /** Puts entries back among the waiting ones by arrival, so each channel keeps its order. */
  #requeue(entries: Entry<T>[]): void {
    for (const entry of entries) entry.isSending = false;
    const merged: Entry<T>[] = [];
    let i = 0;
    let j = 0;
    const waiting = this.#waiting;
    while (i < entries.length || j < waiting.length) {
      const next =
        j >= waiting.length || (i < entries.length && entries[i]!.seq < waiting[j]!.seq)
          ? entries[i++]!
          : waiting[j++]!;
      merged.push(next);
    }
    this.#waiting = merged;
  }

  #expire(entry: Entry<T>): void {
    if (entry.isSettled) return;
    let stage: ExpiryStage = "sending";
    if (!entry.isSending) {
      const gate = this.#options.gate;
      stage = gate === undefined || gate.isOpen ? "queued" : "blocked";
      const at = this.#waiting.indexOf(entry);
      if (at >= 0) this.#waiting.splice(at, 1);
      this.#sizeChanged();
    }
    let error: unknown;
    try {
      error = this.#options.expired(entry.item, stage);
    } catch (thrown) {
      error = thrown;
    }
    this.#settle(entry, error);
  }

  #sizeChanged(): void {
    this.#options.sizeChanged?.(this.size);
  }

  #settle(entry: Entry<T>, error: unknown): void {
    if (entry.isSettled) return;
    entry.isSettled = true;
    clearTimeout(entry.deadline);
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

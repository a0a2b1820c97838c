/**
 * One entry of a {@link TimerWheel}: made once per session and reused for every deadline, so a
 * heartbeat costs no allocation. `onExpire` runs once per `schedule`, never before the
 * deadline.
 */
export class WheelTimer {
  /** @internal The wheel's doubly linked slot list; undefined when not scheduled. */
  next: WheelTimer | undefined;
  /** @internal */
  prev: WheelTimer | undefined;
  /** @internal Index of the slot holding it, -1 when not scheduled. */
  slot = -1;
  /** @internal performance.now() at or after which it fires. */
  due = 0;
  readonly onExpire: (timer: WheelTimer) => void;

  constructor(onExpire: (timer: WheelTimer) => void) {
    this.onExpire = onExpire;
  }

  get isScheduled(): boolean {
    return this.slot !== -1;
  }
}

/**
 * Many timeouts of a few fixed lengths (pingInterval, pingTimeout) on one interval timer: a
 * hashed wheel of `tickMs` slots. Why not a `setTimeout` per session: each is ~210 bytes of heap
 * with its argument array (a wheel entry ~80), re-created at every ping and pong, and timeouts
 * due at slightly different times each get an event-loop turn of their own; here the due ones of
 * a tick are handled in one turn, so their packets leave in one flush round.
 *
 * A timer fires at or after its deadline, at most one tick late (plus event-loop delay). The
 * interval runs only while a timer is scheduled, and keeps the process alive then, as the
 * `setTimeout`s it replaces did.
 */
export class TimerWheel {
  readonly tickMs: number;
  /** The longest delay: `schedule` clamps longer ones to it. */
  readonly maxDelayMs: number;
  readonly #slots: (WheelTimer | undefined)[];
  /** The next tick to run: slot `#tick % slots`, due at `#tick * tickMs`. */
  #tick = 0;
  #size = 0;
  #interval: NodeJS.Timeout | undefined;
  readonly #onTick = (): void => this.#run();

  /**
   * @param tickMs resolution: how late a timer may fire, in ms (at least 1).
   * @param maxDelayMs the longest delay `schedule` is given; longer ones are clamped to it.
   */
  constructor(tickMs: number, maxDelayMs: number) {
    this.tickMs = Math.max(1, Math.floor(tickMs));
    this.maxDelayMs = maxDelayMs;
    this.#slots = new Array(Math.ceil(maxDelayMs / this.tickMs) + 2);
  }

  /** Timers scheduled. */
  get size(): number {
    return this.#size;
  }

  /** (Re)schedules `timer` to fire `delayMs` from now. */
  schedule(timer: WheelTimer, delayMs: number): void {
    if (timer.slot !== -1) this.#unlink(timer);
    const now = performance.now();
    if (this.#interval === undefined) {
      // Ticks count from 0 at the epoch of performance.now().
      this.#tick = Math.floor(now / this.tickMs) + 1;
      this.#interval = setInterval(this.#onTick, this.tickMs);
    }
    const due = now + Math.min(Math.max(0, delayMs), this.maxDelayMs);
    // The first tick at or after `due`, and never one already run.
    const tick = Math.max(this.#tick, Math.ceil(due / this.tickMs));
    timer.due = due;
    this.#relink(timer, tick % this.#slots.length);
  }

  /** Unschedules `timer`; nothing when it is not scheduled. */
  cancel(timer: WheelTimer): void {
    if (timer.slot === -1) return;
    this.#unlink(timer);
    if (this.#size === 0) this.#stop();
  }

  /** Unschedules every timer and stops the interval. */
  clear(): void {
    for (let i = 0; i < this.#slots.length; i++) {
      while (this.#slots[i] !== undefined) this.#unlink(this.#slots[i]!);
    }
    this.#stop();
  }

  #unlink(timer: WheelTimer): void {
    const { prev, next } = timer;
    if (prev === undefined) this.#slots[timer.slot] = next;
    else prev.next = next;
    if (next !== undefined) next.prev = prev;
    timer.next = undefined;
    timer.prev = undefined;
    timer.slot = -1;
    this.#size -= 1;
  }

  #stop(): void {
    if (this.#interval === undefined) return;
    clearInterval(this.#interval);
    this.#interval = undefined;
  }

  #run(): void {
    const now = performance.now();
    const slots = this.#slots;
    // Every tick up to now, the ones a late interval skipped included.
    while (this.#tick * this.tickMs <= now) {
      const slot = this.#tick % slots.length;
      // A timer put in this slot for a later turn of the wheel cannot exist: delays are at most
      // maxDelayMs, under one turn. A callback may schedule or cancel timers, this slot's too,
      // so the head is taken again each time.
      let timer = slots[slot];
      let kept: WheelTimer | undefined;
      while (timer !== undefined) {
        this.#unlink(timer);
        if (timer.due > now) {
          // Scheduled during this catch-up for a tick not reached yet: put back after the loop.
          timer.next = kept;
          kept = timer;
        } else {
          timer.onExpire(timer);
        }
        timer = slots[slot];
      }
      for (let k = kept; k !== undefined; ) {
        const next: WheelTimer | undefined = k.next;
        this.#relink(k, slot);
        k = next;
      }
      this.#tick += 1;
    }
    if (this.#size === 0) this.#stop();
  }

  #relink(timer: WheelTimer, slot: number): void {
    timer.slot = slot;
    timer.prev = undefined;
    const head = this.#slots[slot];
    timer.next = head;
    if (head !== undefined) head.prev = timer;
    this.#slots[slot] = timer;
    this.#size += 1;
  }
}

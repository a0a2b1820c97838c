import type { Logger } from "pino";
import { type Backoff, backoffDelay } from "./backoff-delay.js";

/** Why a kind sends a subscription request. */
export type SubscribeCause = "new" | "retry" | "reconnect";

/** The kind's hands on its SDK's channels. Called only while the connection is up. */
export interface SubscriptionDriver {
  /**
   * Asks the service for `channel`. On `retry` the request must go out again even if
   * the SDK thinks one is still pending. The answer comes back as
   * {@link ChannelSubscriptions.confirmed} or {@link ChannelSubscriptions.failed}.
   */
  subscribe(channel: string, cause: SubscribeCause): void;
  /** Gives `channel` up; called whatever the connection's state. */
  unsubscribe(channel: string): void;
}

/** Hooks for the kind's metrics. */
export interface SubscriptionEvents {
  failed?(channel: string, reason: string): void;
  /** The number of wanted channels by state changed. */
  counts?(confirmed: number, pending: number): void;
}

/** What {@link ChannelSubscriptions} drives and how; durations in milliseconds. */
export interface ChannelSubscriptionsOptions {
  /** The service's name in logs, e.g. "pusher". */
  readonly service: string;
  readonly driver: SubscriptionDriver;
  /** How long a request may go unanswered before it counts as failed, in ms. */
  readonly confirmTimeout: number;
  /** Delays between retries of a failed subscription. */
  readonly retry: Backoff;
  /** The error `add()` rejects with when the first attempt fails and the kind gave none. */
  failure(channel: string, detail: string): Error;
  readonly log: Logger;
  readonly events?: SubscriptionEvents;
  /** Jitter source in [0, 1); `Math.random` by default. */
  readonly random?: () => number;
}

interface Subscription {
  readonly channel: string;
  isConfirmed: boolean;
  /** Failures since the last confirmation; drives the back-off. */
  failures: number;
  /** The confirmation deadline, or the back-off before a retry. */
  timer: NodeJS.Timeout | undefined;
  /** `add()` calls waiting for the first confirmation or failure. */
  waiters: { resolve(): void; reject(error: unknown): void }[];
}

/**
 * The channels a managed backend holds for the router, and what keeps them held:
 *
 * - a request not confirmed within `confirmTimeout`, or refused, is logged, counted
 *   and retried after a capped, jittered back-off for as long as the channel is wanted;
 * - `add()` resolves on the first confirmation, or when the channel is removed before
 *   it; it rejects on the first failure (the retries go on);
 * - when the connection goes, every channel turns pending; when it comes back, every
 *   wanted channel is requested again.
 *
 * Channels are requested only while the connection is up ({@link connectionUp}).
 */
export class ChannelSubscriptions {
  readonly #options: ChannelSubscriptionsOptions;
  readonly #random: () => number;
  readonly #subscriptions = new Map<string, Subscription>();
  #confirmed = 0;
  #isConnected = false;

  constructor(options: ChannelSubscriptionsOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** Wanted channels. */
  get size(): number {
    return this.#subscriptions.size;
  }

  /** Wanted channels the service confirmed on the current connection. */
  get confirmedCount(): number {
    return this.#confirmed;
  }

  has(channel: string): boolean {
    return this.#subscriptions.has(channel);
  }

  isConfirmed(channel: string): boolean {
    return this.#subscriptions.get(channel)?.isConfirmed === true;
  }

  channels(): string[] {
    return [...this.#subscriptions.keys()];
  }

  /** Wants `channel` (idempotent); settles as described on the class. */
  add(channel: string): Promise<void> {
    const existing = this.#subscriptions.get(channel);
    if (existing !== undefined) {
      if (existing.isConfirmed) return Promise.resolve();
      return new Promise((resolve, reject) => existing.waiters.push({ resolve, reject }));
    }
    const subscription: Subscription = {
      channel,
      isConfirmed: false,
      failures: 0,
      timer: undefined,
      waiters: [],
    };
    this.#subscriptions.set(channel, subscription);
    this.#reportCounts();
    const waited = new Promise<void>((resolve, reject) =>
      subscription.waiters.push({ resolve, reject }),
    );
    if (this.#isConnected) this.#request(subscription, "new");
    return waited;
  }

  /** No longer wants `channel` (idempotent); its waiting `add()` calls resolve. */
  remove(channel: string): void {
    const subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) return;
    clearTimeout(subscription.timer);
    this.#setConfirmed(subscription, false);
    this.#subscriptions.delete(channel);
    this.#reportCounts();
    // The caller no longer wants the channel: its add() has nothing left to wait for.
    for (const waiter of subscription.waiters.splice(0)) waiter.resolve();
    this.#options.driver.unsubscribe(channel);
  }

  /** The service confirmed `channel`. */
  confirmed(channel: string): void {
    const subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) return;
    clearTimeout(subscription.timer);
    subscription.timer = undefined;
    subscription.failures = 0;
    this.#setConfirmed(subscription, true);
    this.#reportCounts();
    for (const waiter of subscription.waiters.splice(0)) waiter.resolve();
  }

  /**
   * The request for `channel` failed: `reason` labels it in metrics, `detail` goes to
   * the log, `error` (default: the `failure` option's) to waiting `add()` calls.
   */
  failed(channel: string, reason: string, detail: string, error?: Error): void {
    const subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) return;
    clearTimeout(subscription.timer);
    this.#setConfirmed(subscription, false);
    this.#reportCounts();
    subscription.failures += 1;
    const delay = backoffDelay(this.#options.retry, subscription.failures, this.#random);
    this.#options.events?.failed?.(channel, reason);
    this.#options.log.warn(
      { channel, reason, detail, failures: subscription.failures, retryInMs: delay },
      `${this.#options.service} subscription failed; retrying`,
    );
    const rejection = error ?? this.#options.failure(channel, detail);
    for (const waiter of subscription.waiters.splice(0)) waiter.reject(rejection);
    subscription.timer = setTimeout(() => this.#retry(subscription), delay);
    subscription.timer.unref();
  }

  /** The connection is up: every wanted channel is requested on it. */
  connectionUp(): void {
    this.#isConnected = true;
    for (const subscription of this.#subscriptions.values()) {
      this.#request(subscription, "reconnect");
    }
  }

  /** The connection is gone, and every subscription with it. */
  connectionDown(): void {
    this.#isConnected = false;
    for (const subscription of this.#subscriptions.values()) {
      clearTimeout(subscription.timer);
      subscription.timer = undefined;
      this.#setConfirmed(subscription, false);
    }
    this.#reportCounts();
  }

  /** Rejects every waiting `add()` with `error` and forgets every channel. */
  close(error: Error): void {
    this.#isConnected = false;
    for (const subscription of this.#subscriptions.values()) {
      clearTimeout(subscription.timer);
      for (const waiter of subscription.waiters.splice(0)) waiter.reject(error);
    }
    this.#subscriptions.clear();
    this.#confirmed = 0;
  }

  #request(subscription: Subscription, cause: SubscribeCause): void {
    clearTimeout(subscription.timer);
    subscription.timer = undefined;
    if (subscription.isConfirmed) return;
    const { confirmTimeout } = this.#options;
    subscription.timer = setTimeout(
      () =>
        this.failed(subscription.channel, "timeout", `no confirmation within ${confirmTimeout} ms`),
      confirmTimeout,
    );
    subscription.timer.unref();
    this.#options.driver.subscribe(subscription.channel, cause);
  }

  #retry(subscription: Subscription): void {
    subscription.timer = undefined;
    if (this.#subscriptions.get(subscription.channel) !== subscription) return;
    // Not connected: connectionUp() requests it again.
    if (!this.#isConnected) return;
    this.#request(subscription, "retry");
  }

  #setConfirmed(subscription: Subscription, isConfirmed: boolean): void {
    if (subscription.isConfirmed === isConfirmed) return;
    subscription.isConfirmed = isConfirmed;
    this.#confirmed += isConfirmed ? 1 : -1;
  }

  #reportCounts(): void {
    this.#options.events?.counts?.(this.#confirmed, this.#subscriptions.size - this.#confirmed);
  }
}

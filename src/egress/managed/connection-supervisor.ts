import type { Logger } from "pino";
import type { BackendHealth } from "../backend.js";
import type { SendGate } from "../publish-queue.js";
import { type Backoff, backoffDelay } from "./backoff-delay.js";

/**
 * Where a backend's link to its service stands: `connecting` until it was up once,
 * `up`, `down` after a loss (reconnecting), `refused` for good, `closed` by the backend.
 */
export type ConnectionState = "connecting" | "up" | "down" | "refused" | "closed";

/** The kind's hands on its SDK; the supervisor decides when each is used. */
export interface ConnectionDriver {
  /**
   * Starts a fresh connection attempt, abandoning one the SDK may have in progress.
   * Its outcome comes back as {@link ConnectionSupervisor.connected},
   * {@link ConnectionSupervisor.attemptFailed} or {@link ConnectionSupervisor.refused};
   * an attempt with no outcome within the attempt timeout counts as failed.
   */
  connect(): void;
  /**
   * Stops trying: the SDK must not reconnect on its own schedule until the next
   * `connect()`. A kind whose SDK keeps state worth keeping across attempts (a resume
   * key) may leave the SDK as it is, if its own retry timers are out of the way.
   */
  disconnect(): void;
  /**
   * One cheap request to the service while calls are failing: resolves when the
   * service answered at all, rejects (with a message fit for a log) when it could
   * not be reached.
   */
  probe(): Promise<void>;
}

/** Hooks for the kind's metrics and subscriptions; each is called after the state changed. */
export interface ConnectionEvents {
  up?(isReconnect: boolean): void;
  down?(reason: string): void;
  attemptFailed?(reason: string): void;
  refused?(reason: string): void;
  callFailed?(reason: string): void;
}

/**
 * Delays between reconnection attempts: capped at 1 s so that, with an attempt window
 * of 0.5 s against a nearby service, the connection is back within 2 s of the service
 * being reachable again (docs/backends/managed.md, "Reconnection").
 */
const RECONNECT: Backoff = { initialDelay: 100, maxDelay: 1000 };

/** The window of an attempt before any has succeeded: a slow TLS handshake fits in it. */
const FIRST_ATTEMPT_WINDOW_MS = 2000;
const MIN_ATTEMPT_WINDOW_MS = 500;
const MAX_ATTEMPT_WINDOW_MS = 10_000;

/**
 * How long an attempt may go without an outcome before it is abandoned for a fresh one:
 * four times the last handshake, so that a slow link still connects, and at least
 * 0.5 s. For an SDK that reports no failed attempt (pusher-js) this window is what
 * bounds the wait for a service that came back while an attempt sat out its own timer.
 */
function attemptWindow(lastHandshakeMs: number | undefined): number {
  if (lastHandshakeMs === undefined) return FIRST_ATTEMPT_WINDOW_MS;
  return Math.min(MAX_ATTEMPT_WINDOW_MS, Math.max(MIN_ATTEMPT_WINDOW_MS, 4 * lastHandshakeMs));
}

/** What a {@link ConnectionSupervisor} drives and how; durations in milliseconds. */
export interface ConnectionSupervisorOptions {
  /** The service's name in logs and health reasons, e.g. "pusher". */
  readonly service: string;
  readonly driver: ConnectionDriver;
  /**
   * Delays between connection attempts, and between probes while calls fail. Default:
   * from 100 ms, doubling, capped at 1 s.
   */
  readonly reconnect?: Backoff;
  /**
   * How long one attempt may go without an outcome, in ms, given how long the last
   * successful attempt took (undefined before the first). Default: four times the last
   * handshake, within 0.5–10 s; 2 s before the first.
   */
  readonly attemptTimeout?: (lastHandshakeMs: number | undefined) => number;
  readonly log: Logger;
  readonly events?: ConnectionEvents;
  /** Jitter source in [0, 1); `Math.random` by default. */
  readonly random?: () => number;
}

/**
 * A managed backend's view of its service, one per backend: its connection (the
 * SDK's realtime link) and its calls (publish requests), readiness from both, and
 * reconnection on the bridge's own schedule.
 *
 * - Readiness (`health()`, `/readyz`) holds while the connection is up and the last
 *   call succeeded. The first lost connection or failed call makes it unready at
 *   once; the first reconnection or successful call makes it ready again.
 * - After a loss the supervisor reconnects through its driver with a capped,
 *   jittered back-off (`reconnect`), and abandons an attempt that has no outcome
 *   within `attemptTimeout`, so that the connection is back within about
 *   `maxDelay` + one attempt of the service being reachable again, whatever
 *   schedule the SDK has of its own.
 * - While calls fail and the connection is up, it probes the service on the same
 *   back-off, so readiness comes back even when nobody publishes.
 * - As a {@link SendGate} it is open while ready: publications wait in their queue
 *   while the service is away instead of failing against it.
 * - A refusal is final: no more attempts, not ready, until the kind reports a
 *   connection again.
 */
export class ConnectionSupervisor implements SendGate {
  readonly #options: ConnectionSupervisorOptions;
  readonly #reconnect: Backoff;
  readonly #attemptTimeout: (lastHandshakeMs: number | undefined) => number;
  readonly #random: () => number;
  #state: ConnectionState = "connecting";
  #hasStarted = false;
  #hasBeenUp = false;
  /** Why the connection is not up, for health and logs. */
  #reason: string | undefined;
  /** Attempts made since the connection was last up. */
  #attempts = 0;
  /** When the attempt in progress began; undefined while none is. */
  #attemptStartedAt: number | undefined;
  #lastHandshakeMs: number | undefined;
  #downSince: number | undefined;
  /** The delay before the next attempt, or the deadline of the attempt in progress. */
  #timer: NodeJS.Timeout | undefined;
  #isCallFailing = false;
  #callFailures = 0;
  #callReason: string | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #isProbing = false;
  /**
   * Why the service could not be reached, as a probe found it: an SDK that reports no
   * failed attempt (pusher-js) says nothing of its own ({@link explain}).
   */
  #explanation: string | undefined;
  #explaining: Promise<void> | undefined;
  /** Whether `#reason` is ours (an attempt without outcome, a probe's), not the SDK's word. */
  #isReasonOurs = false;
  readonly #openListeners = new Set<() => void>();
  readonly #settleListeners = new Set<() => void>();

  constructor(options: ConnectionSupervisorOptions) {
    this.#options = options;
    this.#reconnect = options.reconnect ?? RECONNECT;
    this.#attemptTimeout = options.attemptTimeout ?? attemptWindow;
    this.#random = options.random ?? Math.random;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get isUp(): boolean {
    return this.#state === "up";
  }

  /** Whether calls may be made now: the connection is up and calls are not failing. */
  get isOpen(): boolean {
    return this.#state === "up" && !this.#isCallFailing;
  }

  /** Why the connection is down or was refused, if it is. */
  get reason(): string | undefined {
    return this.#reason;
  }

  onOpen(listener: () => void): () => void {
    this.#openListeners.add(listener);
    return () => this.#openListeners.delete(listener);
  }

  health(): BackendHealth {
    const { service } = this.#options;
    switch (this.#state) {
      case "closed":
        return { isReady: false, reason: "closed" };
      case "refused":
        return { isReady: false, reason: `${service} refused: ${this.#reason}` };
      case "up":
        return this.#isCallFailing
          ? { isReady: false, reason: `${service} calls failing: ${this.#callReason}` }
          : { isReady: true };
      default:
        return {
          isReady: false,
          reason: `${service} connection ${this.#state}${this.#reason === undefined ? "" : ` (${this.#reason})`}`,
        };
    }
  }

  /** Makes the first attempt. */
  start(): void {
    if (this.#hasStarted) throw new Error("already started");
    this.#hasStarted = true;
    this.#attempt();
  }

  /**
   * Resolves with the state once the connection is up, refused or closed, or with
   * the state it is in after `timeoutMs`.
   */
  whenSettled(timeoutMs: number): Promise<ConnectionState> {
    if (this.#isSettled()) return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#settleListeners.delete(done);
        resolve(this.#state);
      };
      const timer = setTimeout(done, timeoutMs);
      this.#settleListeners.add(done);
    });
  }

  /** The kind's connection is up (first time or again). */
  connected(): void {
    if (this.#state === "closed") return;
    // A new connection before the old one reported its end: whatever the old one held is gone.
    if (this.#state === "up") this.#options.events?.down?.("replaced by a new connection");
    this.#clearTimer();
    if (this.#attemptStartedAt !== undefined) {
      this.#lastHandshakeMs = Date.now() - this.#attemptStartedAt;
      this.#attemptStartedAt = undefined;
    }
    const isReconnect = this.#hasBeenUp;
    const downForMs = this.#downSince === undefined ? undefined : Date.now() - this.#downSince;
    const attempts = this.#attempts;
    this.#state = "up";
    this.#reason = undefined;
    this.#explanation = undefined;
    this.#isReasonOurs = false;
    this.#attempts = 0;
    this.#downSince = undefined;
    this.#hasBeenUp = true;
    if (isReconnect) {
      this.#options.log.info(
        { downForMs, attempts },
        `${this.#options.service} connection is back`,
      );
    }
    this.#options.events?.up?.(isReconnect);
    this.#notifySettled();
    // A reconnection alone does not prove that calls work again; ask at once.
    if (this.#isCallFailing) this.#probeIn(0);
    else this.#notifyOpen();
  }

  /** The connection that was up is gone. Reconnects after the first back-off delay. */
  lost(reason: string): void {
    if (this.#state !== "up") {
      if (this.#attemptStartedAt !== undefined) this.attemptFailed(reason);
      return;
    }
    this.#state = "down";
    this.#reason = reason;
    this.#isReasonOurs = false;
    this.#downSince = Date.now();
    this.#attempts = 0;
    this.#options.driver.disconnect();
    const delay = this.#scheduleAttempt();
    this.#options.log.warn(
      { reason, reconnectInMs: delay },
      `${this.#options.service} connection lost; reconnecting`,
    );
    this.#options.events?.down?.(reason);
  }

  /** The attempt in progress failed; the next follows after a back-off delay. */
  attemptFailed(reason: string): void {
    this.#attemptFailed(reason, false);
  }

  /**
   * Asks the service why the connection is not up, when the SDK has not said: a probe
   * whose failure ("connect ECONNREFUSED 127.0.0.1:6001") becomes the reason until the
   * SDK says something. Resolves once the probe has answered; at once when the
   * connection is up or its reason is the SDK's.
   */
  explain(): Promise<void> {
    const isUnexplained = () =>
      (this.#state === "connecting" || this.#state === "down") &&
      (this.#reason === undefined || this.#isReasonOurs);
    if (!isUnexplained()) return Promise.resolve();
    this.#explaining ??= this.#options.driver
      .probe()
      .then(
        () => {
          this.#explanation = undefined;
        },
        (error: unknown) => {
          if (!isUnexplained()) return;
          this.#explanation = error instanceof Error ? error.message : String(error);
          this.#reason = this.#explanation;
          this.#isReasonOurs = true;
        },
      )
      .finally(() => {
        this.#explaining = undefined;
      });
    return this.#explaining;
  }

  #attemptFailed(reason: string, isOurs: boolean): void {
    if (this.#attemptStartedAt === undefined) return;
    if (this.#state !== "connecting" && this.#state !== "down") return;
    this.#clearTimer();
    this.#attemptStartedAt = undefined;
    this.#reason = reason;
    this.#isReasonOurs = isOurs;
    this.#options.driver.disconnect();
    const delay = this.#scheduleAttempt();
    this.#options.log.debug(
      { reason, attempts: this.#attempts, retryInMs: delay },
      `${this.#options.service} connection attempt failed`,
    );
    this.#options.events?.attemptFailed?.(reason);
  }

  /** The service refused the connection for good: no more attempts. */
  refused(reason: string): void {
    if (this.#state === "closed") return;
    this.#clearTimer();
    this.#clearProbe();
    this.#attemptStartedAt = undefined;
    this.#state = "refused";
    this.#reason = reason;
    this.#options.log.error(
      { reason },
      `${this.#options.service} refused the connection; not retrying`,
    );
    this.#options.events?.refused?.(reason);
    this.#notifySettled();
  }

  /**
   * A call could not reach the service or got no answer: not ready, and the gate
   * closes, until a call or probe succeeds.
   */
  callFailed(reason: string): void {
    if (this.#state === "closed" || this.#state === "refused") return;
    const wasFailing = this.#isCallFailing;
    this.#isCallFailing = true;
    this.#callFailures += 1;
    this.#callReason = reason;
    if (!wasFailing) {
      this.#options.log.warn(
        { reason },
        `${this.#options.service} call failed; not ready until one succeeds`,
      );
    }
    this.#options.events?.callFailed?.(reason);
    if (this.#state === "up") {
      this.#probeIn(backoffDelay(this.#reconnect, this.#callFailures, this.#random));
    }
  }

  /** A call got its answer. */
  callSucceeded(): void {
    if (!this.#isCallFailing) return;
    this.#isCallFailing = false;
    this.#callFailures = 0;
    this.#callReason = undefined;
    this.#clearProbe();
    this.#options.log.info(`${this.#options.service} calls succeed again`);
    if (this.isOpen) this.#notifyOpen();
  }

  /** Stops every timer; the kind closes its SDK itself. */
  close(): void {
    this.#state = "closed";
    this.#clearTimer();
    this.#clearProbe();
    this.#attemptStartedAt = undefined;
    this.#openListeners.clear();
    this.#notifySettled();
  }

  #isSettled(): boolean {
    return this.#state === "up" || this.#state === "refused" || this.#state === "closed";
  }

  #attempt(): void {
    this.#clearTimer();
    if (this.#state !== "connecting" && this.#state !== "down") return;
    this.#attempts += 1;
    this.#attemptStartedAt = Date.now();
    const timeout = this.#attemptTimeout(this.#lastHandshakeMs);
    this.#timer = setTimeout(() => {
      this.#attemptFailed(this.#explanation ?? `no connection within ${timeout} ms`, true);
      void this.explain();
    }, timeout);
    this.#timer.unref();
    this.#options.driver.connect();
  }

  #scheduleAttempt(): number {
    this.#clearTimer();
    const delay = backoffDelay(this.#reconnect, this.#attempts + 1, this.#random);
    this.#timer = setTimeout(() => this.#attempt(), delay);
    this.#timer.unref();
    return delay;
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #probeIn(delay: number): void {
    if (this.#probeTimer !== undefined || this.#isProbing) return;
    this.#probeTimer = setTimeout(() => this.#probe(), delay);
    this.#probeTimer.unref();
  }

  #probe(): void {
    this.#probeTimer = undefined;
    if (this.#state !== "up" || !this.#isCallFailing) return;
    this.#isProbing = true;
    this.#options.driver.probe().then(
      () => {
        this.#isProbing = false;
        if (this.#state !== "closed") this.callSucceeded();
      },
      (error: unknown) => {
        this.#isProbing = false;
        this.callFailed(error instanceof Error ? error.message : String(error));
      },
    );
  }

  #clearProbe(): void {
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  #notifyOpen(): void {
    for (const listener of [...this.#openListeners]) listener();
  }

  #notifySettled(): void {
    for (const listener of [...this.#settleListeners]) listener();
  }
}

import { SwitchyardError } from "../errors.js";
import type { AuthConfig } from "../mapping/types.js";
import { metrics } from "../metrics.js";
import type { Claims } from "./authenticator.js";

/** The event a socket receives, `{code, message}`, just before the server disconnects it. */
export const DISCONNECT_EVENT = "switchyard:disconnect";

/** setTimeout's ceiling: a longer delay would fire at once, so long waits go in steps. */
const MAX_DELAY_MS = 2_147_483_647;

/** What {@link TokenExpiry} needs of a socket. */
export interface ExpiringSocket {
  emit(event: string, ...args: unknown[]): void;
  /** Sends DISCONNECT: the client sees `io server disconnect` and does not reconnect. */
  disconnect(): void;
}

/**
 * Ends connections whose token has expired, in namespaces with
 * `auth: { jwt: { disconnectOnExpiry: true } }`. Each watched socket has one timer, set
 * for its token's `exp` plus `clockTolerance` (rounded up to a whole second, the moment
 * the authenticator starts refusing the token); when it fires the socket receives
 * {@link DISCONNECT_EVENT} `{code: "SWY_AUTH_EXPIRED", message: "Token expired"}` and
 * is then disconnected, in that order on the wire. {@link forget} must be called when
 * the socket leaves, so no timer outlives its socket.
 */
export class TokenExpiry {
  readonly #timers = new Map<ExpiringSocket, NodeJS.Timeout>();
  readonly #maxDelayMs: number;

  /** @param options.maxDelayMs The longest single timer, in ms; default setTimeout's ceiling. */
  constructor(options: { readonly maxDelayMs?: number } = {}) {
    this.#maxDelayMs = options.maxDelayMs ?? MAX_DELAY_MS;
  }

  /**
   * Starts the socket's timer when `auth` asks for `disconnectOnExpiry` and the claims
   * hold a numeric `exp` (a token accepted without one never expires); replaces a
   * timer the socket already had. Does nothing otherwise.
   */
  watch(socket: ExpiringSocket, auth: AuthConfig | undefined, claims: Claims | undefined): void {
    if (auth?.kind !== "jwt" || !auth.disconnectOnExpiry) return;
    const exp = claims?.exp;
    if (typeof exp !== "number") return;
    this.forget(socket);
    // jose refuses a token once the whole seconds of now reach exp + tolerance: end the
    // connection at that moment, when reconnecting with the same token fails too.
    this.#schedule(socket, Math.ceil(exp + auth.clockTolerance) * 1000);
  }

  /** Clears the socket's timer, if it has one. Idempotent. */
  forget(socket: ExpiringSocket): void {
    const timer = this.#timers.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(socket);
  }

  /** How many sockets have a timer running. */
  get size(): number {
    return this.#timers.size;
  }

  // A wait longer than the ceiling goes in steps; a timer that fires before the
  // deadline by the wall clock (a step, rounding, a clock change) waits again.
  #schedule(socket: ExpiringSocket, deadlineMs: number): void {
    const delay = Math.max(0, deadlineMs - Date.now());
    const timer = setTimeout(
      () => (Date.now() < deadlineMs ? this.#schedule(socket, deadlineMs) : this.#expire(socket)),
      Math.min(delay, this.#maxDelayMs),
    );
    // The server's own handles keep the process up; a pending expiry alone should not.
    timer.unref();
    this.#timers.set(socket, timer);
  }

  #expire(socket: ExpiringSocket): void {
    this.#timers.delete(socket);
    const error = new SwitchyardError("SWY_AUTH_EXPIRED");
    metrics.errors.inc({ code: error.code });
    socket.emit(DISCONNECT_EVENT, error.toJSON());
    socket.disconnect();
  }
}

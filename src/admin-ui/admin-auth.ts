import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { compare } from "bcryptjs";
import { SwitchyardError } from "../errors.js";
import { ConnectRefusal } from "../ingress/sio/client.js";
import type { AdminUiConfig } from "../mapping/types.js";

/** Logins whose bcrypt comparison may run at once; more are refused (SWY_ADMIN_UI_BUSY). */
export const MAX_LOGINS_IN_FLIGHT = 4;
/** Session ids a node remembers; past it, the oldest is forgotten (its UI logs in again). */
export const MAX_SESSIONS = 1_000;
/** ms a session id stays valid after the login that made it. */
export const SESSION_TTL = 24 * 60 * 60 * 1000;
/**
 * Longest password compared. bcrypt reads 72 bytes; a longer string would still be
 * encoded whole before it is cut, so a megabyte "password" is refused unread.
 */
const MAX_PASSWORD_LENGTH = 1_024;

/** Session ids kept where every node of a cluster finds them (the admin bus's Redis). */
export interface SessionStore {
  /** Keeps `id` for `ttlMs`; a failure only costs another node's UI a login. */
  remember(id: string, ttlMs: number): void;
  /** ms `id` stays valid, or 0 when it is unknown (or the store cannot be asked). */
  remaining(id: string): Promise<number>;
}

/** Lookups of unknown session ids in the store at once; past it, the id counts as unknown. */
export const MAX_LOOKUPS_IN_FLIGHT = 16;

/** The session ids this node hands out: 18 random bytes as base64url. */
const SESSION_ID = /^[\w-]{24}$/;

/** What the UI sends in its CONNECT: a session id from an earlier login, or credentials. */
interface LoginAuth {
  readonly sessionId?: unknown;
  readonly username?: unknown;
  readonly password?: unknown;
}

/**
 * Basic auth of the admin namespace, as `@socket.io/admin-ui` does it: a username and
 * the bcrypt hash of the password; a successful login gets a session id the UI keeps
 * (in its local storage) and reconnects with. Session ids live in this node's memory and,
 * in a cluster, in the {@link SessionStore} too, so that a UI sent to another node is let
 * in with its session id there.
 *
 * bcrypt costs tens of milliseconds of CPU per comparison on purpose, so at most
 * {@link MAX_LOGINS_IN_FLIGHT} run at once; a flood of logins is refused without one.
 */
export class AdminAuth {
  readonly #auth: AdminUiConfig["auth"];
  /** Session id → when it expires (ms since the epoch); in insertion order, oldest first. */
  readonly #sessions = new Map<string, number>();
  readonly #now: () => number;
  readonly #store: SessionStore | undefined;
  #inFlight = 0;
  #lookups = 0;

  constructor(auth: AdminUiConfig["auth"], store?: SessionStore, now: () => number = Date.now) {
    this.#auth = auth;
    this.#store = store;
    this.#now = now;
  }

  /**
   * Checks a CONNECT's auth payload. Resolves with a new session id after a password
   * login, or undefined (a known session id, or auth off).
   *
   * @throws ConnectRefusal `invalid credentials` (SWY_ADMIN_UI_AUTH_INVALID), or
   *   SWY_ADMIN_UI_BUSY when too many logins are being checked.
   */
  async check(payload: LoginAuth): Promise<string | undefined> {
    const auth = this.#auth;
    if (auth === false) return undefined;
    const { sessionId, username, password } = payload;
    if (typeof sessionId === "string" && (await this.#isSession(sessionId))) return undefined;
    if (
      typeof username !== "string" ||
      typeof password !== "string" ||
      password.length > MAX_PASSWORD_LENGTH
    ) {
      throw refusal(new SwitchyardError("SWY_ADMIN_UI_AUTH_INVALID"));
    }
    if (this.#inFlight >= MAX_LOGINS_IN_FLIGHT) {
      throw refusal(new SwitchyardError("SWY_ADMIN_UI_BUSY", [MAX_LOGINS_IN_FLIGHT]));
    }
    this.#inFlight++;
    let isMatching: boolean;
    try {
      // The hash is compared whatever the username, so that the time taken does not
      // tell a right username from a wrong one.
      const isPassword = await compare(password, auth.password.reveal());
      isMatching = sameText(username, auth.username) && isPassword;
    } finally {
      this.#inFlight--;
    }
    if (!isMatching) throw refusal(new SwitchyardError("SWY_ADMIN_UI_AUTH_INVALID"));
    return this.#newSession();
  }

  async #isSession(id: string): Promise<boolean> {
    const expires = this.#sessions.get(id);
    if (expires !== undefined) {
      if (expires > this.#now()) return true;
      this.#sessions.delete(id);
      return false;
    }
    // Another node's login: asked of the store, for ids of our shape only, a few at a time.
    if (this.#store === undefined || !SESSION_ID.test(id)) return false;
    if (this.#lookups >= MAX_LOOKUPS_IN_FLIGHT) return false;
    this.#lookups++;
    let remaining: number;
    try {
      remaining = await this.#store.remaining(id);
    } finally {
      this.#lookups--;
    }
    if (remaining <= 0) return false;
    this.#keep(id, this.#now() + remaining);
    return true;
  }

  #newSession(): string {
    const id = randomBytes(18).toString("base64url");
    this.#keep(id, this.#now() + SESSION_TTL);
    this.#store?.remember(id, SESSION_TTL);
    return id;
  }

  #keep(id: string, expires: number): void {
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(id, expires);
  }
}

function refusal(error: SwitchyardError): ConnectRefusal {
  return new ConnectRefusal(error.message, { code: error.code });
}

/** Compares two strings in a time that does not depend on where they differ. */
function sameText(a: string, b: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../../../src/mapping/secret.js";
import type { AuthConfig, JwtAuthConfig } from "../../../src/mapping/types.js";
import { type ExpiringSocket, TokenExpiry } from "../../../src/router/token-expiry.js";

/** A socket that writes down what the server did to it, and when. */
class RecordingSocket implements ExpiringSocket {
  readonly log: string[] = [];
  disconnectedAt = 0;
  readonly disconnected: Promise<void>;
  #resolve: () => void = () => {};

  constructor() {
    this.disconnected = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  emit(event: string, ...args: unknown[]): void {
    this.log.push(`${event} ${JSON.stringify(args)}`);
  }

  disconnect(): void {
    this.disconnectedAt = Date.now();
    this.log.push("disconnect");
    this.#resolve();
  }
}

function jwtAuth(overrides: Partial<JwtAuthConfig> = {}): JwtAuthConfig {
  return {
    kind: "jwt",
    key: { type: "secret", secret: new Secret("a-test-secret-that-is-long-enough-for-hs256") },
    algorithms: ["HS256"],
    clockTolerance: 0,
    allowNoExpiry: false,
    disconnectOnExpiry: true,
    ...overrides,
  };
}

/** An `exp` claim `ms` from now, in seconds (fractions allowed, as in a NumericDate). */
const expIn = (ms: number) => (Date.now() + ms) / 1000;
/** The next whole second: the earliest `exp` these tests wait for, at most a second away. */
const nextSecond = () => Math.ceil(Date.now() / 1000);

let expiry: TokenExpiry;
afterEach(() => {
  for (const socket of watched) expiry.forget(socket);
  watched.length = 0;
});
const watched: RecordingSocket[] = [];

function watch(auth: AuthConfig | undefined, claims: Record<string, unknown>): RecordingSocket {
  const socket = new RecordingSocket();
  watched.push(socket);
  expiry.watch(socket, auth, claims);
  return socket;
}

describe("TokenExpiry", () => {
  it("tells the socket why, then disconnects it, once its token's exp has passed", async () => {
    expiry = new TokenExpiry();
    const exp = nextSecond();
    const socket = watch(jwtAuth(), { exp });
    await socket.disconnected;
    expect(socket.disconnectedAt).toBeGreaterThanOrEqual(exp * 1000);
    expect(socket.log).toEqual([
      'switchyard:disconnect [{"code":"SWY_AUTH_EXPIRED","message":"Token expired"}]',
      "disconnect",
    ]);
    expect(expiry.size).toBe(0);
  });

  it("waits clockTolerance seconds past exp", async () => {
    expiry = new TokenExpiry();
    const exp = nextSecond() - 1;
    const socket = watch(jwtAuth({ clockTolerance: 1 }), { exp });
    await socket.disconnected;
    expect(socket.disconnectedAt).toBeGreaterThanOrEqual((exp + 1) * 1000);
  });

  it("rounds a fractional exp up to the whole second the authenticator refuses it from", async () => {
    expiry = new TokenExpiry();
    const exp = expIn(10);
    const socket = watch(jwtAuth(), { exp });
    await socket.disconnected;
    expect(socket.disconnectedAt).toBeGreaterThanOrEqual(Math.ceil(exp) * 1000);
  });

  it("waits in steps no longer than the timer ceiling, and still expires on time", async () => {
    expiry = new TokenExpiry({ maxDelayMs: 20 });
    const exp = nextSecond();
    const socket = watch(jwtAuth(), { exp });
    await socket.disconnected;
    expect(socket.disconnectedAt).toBeGreaterThanOrEqual(exp * 1000);
    expect(socket.log.filter((entry) => entry === "disconnect")).toHaveLength(1);
  });

  it("does not fire a token that expires in 40 days before one that expires now", async () => {
    // setTimeout fires a delay above 2^31-1 ms at once; this one is above it.
    expiry = new TokenExpiry();
    const later = watch(jwtAuth(), { exp: expIn(40 * 86_400_000) });
    const soon = watch(jwtAuth(), { exp: nextSecond() });
    await soon.disconnected;
    expect(later.log).toEqual([]);
    expect(expiry.size).toBe(1);
  });

  it("keeps one timer per socket, and forget clears it", async () => {
    expiry = new TokenExpiry();
    const forgotten = new RecordingSocket();
    expiry.watch(forgotten, jwtAuth(), { exp: nextSecond() - 5 });
    expiry.watch(forgotten, jwtAuth(), { exp: nextSecond() });
    expect(expiry.size).toBe(1);
    expiry.forget(forgotten);
    expiry.forget(forgotten);
    expect(expiry.size).toBe(0);
    const witness = watch(jwtAuth(), { exp: nextSecond() });
    await witness.disconnected;
    expect(forgotten.log).toEqual([]);
  });

  it("watches nothing without the option, without exp, or outside a jwt namespace", () => {
    expiry = new TokenExpiry();
    watch(jwtAuth({ disconnectOnExpiry: false }), { exp: expIn(10) });
    watch(jwtAuth({ allowNoExpiry: true }), {});
    watch(jwtAuth(), { exp: "soon" });
    watch({ kind: "none" }, { exp: expIn(10) });
    watch(undefined, { exp: expIn(10) });
    expect(expiry.size).toBe(0);
  });
});

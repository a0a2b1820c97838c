import { createPublicKey, type KeyObject } from "node:crypto";
import {
  createLocalJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { type ErrorCode, SwitchyardError } from "../errors.js";
import type { JwtAuthConfig } from "../mapping/types.js";

/** The verified claims of a token. */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * Verifies the JSON Web Token of a namespace with `auth: { jwt }`. The key is imported
 * once, when the authenticator is built; it is never logged.
 *
 * A token is accepted when its signature verifies with the configured key under one of
 * the configured algorithms, and its `exp`, `nbf`, `iss` and `aud` pass (with
 * `clockTolerance` seconds of leeway). Anything else is refused with a coded error:
 * SWY_AUTH_REQUIRED (no token), SWY_AUTH_EXPIRED (`exp` passed) or SWY_AUTH_INVALID
 * (everything else: malformed, bad signature, algorithm not allowed, wrong issuer or
 * audience, not yet valid).
 */
export class Authenticator {
  readonly #config: JwtAuthConfig;
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey;

  constructor(config: JwtAuthConfig) {
    this.#config = config;
    const { key } = config;
    // A key set picks the key by the token's `kid` (and `alg`); jose does the choosing.
    this.#key =
      key.type === "secret"
        ? new TextEncoder().encode(key.secret.reveal())
        : key.type === "jwks"
          ? createLocalJWKSet(key.jwks.reveal() as JSONWebKeySet)
          : createPublicKey({ key: key.pem.reveal(), format: "pem" });
  }

  /**
   * Verifies the `token` field of a CONNECT auth payload.
   *
   * @returns The token's claims.
   * @throws SwitchyardError SWY_AUTH_REQUIRED, SWY_AUTH_INVALID or SWY_AUTH_EXPIRED
   *   (rejects; an unexpected failure keeps its own error).
   */
  async verify(auth: Readonly<Record<string, unknown>>): Promise<Claims> {
    const token = auth.token;
    if (token === undefined || token === null || token === "") {
      throw new SwitchyardError("SWY_AUTH_REQUIRED");
    }
    if (typeof token !== "string") throw new SwitchyardError("SWY_AUTH_INVALID");
    const c = this.#config;
    let payload: JWTPayload;
    const options = {
      algorithms: [...c.algorithms],
      clockTolerance: c.clockTolerance,
      ...(c.issuer === undefined ? {} : { issuer: c.issuer }),
      ...(c.audience === undefined ? {} : { audience: c.audience }),
    };
    try {
      // Two calls because jose's overloads separate a key from a key-choosing function.
      ({ payload } =
        typeof this.#key === "function"
          ? await jwtVerify(token, this.#key, options)
          : await jwtVerify(token, this.#key, options));
    } catch (cause) {
      throw new SwitchyardError(refusalOf(cause), [], { cause });
    }
    return payload as Claims;
  }
}

function refusalOf(cause: unknown): ErrorCode {
  if (cause instanceof errors.JWTExpired) return "SWY_AUTH_EXPIRED";
  if (cause instanceof errors.JOSEError) return "SWY_AUTH_INVALID";
  // Not the token's fault (a key jose cannot use, a bug): the client gets SWY_INTERNAL.
  throw cause;
}

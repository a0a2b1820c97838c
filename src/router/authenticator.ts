import { createPublicKey, type KeyObject } from "node:crypto";
import {
  createLocalJWKSet,
  errors,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from "jose";
import { type ErrorCode, SwitchyardError } from "../errors.js";
import type { JsonWebKeySet, JwtAuthConfig } from "../mapping/types.js";

/** The verified claims of a token. */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * Verifies the JSON Web Token of a namespace with `auth: { jwt }`. The key is imported
 * once, when the authenticator is built; it is never logged.
 *
 * A token is accepted when its signature verifies with the configured key under one of
 * the configured algorithms, and its `exp`, `nbf`, `iss` and `aud` pass (with
 * `clockTolerance` seconds of leeway). It must carry `exp` unless `allowNoExpiry`, and,
 * with `maxTokenAge`, an `iat` no older than that. Anything else is refused with a coded
 * error, always after the signature verified (a forged token learns nothing but
 * SWY_AUTH_INVALID): SWY_AUTH_REQUIRED (no token), SWY_AUTH_EXPIRED (`exp` passed, or
 * `iat` older than `maxTokenAge`), SWY_AUTH_EXPIRY_REQUIRED (no `exp`),
 * SWY_AUTH_ISSUED_AT_REQUIRED (no `iat` under `maxTokenAge`) or SWY_AUTH_INVALID
 * (everything else: malformed, bad signature, algorithm not allowed, no key of a key
 * set matches, wrong issuer or audience, not yet valid).
 */
export class Authenticator {
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly #options: JWTVerifyOptions;

  constructor(config: JwtAuthConfig) {
    const { key } = config;
    this.#key =
      key.type === "secret"
        ? new TextEncoder().encode(key.secret.reveal())
        : key.type === "jwks"
          ? keySetChooser(key.jwks.reveal())
          : createPublicKey({ key: key.pem.reveal(), format: "pem" });
    this.#options = {
      algorithms: [...config.algorithms],
      clockTolerance: config.clockTolerance,
      ...(config.allowNoExpiry ? {} : { requiredClaims: ["exp"] }),
      ...(config.maxTokenAge === undefined ? {} : { maxTokenAge: config.maxTokenAge }),
      ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
      ...(config.audience === undefined ? {} : { audience: config.audience }),
    };
  }

  /**
   * Verifies the `token` field of a CONNECT auth payload.
   *
   * @returns The token's claims.
   * @throws SwitchyardError SWY_AUTH_REQUIRED, SWY_AUTH_INVALID, SWY_AUTH_EXPIRED,
   *   SWY_AUTH_EXPIRY_REQUIRED or SWY_AUTH_ISSUED_AT_REQUIRED (rejects; an unexpected
   *   failure keeps its own error).
   */
  async verify(auth: Readonly<Record<string, unknown>>): Promise<Claims> {
    const token = auth.token;
    if (token === undefined || token === null || token === "") {
      throw new SwitchyardError("SWY_AUTH_REQUIRED");
    }
    if (typeof token !== "string") throw new SwitchyardError("SWY_AUTH_INVALID");
    let payload: JWTPayload;
    try {
      // Two calls because jose's overloads separate a key from a key-choosing function.
      ({ payload } =
        typeof this.#key === "function"
          ? await jwtVerify(token, this.#key, this.#options)
          : await jwtVerify(token, this.#key, this.#options));
    } catch (cause) {
      throw new SwitchyardError(refusalOf(cause), [], { cause });
    }
    return payload as Claims;
  }
}

function refusalOf(cause: unknown): ErrorCode {
  if (cause instanceof errors.JWTExpired) return "SWY_AUTH_EXPIRED";
  // jose checks claims only once the signature verified, so these tell nothing to a forger.
  if (cause instanceof errors.JWTClaimValidationFailed && cause.reason === "missing") {
    if (cause.claim === "exp") return "SWY_AUTH_EXPIRY_REQUIRED";
    if (cause.claim === "iat") return "SWY_AUTH_ISSUED_AT_REQUIRED";
  }
  if (cause instanceof errors.JOSEError) return "SWY_AUTH_INVALID";
  // Not the token's fault (a key jose cannot use, a bug): the client gets SWY_INTERNAL.
  throw cause;
}

/**
 * Chooses a token's key from a JSON Web Key Set. jose's local key set takes public keys
 * only, so RSA and EC keys go through it and `oct` (HMAC) keys through the same rules
 * here: for an HS* token, the `oct` keys whose `alg` is the token's (or absent), whose
 * `kid` is the token's (when it has one), whose `use` is `sig` (or absent) and whose
 * `key_ops` include `verify` (or are absent). Exactly one may match; none or several
 * refuse the token.
 */
function keySetChooser(jwks: JsonWebKeySet): JWTVerifyGetKey {
  const secretKeys = jwks.keys.filter((jwk) => jwk.kty === "oct");
  const publicKeys = createLocalJWKSet({
    keys: jwks.keys.filter((jwk) => jwk.kty !== "oct"),
  } as JSONWebKeySet);
  return async (header, token) => {
    const { alg, kid } = header;
    if (!alg.startsWith("HS")) return publicKeys(header, token);
    const matching = secretKeys.filter((jwk) => isUsableSecretKey(jwk, alg, kid));
    if (matching.length === 0) throw new errors.JWKSNoMatchingKey();
    if (matching.length > 1) throw new errors.JWKSMultipleMatchingKeys();
    return importJWK(matching[0] as JWK, alg);
  };
}

function isUsableSecretKey(
  jwk: Readonly<Record<string, unknown>>,
  alg: string,
  kid: string | undefined,
): boolean {
  const ops = jwk.key_ops;
  return (
    (kid === undefined || jwk.kid === kid) &&
    (jwk.alg === undefined || jwk.alg === alg) &&
    (jwk.use === undefined || jwk.use === "sig") &&
    (ops === undefined || (Array.isArray(ops) && ops.includes("verify")))
  );
}

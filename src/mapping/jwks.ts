/**
 * Reads `auth.jwt.jwksFile`: a JSON Web Key Set on disk. Shared by validation (a bad
 * file is a diagnostic) and compilation (the key set and the default `algorithms`).
 * Never echoes key material: problems name the file and the key's index only.
 */

import { createPublicKey, createSecretKey, type JsonWebKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { HMAC_ALGORITHMS, RECOMMENDED_SECRET_LENGTH } from "./schema.js";
import type { JsonWebKeySet } from "./types.js";

const EC_BY_CURVE: Readonly<Record<string, string>> = {
  "P-256": "ES256",
  "P-384": "ES384",
  "P-521": "ES512",
};
const RSA_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/** A key set and what it verifies, or why the file is unusable. */
export type JwksRead =
  | {
      readonly jwks: JsonWebKeySet;
      readonly algorithms: readonly string[];
      /** Indexes of `oct` keys shorter than RECOMMENDED_SECRET_LENGTH bytes. */
      readonly weakKeys: readonly number[];
      readonly problem?: undefined;
    }
  | {
      readonly jwks?: undefined;
      readonly algorithms?: undefined;
      readonly weakKeys?: undefined;
      readonly problem: string;
    };

/**
 * Reads and checks a JWKS file: JSON `{ "keys": [...] }` with at least one key, each
 * importable (RSA, EC on P-256/384/521, or oct) and with an `alg`, when it has one,
 * that its type can verify. The algorithms are each key's `alg` when it has one, else
 * every algorithm its type allows.
 */
export function readJwks(file: string): JwksRead {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return { problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "is not JSON" };
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    return { problem: 'is not a key set: it needs a non-empty "keys" list' };
  }
  const algorithms = new Set<string>();
  const weakKeys: number[] = [];
  for (const [i, key] of keys.entries()) {
    const found = keyAlgorithms(key);
    if (found === undefined) {
      return { problem: `key ${i} is not an RSA, EC (P-256, P-384, P-521) or oct JSON Web Key` };
    }
    const { alg, kty, k } = key as { alg?: unknown; kty: string; k?: unknown };
    if (typeof alg === "string") {
      if (!found.includes(alg))
        return { problem: `key ${i} is of type ${kty}, which cannot verify its alg ${alg}` };
      algorithms.add(alg);
    } else {
      for (const algorithm of found) algorithms.add(algorithm);
    }
    if (kty === "oct" && Buffer.from(String(k), "base64url").length < RECOMMENDED_SECRET_LENGTH) {
      weakKeys.push(i);
    }
  }
  return { jwks: { keys: keys as JsonWebKeySet["keys"] }, algorithms: [...algorithms], weakKeys };
}

/** Every algorithm a key's type can verify, or `undefined` when it is not a usable key. */
function keyAlgorithms(key: unknown): readonly string[] | undefined {
  if (typeof key !== "object" || key === null) return undefined;
  const jwk = key as JsonWebKey;
  try {
    if (jwk.kty === "oct") createSecretKey(Buffer.from(String(jwk.k ?? ""), "base64url"));
    else createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    return undefined;
  }
  switch (jwk.kty) {
    case "RSA":
      return RSA_ALGORITHMS;
    case "EC": {
      const algorithm = EC_BY_CURVE[String(jwk.crv)];
      return algorithm === undefined ? undefined : [algorithm];
    }
    case "oct":
      return typeof jwk.k === "string" && jwk.k !== "" ? HMAC_ALGORITHMS : undefined;
    default:
      return undefined;
  }
}

/**
 * What a PEM public key of `auth.jwt.publicKey` can verify. Shared by validation
 * (an unusable key is a diagnostic) and compilation (the default `algorithms`).
 */

import { createPublicKey } from "node:crypto";

/** ES* by curve: a key verifies only the algorithm of its own curve. */
const EC_ALGORITHMS: Readonly<Record<string, string>> = {
  prime256v1: "ES256",
  secp384r1: "ES384",
  secp521r1: "ES512",
};

const RSA_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const;

/**
 * The JWS algorithms `pem` can verify: RS* and PS* for an RSA key, PS* for an
 * RSA-PSS key, the ES* of its curve for an EC key. Empty when `pem` is not a PEM
 * public key of one of these types. Never throws and never echoes the key.
 */
export function publicKeyAlgorithms(pem: string): readonly string[] {
  let details: { type?: string; curve?: string };
  try {
    const key = createPublicKey({ key: pem, format: "pem" });
    details = {
      type: key.asymmetricKeyType,
      curve: key.asymmetricKeyDetails?.namedCurve,
    };
  } catch {
    return [];
  }
  switch (details.type) {
    case "rsa":
      return RSA_ALGORITHMS;
    case "rsa-pss":
      return RSA_ALGORITHMS.filter((a) => a.startsWith("PS"));
    case "ec": {
      const algorithm = details.curve === undefined ? undefined : EC_ALGORITHMS[details.curve];
      return algorithm === undefined ? [] : [algorithm];
    }
    default:
      return [];
  }
}

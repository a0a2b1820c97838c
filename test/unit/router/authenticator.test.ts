// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import type { SwitchyardConfig } from "../../../src/mapping/types.js";
import { Authenticator } from "../../../src/router/authenticator.js";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const HS_KEY = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function authenticatorOf(config: SwitchyardConfig | undefined): Authenticator {
  const auth = config?.namespaces.get("/")?.auth;
  if (auth?.kind !== "jwt") throw new Error("no jwt namespace");
  return new Authenticator(auth);
}

/** The authenticator of `/` with `jwt: { secret, ...options }`. */
function withSecret(options = ""): Authenticator {
  const yaml = `namespaces:\n  /:\n    auth: { jwt: { secret: "\${S}"${options} } }\n`;
  const { config, diagnostics } = loadConfigFromString(yaml, "t.yaml", { S: SECRET });
  expect(diagnostics.map(formatDiagnostic)).toEqual([]);
  return authenticatorOf(config);
}

/** The claims a token verifies to, or the code it is refused with. */
async function outcome(authenticator: Authenticator, token: string): Promise<unknown> {
  try {
    return await authenticator.verify({ token });
  } catch (error) {
    return (error as { code?: string }).code ?? error;
  }
}

function hs(claims: JWTPayload, key: Uint8Array = HS_KEY, header: Record<string, string> = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", ...header }).sign(key);
}

describe("Authenticator: token lifetime", () => {
  it("refuses a token without exp with SWY_AUTH_EXPIRY_REQUIRED, and a forged one as invalid", async () => {
    const authenticator = withSecret();
    expect(await outcome(authenticator, await hs({ sub: "a" }))).toBe("SWY_AUTH_EXPIRY_REQUIRED");
    const forged = await hs({ sub: "a" }, new TextEncoder().encode(`${SECRET}-not`));
    expect(await outcome(authenticator, forged)).toBe("SWY_AUTH_INVALID");
  });

  it("accepts a token without exp when allowNoExpiry is true", async () => {
    const authenticator = withSecret(", allowNoExpiry: true");
    expect(await outcome(authenticator, await hs({ sub: "a" }))).toEqual({ sub: "a" });
  });

  it("still refuses an expired token with allowNoExpiry", async () => {
    const authenticator = withSecret(", allowNoExpiry: true");
    expect(await outcome(authenticator, await hs({ exp: now() - 10 }))).toBe("SWY_AUTH_EXPIRED");
  });

  it("refuses, under maxTokenAge, a token issued too long ago and one without iat", async () => {
    const authenticator = withSecret(", maxTokenAge: 3600");
    const exp = now() + 600;
    expect(await outcome(authenticator, await hs({ iat: now() - 7200, exp }))).toBe(
      "SWY_AUTH_EXPIRED",
    );
    expect(await outcome(authenticator, await hs({ exp }))).toBe("SWY_AUTH_ISSUED_AT_REQUIRED");
    const fresh = { iat: now() - 600, exp };
    expect(await outcome(authenticator, await hs(fresh))).toEqual(fresh);
  });

  it("gives maxTokenAge the clockTolerance too", async () => {
    const authenticator = withSecret(", maxTokenAge: 3600, clockTolerance: 30");
    const claims = { iat: now() - 3610, exp: now() + 600 };
    expect(await outcome(authenticator, await hs(claims))).toEqual(claims);
  });
});

describe("Authenticator: a key set with oct keys next to public keys", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function withKeySet(keys: JWK[]): Promise<Authenticator> {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-oct-"));
    dirs.push(dir);
    writeFileSync(join(dir, "keys.json"), JSON.stringify({ keys }));
    const file = join(dir, "switchyard.yaml");
    writeFileSync(file, "namespaces:\n  /:\n    auth: { jwt: { jwksFile: keys.json } }\n");
    const { config, diagnostics } = loadConfig(file, {});
    expect(diagnostics.map(formatDiagnostic)).toEqual([]);
    return authenticatorOf(config);
  }

  const oct = (kid: string, secret: Uint8Array, alg?: string): JWK => ({
    kty: "oct",
    kid,
    k: Buffer.from(secret).toString("base64url"),
    ...(alg === undefined ? {} : { alg }),
  });

  it("verifies HS256 tokens by kid with the oct key, and RS256 ones with the RSA key", async () => {
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const authenticator = await withKeySet([
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256" },
      oct("hs-1", HS_KEY, "HS256"),
    ]);
    const exp = now() + 300;
    expect(
      await outcome(authenticator, await hs({ sub: "h", exp }, HS_KEY, { kid: "hs-1" })),
    ).toEqual({ sub: "h", exp });
    const rs = await new SignJWT({ sub: "r", exp })
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
      .sign(rsa.privateKey);
    expect(await outcome(authenticator, rs)).toEqual({ sub: "r", exp });
  });

  it("refuses an HS token with another key, an unknown kid or an alg the key does not have", async () => {
    const authenticator = await withKeySet([oct("hs-1", HS_KEY, "HS256")]);
    const exp = now() + 300;
    const other = new TextEncoder().encode(`${SECRET}-other`);
    expect(await outcome(authenticator, await hs({ exp }, other, { kid: "hs-1" }))).toBe(
      "SWY_AUTH_INVALID",
    );
    expect(await outcome(authenticator, await hs({ exp }, HS_KEY, { kid: "hs-2" }))).toBe(
      "SWY_AUTH_INVALID",
    );
    const hs512 = await new SignJWT({ exp })
      .setProtectedHeader({ alg: "HS512", kid: "hs-1" })
      .sign(HS_KEY);
    expect(await outcome(authenticator, hs512)).toBe("SWY_AUTH_INVALID");
  });

  it("needs a kid to choose between two oct keys, and any HS* fits a key without alg", async () => {
    const second = new TextEncoder().encode(`${SECRET}-second`);
    const authenticator = await withKeySet([oct("hs-1", HS_KEY), oct("hs-2", second)]);
    const exp = now() + 300;
    expect(await outcome(authenticator, await hs({ exp }, second))).toBe("SWY_AUTH_INVALID");
    const hs384 = await new SignJWT({ exp })
      .setProtectedHeader({ alg: "HS384", kid: "hs-2" })
      .sign(second);
    expect(await outcome(authenticator, hs384)).toEqual({ exp });
  });
});

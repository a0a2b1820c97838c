import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import pino from "pino";
import { io } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { ConfigReloader } from "../../src/config-reloader.js";
import { loadConfig } from "../../src/mapping/compile.js";
import { startSwitchyard } from "../../src/switchyard.js";
import { useCleanup } from "../helpers/cleanup.js";

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

async function keyPair(alg: "RS256" | "ES256"): Promise<KeyPair> {
  return generateKeyPair(alg, { extractable: true });
}

async function publicJwk(pair: KeyPair, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
}

function token(pair: KeyPair, kid: string, alg: string, sub: string): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg, kid })
    .setExpirationTime("5m")
    .sign(pair.privateKey);
}

const YAML = `
namespaces:
  /:
    auth: { jwt: { jwksFile: keys.json } }
    events:
      whoami: { action: join, room: "lobby", allow: [lobby], ack: { sub: "{claims.sub}" } }
`;

describe("auth.jwt.jwksFile: tokens verified with a local JSON Web Key Set", () => {
  const cleanup = useCleanup();

  async function start(keys: JWK[]) {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-jwks-"));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "switchyard.yaml");
    const writeKeys = (list: JWK[]) =>
      writeFileSync(join(dir, "keys.json"), JSON.stringify({ keys: list }));
    writeKeys(keys);
    writeFileSync(file, YAML);
    const { config, diagnostics } = loadConfig(file, {});
    expect(diagnostics).toEqual([]);
    const log = pino({ level: "silent" });
    const server = await startSwitchyard(config!, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => server.close());
    const reloader = new ConfigReloader(file, server, { log, env: {} });
    const url = `http://127.0.0.1:${server.port}`;
    /** Resolves with the `sub` the server read from the token, or the refusal's code. */
    const whoami = (jwt: string) =>
      new Promise<string>((resolve) => {
        const socket = io(url, { forceNew: true, reconnection: false, auth: { token: jwt } });
        cleanup.add(() => socket.close());
        socket.once("connect", async () => {
          const ack = (await socket.emitWithAck("whoami")) as { sub: string };
          resolve(`sub ${ack.sub}`);
        });
        socket.once("connect_error", (error: Error & { data?: { code: string } }) =>
          resolve(`refused ${error.data?.code}`),
        );
      });
    return { whoami, writeKeys, reloader };
  }

  it("picks the key by the token's kid, among RSA and EC keys", async () => {
    const rsa = await keyPair("RS256");
    const ec = await keyPair("ES256");
    const stranger = await keyPair("RS256");
    const { whoami } = await start([
      await publicJwk(rsa, "rsa-1", "RS256"),
      await publicJwk(ec, "ec-1", "ES256"),
    ]);
    expect(await whoami(await token(rsa, "rsa-1", "RS256", "ann"))).toBe("sub ann");
    expect(await whoami(await token(ec, "ec-1", "ES256", "bob"))).toBe("sub bob");
    expect(await whoami(await token(stranger, "rsa-1", "RS256", "eve"))).toBe(
      "refused SWY_AUTH_INVALID",
    );
    expect(await whoami(await token(stranger, "rsa-9", "RS256", "eve"))).toBe(
      "refused SWY_AUTH_INVALID",
    );
  });

  it("verifies a jose-made HS256 token with an oct key that sits next to an RSA key", async () => {
    const rsa = await keyPair("RS256");
    const hmac = new TextEncoder().encode("an-hmac-key-of-more-than-32-bytes-for-hs256");
    const octKey: JWK = { kty: "oct", kid: "hs-1", alg: "HS256", k: base64url.encode(hmac) };
    const { whoami } = await start([await publicJwk(rsa, "rsa-1", "RS256"), octKey]);
    const hs256 = (key: Uint8Array, kid: string) =>
      new SignJWT({ sub: "hal" })
        .setProtectedHeader({ alg: "HS256", kid })
        .setExpirationTime("5m")
        .sign(key);
    expect(await whoami(await hs256(hmac, "hs-1"))).toBe("sub hal");
    expect(await whoami(await token(rsa, "rsa-1", "RS256", "ann"))).toBe("sub ann");
    const guessed = new TextEncoder().encode("a-guessed-key-of-more-than-32-bytes-for-hs256");
    expect(await whoami(await hs256(guessed, "hs-1"))).toBe("refused SWY_AUTH_INVALID");
  });

  it("rotates keys on reload: the new set's tokens pass, the retired key's fail", async () => {
    const old = await keyPair("ES256");
    const fresh = await keyPair("ES256");
    const { whoami, writeKeys, reloader } = await start([await publicJwk(old, "2026-01", "ES256")]);
    expect(await whoami(await token(old, "2026-01", "ES256", "ann"))).toBe("sub ann");

    writeKeys([await publicJwk(fresh, "2026-02", "ES256")]);
    expect(await reloader.reload("signal")).toBe("applied");
    expect(await whoami(await token(fresh, "2026-02", "ES256", "ann"))).toBe("sub ann");
    expect(await whoami(await token(old, "2026-01", "ES256", "ann"))).toBe(
      "refused SWY_AUTH_INVALID",
    );
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold ${VAR} references on purpose.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import type { Env } from "../../../src/mapping/load.js";

function diagnose(yaml: string, env: Env = {}): string[] {
  return loadConfigFromString(yaml, "t.yaml", env).diagnostics.map(formatDiagnostic);
}

const SECRET_ENV = { JWT_SECRET: "s3cret-s3cret-s3cret-s3cret-s3cret" };

function rsaPem(): string {
  return generateKeyPairSync("rsa", { modulusLength: 2048 })
    .publicKey.export({ type: "spki", format: "pem" })
    .toString();
}

describe("auth and join: validation", () => {
  it("accepts claims in room, args, ack and join templates of a jwt namespace", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { jwt: { secret: "${JWT_SECRET}" } }',
      '    join: ["user:{claims.sub}", "org:{claims.org.id}", "lobby"]',
      "    events:",
      '      hi: { action: broadcast, room: "user:{claims.sub}", args: ["{claims}"], ack: "{claims.sub}" }',
    ].join("\n");
    expect(diagnose(yaml, SECRET_ENV)).toEqual([]);
  });

  it("refuses {claims} in a namespace without auth: jwt, in rules and in join", () => {
    const yaml = [
      "namespaces:", //                                             1
      "  /:", //                                                    2
      "    auth: none", //                                          3
      '    join: ["user:{claims.sub}"]', //                        4
      "    events:", //                                             5
      '      hi: { action: join, room: "{claims.room}", allow: ["room:{id}"] }', // 6
      "  /other:", //                                               7
      '    auth: { jwt: { secret: "${JWT_SECRET}" } }', //          8
      '    join: ["{claims.sub}"]', //                              9
    ].join("\n");
    expect(diagnose(yaml, SECRET_ENV)).toEqual([
      "t.yaml:4:12 SWY_CFG_TEMPLATE '{claims.sub}' reads token claims, which only a namespace with auth: { jwt } or { webhook } has (add auth: { jwt: { secret: ... } } to this namespace)",
      "t.yaml:6:33 SWY_CFG_TEMPLATE '{claims.room}' reads token claims, which only a namespace with auth: { jwt } or { webhook } has (add auth: { jwt: { secret: ... } } to this namespace)",
    ]);
  });

  it("refuses event values in join, which runs before any event", () => {
    const yaml = ["namespaces:", "  /:", '    join: ["{data.room}", "{auth.team}"]'].join("\n");
    expect(diagnose(yaml)).toEqual([
      "t.yaml:3:12 SWY_CFG_TEMPLATE '{data.room}' reads an event; a namespace's join has none",
    ]);
  });

  it("requires a key, and only one", () => {
    const yaml = [
      "namespaces:", //                                                     1
      "  /a:", //                                                           2
      "    auth: { jwt: { issuer: x } }", //                                3
      "  /b:", //                                                           4
      '    auth: { jwt: { secret: "${JWT_SECRET}", publicKey: "${JWT_SECRET}" } }', // 5
    ].join("\n");
    expect(diagnose(yaml, SECRET_ENV)).toEqual([
      `t.yaml:3:18 SWY_CFG_REQUIRED Missing required key 'secret' (in namespaces["/a"].auth.jwt: give secret (HS*), publicKey (PEM, RS*/PS*/ES*) or jwksFile)`,
      `t.yaml:5:45 SWY_CFG_VALUE namespaces["/b"].auth.jwt takes one of secret, publicKey and jwksFile, not secret and publicKey`,
    ]);
  });

  it("reports an unset key variable once, without the key", () => {
    const yaml = ["namespaces:", "  /:", '    auth: { jwt: { secret: "${JWT_SECRET}" } }'].join(
      "\n",
    );
    expect(diagnose(yaml)).toEqual([
      "t.yaml:3:28 SWY_CFG_ENV Environment variable JWT_SECRET is not set (set it, or write ${JWT_SECRET:-default})",
    ]);
  });

  it("warns about a secret written in the file", () => {
    const yaml = ["namespaces:", "  /:", "    auth: { jwt: { secret: hunter2-hunter2 } }"].join(
      "\n",
    );
    const out = diagnose(yaml);
    expect(out).toEqual([
      `t.yaml:3:28 SWY_CFG_INSECURE warning: namespaces["/"].auth.jwt.secret is shorter than 32 characters: anyone who guesses it can sign tokens (use at least 32 random characters, e.g. from openssl rand -base64 32)`,
      `t.yaml:3:28 SWY_CFG_VALUE warning: namespaces["/"].auth.jwt.secret is written in the file, where anyone who reads it can sign tokens (read it from the environment: secret: "\${JWT_SECRET}")`,
    ]);
    expect(out.join("\n")).not.toContain("hunter2");
  });

  it("refuses a public key that is not a usable PEM key, without printing it", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { jwt: { publicKey: "${JWT_PUBLIC_KEY}" } }',
    ].join("\n");
    expect(diagnose(yaml, { JWT_PUBLIC_KEY: "not-a-pem-key" })).toEqual([
      "t.yaml:3:31 SWY_CFG_VALUE The value of ${JWT_PUBLIC_KEY} is not a PEM public key of type RSA or EC (P-256, P-384, P-521)",
    ]);
  });

  it("refuses algorithms the key cannot verify", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { jwt: { publicKey: "${JWT_PUBLIC_KEY}", algorithms: [RS256, HS256] } }',
    ].join("\n");
    expect(diagnose(yaml, { JWT_PUBLIC_KEY: rsaPem() })).toEqual([
      "t.yaml:3:72 SWY_CFG_VALUE Algorithm HS256 cannot be verified with this publicKey (it allows RS256, RS384, RS512, PS256, PS384, PS512)",
    ]);
  });

  it("refuses an auth that is neither none nor a jwt mapping, and unknown jwt keys", () => {
    const yaml = [
      "namespaces:",
      "  /a:",
      "    auth: basic", // 3
      "  /b:",
      '    auth: { jwt: { secret: "${JWT_SECRET}", algorithm: HS256 } }', // 5
    ].join("\n");
    expect(diagnose(yaml, SECRET_ENV)).toEqual([
      `t.yaml:3:11 SWY_CFG_TYPE namespaces["/a"].auth must be "none" or a mapping with jwt or webhook, got 'basic'`,
      "t.yaml:5:45 SWY_CFG_UNKNOWN_KEY Unknown key 'algorithm' (did you mean 'algorithms'?)",
    ]);
  });
});

describe("auth and join: compile", () => {
  it("compiles auth with defaults from the key and holds the key as a secret", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { jwt: { secret: "${JWT_SECRET}", issuer: iss } }',
      '    join: ["user:{claims.sub}"]',
      "  /pk:",
      '    auth: { jwt: { publicKey: "${JWT_PUBLIC_KEY}" } }',
      "  /open: {}",
    ].join("\n");
    const { config } = loadConfigFromString(yaml, "t.yaml", {
      ...SECRET_ENV,
      JWT_PUBLIC_KEY: rsaPem(),
    });
    const root = config?.namespaces.get("/");
    expect(root?.auth).toMatchObject({
      kind: "jwt",
      algorithms: ["HS256", "HS384", "HS512"],
      issuer: "iss",
      clockTolerance: 0,
    });
    expect(JSON.stringify(root?.auth)).not.toContain("s3cret");
    expect(
      root?.join[0]?.({ args: [], auth: {}, claims: { sub: "al" }, socketId: "s", nsp: "/" }),
    ).toBe("user:al");
    expect(config?.namespaces.get("/pk")?.auth).toMatchObject({
      algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
    });
    expect(config?.namespaces.get("/open")).toMatchObject({ auth: { kind: "none" }, join: [] });
  });
});

describe("auth: { webhook }", () => {
  it("compiles url and the default 5000 ms timeout, and lets templates read claims", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { webhook: { url: "${AUTH_URL}" } }',
      '    join: ["user:{claims.sub}"]',
    ].join("\n");
    const { config, diagnostics } = loadConfigFromString(yaml, "t.yaml", {
      AUTH_URL: "http://app:8080/auth",
    });
    expect(diagnostics).toEqual([]);
    expect(config?.namespaces.get("/")?.auth).toEqual({
      kind: "webhook",
      url: "http://app:8080/auth",
      timeout: 5000,
    });
  });

  it("refuses jwt and webhook together, an empty auth mapping and a url that is not http", () => {
    const yaml = [
      "namespaces:",
      "  /a:",
      '    auth: { jwt: { secret: "${JWT_SECRET}" }, webhook: { url: "http://app" } }', // 3
      "  /b:",
      "    auth: {}", // 5
      "  /c:",
      "    auth: { webhook: { url: ftp://app } }", // 7
    ].join("\n");
    expect(diagnose(yaml, SECRET_ENV)).toEqual([
      `t.yaml:3:11 SWY_CFG_VALUE namespaces["/a"].auth takes jwt or webhook, not both`,
      `t.yaml:5:11 SWY_CFG_VALUE namespaces["/b"].auth must not be empty`,
      `t.yaml:7:29 SWY_CFG_VALUE namespaces["/c"].auth.webhook.url must be an http:// or https:// URL, got 'ftp://app'`,
    ]);
  });
});

describe("auth.jwt.jwksFile: validation", () => {
  it("reports a key set that is missing, not JSON, empty or holds an unusable key", () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-jwks-"));
    try {
      writeFileSync(join(dir, "text.json"), "not json");
      writeFileSync(join(dir, "empty.json"), '{"keys": []}');
      writeFileSync(join(dir, "odd.json"), '{"keys": [{"kty": "OKP"}]}');
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = publicKey.export({ format: "jwk" });
      writeFileSync(join(dir, "ec.json"), JSON.stringify({ keys: [jwk] }));
      const yaml = [
        "namespaces:",
        `  /a: { auth: { jwt: { jwksFile: "${dir}/none.json" } } }`,
        `  /b: { auth: { jwt: { jwksFile: "${dir}/text.json" } } }`,
        `  /c: { auth: { jwt: { jwksFile: "${dir}/empty.json" } } }`,
        `  /d: { auth: { jwt: { jwksFile: "${dir}/odd.json" } } }`,
        `  /e: { auth: { jwt: { algorithms: [RS256], jwksFile: "${dir}/ec.json" } } }`,
        `  /f: { auth: { jwt: { jwksFile: "${dir}/ec.json", secret: "\${JWT_SECRET}" } } }`,
        `  /g: { auth: { jwt: { jwksFile: "${dir}/ec.json" } } }`,
      ].join("\n");
      const lines = diagnose(yaml, SECRET_ENV).map((line) => line.replaceAll(dir, "DIR"));
      expect(lines).toEqual([
        "t.yaml:2:34 SWY_CFG_VALUE The key set 'DIR/none.json' cannot be read (ENOENT)",
        "t.yaml:3:34 SWY_CFG_VALUE The key set 'DIR/text.json' is not JSON",
        `t.yaml:4:34 SWY_CFG_VALUE The key set 'DIR/empty.json' is not a key set: it needs a non-empty "keys" list`,
        "t.yaml:5:34 SWY_CFG_VALUE The key set 'DIR/odd.json' key 0 is not an RSA, EC (P-256, P-384, P-521) or oct JSON Web Key",
        "t.yaml:6:37 SWY_CFG_VALUE Algorithm RS256 cannot be verified with this key set (it allows ES256)",
        't.yaml:7:24 SWY_CFG_VALUE namespaces["/f"].auth.jwt takes one of secret, publicKey and jwksFile, not secret and jwksFile',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import type { Env } from "../../../src/mapping/load.js";
import type { ForwardRule } from "../../../src/mapping/types.js";

const STRONG = "0123456789abcdef0123456789abcdef-strong";
const WEAK = "only-twenty-chars-20";

/** Diagnostics of a file that must still load: warnings only. */
function warnings(yaml: string, env: Env = {}): string[] {
  const { config, diagnostics } = loadConfigFromString(yaml, "t.yaml", env);
  expect(config).toBeDefined();
  return diagnostics.map(formatDiagnostic);
}

const NO_ALLOW =
  "SWY_CFG_INSECURE warning: Join rule 'join' has no allow list: a client joins any room it names, another socket's id included (list the rooms it may join, e.g. allow: [\"room:{id}\"])";

describe("SWY_CFG_INSECURE: join rules without an allow list", () => {
  it("warns at the rule when allow is absent, and at the list when it is empty", () => {
    const yaml = [
      "namespaces:", //                                           1
      "  /:", //                                                  2
      "    events:", //                                           3
      '      join: { action: join, room: "{data.room}" }', //     4
      "  /b:", //                                                 5
      "    events:", //                                           6
      "      join:", //                                           7
      "        action: join", //                                  8
      '        room: "{data.room}"', //                           9
      "        allow: []", //                                     10
    ].join("\n");
    expect(warnings(yaml)).toEqual([`t.yaml:4:13 ${NO_ALLOW}`, `t.yaml:10:16 ${NO_ALLOW}`]);
  });

  it("says nothing of a join with patterns, an explicit '*', or other actions", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      "    events:",
      '      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }',
      '      any: { action: join, room: "{data.room}", allow: ["*"] }',
      '      leave: { action: leave, room: "{data.room}" }',
      '      say: { action: broadcast, room: "{data.room}" }',
    ].join("\n");
    expect(warnings(yaml)).toEqual([]);
  });
});

describe("SWY_CFG_INSECURE: rooms named from {auth} where claims are verified", () => {
  it("warns for room templates and the namespace's join, with jwt and with webhook", () => {
    const yaml = [
      "namespaces:", //                                                            1
      "  /jwt:", //                                                                2
      '    auth: { jwt: { secret: "${JWT_SECRET}" } }', //                          3
      '    join: ["user:{auth.userId}", "user:{claims.sub}"]', //                   4
      "    events:", //                                                            5
      '      join: { action: join, room: "team:{auth.team}", allow: ["team:{t}"] }', // 6
      '      leave: { action: leave, room: "{auth}" }', //                         7
      "  /hook:", //                                                               8
      '    auth: { webhook: { url: "http://app/auth" } }', //                      9
      "    events:", //                                                            10
      '      say: { action: broadcast, room: "{auth.room}" }', //                  11
    ].join("\n");
    const risk = "names a room from the CONNECT auth payload, which the client chooses";
    expect(warnings(yaml, { JWT_SECRET: STRONG })).toEqual([
      `t.yaml:4:12 SWY_CFG_INSECURE warning: '{auth.userId}' ${risk}: any client can name any room this way (read the verified claims instead: '{claims.userId}')`,
      `t.yaml:6:35 SWY_CFG_INSECURE warning: '{auth.team}' ${risk}: any client can name any room this way (read the verified claims instead: '{claims.team}')`,
      `t.yaml:7:37 SWY_CFG_INSECURE warning: '{auth}' ${risk}: any client can name any room this way (read the verified claims instead: '{claims}')`,
      `t.yaml:11:39 SWY_CFG_INSECURE warning: '{auth.room}' ${risk}: any client can name any room this way (read the verified claims instead: '{claims.room}')`,
    ]);
  });

  it("says nothing of {auth} in args and acks, or in a namespace without auth", () => {
    const yaml = [
      "namespaces:",
      "  /jwt:",
      '    auth: { jwt: { secret: "${JWT_SECRET}" } }',
      "    events:",
      '      say: { action: broadcast, room: lobby, args: ["{auth.name}"], ack: "{auth}" }',
      "  /open:",
      '    join: ["team:{auth.team}"]',
    ].join("\n");
    expect(warnings(yaml, { JWT_SECRET: STRONG })).toEqual([]);
  });
});

describe("SWY_CFG_INSECURE: weak secrets, never printed", () => {
  it("warns about a short JWT secret, webhook signing secret and forward signing secret", () => {
    const yaml = [
      "namespaces:", //                                                                     1
      "  /:", //                                                                            2
      '    auth: { jwt: { secret: "${S}" } }', //                                           3
      "    events:", //                                                                     4
      '      ask: { action: forward, url: "http://app/e", signingSecret: "${S}" }', //      5
      "  /hook:", //                                                                        6
      '    auth: { webhook: { url: "http://app/a", signingSecret: "${S}" } }', //           7
    ].join("\n");
    const lines = warnings(yaml, { S: WEAK });
    const short = (path: string, risk: string) =>
      `SWY_CFG_INSECURE warning: ${path} is shorter than 32 characters: anyone who guesses it can sign ${risk} (use at least 32 random characters, e.g. from openssl rand -base64 32)`;
    expect(lines).toEqual([
      `t.yaml:3:28 ${short('namespaces["/"].auth.jwt.secret', "tokens")}`,
      `t.yaml:5:67 ${short('namespaces["/"].events.ask.signingSecret', "requests to the app")}`,
      `t.yaml:7:60 ${short('namespaces["/hook"].auth.webhook.signingSecret', "requests to the app")}`,
    ]);
    expect(lines.join("\n")).not.toContain(WEAK);
  });

  it("warns about a signing secret written in the file, whatever its length", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      "    events:",
      `      ask: { action: forward, url: "http://app/e", signingSecret: ${STRONG} }`,
    ].join("\n");
    const lines = warnings(yaml);
    expect(lines).toEqual([
      `t.yaml:4:67 SWY_CFG_INSECURE warning: namespaces["/"].events.ask.signingSecret is written in the file, where anyone who reads it can sign requests to the app (read it from the environment: signingSecret: "\${APP_SIGNING_SECRET}")`,
    ]);
    expect(lines.join("\n")).not.toContain(STRONG);
  });

  it("warns about an oct key of the key set shorter than 32 bytes, naming its index only", () => {
    const dir = mkdtempSync(join(tmpdir(), "swy-weak-"));
    try {
      const weakK = Buffer.from("sixteen-byte-key").toString("base64url");
      const strongK = Buffer.from(STRONG).toString("base64url");
      writeFileSync(
        join(dir, "keys.json"),
        JSON.stringify({
          keys: [
            { kty: "oct", k: strongK },
            { kty: "oct", k: weakK },
          ],
        }),
      );
      const lines = warnings(
        `namespaces:\n  /: { auth: { jwt: { jwksFile: "${dir}/keys.json" } } }\n`,
      ).map((line) => line.replaceAll(dir, "DIR"));
      expect(lines).toEqual([
        "t.yaml:2:33 SWY_CFG_INSECURE warning: Key 1 of the key set 'DIR/keys.json' is an oct key shorter than 32 bytes: anyone who guesses it can sign tokens (use at least 32 random bytes)",
      ]);
      expect(lines.join("\n")).not.toContain(weakK);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a key whose alg its type cannot verify", () => {
    const dir = mkdtempSync(join(tmpdir(), "swy-oct-alg-"));
    try {
      const k = Buffer.from(STRONG).toString("base64url");
      writeFileSync(
        join(dir, "keys.json"),
        JSON.stringify({ keys: [{ kty: "oct", k, alg: "RS256" }] }),
      );
      const { config, diagnostics } = loadConfigFromString(
        `namespaces:\n  /: { auth: { jwt: { jwksFile: "${dir}/keys.json" } } }\n`,
        "t.yaml",
        {},
      );
      expect(config).toBeUndefined();
      expect(diagnostics.map(formatDiagnostic).map((l) => l.replaceAll(dir, "DIR"))).toEqual([
        "t.yaml:2:33 SWY_CFG_VALUE The key set 'DIR/keys.json' key 0 is of type oct, which cannot verify its alg RS256",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("token lifetime, signing and token forwarding: compile", () => {
  it("compiles the jwt lifetime options with their defaults", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { jwt: { secret: "${S}" } }',
      "  /strict:",
      '    auth: { jwt: { secret: "${S}", maxTokenAge: 900, disconnectOnExpiry: true } }',
      "  /lax:",
      '    auth: { jwt: { secret: "${S}", allowNoExpiry: true } }',
    ].join("\n");
    const { config } = loadConfigFromString(yaml, "t.yaml", { S: STRONG });
    const auth = (nsp: string) => config!.namespaces.get(nsp)!.auth;
    expect(auth("/")).toMatchObject({ allowNoExpiry: false, disconnectOnExpiry: false });
    expect(auth("/")).not.toHaveProperty("maxTokenAge");
    expect(auth("/strict")).toMatchObject({ maxTokenAge: 900, disconnectOnExpiry: true });
    expect(auth("/lax")).toMatchObject({ allowNoExpiry: true });
  });

  it("refuses a maxTokenAge that is not a positive number of seconds", () => {
    const { config, diagnostics } = loadConfigFromString(
      'namespaces:\n  /: { auth: { jwt: { secret: "${S}", maxTokenAge: 0 } } }\n',
      "t.yaml",
      { S: STRONG },
    );
    expect(config).toBeUndefined();
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      't.yaml:2:52 SWY_CFG_VALUE namespaces["/"].auth.jwt.maxTokenAge must be at least 1, got 0',
    ]);
  });

  it("keeps signing secrets as secrets, and forward rules drop the token by default", () => {
    const yaml = [
      "namespaces:",
      "  /:",
      '    auth: { webhook: { url: "http://app/a", signingSecret: "${S}" } }',
      "    events:",
      '      ask: { action: forward, url: "http://app/e", signingSecret: "${S}" }',
      '      tell: { action: forward, url: "http://app/e", includeToken: true }',
    ].join("\n");
    const { config, diagnostics } = loadConfigFromString(yaml, "t.yaml", { S: STRONG });
    expect(diagnostics).toEqual([]);
    const nsp = config!.namespaces.get("/")!;
    const ask = nsp.events.get("ask") as ForwardRule;
    const tell = nsp.events.get("tell") as ForwardRule;
    expect(ask.signingSecret!.reveal()).toBe(STRONG);
    expect(ask.includeToken).toBe(false);
    expect(tell.includeToken).toBe(true);
    expect(tell.signingSecret).toBeUndefined();
    expect(nsp.auth.kind === "webhook" && nsp.auth.signingSecret?.reveal()).toBe(STRONG);
    expect(JSON.stringify(nsp.auth)).not.toContain(STRONG);
    expect(inspect(config, { depth: 10 })).not.toContain(STRONG);
  });
});

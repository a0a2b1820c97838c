// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold ${VAR} references on purpose.
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import type { Env } from "../../../src/mapping/load.js";

const TOKEN = "s3cr3t-token-0123456789-abcdefghij";
const NAMESPACES = "namespaces:\n  /: {}\n";

function load(api: string, env: Env = {}) {
  const result = loadConfigFromString(`${api}\n${NAMESPACES}`, "t.yaml", env);
  return { config: result.config, lines: result.diagnostics.map(formatDiagnostic) };
}

describe("the api block", () => {
  it("is off when absent: the compiled config has no api", () => {
    const { config, lines } = load("");
    expect(lines).toEqual([]);
    expect(config!.api).toBeUndefined();
  });

  it("compiles a token from the environment into a frozen secret that never prints", () => {
    const { config, lines } = load('api:\n  token: "${SWITCHYARD_API_TOKEN}"', {
      SWITCHYARD_API_TOKEN: TOKEN,
    });
    expect(lines).toEqual([]);
    const api = config!.api!;
    expect(api.token.reveal()).toBe(TOKEN);
    expect(Object.isFrozen(api)).toBe(true);
    expect(Object.isFrozen(api.token)).toBe(true);
    expect(JSON.stringify(config)).not.toContain(TOKEN);
    expect(JSON.stringify(api)).toBe('{"token":"[secret]"}');
    expect(inspect(config, { depth: 10 })).not.toContain(TOKEN);
    expect(String(api.token)).toBe("[secret]");
  });

  it("requires a token, and knows no other key", () => {
    expect(load("api: {}").lines).toEqual([
      "t.yaml:1:6 SWY_CFG_REQUIRED Missing required key 'token' (in api)",
    ]);
    expect(load('api:\n  tokn: "${T}"', { T: TOKEN }).lines).toEqual([
      "t.yaml:1:1 SWY_CFG_REQUIRED Missing required key 'token' (in api)",
      "t.yaml:2:3 SWY_CFG_UNKNOWN_KEY Unknown key 'tokn' (did you mean 'token'?)",
    ]);
    expect(load("api: true").lines).toEqual([
      "t.yaml:1:6 SWY_CFG_TYPE api must be a mapping, got true",
    ]);
  });

  it("refuses a token shorter than 16 characters or with characters a bearer token cannot hold", () => {
    expect(load('api:\n  token: "${T}"', { T: "short-token" }).lines).toEqual([
      "t.yaml:2:10 SWY_CFG_VALUE api.token must be at least 16 characters long",
    ]);
    const spaced = "has spaces in it, 30 characters";
    const { lines } = load('api:\n  token: "${T}"', { T: spaced });
    expect(lines).toEqual([
      "t.yaml:2:10 SWY_CFG_VALUE api.token must be a bearer token: letters, digits and -._~+/, then optional =, got the value of ${T}",
    ]);
    expect(
      load('api:\n  token: "${T}"', { T: "padded-token-0123456789-abcdefghij==" }).lines,
    ).toEqual([]);
  });

  it("warns about a token of 16 to 31 characters, which loads, without printing it", () => {
    const short = "short-but-valid-token-0123";
    const { config, lines } = load('api:\n  token: "${T}"', { T: short });
    expect(config!.api!.token.reveal()).toBe(short);
    expect(lines).toEqual([
      "t.yaml:2:10 SWY_CFG_INSECURE warning: api.token is shorter than 32 characters: a short token is easier to guess (use at least 32 random characters, e.g. from openssl rand -base64 32)",
    ]);
    expect(lines.join("\n")).not.toContain(short);
  });

  it("reports an unset variable, not an empty token", () => {
    expect(load('api:\n  token: "${SWITCHYARD_API_TOKEN}"').lines).toEqual([
      "t.yaml:2:10 SWY_CFG_ENV Environment variable SWITCHYARD_API_TOKEN is not set (set it, or write ${SWITCHYARD_API_TOKEN:-default})",
    ]);
  });

  it("warns about a token written in the file, and never prints it", () => {
    const { config, lines } = load(`api:\n  token: ${TOKEN}`);
    expect(config!.api!.token.reveal()).toBe(TOKEN);
    expect(lines).toEqual([
      't.yaml:2:10 SWY_CFG_VALUE warning: api.token is written in the file, where anyone who reads it can use the API (read it from the environment: token: "${SWITCHYARD_API_TOKEN}")',
    ]);
    const bad = load("api:\n  token: not a bearer token at all");
    expect(bad.config).toBeUndefined();
    expect(bad.lines).toContain(
      "t.yaml:2:10 SWY_CFG_VALUE api.token must be a bearer token: letters, digits and -._~+/, then optional =, got a value not shown here (it is a secret)",
    );
    const numeric = load("api:\n  token: 12345678901234567890");
    expect(numeric.lines).toEqual([
      "t.yaml:2:10 SWY_CFG_TYPE api.token must be a string, got a value not shown here (it is a secret)",
    ]);
    for (const line of [...lines, ...bad.lines, ...numeric.lines]) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain("bearer token at all");
      expect(line).not.toContain("1234567890");
    }
  });
});

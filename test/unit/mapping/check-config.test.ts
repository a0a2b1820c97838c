// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { checkConfig } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import { parseConfigText } from "../../../src/mapping/load.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "swy-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
function file(text: string): string {
  const path = join(dir, `${++count}.yaml`);
  writeFileSync(path, text);
  return path;
}

const examples = readdirSync(join(root, "examples"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.split(/[\\/]/).at(-1) === "switchyard.yaml")
  .map((f) =>
    relative(root, join(root, "examples", f))
      .split("\\")
      .join("/"),
  )
  .sort();

describe("parseConfigText with missingEnv: warning", () => {
  it("reports an unset variable as a warning at its value, and leaves that value unchecked", () => {
    const doc = parseConfigText(
      "a: ${X}\nb: ${Y:-y}\nc: x${X}${Z}\n",
      "t.yaml",
      {},
      {
        missingEnv: "warning",
      },
    );
    expect(doc.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:1:4 SWY_CFG_ENV warning: Environment variable X is not set (the value that reads it is not checked)",
      "t.yaml:3:4 SWY_CFG_ENV warning: Environment variable X is not set (the value that reads it is not checked)",
      "t.yaml:3:4 SWY_CFG_ENV warning: Environment variable Z is not set (the value that reads it is not checked)",
    ]);
    expect(doc.unsetEnv).toEqual(["X", "Z"]);
    expect(doc.isEnvBroken(["a"])).toBe(true);
    expect(doc.isEnvBroken(["b"])).toBe(false);
  });

  it("keeps a malformed reference an error", () => {
    const doc = parseConfigText("a: ${1X}\n", "t.yaml", {}, { missingEnv: "warning" });
    expect(doc.diagnostics.map((d) => [d.code, d.severity])).toEqual([
      ["SWY_CFG_ENV_SYNTAX", "error"],
    ]);
  });
});

describe("checkConfig", () => {
  const SECRET_PORT = [
    "server:",
    "  port: ${PORT}",
    "api:",
    '  token: "${API_TOKEN}"',
    "namespaces:",
    "  /: {}",
    "  /chat: {}",
    "",
  ].join("\n");

  it("without allowMissingEnv is loadConfig: an unset variable makes the file invalid", () => {
    const result = checkConfig(file(SECRET_PORT), { env: {} });
    expect(result.isValid).toBe(false);
    expect(result.diagnostics.map((d) => [d.code, d.severity])).toEqual([
      ["SWY_CFG_ENV", "error"],
      ["SWY_CFG_ENV", "error"],
    ]);
  });

  it("with allowMissingEnv passes a file whose only problems are unset variables, naming them", () => {
    const result = checkConfig(file(SECRET_PORT), { env: {}, allowMissingEnv: true });
    expect(result).toMatchObject({ isValid: true, namespaces: 2, unsetEnv: ["PORT", "API_TOKEN"] });
    expect(result.diagnostics.every((d) => d.severity === "warning")).toBe(true);
  });

  it("with allowMissingEnv and every variable set, compiles the file as start would", () => {
    const env = { PORT: "4000", API_TOKEN: "an-api-token-of-32-characters-ok" };
    const result = checkConfig(file(SECRET_PORT), { env, allowMissingEnv: true });
    expect(result).toEqual({ diagnostics: [], isValid: true, namespaces: 2, unsetEnv: [] });
  });

  it("with allowMissingEnv still reports what is wrong around the unset values", () => {
    const text = SECRET_PORT.replace(
      "  /chat: {}",
      "  /chat:\n    events:\n      x: { acton: join }",
    );
    const result = checkConfig(file(text), { env: {}, allowMissingEnv: true });
    expect(result.isValid).toBe(false);
    expect(result.diagnostics.map((d) => `${d.code} ${d.severity}`)).toEqual([
      "SWY_CFG_ENV warning",
      "SWY_CFG_ENV warning",
      "SWY_CFG_REQUIRED error",
      "SWY_CFG_UNKNOWN_KEY error",
    ]);
  });

  it("with allowMissingEnv leaves every value that reads an unset variable unchecked, whatever checks it", () => {
    const text = [
      "server:",
      "  port: ${PORT}",
      '  cors: { origin: "${ORIGIN}", credentials: true }',
      "backends:",
      "  pusher:",
      "    kind: pusher",
      '    settings: { appId: "${APP_ID}", key: "${KEY}", secret: "${SECRET}", cluster: "${CLUSTER}" }',
      "  bus:",
      "    kind: websocket",
      '    settings: { url: "${WS_URL}", preset: socketcluster }',
      "namespaces:",
      "  /:",
      '    auth: { jwt: { publicKey: "${PUBLIC_KEY}", algorithms: [RS256] } }',
      '    join: ["user:{claims.sub}", "${LOBBY}"]',
      "    routes:",
      '      - { room: "room:{id}", backend: pusher, channel: "${PREFIX}-room-{id}" }',
      '      - { room: "${PATTERN}", backend: bus, channel: "c.${X}.{id}" }',
      "    events:",
      '      join: { action: join, room: "${ROOM}", allow: ["${ALLOW}", "room:{id}"] }',
      '      report: { action: forward, url: "${APP_URL}/x", timeout: "${TIMEOUT}" }',
      '  /chat: { auth: { jwt: { jwksFile: "${JWKS}" } } }',
      '  /hook: { auth: { webhook: { url: "${HOOK}", signingSecret: "${SIGN}" } } }',
      "",
    ].join("\n");
    const result = checkConfig(file(text), { env: {}, allowMissingEnv: true });
    expect(result.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic)).toEqual(
      [],
    );
    expect(result.isValid).toBe(true);
    expect(result.unsetEnv).toHaveLength(19);
  });

  it.each(examples)("with allowMissingEnv passes %s with no environment", (example) => {
    const result = checkConfig(join(root, example), { env: {}, allowMissingEnv: true });
    expect(
      result.diagnostics.filter((d) => d.code !== "SWY_CFG_ENV").map(formatDiagnostic),
    ).toEqual([]);
    expect(result.isValid).toBe(true);
  });
});

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const invalidDir = join(root, "test/fixtures/invalid");
const validDir = join(root, "test/fixtures/valid");

/**
 * The only environment fixtures see. Invalid fixtures read these to prove that values
 * from the environment never reach a diagnostic.
 */
const FIXTURE_ENV = { SWITCHYARD_SECRET: "hunter2{", SWITCHYARD_PORT: "4000" };

/**
 * What examples read with no default: the credentials of a hosted service, which an
 * example never writes in the file (examples/pusher/switchyard.yaml).
 */
const EXAMPLE_ENV = {
  PUSHER_APP_ID: "1",
  PUSHER_KEY: "example-key",
  PUSHER_SECRET: "example-secret",
  CHAT_JWT_SECRET: "example-jwt-secret-0123456789abcdef",
  SWITCHYARD_API_TOKEN: "example-api-token-0123456789abcdef",
  CHAT_SIGNING_SECRET: "example-signing-secret-0123456789abcdef",
  ABLY_KEY: "example-app.example-key:example-secret",
  WS_BUS_URL: "ws://127.0.0.1:8000/socketcluster/",
  LEGACY_URL: "http://127.0.0.1:3001",
};

/** Repository-relative, `/`-separated: the name diagnostics print. */
const name = (file: string) => relative(root, file).split("\\").join("/");

function load(file: string, env: Record<string, string>) {
  return loadConfigFromString(readFileSync(file, "utf8"), name(file), env);
}

const invalid = readdirSync(invalidDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

const valid = [
  ...readdirSync(validDir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(validDir, f)),
  join(root, "config/switchyard.yaml"),
  ...readdirSync(join(root, "examples"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.split(/[\\/]/).at(-1) === "switchyard.yaml")
    .map((f) => join(root, "examples", f)),
].sort();

describe("invalid fixtures", () => {
  it("exist, each with its .expected diagnostics", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(10);
    const expected = readdirSync(invalidDir).filter((f) => f.endsWith(".expected"));
    expect(expected.map((f) => f.replace(/\.expected$/, ".yaml")).sort()).toEqual(invalid);
  });

  it.each(invalid)("%s prints exactly its .expected diagnostics", (file) => {
    const path = join(invalidDir, file);
    const result = load(path, FIXTURE_ENV);
    const actual = result.diagnostics.map(formatDiagnostic);
    const expected = readFileSync(path.replace(/\.yaml$/, ".expected"), "utf8")
      .split("\n")
      .filter((line) => line !== "");
    expect(actual).toEqual(expected);
    expect(result.config).toBeUndefined();
    for (const line of actual) expect(line).not.toContain(FIXTURE_ENV.SWITCHYARD_SECRET);
  });
});

describe("valid configurations", () => {
  it("include the default config and every example", () => {
    const names = valid.map(name);
    expect(names).toContain("config/switchyard.yaml");
    expect(names).toContain("examples/bench/switchyard.yaml");
  });

  it.each(valid.map(name))(
    "%s compiles with no diagnostics and no environment (examples: EXAMPLE_ENV)",
    (file) => {
      const result = load(join(root, file), file.startsWith("examples/") ? EXAMPLE_ENV : {});
      expect(result.diagnostics.map(formatDiagnostic)).toEqual([]);
      expect(result.config).toBeDefined();
    },
  );
});

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../../src/mapping/compile.js";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import { EXAMPLE_ENV } from "../../helpers/example-env.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const invalidDir = join(root, "test/fixtures/invalid");
const validDir = join(root, "test/fixtures/valid");

/**
 * The only environment fixtures see. Invalid fixtures read these to prove that values
 * from the environment never reach a diagnostic.
 */
const FIXTURE_ENV = { SWITCHYARD_SECRET: "hunter2{", SWITCHYARD_PORT: "4000" };

/** Repository-relative, `/`-separated: the name diagnostics print. */
const name = (file: string) => relative(root, file).split("\\").join("/");

function load(file: string, env: Record<string, string>) {
  return loadConfigFromString(readFileSync(file, "utf8"), name(file), env);
}

/**
 * Broken files: `NAME.yaml`, or `NAME.yaml.txt` for YAML that does not parse (Biome
 * formats every .yaml file and refuses one it cannot parse).
 */
const invalid = readdirSync(invalidDir)
  .filter((f) => f.endsWith(".yaml") || f.endsWith(".yaml.txt"))
  .sort();

const expectedOf = (file: string) => file.replace(/\.yaml(\.txt)?$/, ".expected");

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
    expect(expected.sort()).toEqual(invalid.map(expectedOf).sort());
  });

  it.each(invalid)("%s prints exactly its .expected diagnostics", (file) => {
    const path = join(invalidDir, file);
    const result = load(path, FIXTURE_ENV);
    const actual = result.diagnostics.map(formatDiagnostic);
    const expected = readFileSync(expectedOf(path), "utf8")
      .split("\n")
      .filter((line) => line !== "");
    expect(actual).toEqual(expected);
    expect(result.config).toBeUndefined();
    // A `.yaml.txt` is there for a syntax error: one that parses is a broken fixture.
    if (file.endsWith(".yaml.txt")) {
      expect(result.diagnostics.map((d) => d.code)).toContain("SWY_CFG_YAML");
    }
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

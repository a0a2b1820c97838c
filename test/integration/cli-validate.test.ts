// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { runCli } from "../helpers/cli.js";

/**
 * Runs `switchyard validate` to completion with an empty environment, so no secret the
 * examples read is set, whatever the machine's.
 */
const validate = (args: string[]) => runCli(["validate", ...args], { env: {} });

const lines = (text: string) => text.split("\n").filter((line) => line !== "");

describe("switchyard validate", () => {
  const cleanup = useCleanup();

  function tempFile(text: string): string {
    const dir = mkdtempSync(join(tmpdir(), "swy-validate-"));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "switchyard.yaml");
    writeFileSync(file, text);
    return file;
  }

  it("checks config/switchyard.yaml when given no file, as start does", async () => {
    const result = await validate([]);
    expect(result).toEqual({
      code: 0,
      stdout: "config/switchyard.yaml: valid (1 namespace(s))\n",
      stderr: "",
    });
  });

  it("exits 1 on examples/chat without its secrets, naming each unset variable", async () => {
    const result = await validate(["examples/chat/switchyard.yaml"]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      "examples/chat/switchyard.yaml:31:10 SWY_CFG_ENV Environment variable SWITCHYARD_API_TOKEN is not set (set it, or write ${SWITCHYARD_API_TOKEN:-default})",
      "examples/chat/switchyard.yaml:37:17 SWY_CFG_ENV Environment variable CHAT_JWT_SECRET is not set (set it, or write ${CHAT_JWT_SECRET:-default})",
      "examples/chat/switchyard.yaml:95:24 SWY_CFG_ENV Environment variable CHAT_SIGNING_SECRET is not set (set it, or write ${CHAT_SIGNING_SECRET:-default})",
    ]);
  });

  it("--allow-missing-env passes examples/chat without its secrets, each unset variable a warning at its place", async () => {
    const result = await validate(["--allow-missing-env", "examples/chat/switchyard.yaml"]);
    expect(result.code).toBe(0);
    expect(lines(result.stderr)).toEqual([
      "examples/chat/switchyard.yaml:31:10 SWY_CFG_ENV warning: Environment variable SWITCHYARD_API_TOKEN is not set (the value that reads it is not checked)",
      "examples/chat/switchyard.yaml:37:17 SWY_CFG_ENV warning: Environment variable CHAT_JWT_SECRET is not set (the value that reads it is not checked)",
      "examples/chat/switchyard.yaml:95:24 SWY_CFG_ENV warning: Environment variable CHAT_SIGNING_SECRET is not set (the value that reads it is not checked)",
    ]);
    expect(result.stdout).toBe(
      "examples/chat/switchyard.yaml: valid (1 namespace(s)); the values of unset SWITCHYARD_API_TOKEN, CHAT_JWT_SECRET, CHAT_SIGNING_SECRET were not checked\n",
    );
  });

  it("--allow-missing-env still exits 1 on a structural error, the unset variable a warning beside it", async () => {
    const file = tempFile(
      [
        "api:",
        '  token: "${API_TOKEN}"',
        "namespaces:",
        "  /:",
        "    events:",
        "      join:",
        "        acton: join",
        '        room: "{data.room}"',
        "",
      ].join("\n"),
    );
    const result = await validate(["--allow-missing-env", file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(lines(result.stderr)).toEqual([
      `${file}:2:10 SWY_CFG_ENV warning: Environment variable API_TOKEN is not set (the value that reads it is not checked)`,
      `${file}:6:7 SWY_CFG_REQUIRED Missing required key 'action' (in namespaces["/"].events.join)`,
      `${file}:7:9 SWY_CFG_UNKNOWN_KEY Unknown key 'acton' (did you mean 'action'?)`,
    ]);
  });

  it("--allow-missing-env still refuses a malformed reference", async () => {
    const file = tempFile('server:\n  host: "${HOST"\nnamespaces:\n  /: {}\n');
    const result = await validate(["--allow-missing-env", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${file}:2:9 SWY_CFG_ENV_SYNTAX Malformed environment reference`,
    );
  });

  it("explains a YAML syntax error in plain words at its line", async () => {
    const file = tempFile("server:\n\tport: 3000\nnamespaces:\n  /: {}\n");
    const result = await validate([file]);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      `${file}:2:1 SWY_CFG_YAML This line is indented with a tab; YAML indents with spaces only (parser: Tabs are not allowed as indentation)`,
    ]);
  });
});

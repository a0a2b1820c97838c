// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings hold ${VAR} references on purpose.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatDiagnostic } from "../../../src/mapping/diagnostic.js";
import { expandEnv, parseConfigText, readConfigFile } from "../../../src/mapping/load.js";

describe("expandEnv", () => {
  it("replaces ${VAR} with the variable and records that it came from the environment", () => {
    expect(expandEnv("redis://${HOST}:${PORT}/0", { HOST: "db", PORT: "6379" })).toEqual({
      value: "redis://db:6379/0",
      fromEnv: ["HOST", "PORT"],
      unset: [],
      malformed: [],
    });
  });

  it("uses the default when the variable is unset or empty, and takes it literally", () => {
    expect(expandEnv("${A:-x y}|${B:-}|${C:-:-$}", { B: "" })).toMatchObject({
      value: "x y||:-$",
      fromEnv: [],
      unset: [],
    });
    expect(expandEnv("${A:-fallback}", { A: "set" })).toMatchObject({
      value: "set",
      fromEnv: ["A"],
    });
  });

  it("keeps an empty variable without a default empty", () => {
    expect(expandEnv("[${A}]", { A: "" })).toMatchObject({
      value: "[]",
      fromEnv: ["A"],
      unset: [],
    });
  });

  it("reports unset variables once each", () => {
    expect(expandEnv("${A}${A}${B}", {})).toMatchObject({ value: "", unset: ["A", "B"] });
  });

  it("reads $${ as a literal ${ and leaves other dollars alone", () => {
    expect(expandEnv("$${HOME} costs $5 $$", { HOME: "/root" })).toMatchObject({
      value: "${HOME} costs $5 $$",
      fromEnv: [],
    });
  });

  it("reports malformed references", () => {
    expect(expandEnv("${1X} ${} ${A-B} ${OPEN", {}).malformed).toEqual([
      "${1X}",
      "${}",
      "${A-B}",
      "${OPEN",
    ]);
  });

  it("never reads process.env on its own", () => {
    process.env.SWITCHYARD_LOAD_TEST = "leak";
    try {
      expect(expandEnv("${SWITCHYARD_LOAD_TEST}", {}).unset).toEqual(["SWITCHYARD_LOAD_TEST"]);
    } finally {
      delete process.env.SWITCHYARD_LOAD_TEST;
    }
  });
});

describe("parseConfigText", () => {
  it("gives an unquoted whole ${VAR} the type its value reads as", () => {
    const doc = parseConfigText(
      [
        "a: ${N}",
        "b: ${F}",
        "c: ${T}",
        'd: "${N}"',
        "e: x${N}",
        "f: ${S}",
        "g: ${N:-1}",
        "h: ${M:-2.5}",
        "i: ${E:-false}",
      ].join("\n"),
      "t.yaml",
      { N: "3000", F: "-1.5e3", T: "true", S: "007x" },
    );
    expect(doc.diagnostics).toEqual([]);
    expect(doc.value).toEqual({
      a: 3000,
      b: -1500,
      c: true,
      d: "3000",
      e: "x3000",
      f: "007x",
      g: 3000,
      h: 2.5,
      i: false,
    });
  });

  it("expands values, never keys, and records which values came from the environment", () => {
    const doc = parseConfigText("${K}: ${V}\nlist: [a, '${V}']\n", "t.yaml", { K: "k", V: "v" });
    expect(doc.value).toEqual({ "${K}": "v", list: ["a", "v"] });
    expect(doc.envVars(["${K}"])).toEqual(["V"]);
    expect(doc.envVars(["list", 1])).toEqual(["V"]);
    expect(doc.envVars(["list", 0])).toEqual([]);
  });

  it("reports an unset variable at its scalar without printing other values", () => {
    const doc = parseConfigText("server:\n  host: ${HOST}\n  port: ${PORT}\n", "t.yaml", {
      HOST: "secret-host",
    });
    expect(doc.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:3:9 SWY_CFG_ENV Environment variable PORT is not set (set it, or write ${PORT:-default})",
    ]);
    expect(doc.isEnvBroken(["server", "port"])).toBe(true);
    expect(doc.isEnvBroken(["server", "host"])).toBe(false);
  });

  it("reports malformed references", () => {
    const doc = parseConfigText("a: ${PORT\n", "t.yaml", {});
    expect(doc.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:1:4 SWY_CFG_ENV_SYNTAX Malformed environment reference ${PORT (write ${NAME} or ${NAME:-default}, or $${ for a literal ${)",
    ]);
  });

  it("reports YAML syntax errors with positions and yields no value", () => {
    const doc = parseConfigText("a: 1\na: 2\n", "t.yaml", {});
    expect(doc.value).toBeUndefined();
    expect(doc.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:2:1 SWY_CFG_YAML Duplicate key 'a': a mapping holds each key once; keep one",
    ]);
  });

  // The common slips are test/fixtures/invalid/syntax-*; these are the rarer ones.
  it.each([
    [
      "server: }\n",
      "t.yaml:1:9 SWY_CFG_YAML A '}' with no '{' before it; remove it, or quote the value that holds it",
    ],
    [
      "server:\n  host: @x\n",
      "t.yaml:2:9 SWY_CFG_YAML A value cannot start with @ unquoted; quote it",
    ],
    [
      'server:\n  host: "a\\qb"\n',
      `t.yaml:2:11 SWY_CFG_YAML Unknown escape \\q in a "double-quoted" value; write \\\\ for a backslash, or use 'single quotes', in which \\ is itself`,
    ],
    [
      "server: {a: 1 b: 2}\n",
      "t.yaml:1:13 SWY_CFG_YAML Inside [ ] and { } items are separated by ', '; a '- ' item or a line break between 'key: value' pairs is not allowed there",
    ],
    [
      "server:\n  transports:\n    - polling\n  websocket\n",
      "t.yaml:4:3 SWY_CFG_YAML This line has no ':'; YAML expects 'key: value' here (or '- item' in a list)",
    ],
    [
      "a: 1\n- b\n",
      "t.yaml:2:1 SWY_CFG_YAML A '- ' list item where a 'key: value' belongs; a list goes on the lines below its key, indented",
    ],
    [
      'server:\n  host: "a" b\n',
      "t.yaml:2:13 SWY_CFG_YAML Text after a complete value; quote the whole value, or check this line's indentation",
    ],
    [
      "a:\n  b: [1, 2\n  c: 3\n",
      "t.yaml:2:6 SWY_CFG_YAML This '[' is never closed; close it with ']' (lines that continue it are indented under its key)",
    ],
  ])("explains %j in plain words, with the parser's words as the hint", (text, expected) => {
    const [line] = parseConfigText(text, "t.yaml", {}).diagnostics.map(formatDiagnostic);
    expect(line).toMatch(/ \(parser: [^)]+\)$/);
    expect(line!.replace(/ \(parser: [^)]+\)$/, "")).toBe(expected);
  });

  it("reports each slip once, however many errors the parser raises for it", () => {
    const doc = parseConfigText("a: 1\n- b\nc: [x, - y]\n", "t.yaml", {});
    expect(doc.diagnostics.map((d) => d.line)).toEqual([2, 3]);
  });

  it("keeps the parser's words for what it has no plainer ones for, and for warnings", () => {
    expect(parseConfigText("a: &x &y 1\n", "t.yaml", {}).diagnostics.map(formatDiagnostic)).toEqual(
      ["t.yaml:1:7 SWY_CFG_YAML A node can have at most one anchor"],
    );
    expect(
      parseConfigText("%FOO\n---\na: 1\n", "t.yaml", {}).diagnostics.map(formatDiagnostic),
    ).toEqual(["t.yaml:1:1 SWY_CFG_YAML warning: Unknown directive %FOO"]);
  });

  it("locates keys and values, block collections at their key, defaults at their parent", () => {
    const text = [
      "server:", //           1
      "  port: 3000", //      2
      "  cors: { origin: '*' }", // 3
      "namespaces:", //       4
      "  /chat:", //          5
      "    events:", //       6
      "      join:", //       7
      "        action: join", // 8
      "        allow:", //    9
      "          - a", //     10
      "          - b", //     11
      "        room:", //     12
    ].join("\n");
    const doc = parseConfigText(text, "t.yaml", {});
    expect(doc.position(["server", "port"], "key")).toEqual({ line: 2, col: 3 });
    expect(doc.position(["server", "port"])).toEqual({ line: 2, col: 9 });
    expect(doc.position(["server", "cors"])).toEqual({ line: 3, col: 9 });
    expect(doc.position(["server", "cors", "origin"])).toEqual({ line: 3, col: 19 });
    expect(doc.position(["namespaces", "/chat", "events", "join"])).toEqual({ line: 7, col: 7 });
    expect(doc.position(["namespaces", "/chat", "events", "join", "allow", 1])).toEqual({
      line: 11,
      col: 13,
    });
    // An empty value: its key is what a reader looks for.
    expect(doc.position(["namespaces", "/chat", "events", "join", "room"])).toEqual({
      line: 12,
      col: 9,
    });
    expect(doc.position(["server", "host"])).toEqual({ line: 1, col: 1 });
    expect(doc.position([])).toEqual({ line: 1, col: 1 });
  });

  it("follows aliases and merge keys", () => {
    const text = [
      "base: &base", //        1
      "  action: join", //     2
      "  room: x", //          3
      "rules:", //             4
      "  a:", //               5
      "    <<: *base", //      6
      "    allow: []", //      7
      "  b: *base", //         8
    ].join("\n");
    const doc = parseConfigText(text, "t.yaml", {});
    expect(doc.value).toMatchObject({ rules: { a: { action: "join", room: "x", allow: [] } } });
    expect(doc.position(["rules", "a", "room"])).toEqual({ line: 3, col: 9 });
    expect(doc.position(["rules", "a", "allow"])).toEqual({ line: 7, col: 12 });
    expect(doc.position(["rules", "b", "action"])).toEqual({ line: 2, col: 11 });
  });
});

describe("readConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-load-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a file", () => {
    const file = join(dir, "ok.yaml");
    writeFileSync(file, "a: ${X:-1}\n");
    expect(readConfigFile(file, {}).value).toEqual({ a: 1 });
  });

  it("reports a missing file or a directory as SWY_CFG_READ", () => {
    const missing = join(dir, "missing.yaml");
    expect(readConfigFile(missing, {}).diagnostics.map(formatDiagnostic)).toEqual([
      `${missing}:1:1 SWY_CFG_READ Cannot read ${missing}: no such file`,
    ]);
    expect(readConfigFile(dir, {}).diagnostics.map(formatDiagnostic)).toEqual([
      `${dir}:1:1 SWY_CFG_READ Cannot read ${dir}: it is a directory`,
    ]);
  });
});

describe("parseConfigText on broken YAML", () => {
  it("reports an unclosed flow mapping", () => {
    const doc = parseConfigText("a:\n  b: { c: 1\n", "t.yaml", {});
    expect(doc.value).toBeUndefined();
    expect(doc.diagnostics.map((d) => d.code)).toContain("SWY_CFG_YAML");
  });

  it("reports tabs used as indentation", () => {
    const doc = parseConfigText("a:\n\tb: 1\n", "t.yaml", {});
    expect(doc.value).toBeUndefined();
    expect(doc.diagnostics[0]).toMatchObject({ code: "SWY_CFG_YAML", line: 2 });
  });

  it("reports an alias bomb instead of expanding it", () => {
    const lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const next = String.fromCharCode(97 + i);
      lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const doc = parseConfigText(lines.join("\n"), "t.yaml", {});
    expect(doc.value).toBeUndefined();
    expect(doc.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(/^t\.yaml:1:1 SWY_CFG_YAML .*alias/i),
    ]);
  });
});

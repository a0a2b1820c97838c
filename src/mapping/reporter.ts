/**
 * Collects diagnostics for one document and words the values they quote, never
 * printing what came from the environment. Shared by every check of validate*.ts.
 */

import { type ConfigErrorCode, makeDiagnostic, type Position } from "./diagnostic.js";
import type { DocPath, LoadedDocument } from "./load.js";
import { type ParsedRoomPattern, parseRoomPattern } from "./pattern.js";
import type { Diagnostic } from "./types.js";

/** The diagnostics of one document, in the order they were found. */
export class Reporter {
  readonly list: Diagnostic[] = [];

  constructor(readonly doc: LoadedDocument) {}

  add(
    code: ConfigErrorCode,
    at: Position,
    args: readonly (string | number)[],
    options: { hint?: string | undefined; severity?: Diagnostic["severity"] } = {},
  ): void {
    this.list.push(makeDiagnostic(this.doc.file, at, code, args, options));
  }

  /** `'text'`, or "the value of ${VAR}" when the environment supplied it. */
  show(path: DocPath, value: unknown): string {
    const vars = this.doc.envVars(path);
    if (vars.length > 0) return describeEnv(vars);
    return describeValue(value);
  }
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * `server.port`, `namespaces["/chat"].events.join`, `server.transports[1]`. Numbers
 * are sequence indexes: mapping keys that look like numbers come from the text as
 * strings only when written so, which is rare enough to print as an index.
 */
export function describePath(path: DocPath): string {
  if (path.length === 0) return "the file";
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** "the value of ${VAR}": how a diagnostic names a value it must not print. */
export function describeEnv(vars: readonly string[]): string {
  const refs = vars.map((v) => `\${${v}}`);
  return refs.length === 1
    ? `the value of ${refs[0]}`
    : `the value built from ${refs.slice(0, -1).join(", ")} and ${refs[refs.length - 1]}`;
}

/** A value as a diagnostic quotes it: strings shortened, containers named. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value).replace(
      /^"(.*)"$/,
      "'$1'",
    );
  }
  if (value === null || value === undefined) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

export function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Parses the room pattern at `path` and reports its problems (SWY_CFG_PATTERN),
 * never quoting a value from the environment. Returns the parsed pattern when it is
 * valid; `undefined` when it is not, or when its `${VAR}` was already reported.
 */
export function checkRoomPattern(
  out: Reporter,
  path: DocPath,
  source: string,
): ParsedRoomPattern | undefined {
  if (out.doc.isEnvBroken(path)) return undefined;
  const parsed = parseRoomPattern(source);
  const at = out.doc.position(path, "value");
  const vars = out.doc.envVars(path);
  for (const problem of parsed.problems) {
    out.add("SWY_CFG_PATTERN", at, [
      vars.length > 0
        ? `${capitalise(describeEnv(vars))} is not a valid room pattern: ${problem.summary}`
        : problem.message,
    ]);
  }
  return parsed.problems.length > 0 ? undefined : parsed;
}

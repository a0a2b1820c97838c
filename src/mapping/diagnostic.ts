/**
 * Building, sorting and printing configuration diagnostics.
 *
 * The printed form is one line per problem, `file:line:col CODE message`, so editors
 * and CI logs can jump to it. Warnings keep the same columns and start their message
 * with `warning: `, which keeps the line easy to parse.
 */

import { type ErrorCode, SwitchyardError } from "../errors.js";
import type { Diagnostic } from "./types.js";

/** The configuration subset of the error catalogue. */
export type ConfigErrorCode = Extract<ErrorCode, `SWY_CFG_${string}`>;

/** A 1-based line and column. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

/**
 * Makes a diagnostic whose message is the catalogue template of `code` filled with
 * `args`, followed by ` (hint)` when a hint is given.
 */
export function makeDiagnostic(
  file: string,
  at: Position,
  code: ConfigErrorCode,
  args: readonly (string | number)[],
  options: { hint?: string | undefined; severity?: Diagnostic["severity"] } = {},
): Diagnostic {
  // The catalogue owns the wording; SwitchyardError is its one formatter.
  let message = new SwitchyardError(code, args).message;
  if (options.hint) message += ` (${options.hint})`;
  return {
    file,
    line: at.line,
    col: at.col,
    severity: options.severity ?? "error",
    code,
    message,
  };
}

/** `file:line:col CODE message`; a warning's message starts with `warning: `. */
export function formatDiagnostic(d: Diagnostic): string {
  const prefix = d.severity === "warning" ? "warning: " : "";
  return `${d.file}:${d.line}:${d.col} ${d.code} ${prefix}${d.message}`;
}

/**
 * Sorts by file, line and column (then code and message, so the order is total) and
 * drops exact duplicates. Returns a new array.
 */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  const sorted = [...list].sort(
    (a, b) =>
      compare(a.file, b.file) ||
      a.line - b.line ||
      a.col - b.col ||
      compare(a.code, b.code) ||
      compare(a.message, b.message),
  );
  return sorted.filter(
    (d, i) => i === 0 || formatDiagnostic(d) !== formatDiagnostic(sorted[i - 1]!),
  );
}

/** Whether any diagnostic is an error (warnings alone leave a file usable). */
export function hasErrors(list: readonly Diagnostic[]): boolean {
  return list.some((d) => d.severity === "error");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

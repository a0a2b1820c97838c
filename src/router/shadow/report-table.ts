/**
 * `switchyard shadow` output: the shadow report (`GET /api/v1/shadow`) as a table, and
 * the command's exit code for it. Pure: no network, no process.
 */

import type { ShadowCounts } from "./comparator.js";
import type { ShadowReport, ShadowRouteReport, ShadowVerdict } from "./report.js";

/** The command's exit codes (README, "Commands"). */
export const SHADOW_EXIT = {
  /** Every route's verdict is `ready`. */
  ready: 0,
  /** Some route is `not-ready`. */
  notReady: 1,
  /** A usage error, or the API could not be reached or answered an error. */
  failed: 2,
  /** Some route is `insufficient-data` and none `not-ready`, or no route saw traffic. */
  insufficientData: 3,
} as const;

/** The columns of the counts, in the report's order, with their headings. */
const COUNTS: readonly (readonly [keyof ShadowCounts, string])[] = [
  ["matched", "matched"],
  ["missing", "missing"],
  ["extra", "extra"],
  ["duplicates", "duplicates"],
  ["reordered", "reordered"],
  ["mismatched", "mismatched"],
  ["shadowDropped", "dropped"],
  ["shadowErrors", "errors"],
];

const VERDICTS: ReadonlySet<string> = new Set<ShadowVerdict>([
  "ready",
  "not-ready",
  "insufficient-data",
]);

/** The exit code of a report: the worst verdict wins, not-ready before insufficient data. */
export function shadowExitCode(report: ShadowReport): number {
  const verdicts = new Set(report.routes.map((route) => route.verdict));
  if (verdicts.has("not-ready")) return SHADOW_EXIT.notReady;
  if (report.routes.length === 0 || verdicts.has("insufficient-data")) {
    return SHADOW_EXIT.insufficientData;
  }
  return SHADOW_EXIT.ready;
}

/** The report as lines of text for a terminal; `source` says where it came from. */
export function formatShadowReport(report: ShadowReport, source: string): string {
  const header = `shadow report of ${source}, evidence since ${printable(report.since)}`;
  if (report.routes.length === 0) {
    return `${header}\nno shadowed route has seen traffic on this node since then\n`;
  }
  const rows = [
    [
      "namespace",
      "room",
      "primary → shadow",
      ...COUNTS.map(([, heading]) => heading),
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "verdict",
    ],
    ...report.routes.map((route) => [
      printable(route.namespace),
      printable(route.room),
      routeName(route),
      ...COUNTS.map(([key]) => String(route.counts[key])),
      ...[route.latencyGap.p50, route.latencyGap.p95, route.latencyGap.p99].map(milliseconds),
      route.verdict,
    ]),
  ];
  // Text on the left, numbers on the right.
  const right = rows[0]!.map((_, i) => i >= 3 && i < rows[0]!.length - 1);
  const lines = [header, "", ...padColumns(rows, right), ""];
  lines.push(
    "dropped, errors: not written to the shadow (its queue was full, it refused);",
    "p50-p99: latency gap, the shadow's delivery time minus the primary's.",
  );
  const explained = report.routes.filter((route) => route.reasons.length > 0);
  if (explained.length > 0) lines.push("", "reasons:");
  for (const route of explained) {
    lines.push(`  ${printable(route.namespace)} ${printable(route.room)} (${routeName(route)}):`);
    for (const reason of route.reasons) lines.push(`    ${printable(reason)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Rows of cells as lines, each column as wide as its widest cell, two spaces apart. */
export function padColumns(
  rows: readonly (readonly string[])[],
  right: readonly boolean[],
): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** Whether `value` has the shape of a shadow report, so that printing it cannot fail. */
export function isShadowReport(value: unknown): value is ShadowReport {
  if (!isRecord(value) || typeof value.since !== "string" || !Array.isArray(value.routes)) {
    return false;
  }
  return value.routes.every(
    (route: unknown) =>
      isRecord(route) &&
      ["namespace", "room", "primary", "shadow"].every((key) => typeof route[key] === "string") &&
      isRecord(route.counts) &&
      COUNTS.every(([key]) => typeof (route.counts as Record<string, unknown>)[key] === "number") &&
      isRecord(route.latencyGap) &&
      ["p50", "p95", "p99"].every((key) => {
        const gap = (route.latencyGap as Record<string, unknown>)[key];
        return gap === null || typeof gap === "number";
      }) &&
      typeof route.verdict === "string" &&
      VERDICTS.has(route.verdict) &&
      Array.isArray(route.reasons) &&
      route.reasons.every((reason: unknown) => typeof reason === "string"),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function routeName(route: ShadowRouteReport): string {
  return `${printable(route.primary)} → ${printable(route.shadow)}`;
}

function milliseconds(value: number | null): string {
  return value === null ? "-" : value.toFixed(1);
}

/** Text from the network without control characters, so it cannot drive the terminal. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what it removes.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/**
 * A backend example served with the limits of the benchmark contract
 * (examples/bench/switchyard.yaml). The examples leave `server.limits` at their defaults, 100
 * events per second per socket among them, which a benchmark publisher (one socket publishing
 * for a whole room) exceeds at once: the run would measure refusals, not the bridge. Each run
 * serves a copy in a temporary directory, so the example stays as users run it, and reports
 * every change it made there.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { type Document, parseDocument } from "yaml";
import { DEFAULT_BACKEND_LIMITS } from "../src/egress/registry.js";

/** The contract's per-socket event budget: far beyond any publisher of the benchmarks. */
const BENCH_EVENTS_PER_SECOND = 1_000_000_000;

export interface BenchConfigOptions {
  /** The repository root. */
  readonly root: string;
  /** The example, relative to the root. */
  readonly example: string;
  /** Publications one socket keeps outstanding; over the default share it is raised to it. */
  readonly window?: number;
  /**
   * Further settings, each a YAML path and its value (`backends.ably.settings.batchSize`); a
   * mapping or list replaces what is there.
   */
  readonly settings?: readonly (readonly [path: readonly string[], value: unknown])[];
}

export interface BenchConfig {
  /** The copy to serve. */
  readonly path: string;
  /** Every change made to the example, as `a.b.c: value`. */
  readonly changes: readonly string[];
  /** The copy as written, to read back what a setting ended up as. */
  readonly doc: Document;
  readonly remove: () => void;
}

/** Writes the copy; comments and `${VAR}` references are kept. */
export function writeBenchConfig(opts: BenchConfigOptions): BenchConfig {
  const source = readFileSync(resolve(opts.root, opts.example), "utf8");
  const doc = parseDocument(source);
  const changes: string[] = [];
  const set = (path: readonly string[], value: unknown) => {
    doc.setIn(path, value);
    changes.push(
      `${path.join(".")}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}`,
    );
  };
  set(["server", "limits", "eventsPerSecond"], BENCH_EVENTS_PER_SECOND);
  set(["server", "limits", "eventBurst"], BENCH_EVENTS_PER_SECOND);
  // A window over the default share would be refused (SWY_PUBLISH_BUSY), not measured.
  if (opts.window !== undefined && opts.window > DEFAULT_BACKEND_LIMITS.maxPublishesPerSocket) {
    set(["server", "limits", "maxPublishesPerSocket"], opts.window);
  }
  for (const [path, value] of opts.settings ?? []) set(path, value);
  const dir = mkdtempSync(join(tmpdir(), `switchyard-bench-${basename(dirname(opts.example))}-`));
  const path = join(dir, "switchyard.yaml");
  writeFileSync(path, String(doc));
  return { path, changes, doc, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

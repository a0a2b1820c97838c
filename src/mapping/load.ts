/**
 * Reads a Switchyard YAML file into a plain value while keeping every node's
 * position, and expands `${VAR}` / `${VAR:-default}` references from an environment.
 *
 * Nothing here judges the content: src/mapping/validate.ts does. This module only
 * reports what stops it from producing a value (YAML syntax, unset variables,
 * malformed references) and answers "where was this path written?".
 */

import { readFileSync } from "node:fs";
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type Scalar,
  visit,
} from "yaml";
import { makeDiagnostic, type Position } from "./diagnostic.js";
import type { Diagnostic } from "./types.js";
import { yamlDiagnostics } from "./yaml-diagnostics.js";

/** The variables `${VAR}` reads. `process.env` fits. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A path into the document: mapping keys and sequence indexes. */
export type DocPath = readonly (string | number)[];

/** A YAML file turned into a plain value, with positions kept. */
export interface LoadedDocument {
  /** The file name diagnostics print, as the caller gave it. */
  readonly file: string;
  /**
   * The plain value after `${VAR}` expansion; an empty file is `null`. `undefined`
   * when the YAML itself is broken: then only {@link diagnostics} matter.
   */
  readonly value: unknown;
  /** YAML syntax problems and `${VAR}` problems, unsorted. */
  readonly diagnostics: readonly Diagnostic[];
  /**
   * Where `path` was written: its key (`"key"`) or its value (`"value"`). A path that
   * does not exist in the text (a default) resolves to its closest written ancestor.
   * A block mapping or sequence value resolves to its key, which is the line a reader
   * looks at.
   */
  position(path: DocPath, target?: "key" | "value"): Position;
  /**
   * The variables whose values from the environment went into the scalar at `path`
   * (defaults do not count). Non-empty means the value may be a secret: say "the
   * value of ${VAR}", never print it.
   */
  envVars(path: DocPath): readonly string[];
  /** Whether the scalar at `path` has a `${VAR}` problem already reported. */
  isEnvBroken(path: DocPath): boolean;
  /** The variables read with no default that are unset, in the order met, unique. */
  readonly unsetEnv: readonly string[];
}

/** How {@link parseConfigText} treats what it cannot know. */
export interface ParseOptions {
  /**
   * An unset `${VAR}` without a default: `"error"` (default) makes the file unusable;
   * `"warning"` reports it and leaves the value unchecked, so a file can be linted
   * without its secrets (`switchyard validate --allow-missing-env`).
   */
  readonly missingEnv?: "error" | "warning";
}

/** The outcome of expanding the references in one string. */
export interface EnvExpansion {
  /** The expanded text (an unset variable expands to the empty string). */
  readonly value: string;
  /** Variables whose value came from `env` (not from a default), in order, unique. */
  readonly fromEnv: readonly string[];
  /** Variables that are unset and have no default, in order, unique. */
  readonly unset: readonly string[];
  /** Malformed references as written, e.g. `${1X}` or an unclosed `${PORT`. */
  readonly malformed: readonly string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${NAME}` and `${NAME:-default}` in `text`. `$${` is a literal `${`. The
 * default applies when the variable is unset or empty (as in POSIX shells) and is
 * taken literally, up to the first `}`. Pure: never throws, never reads process.env.
 */
export function expandEnv(text: string, env: Env): EnvExpansion {
  if (!text.includes("${")) return { value: text, fromEnv: [], unset: [], malformed: [] };
  const fromEnv: string[] = [];
  const unset: string[] = [];
  const malformed: string[] = [];
  let out = "";
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf("$", i);
    if (start < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, start);
    if (text.startsWith("$${", start)) {
      out += "${";
      i = start + 3;
      continue;
    }
    if (text[start + 1] !== "{") {
      out += "$";
      i = start + 1;
      continue;
    }
    const close = text.indexOf("}", start + 2);
    if (close < 0) {
      malformed.push(text.slice(start, start + 40));
      out += text.slice(start);
      break;
    }
    const body = text.slice(start + 2, close);
    const sep = body.indexOf(":-");
    const name = sep < 0 ? body : body.slice(0, sep);
    i = close + 1;
    if (!NAME.test(name)) {
      malformed.push(text.slice(start, i));
      out += text.slice(start, i);
      continue;
    }
    const found = env[name];
    if (found !== undefined && (found !== "" || sep < 0)) {
      out += found;
      if (!fromEnv.includes(name)) fromEnv.push(name);
    } else if (sep >= 0) {
      out += body.slice(sep + 2);
    } else if (!unset.includes(name)) {
      unset.push(name);
    }
  }
  return { value: out, fromEnv, unset, malformed };
}

/** What expansion left on a scalar node. */
interface ScalarEnvInfo {
  readonly fromEnv: readonly string[];
  readonly broken: boolean;
}

/** A whole plain scalar that is one reference: its result may become a number or boolean. */
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Parses YAML text. `file` is only used to label diagnostics. Never throws.
 *
 * `${VAR}` expansion applies to string values (never to keys). When an unquoted
 * value is exactly one reference and the result reads as a decimal number or
 * `true`/`false`, the value takes that type, so `port: ${PORT}` is a number;
 * a quoted `"${PORT}"` stays a string, as quoting does in YAML.
 */
export function parseConfigText(
  text: string,
  file: string,
  env: Env = process.env,
  options: ParseOptions = {},
): LoadedDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    merge: true,
    uniqueKeys: true,
  });
  const at = (offset: number): Position => lineCounter.linePos(offset);
  const diagnostics: Diagnostic[] = yamlDiagnostics(doc, text, file, lineCounter);

  const info = new WeakMap<Node, ScalarEnvInfo>();
  const unsetEnv = new Set<string>();
  const isMissingAllowed = options.missingEnv === "warning";
  let value: unknown;
  if (doc.errors.length === 0) {
    visit(doc, {
      Scalar(key, node) {
        if (key === "key" || typeof node.value !== "string") return;
        const expansion = expandEnv(node.value, env);
        if (expansion.value === node.value && expansion.malformed.length === 0) return;
        const pos = at(node.range?.[0] ?? 0);
        for (const name of expansion.unset) {
          unsetEnv.add(name);
          diagnostics.push(
            makeDiagnostic(file, pos, "SWY_CFG_ENV", [name], {
              hint: isMissingAllowed
                ? "the value that reads it is not checked"
                : `set it, or write \${${name}:-default}`,
              severity: isMissingAllowed ? "warning" : "error",
            }),
          );
        }
        for (const ref of expansion.malformed) {
          diagnostics.push(
            makeDiagnostic(file, pos, "SWY_CFG_ENV_SYNTAX", [ref], {
              hint: `write \${NAME} or \${NAME:-default}, or $\${ for a literal \${`,
            }),
          );
        }
        const broken = expansion.unset.length > 0 || expansion.malformed.length > 0;
        info.set(node, { fromEnv: expansion.fromEnv, broken });
        if (broken) return;
        node.value = typed(node, expansion.value);
      },
    });
    value = toPlain(doc, file, at, diagnostics);
  }

  // Only the node at exactly `path`: an ancestor's expansion says nothing about a default.
  const scalarInfo = (path: DocPath): ScalarEnvInfo | undefined => {
    const found = resolve(doc, path);
    return found.depth === path.length && found.node ? info.get(found.node) : undefined;
  };

  return {
    file,
    value,
    diagnostics,
    position(path, target = "value") {
      return at(offsetOf(doc, path, target));
    },
    envVars(path) {
      return scalarInfo(path)?.fromEnv ?? [];
    },
    isEnvBroken(path) {
      return scalarInfo(path)?.broken ?? false;
    },
    unsetEnv: [...unsetEnv],
  };
}

/**
 * Reads and parses `file` (see {@link parseConfigText}). A file that cannot be read
 * yields one SWY_CFG_READ diagnostic at 1:1 and an `undefined` value.
 */
export function readConfigFile(
  file: string,
  env: Env = process.env,
  options: ParseOptions = {},
): LoadedDocument {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === "ENOENT"
        ? "no such file"
        : (error as NodeJS.ErrnoException).code === "EISDIR"
          ? "it is a directory"
          : String((error as Error).message);
    const diagnostic = makeDiagnostic(file, { line: 1, col: 1 }, "SWY_CFG_READ", [file, reason]);
    return {
      file,
      value: undefined,
      diagnostics: [diagnostic],
      position: () => ({ line: 1, col: 1 }),
      envVars: () => [],
      isEnvBroken: () => false,
      unsetEnv: [],
    };
  }
  return parseConfigText(text, file, env, options);
}

/**
 * `doc.toJS()`, which throws on an alias to an unknown anchor and on alias bombs:
 * those become diagnostics and an `undefined` value.
 */
function toPlain(
  doc: Document,
  file: string,
  at: (offset: number) => Position,
  diagnostics: Diagnostic[],
): unknown {
  let unresolved = false;
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined) {
        unresolved = true;
        diagnostics.push(
          makeDiagnostic(file, at(node.range?.[0] ?? 0), "SWY_CFG_YAML", [
            `Unknown anchor '${node.source}' (an alias needs an '&${node.source}' before it)`,
          ]),
        );
      }
    },
  });
  if (unresolved) return undefined;
  try {
    return doc.toJS();
  } catch (error) {
    diagnostics.push(
      makeDiagnostic(file, { line: 1, col: 1 }, "SWY_CFG_YAML", [String((error as Error).message)]),
    );
    return undefined;
  }
}

function typed(node: Scalar, expanded: string): unknown {
  if (node.type !== "PLAIN" || !WHOLE_REFERENCE.test(String(node.source ?? node.value))) {
    return expanded;
  }
  if (NUMBER.test(expanded)) return Number(expanded);
  if (expanded === "true") return true;
  if (expanded === "false") return false;
  return expanded;
}

/** A node found by path, with the pair that holds it when it is a mapping value. */
interface Found {
  readonly node: Node | null | undefined;
  readonly pair: Pair | undefined;
  /** How many path segments were resolved. */
  readonly depth: number;
}

function resolve(doc: Document, path: DocPath): Found {
  let node = deref(doc, doc.contents);
  let pair: Pair | undefined;
  let depth = 0;
  for (const segment of path) {
    let next: Found | undefined;
    if (isMap(node)) {
      const p = findPair(doc, node.items as Pair[], String(segment), 0);
      if (p) next = { node: deref(doc, p.value as Node | null), pair: p, depth: depth + 1 };
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment] as Node | undefined;
      if (item !== undefined) next = { node: deref(doc, item), pair: undefined, depth: depth + 1 };
    }
    if (!next) break;
    ({ node, pair, depth } = next);
  }
  return { node, pair, depth };
}

function deref(doc: Document, node: unknown): Node | null | undefined {
  let current = node;
  // An alias of an alias is legal YAML; the bound keeps a malformed cycle finite.
  for (let i = 0; i < 100 && isAlias(current); i++) current = current.resolve(doc);
  return current as Node | null | undefined;
}

/** Finds `key` among pairs, then inside `<<` merges (explicit keys win, as in YAML). */
function findPair(
  doc: Document,
  pairs: readonly Pair[],
  key: string,
  level: number,
): Pair | undefined {
  for (const p of pairs) {
    if (isScalar(p.key) && !isMergeKey(p) && String(p.key.value) === key) return p;
  }
  if (level > 10) return undefined;
  for (const p of pairs) {
    if (!isMergeKey(p)) continue;
    const merged = deref(doc, p.value);
    const sources = isSeq(merged) ? merged.items.map((item) => deref(doc, item)) : [merged];
    for (const source of sources) {
      if (!isMap(source)) continue;
      const found = findPair(doc, source.items as Pair[], key, level + 1);
      if (found) return found;
    }
  }
  return undefined;
}

function isMergeKey(p: Pair): boolean {
  return isScalar(p.key) && (p.key.source === "<<" || typeof p.key.value === "symbol");
}

function offsetOf(doc: Document, path: DocPath, target: "key" | "value"): number {
  const found = resolve(doc, path);
  const complete = found.depth === path.length;
  const keyNode = isPair(found.pair) && isScalar(found.pair.key) ? found.pair.key : undefined;
  if (complete && target === "key" && keyNode?.range) return keyNode.range[0];
  const node = found.node;
  const isBlock =
    isCollection(node) && !(node as { flow?: boolean }).flow && keyNode?.range !== undefined;
  // `key:` with nothing after it: the key is the only text to point at.
  const isEmpty = isScalar(node) && node.value === null && !node.source;
  if (node?.range && !isBlock && !(isEmpty && keyNode?.range)) return node.range[0];
  if (keyNode?.range) return keyNode.range[0];
  return node?.range?.[0] ?? 0;
}

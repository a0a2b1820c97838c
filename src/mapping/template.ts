/**
 * The template language of rule values: `room`, `args` and `ack`.
 *
 * `{expr}` reads a value: `data` (the first argument) and `data.a.b`, `args`,
 * `args.N` and `args.N.a`, `auth` and `auth.x` (the CONNECT payload), `claims` and
 * `claims.x` (the verified token, in namespaces with `auth: { jwt }`), `socket.id`,
 * `nsp`, and in acks only `room` and `captures.NAME`. A string that is exactly one
 * `{expr}` yields the value with its own type; any other string interpolates
 * (`undefined` and `null` become the empty string). `{{` and `}}` are a literal `{`
 * and `}`. Arrays and mappings are templated member by member; other values are
 * constants.
 *
 * Templates are parsed once, when the configuration is compiled, into closures; a
 * message only pays for the property reads.
 */

import { setOwn as defineValue } from "../own-property.js";
import { didYouMean } from "./did-you-mean.js";
import type { Template, TemplateContext } from "./types.js";

/** The variable a template expression starts from. */
export type TemplateRoot =
  | "data"
  | "args"
  | "auth"
  | "claims"
  | "socket"
  | "nsp"
  | "room"
  | "captures";

/** One `{expr}` of a template. */
export interface TemplateRef {
  readonly root: TemplateRoot;
  /** Property names after the root; for `args` the first one is the argument index. */
  readonly path: readonly string[];
  /** The expression as written, without braces or surrounding spaces. */
  readonly text: string;
}

/** A problem in a template string. */
export interface TemplateProblem {
  /** For people; quotes the offending expression. */
  readonly message: string;
  /** The same without quoting the text, for values that may be secrets. */
  readonly summary: string;
}

/** A parsed template string. */
export interface ParsedTemplate {
  /** Literal text and expressions, in order; adjacent literals are merged. */
  readonly parts: readonly (string | TemplateRef)[];
  readonly refs: readonly TemplateRef[];
  /** Empty when the template is valid. */
  readonly problems: readonly TemplateProblem[];
}

/** The variables docs and suggestions list. */
export const TEMPLATE_VARIABLES = [
  "data",
  "args",
  "auth",
  "claims",
  "socket.id",
  "nsp",
  "room",
  "captures",
] as const;

const ROOTS = new Set<string>([
  "data",
  "args",
  "auth",
  "claims",
  "socket",
  "nsp",
  "room",
  "captures",
]);
const SEGMENT = /^[A-Za-z0-9_$-]+$/;
const INDEX = /^(0|[1-9][0-9]*)$/;
/** Names a template may not read: they reach into the prototype chain, not the data. */
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** Parses one template string. Pure; never throws. */
export function parseTemplate(text: string): ParsedTemplate {
  const shown = `Template '${text}'`;
  const parts: (string | TemplateRef)[] = [];
  const refs: TemplateRef[] = [];
  const problems: TemplateProblem[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "{") {
      if (text[i + 1] === "{") {
        literal += "{";
        i += 2;
        continue;
      }
      const close = text.indexOf("}", i + 1);
      const reopen = text.indexOf("{", i + 1);
      if (close < 0 || (reopen >= 0 && reopen < close)) {
        problems.push({
          message: `${shown}: unclosed '{' (write '{{' for a literal '{')`,
          summary: "unclosed '{'",
        });
        if (close < 0) break;
        i = reopen;
        continue;
      }
      const expr = text.slice(i + 1, close).trim();
      const parsed = parseExpression(expr);
      if ("problem" in parsed) {
        problems.push(parsed.problem);
      } else {
        if (literal) parts.push(literal);
        literal = "";
        parts.push(parsed.ref);
        refs.push(parsed.ref);
      }
      i = close + 1;
    } else if (c === "}") {
      if (text[i + 1] === "}") {
        literal += "}";
        i += 2;
        continue;
      }
      problems.push({
        message: `${shown}: single '}' (write '}}' for a literal '}')`,
        summary: "single '}'",
      });
      i += 1;
    } else {
      literal += c;
      i += 1;
    }
  }
  if (literal) parts.push(literal);
  return { parts, refs, problems };
}

function parseExpression(expr: string): { ref: TemplateRef } | { problem: TemplateProblem } {
  const quoted = `'{${expr}}'`;
  if (expr === "") {
    return {
      problem: {
        message: "Empty expression '{}' (write '{{}}' for literal braces)",
        summary: "empty expression",
      },
    };
  }
  const segments = expr.split(".");
  if (!segments.every((s) => SEGMENT.test(s))) {
    return {
      problem: {
        message: `Malformed expression ${quoted}: write names separated by dots, such as {data.user.id}`,
        summary: "malformed expression",
      },
    };
  }
  const [root, ...path] = segments as [string, ...string[]];
  if (!ROOTS.has(root)) {
    const suggestion = didYouMean(root, ROOTS);
    return {
      problem: {
        message:
          `Unknown template variable ${quoted} ` +
          (suggestion
            ? `(did you mean '{${[suggestion, ...path].join(".")}}'?)`
            : `(known: ${TEMPLATE_VARIABLES.join(", ")})`),
        summary: "unknown variable",
      },
    };
  }
  const bad = (message: string, summary: string) => ({
    problem: { message: `${quoted}: ${message}`, summary },
  });
  const forbidden = path.find((s) => FORBIDDEN.has(s));
  if (forbidden) return bad(`'${forbidden}' cannot be read by a template`, "forbidden property");
  switch (root) {
    case "socket":
      if (path.length !== 1 || path[0] !== "id") {
        return bad("socket has only 'id' ({socket.id})", "unknown property");
      }
      break;
    case "nsp":
    case "room":
      if (path.length > 0)
        return bad(`${root} is a string and has no properties`, "unknown property");
      break;
    case "args":
      if (path.length > 0 && !INDEX.test(path[0]!)) {
        return bad("args takes an index first, such as {args.0} or {args.1.name}", "bad index");
      }
      break;
    case "captures":
      if (path.length > 1) {
        return bad("captures has one level, such as {captures.id}", "unknown property");
      }
      break;
  }
  return { ref: { root: root as TemplateRoot, path, text: expr } };
}

/** A compiled node: constants are kept apart so containers of constants stay constant. */
type Compiled =
  | { readonly constant: true; readonly value: unknown }
  | { readonly constant: false; readonly fn: Template };

/**
 * Compiles a template value (string, array, mapping or other constant) into a
 * closure. Constant parts are computed once and deep-frozen; the closure returns
 * fresh containers only where something varies.
 *
 * @throws Error when a string has problems: validate (src/mapping/validate.ts) first.
 */
export function compileTemplate(value: unknown): Template {
  const compiled = compileNode(value);
  if (compiled.constant) {
    const constant = compiled.value;
    return () => constant;
  }
  return compiled.fn;
}

function compileNode(value: unknown): Compiled {
  if (typeof value === "string") return compileString(value);
  if (Array.isArray(value)) {
    const items = value.map(compileNode);
    if (items.every((c) => c.constant)) {
      return { constant: true, value: Object.freeze(items.map((c) => c.value)) };
    }
    const fns = items.map(toFn);
    return { constant: false, fn: (ctx) => fns.map((fn) => fn(ctx)) };
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).map(([k, v]) => [k, compileNode(v)] as const);
    if (entries.every(([, c]) => c.constant)) {
      const frozen: Record<string, unknown> = {};
      for (const [k, c] of entries) defineValue(frozen, k, (c as { value: unknown }).value);
      return { constant: true, value: Object.freeze(frozen) };
    }
    const keys = entries.map(([k]) => k);
    const fns = entries.map(([, c]) => toFn(c));
    return {
      constant: false,
      fn: (ctx) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < keys.length; i++) defineValue(out, keys[i]!, fns[i]!(ctx));
        return out;
      },
    };
  }
  return { constant: true, value };
}

function toFn(c: Compiled): Template {
  if (!c.constant) return c.fn;
  const value = c.value;
  return () => value;
}

function compileString(text: string): Compiled {
  const { parts, problems } = parseTemplate(text);
  if (problems.length > 0) {
    throw new Error(`Invalid template (${problems[0]!.summary}); validate the configuration first`);
  }
  if (parts.length === 0) return { constant: true, value: "" };
  if (parts.length === 1) {
    const only = parts[0]!;
    return typeof only === "string"
      ? { constant: true, value: only }
      : { constant: false, fn: reader(only) };
  }
  // Interpolation: most templates are `prefix{expr}` or `{expr}suffix`; give those
  // a closure without a loop.
  if (parts.length === 2 && typeof parts[0] === "string" && typeof parts[1] !== "string") {
    const prefix = parts[0];
    const read = reader(parts[1]!);
    return { constant: false, fn: (ctx) => prefix + stringify(read(ctx)) };
  }
  if (parts.length === 2 && typeof parts[0] !== "string" && typeof parts[1] === "string") {
    const read = reader(parts[0]!);
    const suffix = parts[1];
    return { constant: false, fn: (ctx) => stringify(read(ctx)) + suffix };
  }
  const pieces = parts.map((p) => (typeof p === "string" ? p : reader(p)));
  return {
    constant: false,
    fn: (ctx) => {
      let out = "";
      for (const piece of pieces) out += typeof piece === "string" ? piece : stringify(piece(ctx));
      return out;
    },
  };
}

/** How an interpolated value reads: JSON for containers, nothing for a missing value. */
function stringify(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) return "";
  if (typeof value === "object") {
    try {
      return JSON.stringify(value) ?? "";
    } catch {
      // A cyclic or BigInt-holding value cannot come from the wire; read it as empty.
      return "";
    }
  }
  return String(value);
}

type Bag = Record<string, unknown>;

/**
 * A closure reading one expression. Paths of one and two names are unrolled, so
 * `{data.room}` is one array read and one property read.
 */
function reader(ref: TemplateRef): Template {
  switch (ref.root) {
    case "data":
      return readPath((ctx) => ctx.args[0], ref.path, true);
    case "args": {
      if (ref.path.length === 0) return (ctx) => ctx.args;
      const index = Number(ref.path[0]);
      return readPath((ctx) => ctx.args[index], ref.path.slice(1), index === 0);
    }
    case "auth":
      return readPath((ctx) => ctx.auth, ref.path, false);
    case "claims":
      return readPath((ctx) => ctx.claims, ref.path, false);
    case "socket":
      return (ctx) => ctx.socketId;
    case "nsp":
      return (ctx) => ctx.nsp;
    case "room":
      return (ctx) => ctx.room;
    case "captures": {
      if (ref.path.length === 0) return (ctx) => ctx.captures;
      const name = ref.path[0]!;
      return (ctx) => ctx.captures?.[name];
    }
  }
}

function readPath(
  base: (ctx: TemplateContext) => unknown,
  path: readonly string[],
  isFirstArg: boolean,
): Template {
  if (path.length === 0) return base;
  const a = path[0]!;
  if (path.length === 1) {
    if (isFirstArg) {
      // The hot case, `{data.x}`: read args[0] directly instead of through `base`.
      return (ctx) => {
        const v = ctx.args[0];
        return typeof v === "object" && v !== null ? (v as Bag)[a] : undefined;
      };
    }
    return (ctx) => {
      const v = base(ctx);
      return typeof v === "object" && v !== null ? (v as Bag)[a] : undefined;
    };
  }
  if (path.length === 2) {
    const b = path[1]!;
    return (ctx) => {
      const v = base(ctx);
      if (typeof v !== "object" || v === null) return undefined;
      const w = (v as Bag)[a];
      return typeof w === "object" && w !== null ? (w as Bag)[b] : undefined;
    };
  }
  return (ctx) => {
    let v = base(ctx);
    for (const key of path) {
      if (typeof v !== "object" || v === null) return undefined;
      v = (v as Bag)[key];
    }
    return v;
  };
}

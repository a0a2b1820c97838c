/**
 * Outbound frames of the `websocket` kind, written in the settings as templates
 * (docs/backends/websocket.md, "Frames the bridge sends"): compiled once when the
 * settings load, rendered for every frame. Pure: no socket, timer or setting.
 *
 * A frame is `{ json: <value> }` (the value rendered, then sent as JSON text) or
 * `{ text: "<string>" }` (sent as it is, placeholders filled in). In a value:
 * - a string that is exactly one placeholder, `"{data}"`, becomes the variable's value
 *   itself (a number stays a number, an object an object); `"{ref|string}"` makes it a
 *   string, `"{data|json}"` its JSON text;
 * - a string with placeholders among other text gets each one's text (strings as they
 *   are, anything else as JSON);
 * - `{ $json: <value> }` becomes the JSON text of the rendered value: buses that carry
 *   JSON inside a JSON string (Action Cable's `identifier`) are written as they look;
 * - everything else is copied as written.
 * A placeholder is `{name}` or `{name|filter}` with a name made of letters and digits;
 * any other brace is literal text, so `{"a": 1}` in a text frame needs no escaping.
 */

import { setOwn } from "../../own-property.js";

/** Variables a frame may read; each template kind allows some of them. */
export type FrameVariable = "channel" | "event" | "data" | "ref" | "subscribeRef" | "origin";

/** Values of the variables for one frame. */
export type FrameValues = Readonly<Partial<Record<FrameVariable, unknown>>>;

type Filter = "value" | "string" | "json";

type Node =
  | { readonly t: "literal"; readonly value: unknown }
  | { readonly t: "var"; readonly name: FrameVariable; readonly filter: Filter }
  | { readonly t: "text"; readonly parts: readonly (string | VarRef)[] }
  | { readonly t: "array"; readonly items: readonly Node[] }
  | { readonly t: "object"; readonly entries: readonly (readonly [string, Node])[] }
  | { readonly t: "json"; readonly inner: Node };

interface VarRef {
  readonly name: FrameVariable;
  readonly filter: Filter;
}

/** A compiled frame: what to send, and which variables it reads. */
export interface FrameTemplate {
  readonly format: "json" | "text";
  readonly root: Node;
  readonly reads: ReadonlySet<FrameVariable>;
}

/** A problem found while compiling, at a path below the template. */
export interface TemplateProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9]*)(?:\|([A-Za-z]+))?\}/g;
const FILTERS: ReadonlySet<string> = new Set(["string", "json"]);

/** How deep a template may nest: templates are written by hand, never this deep. */
const MAX_TEMPLATE_DEPTH = 32;

/**
 * Compiles a frame as written in the settings. `allowed` are the variables this frame
 * may read (a subscribe frame has no `{data}`). Problems are pushed to `problems`; the
 * result is `undefined` when there was any.
 */
export function compileFrame(
  spec: unknown,
  allowed: readonly FrameVariable[],
  problems: TemplateProblem[],
): FrameTemplate | undefined {
  const before = problems.length;
  const reads = new Set<FrameVariable>();
  const context: CompileContext = { allowed, problems, reads };
  const frame = spec as { json?: unknown; text?: unknown };
  let template: FrameTemplate | undefined;
  if (frame.text !== undefined) {
    if (typeof frame.text !== "string") {
      problems.push({ path: ["text"], message: "a text frame must be a string" });
      return undefined;
    }
    const root = compileString(frame.text, ["text"], context, false);
    template = { format: "text", root, reads };
  } else {
    const root = compileValue(frame.json, ["json"], context, 0);
    template = { format: "json", root, reads };
  }
  return problems.length === before ? template : undefined;
}

interface CompileContext {
  readonly allowed: readonly FrameVariable[];
  readonly problems: TemplateProblem[];
  readonly reads: Set<FrameVariable>;
}

function compileValue(
  value: unknown,
  path: readonly (string | number)[],
  context: CompileContext,
  depth: number,
): Node {
  if (depth > MAX_TEMPLATE_DEPTH) {
    context.problems.push({ path, message: `nests deeper than ${MAX_TEMPLATE_DEPTH} levels` });
    return { t: "literal", value: null };
  }
  if (typeof value === "string") return compileString(value, path, context, true);
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileValue(item, [...path, i], context, depth + 1));
    return items.every((n) => n.t === "literal")
      ? { t: "literal", value: items.map((n) => (n as { value: unknown }).value) }
      : { t: "array", items };
  }
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$json") {
      const inner = compileValue(
        (value as Record<string, unknown>).$json,
        [...path, "$json"],
        context,
        depth + 1,
      );
      return { t: "json", inner };
    }
    const entries = keys.map(
      (key) =>
        [
          key,
          compileValue((value as Record<string, unknown>)[key], [...path, key], context, depth + 1),
        ] as const,
    );
    return { t: "object", entries };
  }
  return { t: "literal", value };
}

function compileString(
  text: string,
  path: readonly (string | number)[],
  context: CompileContext,
  isValuePosition: boolean,
): Node {
  const parts: (string | VarRef)[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const [whole, name = "", filter] = match;
    const ref = checkVariable(name, filter, whole, path, context);
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(ref ?? whole);
    last = match.index + whole.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  if (parts.length === 1 && typeof parts[0] === "object" && isValuePosition) {
    return { t: "var", name: parts[0].name, filter: parts[0].filter };
  }
  if (parts.every((part) => typeof part === "string")) return { t: "literal", value: text };
  return { t: "text", parts };
}

function checkVariable(
  name: string,
  filter: string | undefined,
  whole: string,
  path: readonly (string | number)[],
  context: CompileContext,
): VarRef | undefined {
  if (!(context.allowed as readonly string[]).includes(name)) {
    context.problems.push({
      path,
      message: `${whole} is not a variable of this frame (it may use ${context.allowed.map((v) => `{${v}}`).join(", ")})`,
    });
    return undefined;
  }
  if (filter !== undefined && !FILTERS.has(filter)) {
    context.problems.push({
      path,
      message: `${whole}: unknown filter '${filter}' (filters: string, json)`,
    });
    return undefined;
  }
  context.reads.add(name as FrameVariable);
  return { name: name as FrameVariable, filter: (filter ?? "value") as Filter };
}

/** The frame's text for these values. Never throws for JSON-safe values. */
export function renderFrame(template: FrameTemplate, values: FrameValues): string {
  const rendered = render(template.root, values);
  if (template.format === "text") return rendered as string;
  return JSON.stringify(rendered) ?? "null";
}

function render(node: Node, values: FrameValues): unknown {
  switch (node.t) {
    case "literal":
      return node.value;
    case "var": {
      const value = values[node.name] ?? null;
      if (node.filter === "value") return value;
      return node.filter === "json" ? toJson(value) : asText(value);
    }
    case "text": {
      let out = "";
      for (const part of node.parts) {
        if (typeof part === "string") {
          out += part;
        } else {
          const value = values[part.name] ?? null;
          out += part.filter === "json" ? toJson(value) : asText(value);
        }
      }
      return out;
    }
    case "array":
      return node.items.map((item) => render(item, values));
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, item] of node.entries) setOwn(out, key, render(item, values));
      return out;
    }
    case "json":
      return toJson(render(node.inner, values));
  }
}

function asText(value: unknown): string {
  return typeof value === "string" ? value : toJson(value);
}

function toJson(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

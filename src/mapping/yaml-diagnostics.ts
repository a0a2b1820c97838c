/**
 * YAML syntax errors in plain words.
 *
 * The yaml package speaks its own grammar ("Nested mappings are not allowed in compact
 * mappings") and often reports one slip as several errors: an over-indented key is a
 * nested mapping in a compact mapping *and* a multi-line implicit key, both placed on
 * the line above the mistake. Here the errors that start on one line become one
 * diagnostic that says what the reader did, at the place they fix it, with the
 * parser's words kept as the hint for anyone who knows YAML's terms.
 */

import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  visit,
  type YAMLError,
} from "yaml";
import { makeDiagnostic, type Position } from "./diagnostic.js";
import type { Diagnostic } from "./types.js";

/** What one problem says, and where. */
interface Explanation {
  /** Offset into the text. */
  readonly at: number;
  readonly message: string;
  /** Whether the parser's own words add anything (not when fully reworded). */
  readonly hasDetail: boolean;
}

/**
 * One SWY_CFG_YAML diagnostic per line on which the parser's errors start, in the
 * parser's order; warnings (an unknown directive) keep the parser's words.
 */
export function yamlDiagnostics(
  doc: Document,
  text: string,
  file: string,
  lines: LineCounter,
): Diagnostic[] {
  const at = (offset: number): Position => lines.linePos(offset);
  const groups = new Map<number, YAMLError[]>();
  for (const error of doc.errors) {
    const line = at(error.pos[0]).line;
    const group = groups.get(line);
    if (group) group.push(error);
    else groups.set(line, [error]);
  }
  const out: Diagnostic[] = [];
  for (const group of groups.values()) {
    const explained = explain(group, doc, text);
    const details = [...new Set(group.map((e) => e.message))].join("; ");
    out.push(
      makeDiagnostic(file, at(explained.at), "SWY_CFG_YAML", [explained.message], {
        hint: explained.hasDetail ? `parser: ${details}` : undefined,
      }),
    );
  }
  for (const warning of doc.warnings) {
    out.push(
      makeDiagnostic(file, at(warning.pos[0]), "SWY_CFG_YAML", [warning.message], {
        severity: "warning",
      }),
    );
  }
  return out;
}

function explain(group: readonly YAMLError[], doc: Document, text: string): Explanation {
  const first = group[0]!;
  const find = (code: YAMLError["code"], words?: string) =>
    group.find((e) => e.code === code && (words === undefined || e.message.includes(words)));
  const said = (at: number, message: string): Explanation => ({ at, message, hasDetail: true });

  const nested = find("BLOCK_AS_IMPLICIT_KEY", "Nested mappings");
  const multiline = find("MULTILINE_IMPLICIT_KEY");
  const spansLines = (e: YAMLError) => text.slice(e.pos[0], e.pos[1]).includes("\n");
  if (nested && multiline && spansLines(multiline)) {
    // The "key" runs from the value above to the over-indented key: point at that key.
    return said(
      lineStart(text, multiline.pos[1] - 1),
      "This line is indented further than the key above it, so YAML reads it as more of " +
        "that key's value; start it in the same column as the keys it belongs with",
    );
  }
  if (nested) {
    return said(
      nested.pos[0],
      "A value holds ': ', which YAML reads as a second key on the same line; quote the " +
        "value, or put the inner key on a line of its own, indented",
    );
  }
  const sequenceAsKey = find("BLOCK_AS_IMPLICIT_KEY", "block sequence");
  if (sequenceAsKey) {
    return said(
      lineStart(text, sequenceAsKey.pos[0]),
      "This list item is not in the same column as the items above it; start every '- ' " +
        "of one list in the same column",
    );
  }
  const listItem = find("UNEXPECTED_TOKEN", "block-seq-ind");
  if (listItem) {
    return said(
      listItem.pos[0],
      "A '- ' list item where a 'key: value' belongs; a list goes on the lines below its " +
        "key, indented",
    );
  }
  const inFlow = find("BLOCK_IN_FLOW");
  if (inFlow) {
    return said(
      inFlow.pos[0],
      "Inside [ ] and { } items are separated by ', '; a '- ' item or a line break " +
        "between 'key: value' pairs is not allowed there",
    );
  }
  switch (first.code) {
    case "TAB_AS_INDENT":
      return said(first.pos[0], "This line is indented with a tab; YAML indents with spaces only");
    case "BAD_INDENT": {
      const flow = /Flow (map|sequence)/.exec(first.message);
      if (flow) {
        const [open, close] = flow[1] === "map" ? ["{", "}"] : ["[", "]"];
        const opener = flowEndingAt(doc, first.pos[0]);
        return said(
          opener ?? first.pos[0],
          opener === undefined
            ? `A '${open}' above this line is never closed; close it with '${close}'`
            : `This '${open}' is never closed; close it with '${close}' (lines that continue ` +
                "it are indented under its key)",
        );
      }
      return said(
        lineStart(text, first.pos[0]),
        "This key does not line up with the keys above it; the keys of one mapping start in " +
          "the same column",
      );
    }
    case "MISSING_CHAR": {
      const quote = /Missing closing (["'])quote/.exec(first.message)?.[1];
      if (quote) {
        const opener = quotedEndingAt(doc, first.pos[0]);
        return said(
          opener ?? first.pos[0],
          `This ${quote} opens a value that is never closed (it runs to the end of the ` +
            `file); close it with ${quote}`,
        );
      }
      if (first.message.includes("between flow")) {
        return said(first.pos[0], "Items inside [ ] and { } are separated by ', '");
      }
      return said(
        lineStart(text, first.pos[0]),
        "This line has no ':'; YAML expects 'key: value' here (or '- item' in a list)",
      );
    }
    case "MULTILINE_IMPLICIT_KEY":
      return said(
        first.pos[0],
        "This line has no ': ' after its key, so YAML joins it with the next line into one " +
          "key; write 'key: value'",
      );
    case "UNEXPECTED_TOKEN": {
      const closer = /flow-(map|seq)-end/.exec(first.message)?.[1];
      if (closer) {
        const [open, close] = closer === "map" ? ["{", "}"] : ["[", "]"];
        return said(
          first.pos[0],
          `A '${close}' with no '${open}' before it; remove it, or quote the value that holds it`,
        );
      }
      return said(
        first.pos[0],
        "Text after a complete value; quote the whole value, or check this line's indentation",
      );
    }
    case "BAD_SCALAR_START": {
      const char = /character (.+)$/.exec(first.message)?.[1] ?? "this character";
      return said(first.pos[0], `A value cannot start with ${char} unquoted; quote it`);
    }
    case "BAD_DQ_ESCAPE": {
      const sequence = /sequence (.+)$/.exec(first.message)?.[1] ?? "";
      return said(
        first.pos[0],
        `Unknown escape ${sequence} in a "double-quoted" value; write \\\\ for a backslash, or ` +
          "use 'single quotes', in which \\ is itself",
      );
    }
    case "MULTIPLE_DOCS":
      return {
        at: first.pos[0],
        message: "A configuration file holds one YAML document; remove the second '---'",
        hasDetail: false,
      };
    case "DUPLICATE_KEY": {
      // The error marks the key's first character; the key runs to its colon.
      const key = /^("[^"\n]*"|'[^'\n]*'|[^:\n]*)/.exec(text.slice(first.pos[0]))?.[0].trim();
      const quoted = key?.startsWith("'") || key?.startsWith('"') ? key : `'${key}'`;
      return key
        ? {
            at: first.pos[0],
            message: `Duplicate key ${quoted}: a mapping holds each key once; keep one`,
            hasDetail: false,
          }
        : said(first.pos[0], first.message);
    }
    default:
      return { at: first.pos[0], message: first.message, hasDetail: false };
  }
}

/** The first character of the line that holds `offset` that is not a space or tab. */
function lineStart(text: string, offset: number): number {
  let start = text.lastIndexOf("\n", offset - 1) + 1;
  while (text[start] === " " || text[start] === "\t") start++;
  return start;
}

/** Where the quoted scalar that runs unclosed up to `end` opens. */
function quotedEndingAt(doc: Document, end: number): number | undefined {
  return nodeEndingAt(
    doc,
    end,
    (node) => isScalar(node) && (node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE"),
  );
}

/** Where the flow collection (`{…}` or `[…]`) that runs unclosed up to `end` opens. */
function flowEndingAt(doc: Document, end: number): number | undefined {
  return nodeEndingAt(
    doc,
    end,
    (node) => (isMap(node) || isSeq(node)) && (node as { flow?: boolean }).flow === true,
  );
}

function nodeEndingAt(
  doc: Document,
  end: number,
  matches: (node: Node) => boolean,
): number | undefined {
  let found: number | undefined;
  visit(doc, (_key, node) => {
    const range = (node as Node).range;
    if (found === undefined && range && range[1] === end && matches(node as Node)) {
      found = range[0];
      return visit.BREAK;
    }
    return undefined;
  });
  return found;
}

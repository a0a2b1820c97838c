/**
 * What a frame from the bus means, decided by the `inbound` rules of the settings
 * (docs/backends/websocket.md, "Frames the bus sends"): compiled once when the
 * settings load, applied in order to every frame; the first rule whose `match` holds
 * decides. Pure: no socket, timer or setting.
 *
 * A frame is read as JSON when its text parses as JSON, and as the string of its text
 * otherwise, so the pointer `""` names the whole frame either way (SocketCluster's ping
 * is the empty text frame). A rule is `match` (pointer → condition, all must hold) and
 * one action:
 * - `reply: { ref, error?, ok? }`: the answer to the frame the bridge sent with that
 *   `{ref}`; it failed when `ok` (conditions) does not hold, or, without `ok`, when
 *   `error` names a value that is not null;
 * - `message: { channel, event?, data }`: a message for the channel's members;
 * - `subscribed: { channel }`, `refused: { channel, reason? }`: the bus confirmed or
 *   refused the bridge's subscription to the channel;
 * - `unsubscribed: { channel, ref? }`: the bus ended the subscription (the bridge
 *   subscribes again while the channel has members); with `ref`, only the subscription
 *   whose subscribe frame sent that `{ref}` (a late end of an earlier one is ignored);
 * - `respond: <frame>`: send this frame back (a ping's pong);
 * - `ignore: true`: known, nothing to do.
 * A value is taken with a JSON Pointer, a list of steps (pointers, and `json` to read
 * a string as JSON: doubly encoded buses), or `{ const: value }`.
 */

import { textExceedsDepth } from "../../json-depth.js";
import { compileFrame, type FrameTemplate, type TemplateProblem } from "./frame-template.js";
import { type JsonPointer, parsePointer, resolvePointer } from "./json-pointer.js";

type Test =
  | { readonly t: "equals"; readonly value: string | number | boolean | null }
  | { readonly t: "exists"; readonly value: boolean }
  | { readonly t: "matches"; readonly re: RegExp };

interface Condition {
  readonly pointer: JsonPointer;
  readonly test: Test;
}

type Step = JsonPointer | "json";

/** Where a value is in a frame, compiled. */
export type Extract =
  | { readonly t: "steps"; readonly steps: readonly Step[] }
  | { readonly t: "const"; readonly value: unknown };

type Action =
  | {
      readonly kind: "reply";
      readonly ref: Extract;
      readonly error?: Extract;
      readonly ok?: readonly Condition[];
    }
  | {
      readonly kind: "message";
      readonly channel: Extract;
      readonly event: Extract;
      readonly data: Extract;
    }
  | { readonly kind: "subscribed"; readonly channel: Extract }
  | { readonly kind: "refused"; readonly channel: Extract; readonly reason?: Extract }
  | { readonly kind: "unsubscribed"; readonly channel: Extract; readonly ref?: Extract }
  | { readonly kind: "respond"; readonly frame: FrameTemplate }
  | { readonly kind: "ignore" };

export interface InboundRule {
  readonly match: readonly Condition[];
  readonly action: Action;
}

/** What a frame meant. */
export type Inbound =
  | { readonly kind: "reply"; readonly ref: string; readonly error?: string }
  | {
      readonly kind: "message";
      readonly channel: string;
      readonly event: string;
      readonly data: unknown;
    }
  | { readonly kind: "subscribed"; readonly channel: string }
  | { readonly kind: "refused"; readonly channel: string; readonly reason: string }
  /** `ref`: the subscribe frame's ref it ends, when the bus says (a stale end is ignored). */
  | { readonly kind: "unsubscribed"; readonly channel: string; readonly ref?: string }
  | { readonly kind: "respond"; readonly frame: FrameTemplate }
  | { readonly kind: "ignore" }
  | { readonly kind: "unmatched" }
  /** A rule matched but its values were not what it takes (a channel that is not a string). */
  | { readonly kind: "malformed"; readonly reason: string }
  /** Nested deeper than the frame's bound: not parsed. */
  | { readonly kind: "too_deep" };

/** The event of a message rule that names none. */
export const DEFAULT_EVENT = "message";

/** How long an error text from the bus may get in a log line or an ack. */
const MAX_ERROR_TEXT = 200;

const ACTIONS = [
  "reply",
  "message",
  "subscribed",
  "refused",
  "unsubscribed",
  "respond",
  "ignore",
] as const;

/**
 * Compiles the `inbound` list. Problems go to `problems` with paths below the list;
 * rules with problems are left out.
 */
export function compileInboundRules(specs: unknown, problems: TemplateProblem[]): InboundRule[] {
  if (!Array.isArray(specs)) return [];
  const rules: InboundRule[] = [];
  specs.forEach((spec, i) => {
    const before = problems.length;
    const rule = compileRule(spec as Record<string, unknown>, [i], problems);
    if (rule !== undefined && problems.length === before) rules.push(rule);
  });
  return rules;
}

type Path = readonly (string | number)[];

function compileRule(
  spec: Record<string, unknown>,
  path: Path,
  problems: TemplateProblem[],
): InboundRule | undefined {
  const match = compileConditions(spec.match, [...path, "match"], problems);
  const present = ACTIONS.filter((action) => spec[action] !== undefined);
  if (present.length !== 1) {
    problems.push({
      path,
      message:
        present.length === 0
          ? `a rule needs one action: ${ACTIONS.join(", ")}`
          : `a rule takes one action, not ${present.join(" and ")}`,
    });
    return undefined;
  }
  const kind = present[0]!;
  const at = [...path, kind];
  const body = (spec[kind] ?? {}) as Record<string, unknown>;
  const take = (key: string, required: boolean): Extract | undefined => {
    if (body[key] === undefined) {
      if (required) problems.push({ path: at, message: `${kind} needs '${key}'` });
      return undefined;
    }
    return compileExtract(body[key], [...at, key], problems);
  };
  let action: Action | undefined;
  switch (kind) {
    case "reply": {
      const ref = take("ref", true);
      const error = take("error", false);
      const ok =
        body.ok === undefined ? undefined : compileConditions(body.ok, [...at, "ok"], problems);
      if (ref !== undefined) {
        action = {
          kind,
          ref,
          ...(error === undefined ? {} : { error }),
          ...(ok === undefined ? {} : { ok }),
        };
      }
      break;
    }
    case "message": {
      const channel = take("channel", true);
      const data = take("data", true);
      const event = take("event", false) ?? { t: "const", value: DEFAULT_EVENT };
      if (channel !== undefined && data !== undefined) action = { kind, channel, event, data };
      break;
    }
    case "subscribed": {
      const channel = take("channel", true);
      if (channel !== undefined) action = { kind, channel };
      break;
    }
    case "unsubscribed": {
      const channel = take("channel", true);
      const ref = take("ref", false);
      if (channel !== undefined) action = { kind, channel, ...(ref === undefined ? {} : { ref }) };
      break;
    }
    case "refused": {
      const channel = take("channel", true);
      const reason = take("reason", false);
      if (channel !== undefined) {
        action = { kind, channel, ...(reason === undefined ? {} : { reason }) };
      }
      break;
    }
    case "respond": {
      const frameProblems: TemplateProblem[] = [];
      const frame = compileFrame(body, ["ref", "origin"], frameProblems);
      for (const p of frameProblems)
        problems.push({ path: [...at, ...p.path], message: p.message });
      if (frame !== undefined) action = { kind, frame };
      break;
    }
    case "ignore":
      if (spec.ignore !== true) {
        problems.push({ path: at, message: "ignore takes true" });
        return undefined;
      }
      action = { kind };
      break;
  }
  return action === undefined ? undefined : { match, action };
}

function compileConditions(spec: unknown, path: Path, problems: TemplateProblem[]): Condition[] {
  if (spec === undefined) return [];
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    problems.push({ path, message: "match is a mapping of JSON Pointers to conditions" });
    return [];
  }
  const conditions: Condition[] = [];
  for (const [text, want] of Object.entries(spec)) {
    const pointer = parsePointer(text);
    if (typeof pointer === "string") {
      problems.push({ path: [...path, text], message: pointer });
      continue;
    }
    const test = compileTest(want, [...path, text], problems);
    if (test !== undefined) conditions.push({ pointer, test });
  }
  return conditions;
}

function compileTest(want: unknown, path: Path, problems: TemplateProblem[]): Test | undefined {
  if (want === null || ["string", "number", "boolean"].includes(typeof want)) {
    return { t: "equals", value: want as string | number | boolean | null };
  }
  const spec = want as Record<string, unknown>;
  const keys = Object.keys(spec);
  if (keys.length !== 1) {
    problems.push({
      path,
      message: "a condition is a value to equal, or one of { equals }, { exists }, { matches }",
    });
    return undefined;
  }
  if (keys[0] === "equals") return compileTest(spec.equals, [...path, "equals"], problems);
  if (keys[0] === "exists") return { t: "exists", value: spec.exists === true };
  // `matches`: the schema made it a string.
  try {
    return { t: "matches", re: new RegExp(spec.matches as string, "u") };
  } catch (error) {
    problems.push({
      path: [...path, "matches"],
      message: `not a regular expression: ${(error as Error).message}`,
    });
    return undefined;
  }
}

/** Compiles where a value is (a pointer, a list of steps, or `{ const }`). */
export function compileExtract(spec: unknown, path: Path, problems: TemplateProblem[]): Extract {
  if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) {
    return { t: "const", value: (spec as { const?: unknown }).const ?? null };
  }
  const list = Array.isArray(spec) ? spec : [spec];
  const steps: Step[] = [];
  list.forEach((item, i) => {
    const at = Array.isArray(spec) ? [...path, i] : path;
    if (item === "json") {
      steps.push("json");
      return;
    }
    const pointer =
      typeof item === "string" ? parsePointer(item) : "a step is a JSON Pointer or json";
    if (typeof pointer === "string") problems.push({ path: at, message: pointer });
    else steps.push(pointer);
  });
  return { t: "steps", steps };
}

// ---------------------------------------------------------------------------------------
// Reading frames

/**
 * The frame's value: its JSON, or its text when it is not JSON. `too_deep` when it
 * nests more than `maxDepth` levels (then it is not parsed at all).
 */
export function readFrame(text: string, maxDepth: number): { value: unknown } | "too_deep" {
  if (textExceedsDepth(text, maxDepth)) return "too_deep";
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { value: text };
  }
}

/** What `frame` (a value from {@link readFrame}) means under `rules`. */
export function classify(rules: readonly InboundRule[], frame: unknown, maxDepth: number): Inbound {
  for (const rule of rules) {
    if (!rule.match.every((condition) => holds(condition, frame))) continue;
    try {
      return apply(rule.action, frame, maxDepth);
    } catch (error) {
      if (error instanceof FrameError) return error.inbound;
      throw error;
    }
  }
  return { kind: "unmatched" };
}

/** Thrown inside {@link apply} when a value is not what the rule takes. */
class FrameError extends Error {
  constructor(readonly inbound: Inbound) {
    super(inbound.kind);
  }
}

function apply(action: Action, frame: unknown, maxDepth: number): Inbound {
  const get = (extract: Extract) => extractValue(extract, frame, maxDepth);
  const channelOf = (extract: Extract): string => {
    const channel = get(extract);
    if (typeof channel !== "string" || channel === "") {
      throw new FrameError({ kind: "malformed", reason: "channel is not a non-empty string" });
    }
    return channel;
  };
  switch (action.kind) {
    case "reply": {
      const ref = get(action.ref);
      if (typeof ref !== "string" && typeof ref !== "number") {
        return { kind: "malformed", reason: "reply ref is not a string or number" };
      }
      const error = action.error === undefined ? undefined : get(action.error);
      const failed =
        action.ok === undefined
          ? error !== undefined && error !== null
          : !action.ok.every((condition) => holds(condition, frame));
      return failed
        ? { kind: "reply", ref: String(ref), error: errorText(error) }
        : { kind: "reply", ref: String(ref) };
    }
    case "message": {
      const event = get(action.event);
      if (typeof event !== "string" || event === "") {
        return { kind: "malformed", reason: "event is not a non-empty string" };
      }
      return { kind: "message", channel: channelOf(action.channel), event, data: get(action.data) };
    }
    case "subscribed":
      return { kind: action.kind, channel: channelOf(action.channel) };
    case "unsubscribed": {
      const channel = channelOf(action.channel);
      const ref = action.ref === undefined ? undefined : get(action.ref);
      return typeof ref === "string" || typeof ref === "number"
        ? { kind: "unsubscribed", channel, ref: String(ref) }
        : { kind: "unsubscribed", channel };
    }
    case "refused": {
      const reason = action.reason === undefined ? undefined : get(action.reason);
      return { kind: "refused", channel: channelOf(action.channel), reason: errorText(reason) };
    }
    case "respond":
      return { kind: "respond", frame: action.frame };
    case "ignore":
      return { kind: "ignore" };
  }
}

function holds(condition: Condition, frame: unknown): boolean {
  const value = resolvePointer(frame, condition.pointer);
  const { test } = condition;
  switch (test.t) {
    case "exists":
      return (value !== undefined) === test.value;
    case "equals":
      return value === test.value;
    case "matches":
      return typeof value === "string" && test.re.test(value);
  }
}

/**
 * The value `extract` names in `frame`, or `undefined` when there is none or a step
 * could not be taken (a `json` step on text that is not JSON, or nests too deep).
 */
export function readExtract(extract: Extract, frame: unknown, maxDepth: number): unknown {
  try {
    return extractValue(extract, frame, maxDepth);
  } catch (error) {
    if (error instanceof FrameError) return undefined;
    throw error;
  }
}

function extractValue(extract: Extract, frame: unknown, maxDepth: number): unknown {
  if (extract.t === "const") return extract.value;
  let value = frame;
  for (const step of extract.steps) {
    if (step !== "json") {
      value = resolvePointer(value, step);
      continue;
    }
    if (typeof value !== "string") {
      throw new FrameError({
        kind: "malformed",
        reason: "a json step met a value that is not a string",
      });
    }
    if (textExceedsDepth(value, maxDepth)) throw new FrameError({ kind: "too_deep" });
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      throw new FrameError({
        kind: "malformed",
        reason: "a json step met a string that is not JSON",
      });
    }
  }
  return value;
}

/** A bus's error value as a short text for a log line or an ack. */
function errorText(value: unknown): string {
  if (value === undefined || value === null) return "refused";
  let text: string;
  if (typeof value === "string") {
    text = value;
  } else if (
    typeof value === "object" &&
    typeof (value as { message?: unknown }).message === "string"
  ) {
    text = (value as { message: string }).message;
  } else {
    text = JSON.stringify(value) ?? String(value);
  }
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
}

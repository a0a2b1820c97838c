/**
 * The `settings` block of a `websocket` backend: its JSON Schema (checked when the
 * configuration loads), the presets it may start from, and the resolved settings with
 * the frame language compiled (docs/backends/websocket.md).
 *
 * A preset is a YAML file under presets/websocket/ holding settings like these; the
 * backend's own settings take precedence key by key (`frames` and `query` and
 * `headers` entry by entry, every other key as a whole), so a user can start from a
 * preset and change one frame, or copy the whole preset into the file and edit it.
 */

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import {
  durationSchema,
  type ManagedSettings,
  type ManagedSettingsInput,
  managedSettingsOf,
} from "../managed/managed-settings.js";
import {
  compileFrame,
  type FrameTemplate,
  type FrameVariable,
  type TemplateProblem,
} from "./frame-template.js";
import {
  compileExtract,
  compileInboundRules,
  type Extract,
  type InboundRule,
} from "./inbound-rules.js";

/** The presets shipped in presets/websocket/. */
export const WEBSOCKET_PRESETS = ["socketcluster", "phoenix"] as const;
export type WebsocketPreset = (typeof WEBSOCKET_PRESETS)[number];

/** A frame as written: JSON (any value, with placeholders) or text. */
export type FrameSpec = { readonly json: unknown } | { readonly text: string };

/** The settings as written in YAML, after `${VAR}` expansion and schema validation. */
export interface WebsocketSettingsInput extends ManagedSettingsInput {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly protocols?: readonly string[];
  readonly preset?: WebsocketPreset;
  readonly maxFrameBytes?: number;
  readonly publishNeedsSubscription?: boolean;
  readonly echo?: "bus" | "none" | { readonly origin: unknown };
  readonly frames?: {
    readonly open?: {
      readonly send: readonly FrameSpec[];
      readonly await?: "reply" | { readonly match: unknown };
    };
    readonly subscribe?: FrameSpec;
    readonly unsubscribe?: FrameSpec;
    readonly publish?: FrameSpec;
  };
  readonly inbound?: readonly unknown[];
  readonly heartbeat?:
    | boolean
    | { readonly every?: number; readonly timeout?: number; readonly send?: FrameSpec };
}

/**
 * How the bus treats a publisher's own messages, so that members get each message once:
 * - `bus`: the bus sends them back (SocketCluster; Phoenix's `broadcast!`): this node's
 *   members get the publication from the bus, like everyone else's;
 * - `none`: it does not: this node's members get it from the bridge once sent;
 * - `origin`: it sends them back with the origin the publish frame stamped (`{origin}`,
 *   read back at `pointer`): the bridge delivers at once and drops the copy.
 */
export type EchoMode =
  | { readonly mode: "bus" }
  | { readonly mode: "none" }
  | { readonly mode: "origin"; readonly origin: Extract };

/** The frame language, compiled. */
export interface WebsocketFrames {
  readonly open: readonly FrameTemplate[];
  /** What the bridge waits for after the open frames before it subscribes anything. */
  readonly openAwait:
    | { readonly kind: "none" }
    | { readonly kind: "reply" }
    | {
        readonly kind: "match";
        readonly rule: InboundRule;
      };
  readonly subscribe: FrameTemplate;
  readonly unsubscribe?: FrameTemplate;
  readonly publish: FrameTemplate;
  readonly inbound: readonly InboundRule[];
  /** Whether a frame the bus sends can answer a `{ref}` (an inbound `reply` rule). */
  readonly hasReplies: boolean;
  /** Whether subscriptions are confirmed by `subscribed` rules (by channel). */
  readonly hasSubscribedRule: boolean;
}

/** Settings with defaults applied and the frames compiled; durations in milliseconds. */
export interface WebsocketSettings extends ManagedSettings {
  /** The URL with `query` applied. Never logged whole: the query may hold a secret. */
  readonly url: string;
  /** The URL without its query, for logs. */
  readonly displayUrl: string;
  /** Never logged: values may be secrets. */
  readonly headers: Readonly<Record<string, string>>;
  readonly protocols: readonly string[];
  readonly preset?: WebsocketPreset;
  readonly maxFrameBytes: number;
  /** The bus takes a publication only on a channel the connection subscribed (Phoenix). */
  readonly publishNeedsSubscription: boolean;
  readonly echo: EchoMode;
  readonly frames: WebsocketFrames;
  readonly heartbeat:
    | false
    | { readonly every: number; readonly timeout: number; readonly send?: FrameTemplate };
}

/** The defaults, as documented in the schema below. */
export const WEBSOCKET_DEFAULTS = {
  connectTimeout: 10_000,
  subscribeTimeout: 10_000,
  subscribeRetryDelay: 1000,
  subscribeRetryMaxDelay: 30_000,
  publishTimeout: 5000,
  batchSize: 100,
  maxInflight: 16,
  maxQueued: 10_000,
  maxFrameBytes: 1_048_576,
  heartbeatEvery: 25_000,
  heartbeatTimeout: 10_000,
} as const;

/** Longest channel name, in characters: no bus we know takes longer ones. */
export const WEBSOCKET_MAX_CHANNEL_LENGTH = 1024;

const FRAME_SCHEMA = {
  description:
    "A frame the bridge sends: `json` (a value, placeholders filled in, sent as JSON text) or `text` (sent as it is, placeholders filled in).",
  type: "object",
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    json: { description: "The frame as a JSON value; strings may hold placeholders." },
    text: { description: "The frame as text; may hold placeholders.", type: "string" },
  },
} as const;

const EXTRACT_SCHEMA = {
  description:
    "Where a value is in a frame: a JSON Pointer, a list of steps (pointers, and `json` to read a string as JSON), or `{ const: value }`.",
  type: ["string", "array", "object"],
} as const;

const MATCH_SCHEMA = {
  description:
    "JSON Pointer → condition; all must hold. A condition is a value to equal, `{ equals }`, `{ exists: true|false }` or `{ matches: regex }` (strings only).",
  type: "object",
  additionalProperties: { type: ["string", "number", "boolean", "null", "object"] },
} as const;

const RULE_SCHEMA = {
  description: "An inbound rule: `match` and one action.",
  type: "object",
  additionalProperties: false,
  properties: {
    match: MATCH_SCHEMA,
    reply: {
      description:
        "The answer to a frame the bridge sent with `{ref}`: `ref` (where the ref is), `error` (failed when not null) or `ok` (conditions for success).",
      type: "object",
      additionalProperties: false,
      required: ["ref"],
      properties: { ref: EXTRACT_SCHEMA, error: EXTRACT_SCHEMA, ok: MATCH_SCHEMA },
    },
    message: {
      description:
        "A message for a channel's members: `channel`, `data`, `event` (default `message`).",
      type: "object",
      additionalProperties: false,
      required: ["channel", "data"],
      properties: { channel: EXTRACT_SCHEMA, event: EXTRACT_SCHEMA, data: EXTRACT_SCHEMA },
    },
    subscribed: {
      description: "The bus confirmed the bridge's subscription to `channel`.",
      type: "object",
      additionalProperties: false,
      required: ["channel"],
      properties: { channel: EXTRACT_SCHEMA },
    },
    refused: {
      description: "The bus refused the bridge's subscription to `channel`, for `reason`.",
      type: "object",
      additionalProperties: false,
      required: ["channel"],
      properties: { channel: EXTRACT_SCHEMA, reason: EXTRACT_SCHEMA },
    },
    unsubscribed: {
      description:
        "The bus ended the bridge's subscription to `channel` (the one whose subscribe frame sent `ref`, when given); it subscribes again.",
      type: "object",
      additionalProperties: false,
      required: ["channel"],
      properties: { channel: EXTRACT_SCHEMA, ref: EXTRACT_SCHEMA },
    },
    respond: { ...FRAME_SCHEMA, description: "A frame sent back (a pong)." },
    ignore: { description: "A frame with nothing to do.", const: true },
  },
} as const;

/** JSON Schema (draft-07) of the settings of kind `websocket`. */
export const websocketSettingsSchema: Readonly<Record<string, unknown>> = {
  type: "object",
  additionalProperties: false,
  required: ["url"],
  properties: {
    url: {
      description: "The bus's WebSocket URL, ws:// or wss://.",
      type: "string",
      pattern: "^wss?://[^\\s]+$",
      patternErrorMessage: "must be a ws:// or wss:// URL",
    },
    headers: {
      description:
        "Request headers of the WebSocket handshake (an Authorization header). Never logged: take secrets from the environment.",
      type: "object",
      additionalProperties: { type: "string" },
    },
    query: {
      description:
        "Query parameters added to the URL (a token). Never logged: take secrets from the environment.",
      type: "object",
      additionalProperties: { type: "string" },
    },
    protocols: {
      description: "WebSocket subprotocols offered in the handshake.",
      type: "array",
      items: { type: "string", minLength: 1 },
    },
    preset: {
      description:
        "Settings to start from (presets/websocket/<name>.yaml); the keys written here take precedence.",
      enum: [...WEBSOCKET_PRESETS],
    },
    connectTimeout: durationSchema(
      "How long start() waits for the first connection (and the open frames' answer) before it lets Switchyard run with the backend not ready (it keeps reconnecting).",
      WEBSOCKET_DEFAULTS.connectTimeout,
    ),
    subscribeTimeout: durationSchema(
      "How long a subscribe frame may wait for its confirmation before it counts as failed and is retried.",
      WEBSOCKET_DEFAULTS.subscribeTimeout,
    ),
    subscribeRetryDelay: durationSchema(
      "Back-off before the first retry of a failed subscription; it doubles on each further failure, with jitter.",
      WEBSOCKET_DEFAULTS.subscribeRetryDelay,
    ),
    subscribeRetryMaxDelay: durationSchema(
      "The longest back-off between subscription retries.",
      WEBSOCKET_DEFAULTS.subscribeRetryMaxDelay,
    ),
    publishTimeout: durationSchema(
      "Longest time from a publication's arrival to its answer, wherever it waits (for the connection to come back, or for the bus's reply); past it the publication fails with SWY_WS_UNAVAILABLE.",
      WEBSOCKET_DEFAULTS.publishTimeout,
    ),
    batchSize: {
      description: `Most publication frames written together, one batch per channel at a time (a channel keeps its order). Default ${WEBSOCKET_DEFAULTS.batchSize}.`,
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: WEBSOCKET_DEFAULTS.batchSize,
    },
    maxInflight: {
      description: `Most batches awaiting the bus's replies at once. Default ${WEBSOCKET_DEFAULTS.maxInflight}.`,
      type: "integer",
      minimum: 1,
      maximum: 256,
      default: WEBSOCKET_DEFAULTS.maxInflight,
    },
    maxQueued: {
      description: `Most publications waiting (while the connection is down) or awaiting the bus's reply; beyond it a publication fails at once with SWY_WS_QUEUE_FULL. Default ${WEBSOCKET_DEFAULTS.maxQueued}.`,
      type: "integer",
      minimum: 1,
      maximum: 1_000_000,
      default: WEBSOCKET_DEFAULTS.maxQueued,
    },
    maxFrameBytes: {
      description: `Largest frame either way, in bytes: a larger publication fails with SWY_WS_PAYLOAD_TOO_LARGE, a larger frame from the bus closes the connection (1009). Default ${WEBSOCKET_DEFAULTS.maxFrameBytes}.`,
      type: "integer",
      minimum: 64,
      maximum: 67_108_864,
      default: WEBSOCKET_DEFAULTS.maxFrameBytes,
    },
    publishNeedsSubscription: {
      description:
        "Whether the bus takes a publication only on a channel the connection subscribed (Phoenix: a push needs a join). Then a publication to a channel with no members on this node subscribes it first, and keeps it 30 s after its last publication. Default false.",
      type: "boolean",
      default: false,
    },
    echo: {
      description:
        "Whether the bus sends a publisher its own messages: `bus` (it does: this node's members get them from the bus), `none` (it does not: the bridge delivers them), or `{ origin: <where> }` (it does, carrying the `{origin}` the publish frame stamped: the bridge delivers at once and drops the copy). Default `bus`.",
      type: ["string", "object"],
    },
    frames: {
      description: "The frames the bridge sends.",
      type: "object",
      additionalProperties: false,
      properties: {
        open: {
          description:
            "Frames sent once the socket is open (a handshake or login), and what to wait for before subscribing.",
          type: "object",
          additionalProperties: false,
          required: ["send"],
          properties: {
            send: {
              description: "The frames, sent in order.",
              type: "array",
              minItems: 1,
              items: FRAME_SCHEMA,
            },
            await: {
              description:
                "`reply` (the answer to the last open frame's `{ref}`) or `{ match: conditions }` (a frame matching them).",
              type: ["string", "object"],
            },
          },
        },
        subscribe: { ...FRAME_SCHEMA, description: "Subscribes the bridge to `{channel}`." },
        unsubscribe: { ...FRAME_SCHEMA, description: "Ends the subscription to `{channel}`." },
        publish: {
          ...FRAME_SCHEMA,
          description: "Publishes `{event}` with `{data}` on `{channel}`.",
        },
      },
    },
    inbound: {
      description: "What the bus's frames mean: rules tried in order, the first match decides.",
      type: "array",
      items: RULE_SCHEMA,
    },
    heartbeat: {
      description:
        "Liveness of the connection: `every` ms the bridge sends `send` (default: a WebSocket ping) and expects an answer (the reply to its `{ref}`, else any frame) within `timeout`; false turns it off.",
      type: ["boolean", "object"],
      properties: {
        every: durationSchema("Interval between heartbeats.", WEBSOCKET_DEFAULTS.heartbeatEvery),
        timeout: durationSchema(
          "How long an answer may take.",
          WEBSOCKET_DEFAULTS.heartbeatTimeout,
        ),
        send: FRAME_SCHEMA,
      },
      additionalProperties: false,
    },
  },
};

/** A problem of the settings, at a path below `settings`. */
export type SettingsProblem = TemplateProblem;

/** The variables each frame may read. */
const VARIABLES: Readonly<Record<string, readonly FrameVariable[]>> = {
  open: ["ref", "origin"],
  subscribe: ["channel", "ref", "origin"],
  unsubscribe: ["channel", "ref", "subscribeRef", "origin"],
  publish: ["channel", "event", "data", "ref", "subscribeRef", "origin"],
  heartbeat: ["ref", "origin"],
};

/** The preset's settings, read from presets/websocket/<name>.yaml. */
export function readPreset(name: WebsocketPreset): Record<string, unknown> {
  // src/egress/websocket/ and dist/egress/websocket/ are both three levels below the root.
  const file = new URL(`../../../presets/websocket/${name}.yaml`, import.meta.url);
  return parseYaml(readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** The settings with the preset's filled in under them (see the module comment). */
export function withPreset(input: WebsocketSettingsInput): WebsocketSettingsInput {
  if (input.preset === undefined) return input;
  const preset = readPreset(input.preset) as Partial<WebsocketSettingsInput>;
  return {
    ...preset,
    ...input,
    headers: { ...preset.headers, ...input.headers },
    query: { ...preset.query, ...input.query },
    frames: { ...preset.frames, ...input.frames },
  } as WebsocketSettingsInput;
}

/**
 * Checks what the schema cannot: the frame language (placeholders each frame may use,
 * JSON Pointers, regular expressions, one action per rule) and the frames' agreement
 * with one another. Paths are below `settings`.
 */
export function checkWebsocketSettings(input: WebsocketSettingsInput): SettingsProblem[] {
  const problems: SettingsProblem[] = [];
  compileSettings(withPreset(input), problems);
  return problems;
}

/** Fills in the defaults of settings the schema and {@link checkWebsocketSettings} accepted. */
export function resolveWebsocketSettings(input: WebsocketSettingsInput): WebsocketSettings {
  const problems: SettingsProblem[] = [];
  const settings = compileSettings(withPreset(input), problems);
  if (settings === undefined || problems.length > 0) {
    const first = problems[0];
    throw new Error(
      `websocket settings: ${first === undefined ? "invalid" : `${first.path.join(".")}: ${first.message}`}`,
    );
  }
  return settings;
}

function compileSettings(
  input: WebsocketSettingsInput,
  problems: SettingsProblem[],
): WebsocketSettings | undefined {
  const at = (path: readonly (string | number)[]) => (list: TemplateProblem[]) => {
    for (const p of list) problems.push({ path: [...path, ...p.path], message: p.message });
  };
  const frame = (path: readonly (string | number)[], spec: unknown, kind: string) => {
    const local: TemplateProblem[] = [];
    const template = compileFrame(spec, VARIABLES[kind]!, local);
    at(path)(local);
    return template;
  };
  const frames = input.frames ?? {};
  const where = input.preset === undefined ? "" : ` (nor does preset ${input.preset})`;
  for (const key of ["subscribe", "publish"] as const) {
    if (frames[key] === undefined) {
      problems.push({ path: ["frames"], message: `frames.${key} is missing${where}` });
    }
  }
  if (input.inbound === undefined) {
    problems.push({ path: [], message: `inbound rules are missing${where}` });
  }
  const open = (frames.open?.send ?? []).map((spec, i) =>
    frame(["frames", "open", "send", i], spec, "open"),
  );
  const subscribe =
    frames.subscribe && frame(["frames", "subscribe"], frames.subscribe, "subscribe");
  const unsubscribe =
    frames.unsubscribe && frame(["frames", "unsubscribe"], frames.unsubscribe, "unsubscribe");
  const publish = frames.publish && frame(["frames", "publish"], frames.publish, "publish");
  const ruleProblems: TemplateProblem[] = [];
  const inbound = compileInboundRules(input.inbound ?? [], ruleProblems);
  at(["inbound"])(ruleProblems);
  const hasReplies = inbound.some((rule) => rule.action.kind === "reply");
  const hasSubscribedRule = inbound.some((rule) => rule.action.kind === "subscribed");

  const openAwait = compileOpenAwait(frames.open?.await, open, hasReplies, problems);
  const echo = compileEcho(input.echo, publish, problems);
  const heartbeat = compileHeartbeat(input.heartbeat, frame);
  if (subscribe === undefined || publish === undefined || open.some((t) => t === undefined)) {
    return undefined;
  }
  const url = new URL(input.url);
  for (const [key, value] of Object.entries(input.query ?? {})) url.searchParams.set(key, value);
  return {
    url: url.toString(),
    displayUrl: `${url.protocol}//${url.host}${url.pathname}`,
    headers: input.headers ?? {},
    protocols: input.protocols ?? [],
    ...(input.preset === undefined ? {} : { preset: input.preset }),
    ...managedSettingsOf(input, WEBSOCKET_DEFAULTS),
    maxFrameBytes: input.maxFrameBytes ?? WEBSOCKET_DEFAULTS.maxFrameBytes,
    publishNeedsSubscription: input.publishNeedsSubscription ?? false,
    echo: echo ?? { mode: "bus" },
    frames: {
      open: open as FrameTemplate[],
      openAwait,
      subscribe,
      ...(unsubscribe === undefined ? {} : { unsubscribe }),
      publish,
      inbound,
      hasReplies,
      hasSubscribedRule,
    },
    heartbeat,
  };
}

function compileOpenAwait(
  spec: "reply" | { readonly match: unknown } | undefined,
  open: readonly (FrameTemplate | undefined)[],
  hasReplies: boolean,
  problems: SettingsProblem[],
): WebsocketFrames["openAwait"] {
  const path = ["frames", "open", "await"];
  if (spec === undefined) return { kind: "none" };
  if (spec === "reply") {
    const last = open.at(-1);
    if (last !== undefined && !last.reads.has("ref")) {
      problems.push({ path, message: "await: reply needs the last open frame to send a {ref}" });
    }
    if (!hasReplies) {
      problems.push({ path, message: "await: reply needs an inbound reply rule" });
    }
    return { kind: "reply" };
  }
  if (typeof spec !== "object" || spec === null || !("match" in spec)) {
    problems.push({ path, message: "await is reply or { match: conditions }" });
    return { kind: "none" };
  }
  const local: TemplateProblem[] = [];
  const [rule] = compileInboundRules([{ match: spec.match, ignore: true }], local);
  for (const p of local) problems.push({ path: [...path, ...p.path.slice(1)], message: p.message });
  return rule === undefined ? { kind: "none" } : { kind: "match", rule };
}

function compileEcho(
  spec: WebsocketSettingsInput["echo"],
  publish: FrameTemplate | undefined,
  problems: SettingsProblem[],
): EchoMode | undefined {
  if (spec === undefined || spec === "bus") return { mode: "bus" };
  if (spec === "none") return { mode: "none" };
  if (typeof spec !== "object" || spec === null || !("origin" in spec)) {
    problems.push({ path: ["echo"], message: "echo is bus, none or { origin: <where> }" });
    return undefined;
  }
  const origin = compileExtract(spec.origin, ["echo", "origin"], problems);
  if (publish !== undefined && !publish.reads.has("origin")) {
    problems.push({
      path: ["echo"],
      message: "echo: { origin } needs the publish frame to stamp {origin}",
    });
  }
  return { mode: "origin", origin };
}

function compileHeartbeat(
  spec: WebsocketSettingsInput["heartbeat"],
  frame: (
    path: readonly (string | number)[],
    spec: unknown,
    kind: string,
  ) => FrameTemplate | undefined,
): WebsocketSettings["heartbeat"] {
  if (spec === false) return false;
  const every =
    (spec === true || spec === undefined ? undefined : spec.every) ??
    WEBSOCKET_DEFAULTS.heartbeatEvery;
  const timeout =
    (spec === true || spec === undefined ? undefined : spec.timeout) ??
    WEBSOCKET_DEFAULTS.heartbeatTimeout;
  const sendSpec = spec === true || spec === undefined ? undefined : spec.send;
  const send =
    sendSpec === undefined ? undefined : frame(["heartbeat", "send"], sendSpec, "heartbeat");
  return { every, timeout, ...(send === undefined ? {} : { send }) };
}

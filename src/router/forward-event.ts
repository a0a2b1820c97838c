import { SwitchyardError } from "../errors.js";
import { RESERVED_EVENTS } from "../ingress/sio/parser.js";
import { anyExceedsDepth, exceedsDepth, textExceedsDepth } from "../json-depth.js";
import { knownKeysHint } from "../mapping/did-you-mean.js";
import type { ForwardRule } from "../mapping/types.js";
import { metrics } from "../metrics.js";
import { type PostAnswer, PostFailure, type PostFailureReason, postJson } from "./post-json.js";

/** The JSON body a forward rule POSTs to the app. */
export interface ForwardRequest {
  readonly event: string;
  readonly args: readonly unknown[];
  readonly socket: { readonly id: string; readonly nsp: string; readonly rooms: readonly string[] };
  /** The CONNECT auth payload; {@link forwardEvent} drops its `token` unless the rule keeps it. */
  readonly auth: Readonly<Record<string, unknown>>;
  /** The verified claims, in namespaces with `auth: { jwt }` or `{ webhook }`; absent elsewhere. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** One event the app asks to publish to a room, like a broadcast rule would. */
export interface ForwardEmit {
  readonly room: string;
  readonly event: string;
  readonly args: readonly unknown[];
  /** Leave the sender out of the delivery. Default false: the app named the room. */
  readonly exceptSender: boolean;
}

/** The app's answer, validated, with its defaults applied. */
export interface ForwardAnswer {
  /** What the client's ack receives; default `{ ok: true }`. */
  readonly ack: unknown;
  readonly leave: readonly string[];
  readonly join: readonly string[];
  readonly emit: readonly ForwardEmit[];
  readonly disconnect: boolean;
}

/** Limits the answer must respect. */
export interface ForwardLimits {
  /** Characters in a room name. */
  readonly maxRoomLength: number;
  /** Bytes of the answer's body. */
  readonly maxBodyBytes: number;
  /** How deep the answer's `ack` and each emitted argument may nest. */
  readonly maxDepth: number;
}

/** Levels of the answer above an emitted argument: the answer, `emit`, an emit, its `args`. */
const ANSWER_DEPTH = 4;

const ANSWER_KEYS: readonly string[] = ["ack", "join", "leave", "emit", "disconnect"];
const EMIT_KEYS: readonly string[] = ["room", "event", "args", "exceptSender"];

/**
 * POSTs `request` as JSON to the rule's URL, with the rule's headers, and validates the
 * answer. The whole exchange, body included, must finish within the rule's timeout.
 * The request is signed when the rule has a `signingSecret`; its `auth` loses the
 * client's `token` unless the rule says `includeToken: true`.
 *
 * @returns The answer, when the app answered 2xx with a valid answer object.
 * @throws SwitchyardError (rejects) SWY_FORWARD_UNAVAILABLE (no connection),
 *   SWY_FORWARD_TIMEOUT, SWY_FORWARD_REJECTED (non-2xx; the body is discarded) or
 *   SWY_FORWARD_BAD_RESPONSE. The cause is attached; messages never name the URL.
 */
export async function forwardEvent(
  rule: ForwardRule,
  request: ForwardRequest,
  limits: ForwardLimits,
): Promise<ForwardAnswer> {
  const headers: Record<string, string> = {};
  for (const [name, value] of rule.headers) headers[name] = value.reveal();
  let answer: PostAnswer;
  const sent = rule.includeToken ? request : { ...request, auth: withoutToken(request.auth) };
  const started = performance.now();
  try {
    answer = await postJson(rule.url, headers, sent, {
      timeoutMs: rule.timeout,
      maxBytes: limits.maxBodyBytes,
      signingSecret: rule.signingSecret,
    });
  } catch (cause) {
    if (!(cause instanceof PostFailure)) throw cause;
    observeRoundTrip(rule, FAILURE_OUTCOMES[cause.reason], started);
    if (cause.reason === "timeout") {
      throw new SwitchyardError("SWY_FORWARD_TIMEOUT", [rule.timeout], { cause });
    }
    if (cause.reason === "too-large") {
      throw bad(`longer than ${limits.maxBodyBytes} bytes`);
    }
    throw new SwitchyardError("SWY_FORWARD_UNAVAILABLE", [], { cause });
  }
  const isOk = answer.status >= 200 && answer.status <= 299;
  observeRoundTrip(rule, isOk ? "ok" : "rejected", started);
  if (!isOk) throw new SwitchyardError("SWY_FORWARD_REJECTED", [answer.status]);
  const text = answer.text;
  const tooDeep = `nested deeper than limits.maxDepth (${limits.maxDepth})`;
  // The app is trusted, but its answer is still data: bounded before it is parsed.
  if (textExceedsDepth(text, limits.maxDepth + ANSWER_DEPTH)) throw bad(tooDeep);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new SwitchyardError("SWY_FORWARD_BAD_RESPONSE", ["not JSON"], { cause });
  }
  const parsed = parseAnswer(body, limits.maxRoomLength);
  if (
    exceedsDepth(parsed.ack, limits.maxDepth) ||
    parsed.emit.some((emit) => anyExceedsDepth(emit.args, limits.maxDepth))
  ) {
    throw bad(tooDeep);
  }
  return parsed;
}

/** The outcome label of switchyard_forward_seconds for each way the call can fail. */
const FAILURE_OUTCOMES: Readonly<Record<PostFailureReason, string>> = {
  unavailable: "unavailable",
  timeout: "timeout",
  "too-large": "too_large",
};

function observeRoundTrip(rule: ForwardRule, outcome: string, started: number): void {
  const seconds = (performance.now() - started) / 1000;
  metrics.forwardLatency.observe({ event: rule.event, outcome }, seconds);
}

// The client's raw credential: the app gets the verified claims instead, unless the rule asks.
function withoutToken(auth: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  if (!Object.hasOwn(auth, "token")) return auth;
  const { token: _token, ...rest } = auth;
  return rest;
}

function bad(reason: string): SwitchyardError {
  return new SwitchyardError("SWY_FORWARD_BAD_RESPONSE", [reason]);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks the answer's shape: an object with only the known keys, valid room names and
 * event names. Exported for unit tests.
 *
 * @throws SwitchyardError SWY_FORWARD_BAD_RESPONSE naming the first problem; an unknown
 *   key comes with the known ones and, when it looks like a typo, the closest.
 */
export function parseAnswer(body: unknown, maxRoomLength: number): ForwardAnswer {
  if (!isObject(body)) throw bad("not a JSON object");
  for (const key of Object.keys(body)) {
    if (ANSWER_KEYS.includes(key)) continue;
    // `{ok: true}` is the auth webhook's answer, and the natural first guess here.
    const ack = key === "ok" ? "; what the client's ack receives goes in 'ack'" : "";
    throw bad(`unknown key '${key}' (${knownKeysHint(key, ANSWER_KEYS)}${ack})`);
  }
  const rooms = (key: "join" | "leave"): string[] => {
    const value = body[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw bad(`'${key}' must be a list of rooms`);
    return value.map((room, i) => checkRoom(room, `${key}[${i}]`, maxRoomLength));
  };
  const leave = rooms("leave");
  const join = rooms("join");
  const emitValue = body.emit ?? [];
  if (!Array.isArray(emitValue)) throw bad("'emit' must be a list");
  const emit = emitValue.map((item: unknown, i): ForwardEmit => {
    const where = `emit[${i}]`;
    if (!isObject(item)) throw bad(`'${where}' must be an object`);
    for (const key of Object.keys(item)) {
      if (!EMIT_KEYS.includes(key)) {
        throw bad(`unknown key '${where}.${key}' (${knownKeysHint(key, EMIT_KEYS)})`);
      }
    }
    const { event, args = [], exceptSender = false } = item;
    if (typeof event !== "string" || event === "" || RESERVED_EVENTS.has(event)) {
      throw bad(`'${where}.event' must be a non-empty, non-reserved event name`);
    }
    if (!Array.isArray(args)) throw bad(`'${where}.args' must be a list`);
    if (typeof exceptSender !== "boolean") throw bad(`'${where}.exceptSender' must be a boolean`);
    return {
      room: checkRoom(item.room, `${where}.room`, maxRoomLength),
      event,
      args,
      exceptSender,
    };
  });
  const disconnect = body.disconnect ?? false;
  if (typeof disconnect !== "boolean") throw bad("'disconnect' must be a boolean");
  return { ack: "ack" in body ? body.ack : { ok: true }, leave, join, emit, disconnect };
}

function checkRoom(room: unknown, where: string, maxRoomLength: number): string {
  if (typeof room !== "string" || room.length === 0 || room.length > maxRoomLength) {
    throw bad(`'${where}' must be a non-empty string of at most ${maxRoomLength} characters`);
  }
  return room;
}

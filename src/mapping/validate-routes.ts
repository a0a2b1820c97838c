/**
 * Semantic checks of `backends:` and each namespace's `routes:`, after the schema:
 * routes name backends that exist, channel templates read only what their room
 * pattern captures and hold only characters their backend kind allows, no route is
 * shadowed by another, rollouts move some rooms but not all, and a shadow is another
 * target than the one it shadows.
 *
 * Channel names are injective across the whole file: a template's references are
 * separated (one route never gives two rooms one channel by accident), a room cannot
 * choose a reserved prefix such as Pusher's `private-`, and no two targets (a route's
 * backend and channel, its rollout's, or a shadow's) of one backend, in any namespaces, can give
 * the same channel (src/mapping/channel-overlap.ts decides it).
 */

import { builtinBackends } from "../egress/builtin.js";
import { type ChannelNaming, disallowedChars } from "../egress/channel-naming.js";
import type { BackendRegistry } from "../egress/registry.js";
import { RESERVED_EVENTS } from "../ingress/sio/parser.js";
import {
  type ChannelShape,
  channelShape,
  isVariableReference,
  reachableReservedPrefix,
  sharedChannel,
  unseparatedReferences,
} from "./channel-overlap.js";
import type { Position } from "./diagnostic.js";
import { didYouMean } from "./did-you-mean.js";
import type { DocPath } from "./load.js";
import { type ParsedRoomPattern, parseChannelTemplate, patternShape } from "./pattern.js";
import { asRecord, capitalise, checkRoomPattern, describeEnv, type Reporter } from "./reporter.js";
import { DEFAULTS, NATIVE_BACKEND } from "./schema.js";
import { parseTemplate } from "./template.js";

/** The kinds Switchyard ships, shared so that their compiled schema is shared too. */
export const BUILTIN_KINDS: BackendRegistry = builtinBackends();

/** Names a channel template may read besides the room pattern's captures. */
export const CHANNEL_VARIABLES = ["room", "nsp"] as const;

/** Backend name → its kind (`undefined` when the kind is missing or not a string). */
export function declaredBackends(root: Record<string, unknown>): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>([[NATIVE_BACKEND, NATIVE_BACKEND]]);
  for (const [name, value] of Object.entries(asRecord(root.backends) ?? {})) {
    const kind = asRecord(value)?.kind;
    out.set(name, typeof kind === "string" ? kind : undefined);
  }
  return out;
}

export function checkRoutes(out: Reporter, data: unknown, kinds: BackendRegistry): void {
  const root = asRecord(data);
  if (!root) return;
  const backends = declaredBackends(root);
  const nativeKind = asRecord(asRecord(root.backends)?.[NATIVE_BACKEND])?.kind;
  if (typeof nativeKind === "string" && nativeKind !== NATIVE_BACKEND) {
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position(["backends", NATIVE_BACKEND, "kind"], "value"),
      [`The backend named native must be of kind native`],
      { hint: "rooms no route matches live on it; give this backend another name" },
    );
  }
  const limits = asRecord(asRecord(root.server)?.limits);
  const maxRoomLength =
    typeof limits?.maxRoomLength === "number"
      ? limits.maxRoomLength
      : DEFAULTS.server.limits.maxRoomLength;
  const targets: ChannelTarget[] = [];
  for (const [nsp, value] of Object.entries(asRecord(root.namespaces) ?? {})) {
    const routes = asRecord(value)?.routes;
    if (!Array.isArray(routes)) continue;
    const settingsOf = (name: string) => asRecord(asRecord(root.backends)?.[name])?.settings;
    const context: RouteContext = { out, kinds, backends, maxRoomLength, nsp, targets, settingsOf };
    const seen = new Map<string, DocPath>();
    routes.forEach((route, i) => {
      checkRoute(context, ["namespaces", nsp, "routes", i], asRecord(route), seen);
    });
  }
  checkOverlaps(out, targets);
}

interface RouteContext {
  readonly out: Reporter;
  readonly kinds: BackendRegistry;
  readonly backends: ReadonlyMap<string, string | undefined>;
  readonly maxRoomLength: number;
  readonly nsp: string;
  /** A backend's `settings` as written. */
  readonly settingsOf: (name: string) => unknown;
  /** Every sound channel target found so far, in file order. */
  readonly targets: ChannelTarget[];
}

/** A route's (or its rollout's) backend and channel template, once its own checks passed. */
interface ChannelTarget {
  readonly backend: string;
  readonly shape: ChannelShape;
  /** The route's path: a route's own target and its rollout's share it. */
  readonly route: string;
  readonly role: "route" | "rollout" | "shadow";
  /** Where the channel template is. */
  readonly at: Position;
  /** How diagnostics name the template: quoted, or the environment variables it came from. */
  readonly shown: string;
  readonly isFromEnv: boolean;
}

function checkRoute(
  context: RouteContext,
  path: DocPath,
  route: Record<string, unknown> | undefined,
  seen: Map<string, DocPath>,
): void {
  const { out } = context;
  if (!route || typeof route.room !== "string" || route.room === "") return;
  const roomPath = [...path, "room"];
  const pattern = checkRoomPattern(out, roomPath, route.room);
  if (pattern === undefined) return;
  const at = out.doc.position(roomPath, "value");

  const shape = patternShape(pattern);
  const earlier = seen.get(shape);
  // An unreachable route gives no channel; its own diagnostic says so.
  const targets = earlier === undefined ? context.targets : [];
  if (earlier !== undefined) {
    const first = out.doc.position(earlier, "value");
    out.add(
      "SWY_CFG_UNREACHABLE",
      at,
      [
        `No room can take this route: the route at line ${first.line} has the same room pattern and comes first`,
      ],
      { hint: "remove one of them, or merge their rollouts" },
    );
  } else {
    seen.set(shape, roomPath);
  }
  const literal = literalOf(pattern);
  if (literal !== undefined && literal.length > context.maxRoomLength) {
    out.add(
      "SWY_CFG_UNREACHABLE",
      at,
      [
        `Room ${out.show(roomPath, route.room)} is longer than maxRoomLength (${context.maxRoomLength})`,
      ],
      { hint: "no room can match it", severity: "warning" },
    );
  }

  const rename = asRecord(route.rename);
  for (const [from, to] of Object.entries(rename ?? {})) {
    if (typeof to === "string" && RESERVED_EVENTS.has(to)) {
      out.add(
        "SWY_CFG_RESERVED_EVENT",
        out.doc.position([...path, "rename", from], "value"),
        [to],
        {
          hint: "Socket.IO clients would not receive it as an event",
        },
      );
    }
  }
  checkPresence(context, path, route);
  const routeContext = { ...context, targets };
  const primary = checkTarget(routeContext, path, route, pattern, path);
  checkShadow(routeContext, path, route, pattern, path);
  const rollout = asRecord(route.rollout);
  if (!rollout) return;
  const rolloutPath = [...path, "rollout"];
  const secondary = checkTarget(routeContext, rolloutPath, rollout, pattern, path);
  checkShadow(routeContext, rolloutPath, rollout, pattern, path);
  const percent = rollout.percent;
  if (percent === 0 || percent === 100) {
    const [moved, stays] = percent === 0 ? ["no room", "every room"] : ["every room", "no room"];
    out.add(
      "SWY_CFG_UNREACHABLE",
      out.doc.position([...rolloutPath, "percent"], "value"),
      [
        `A rollout of ${percent} % moves ${moved} to ${rollout.backend}; ${stays} stays on ${route.backend}`,
      ],
      {
        hint: "fine for a moment of a migration; remove the rollout once it is over",
        severity: "warning",
      },
    );
  }
  if (primary !== undefined && primary === secondary && route.channel === rollout.channel) {
    out.add(
      "SWY_CFG_UNREACHABLE",
      out.doc.position([...rolloutPath, "backend"], "value"),
      ["The rollout moves rooms to the backend and channel they already have"],
      { severity: "warning" },
    );
  }
}

/**
 * The `shadow` of a route's or a rollout's target (at `path`): a target of its own,
 * checked as one, that is not the target it shadows.
 */
function checkShadow(
  context: RouteContext,
  path: DocPath,
  target: Record<string, unknown>,
  pattern: ParsedRoomPattern,
  routePath: DocPath,
): void {
  const { out } = context;
  const shadow = asRecord(target.shadow);
  if (!shadow) return;
  const shadowPath = [...path, "shadow"];
  const name = checkTarget(context, shadowPath, shadow, pattern, routePath);
  const problem = name === undefined ? undefined : shadowProblem(context, name);
  if (problem !== undefined) {
    out.add("SWY_CFG_VALUE", out.doc.position([...shadowPath, "backend"], "value"), [
      `Backend '${name}' cannot shadow: ${problem}`,
    ]);
  }
  if (shadow.backend === target.backend && shadow.channel === target.channel) {
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position([...shadowPath, "backend"], "value"),
      ["The shadow is the target it shadows: the same backend and channel"],
      { hint: "shadow a room on another backend, or on another channel of this one" },
    );
  }
  if (shadow.percent === 0) {
    out.add(
      "SWY_CFG_UNREACHABLE",
      out.doc.position([...shadowPath, "percent"], "value"),
      ["A shadow of 0 % shadows no room"],
      { hint: "remove the shadow, or raise its percent", severity: "warning" },
    );
  }
}

/** Why backend `name`'s kind, with its settings, cannot shadow; `undefined` when it can. */
function shadowProblem(context: RouteContext, name: string): string | undefined {
  const kind = context.backends.get(name);
  if (kind === undefined || !context.kinds.kinds().includes(kind)) return undefined;
  const check = context.kinds.get(kind).shadowProblem;
  const settings = asRecord(context.settingsOf(name)) ?? {};
  try {
    return check?.(settings);
  } catch {
    // Settings the schema refused can be any shape; their own diagnostics say why.
    return undefined;
  }
}

/**
 * Checks one target (`backend` and `channel`) of a route (at `routePath`), of its
 * rollout or of a shadow, and records it in `context.targets` when its channel template
 * is sound. Returns the backend name when it exists.
 */
function checkTarget(
  context: RouteContext,
  path: DocPath,
  target: Record<string, unknown>,
  pattern: ParsedRoomPattern,
  routePath: DocPath,
): string | undefined {
  const { out, backends } = context;
  const name = target.backend;
  if (typeof name !== "string" || name === "") return undefined;
  const backendPath = [...path, "backend"];
  if (!backends.has(name)) {
    const known = [...backends.keys()];
    const suggestion = didYouMean(name, known);
    out.add(
      "SWY_CFG_REF",
      out.doc.position(backendPath, "value"),
      [`Unknown backend ${out.show(backendPath, name)}`],
      { hint: suggestion ? `did you mean '${suggestion}'?` : `backends: ${known.join(", ")}` },
    );
    return undefined;
  }
  const kind = backends.get(name);
  // A missing or unknown kind was reported by the schema.
  if (kind === undefined || !context.kinds.kinds().includes(kind)) return name;
  const naming = context.kinds.get(kind).channelNaming;
  const channelPath = [...path, "channel"];
  const channel = target.channel;
  if (naming === undefined) {
    if (channel !== undefined) {
      out.add(
        "SWY_CFG_CHANNEL",
        out.doc.position(channelPath, "key"),
        [`Backend '${name}' is of kind ${kind}, which carries rooms by their own names`],
        { hint: "remove channel" },
      );
    }
    return name;
  }
  if (channel === undefined) {
    out.add("SWY_CFG_REQUIRED", out.doc.position(path, "value"), ["channel"], {
      hint: `backend '${name}' is of kind ${kind}, which names channels: e.g. channel: "room-{room}"`,
    });
    return name;
  }
  if (typeof channel !== "string" || channel === "" || out.doc.isEnvBroken(channelPath)) {
    return name;
  }
  const at = out.doc.position(channelPath, "value");
  const vars = out.doc.envVars(channelPath);
  const shown = vars.length > 0 ? capitalise(describeEnv(vars)) : `Channel template '${channel}'`;
  const template = parseChannelTemplate(channel);
  for (const problem of template.problems) {
    out.add("SWY_CFG_TEMPLATE", at, [
      vars.length > 0
        ? `${shown} is not a valid channel template: ${problem.summary}`
        : problem.message,
    ]);
  }
  if (template.problems.length > 0) return name;
  const diagnosed = out.list.length;
  const readable = [...pattern.captures, ...CHANNEL_VARIABLES];
  for (const ref of template.captures) {
    if (readable.includes(ref)) continue;
    const suggestion = vars.length > 0 ? undefined : didYouMean(ref, readable);
    out.add(
      "SWY_CFG_TEMPLATE",
      at,
      [`${shown} reads {${ref}}, which room pattern '${pattern.source}' does not capture`],
      {
        hint: suggestion
          ? `did you mean '{${suggestion}}'?`
          : `it can read ${readable.map((r) => `{${r}}`).join(", ")}`,
      },
    );
  }
  const literal = template.parts.filter((p) => typeof p === "string").join("");
  const bad = disallowedChars(naming, literal);
  if (bad.length > 0) {
    out.add(
      "SWY_CFG_CHANNEL",
      at,
      [
        `${shown} holds ${bad.map((c) => JSON.stringify(c)).join(", ")}, which ${kind} channel names cannot`,
      ],
      {
        hint: `allowed: ${naming.allowedText}; text a {capture} brings in is escaped, literal text is not`,
      },
    );
  }
  if (literal.length > naming.maxLength) {
    out.add("SWY_CFG_CHANNEL", at, [
      `${shown} is longer than the ${naming.maxLength} characters ${kind} channel names allow`,
    ]);
  }
  if (out.list.length > diagnosed) return name;
  const shape = channelShape(template, pattern, context.nsp, naming);
  if (!checkChannelRooms(out, at, shown, kind, naming, template, pattern, shape)) return name;
  context.targets.push({
    backend: name,
    shape,
    route: JSON.stringify(routePath),
    role: path === routePath ? "route" : path[path.length - 1] === "shadow" ? "shadow" : "rollout",
    at,
    shown,
    isFromEnv: vars.length > 0,
  });
  return name;
}

/**
 * Checks what rooms can do to a template's channel: choose a reserved prefix, or
 * split between two references two ways. Returns whether the template passed.
 */
function checkChannelRooms(
  out: Reporter,
  at: Position,
  shown: string,
  kind: string,
  naming: ChannelNaming,
  template: ParsedRoomPattern,
  pattern: ParsedRoomPattern,
  shape: ChannelShape,
): boolean {
  const reserved = naming.reservedPrefixes ?? [];
  const first = template.parts[0];
  const invalidStart =
    typeof first === "string"
      ? naming.invalidStarts?.find((start) => first.startsWith(start))
      : undefined;
  if (invalidStart !== undefined) {
    out.add("SWY_CFG_CHANNEL", at, [
      `${shown} begins with '${invalidStart}', which ${kind} channel names cannot`,
    ]);
    return false;
  }
  const listed = reserved.map((prefix) => `'${prefix}'`).join(", ");
  if (
    reserved.length > 0 &&
    first !== undefined &&
    typeof first !== "string" &&
    isVariableReference(first.capture, pattern)
  ) {
    out.add(
      "SWY_CFG_CHANNEL",
      at,
      [
        `${shown} begins with {${first.capture}}, so a room could choose the channel's prefix (${kind} reserves ${listed})`,
      ],
      { hint: "begin the template with literal text, such as 'room-{room}'" },
    );
    return false;
  }
  const unseparated = unseparatedReferences(template, pattern, naming);
  if (unseparated !== undefined) {
    const [a, b] = unseparated;
    out.add(
      "SWY_CFG_CHANNEL",
      at,
      [
        `${shown} reads {${a}} and {${b}} with nothing between them that escaped text cannot hold, so two rooms could share a channel`,
      ],
      {
        hint: `put a character other than letters, digits and '${naming.escapeChar}' between them, such as '-'`,
      },
    );
    return false;
  }
  const prefix = reachableReservedPrefix(shape, reserved);
  if (prefix !== undefined) {
    out.add(
      "SWY_CFG_CHANNEL",
      at,
      [
        `${shown} gives a channel starting with '${prefix}' for some rooms, a prefix ${kind} reserves for the file's literal text to choose`,
      ],
      { hint: "end the literal text before the first reference with '-'" },
    );
    return false;
  }
  return true;
}

/**
 * Refuses every target that can give a channel an earlier target of the same backend
 * can give, naming the first such one. Targets of one route (its own, its rollout's
 * and their shadows) may be the same template: one room still gets one channel there.
 */
function checkOverlaps(out: Reporter, targets: readonly ChannelTarget[]): void {
  // Targets whose separators differ never share a channel: compare within groups only.
  const groups = new Map<string, ChannelTarget[]>();
  for (const target of targets) {
    const group = `${target.backend}\n${target.shape.skeleton}`;
    let earlier = groups.get(group);
    if (earlier === undefined) {
      earlier = [];
      groups.set(group, earlier);
    }
    for (const other of earlier) {
      if (other.route === target.route && sameTokens(other.shape, target.shape)) continue;
      const shared = sharedChannel(other.shape, target.shape);
      if (shared === undefined) continue;
      // A template from the environment is not quoted, nor is a channel it gives.
      const example = target.isFromEnv || other.isFromEnv ? "" : `, such as '${shared}'`;
      const theOther = `the ${other.role}`;
      out.add(
        "SWY_CFG_CHANNEL",
        target.at,
        [
          `${target.shown} can produce the same channel as ${theOther} at line ${other.at.line}${example}`,
        ],
        {
          hint: `two rooms would share a channel on backend '${target.backend}': make the literal text of one tell them apart`,
        },
      );
      break;
    }
    earlier.push(target);
  }
}

function sameTokens(a: ChannelShape, b: ChannelShape): boolean {
  return a.tokens.length === b.tokens.length && a.tokens.every((t, i) => t === b.tokens[i]);
}

/** What a presence clientId template may read: a room member's own values, no event's. */
const PRESENCE_ROOTS: ReadonlySet<string> = new Set(["socket", "claims", "auth", "nsp", "room"]);

/**
 * A route's `presence`: its clientId template reads only what a member has, and one of
 * the route's backends has a kind with presence.
 */
function checkPresence(context: RouteContext, path: DocPath, route: Record<string, unknown>): void {
  const { out } = context;
  const presence = route.presence;
  if (presence === undefined || presence === false) return;
  const clientId = asRecord(presence)?.clientId;
  if (typeof clientId === "string" && !out.doc.isEnvBroken([...path, "presence", "clientId"])) {
    const at = out.doc.position([...path, "presence", "clientId"], "value");
    const parsed = parseTemplate(clientId);
    for (const problem of parsed.problems) out.add("SWY_CFG_TEMPLATE", at, [problem.message]);
    for (const ref of parsed.refs) {
      if (PRESENCE_ROOTS.has(ref.root)) continue;
      out.add(
        "SWY_CFG_TEMPLATE",
        at,
        [`The presence clientId reads {${ref.text}}, which a member of the room has no value for`],
        { hint: "it can read {socket.id}, {claims.…}, {auth.…}, {nsp} and {room}" },
      );
    }
  }
  const names = [route.backend, asRecord(route.rollout)?.backend].filter(
    (name): name is string => typeof name === "string",
  );
  const kinds = names.map((name) => context.backends.get(name));
  const known = context.kinds.kinds();
  if (kinds.some((kind) => kind === undefined || !known.includes(kind))) return;
  const withPresence = known.filter((kind) => context.kinds.get(kind).capabilities?.presence);
  if (kinds.some((kind) => withPresence.includes(kind!))) return;
  out.add(
    "SWY_CFG_VALUE",
    out.doc.position([...path, "presence"], "key"),
    [`No backend of this route has presence: kind ${kinds.join(" and ")} has none`],
    {
      hint: `presence mirrors members on ${withPresence.join(", ") || "no kind"}; remove presence`,
    },
  );
}

function literalOf(pattern: ParsedRoomPattern): string | undefined {
  if (pattern.isAny || pattern.captures.length > 0) return undefined;
  return pattern.parts.join("");
}

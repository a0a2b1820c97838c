/**
 * Checks a loaded document and reports every problem at once, sorted by position.
 *
 * Two passes: the JSON Schema (ajv, all errors) for shape, then semantic checks the
 * schema cannot express: template variables, room patterns, reserved event names,
 * captures an ack reads. The semantic pass looks only at parts whose shape is right,
 * so one mistake is reported once. Nothing here throws for a problem in the file.
 */

import { dirname, resolve as resolvePath } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { BackendRegistry } from "../egress/registry.js";
import { RESERVED_EVENTS } from "../ingress/sio/parser.js";
import { sortDiagnostics } from "./diagnostic.js";
import { didYouMean } from "./did-you-mean.js";
import { readJwks } from "./jwks.js";
import type { DocPath, LoadedDocument } from "./load.js";
import { patternShape } from "./pattern.js";
import { publicKeyAlgorithms } from "./public-key.js";
import {
  asRecord,
  capitalise,
  checkRoomPattern,
  describeEnv,
  describePath,
  describeValue,
  Reporter,
} from "./reporter.js";
import {
  CONFIG_SCHEMA,
  configSchema,
  DEFAULTS,
  HMAC_ALGORITHMS,
  type JsonSchema,
  normalisePath,
  RECOMMENDED_SECRET_LENGTH,
  RULE_ACTIONS,
} from "./schema.js";
import { parseTemplate } from "./template.js";
import type { Diagnostic } from "./types.js";
import { BUILTIN_KINDS, checkRoutes } from "./validate-routes.js";

// Event names Socket.IO keeps for itself: a client cannot send them, a rule cannot
// emit them. The ingress's parser refuses them on the wire; one list serves both.
export { RESERVED_EVENTS };

type RuleAction = (typeof RULE_ACTIONS)[number];

/** The keys each action accepts, read from the schema so the two cannot disagree. */
const RULE_KEYS: Readonly<Record<RuleAction, readonly string[]>> = Object.fromEntries(
  RULE_ACTIONS.map((action) => [action, Object.keys(ruleBranch(action).properties as object)]),
) as unknown as Record<RuleAction, readonly string[]>;

const compiled = new WeakMap<BackendRegistry, ValidateFunction>();

/** The schema compiled once per registry: ajv compilation costs milliseconds. */
function schemaValidator(kinds: BackendRegistry): ValidateFunction {
  let validate = compiled.get(kinds);
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true });
    // Our wording for editors and for this file; ajv only needs to know they are annotations.
    ajv.addKeyword({ keyword: "errorMessage", schemaType: "string" });
    ajv.addKeyword({ keyword: "patternErrorMessage", schemaType: "string" });
    validate = ajv.compile(kinds === BUILTIN_KINDS ? CONFIG_SCHEMA : configSchema(kinds));
    compiled.set(kinds, validate);
  }
  return validate;
}

/**
 * Validates a loaded document: the schema, then the semantic checks. Returns the
 * document's own diagnostics (YAML, `${VAR}`) together with the new ones, sorted by
 * position. The document is usable when none of them is an error.
 *
 * @param kinds The backend kinds `backends:` may name; default the built-in ones.
 */
export function validateDocument(
  doc: LoadedDocument,
  kinds: BackendRegistry = BUILTIN_KINDS,
): Diagnostic[] {
  if (doc.value === undefined) return sortDiagnostics(doc.diagnostics);
  // An empty file is an empty mapping, so it is told what it lacks rather than its type.
  const data = doc.value === null ? {} : doc.value;
  const out = new Reporter(doc);
  checkSchema(out, data, kinds);
  checkBackendSettings(out, data, kinds);
  checkSemantics(out, data);
  checkRoutes(out, data, kinds);
  return sortDiagnostics([...doc.diagnostics, ...out.list]);
}

// ---------------------------------------------------------------------------
// Backend settings beyond the schema

/**
 * Each backend's settings through its kind's own check (the websocket kind's frame
 * language), each problem at its place below `settings`, or at the nearest key the
 * file has (a problem in a preset the settings name).
 */
function checkBackendSettings(out: Reporter, data: unknown, kinds: BackendRegistry): void {
  const backends = asRecord(asRecord(data)?.backends);
  if (!backends) return;
  for (const [name, value] of Object.entries(backends)) {
    const backend = asRecord(value);
    const kind = backend?.kind;
    const settings = asRecord(backend?.settings);
    if (typeof kind !== "string" || settings === undefined || !kinds.kinds().includes(kind)) {
      continue;
    }
    const check = kinds.get(kind).checkSettings;
    if (check === undefined) continue;
    let problems: readonly { path: readonly (string | number)[]; message: string }[];
    try {
      problems = check(settings);
    } catch {
      // Settings the schema refused can be any shape; the schema's diagnostics say why.
      continue;
    }
    for (const problem of problems) {
      const path = ["backends", name, "settings", ...problem.path];
      out.add("SWY_CFG_SETTINGS", out.doc.position(path, "value"), [
        `${describePath(path)}: ${problem.message}`,
      ]);
    }
  }
}

// ---------------------------------------------------------------------------
// Schema errors

function checkSchema(out: Reporter, data: unknown, kinds: BackendRegistry): void {
  const validate = schemaValidator(kinds);
  if (validate(data)) return;
  const errors = validate.errors ?? [];
  // A value of the wrong type also fails its range and pattern checks: say it once.
  const wrongType = new Set(
    errors.filter((e) => e.keyword === "type" || e.keyword === "const").map((e) => e.instancePath),
  );
  for (const error of errors) {
    const path = pointerToPath(error.instancePath);
    if (out.doc.isEnvBroken(path)) continue;
    if (
      error.keyword !== "type" &&
      error.keyword !== "const" &&
      wrongType.has(error.instancePath)
    ) {
      continue;
    }
    reportSchemaError(out, error, path);
  }
}

function reportSchemaError(out: Reporter, e: ErrorObject, path: DocPath): void {
  const doc = out.doc;
  const where = describePath(path);
  // Paths are case-sensitive names: only "the file" takes a capital.
  const subject = path.length === 0 ? "The file" : where;
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  const at = doc.position(path, "value");
  // `writeOnly` marks a secret (api.token): say where it came from, never what it is.
  const got = () =>
    parent.writeOnly === true && doc.envVars(path).length === 0
      ? "a value not shown here (it is a secret)"
      : out.show(path, e.data);
  switch (e.keyword) {
    // Wrappers around errors reported on their own.
    case "if":
    case "propertyNames":
      return;
    case "additionalProperties": {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as object);
      out.add("SWY_CFG_UNKNOWN_KEY", doc.position([...path, key], "key"), [key], {
        hint: unknownKeyHint(key, known, path, e.data),
      });
      return;
    }
    case "required": {
      const key = (e.params as { missingProperty: string }).missingProperty;
      out.add("SWY_CFG_REQUIRED", at, [key], { hint: path.length > 0 ? `in ${where}` : undefined });
      return;
    }
    case "type": {
      const expected =
        (parent.errorMessage as string | undefined) ??
        `must be ${String((e.params as { type: string | string[] }).type)
          .split(",")
          .map(typeName)
          .join(" or ")}`;
      out.add("SWY_CFG_TYPE", at, [`${subject} ${expected}, got ${got()}`]);
      return;
    }
    case "const": {
      const expected =
        (parent.errorMessage as string | undefined) ??
        `must be ${describeValue((e.params as { allowedValue: unknown }).allowedValue)}`;
      out.add("SWY_CFG_TYPE", at, [`${subject} ${expected}, got ${got()}`]);
      return;
    }
    case "enum": {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const tainted = doc.envVars(path).length > 0;
      const suggestion =
        typeof e.data === "string" && !tainted ? didYouMean(e.data, allowed) : undefined;
      out.add(
        "SWY_CFG_VALUE",
        at,
        [`${subject} must be one of ${allowed.join(", ")}, got ${got()}`],
        {
          hint: suggestion && `did you mean '${suggestion}'?`,
        },
      );
      return;
    }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum": {
      const { comparison, limit } = e.params as { comparison: string; limit: number };
      const words: Record<string, string> = {
        ">=": "at least",
        "<=": "at most",
        ">": "more than",
        "<": "less than",
      };
      out.add("SWY_CFG_VALUE", at, [
        `${subject} must be ${words[comparison] ?? comparison} ${limit}, got ${got()}`,
      ]);
      return;
    }
    case "minLength": {
      const { limit } = e.params as { limit: number };
      const rule = limit === 1 ? "must not be empty" : `must be at least ${limit} characters long`;
      if (e.propertyName !== undefined) {
        out.add("SWY_CFG_VALUE", doc.position([...path, e.propertyName], "key"), [
          `${keyLabel(path)} in ${where} ${rule}`,
        ]);
        return;
      }
      out.add("SWY_CFG_VALUE", at, [`${subject} ${rule}`]);
      return;
    }
    case "minItems":
    case "minProperties": {
      const { limit } = e.params as { limit: number };
      const rule =
        limit === 1
          ? "must not be empty"
          : `must list at least ${limit} ${e.keyword === "minItems" ? "items" : "keys"}`;
      out.add("SWY_CFG_VALUE", at, [`${subject} ${rule}`]);
      return;
    }
    case "uniqueItems": {
      const { i } = e.params as { i: number; j: number };
      const itemPath = [...path, i];
      const item = Array.isArray(e.data) ? e.data[i] : undefined;
      out.add("SWY_CFG_VALUE", doc.position(itemPath, "value"), [
        `${subject} lists ${out.show(itemPath, item)} twice`,
      ]);
      return;
    }
    case "pattern": {
      const rule =
        (parent.patternErrorMessage as string | undefined) ??
        `must match ${(e.params as { pattern: string }).pattern}`;
      if (e.propertyName !== undefined) {
        const key = e.propertyName;
        const hint =
          path.length === 1 && path[0] === "namespaces" && !key.startsWith("/")
            ? `did you mean '/${key}'?`
            : undefined;
        out.add(
          "SWY_CFG_VALUE",
          doc.position([...path, key], "key"),
          [`${keyLabel(path)} '${key}' ${rule}`],
          {
            hint,
          },
        );
        return;
      }
      // `origin: ["*"]` is a natural slip: the wildcard is only valid on its own.
      const isListedWildcard = e.data === "*" && path.at(-2) === "origin";
      out.add("SWY_CFG_VALUE", at, [`${subject} ${rule}, got ${got()}`], {
        hint: isListedWildcard ? 'write origin: "*" without a list' : undefined,
      });
      return;
    }
    default:
      out.add("SWY_CFG_VALUE", at, [`${subject} ${e.message ?? "is invalid"}`]);
  }
}

function unknownKeyHint(
  key: string,
  known: readonly string[],
  path: DocPath,
  data: unknown,
): string | undefined {
  const suggestion = didYouMean(key, known);
  if (suggestion) return `did you mean '${suggestion}'?`;
  if (isRulePath(path)) {
    const action = (data as { action?: unknown } | undefined)?.action;
    const others = RULE_ACTIONS.filter((a) => a !== action && RULE_KEYS[a].includes(key));
    if (others.length > 0) return `'${key}' belongs to action ${others.join(" or ")}`;
  }
  return known.length > 0 ? `known keys: ${known.join(", ")}` : undefined;
}

// ---------------------------------------------------------------------------
// Semantic checks

function checkSemantics(out: Reporter, data: unknown): void {
  const root = asRecord(data);
  if (!root) return;
  const server = asRecord(root.server);
  checkCors(out, asRecord(server?.cors));
  checkCookie(out, asRecord(server?.cookie));
  checkAdmin(out, server, asRecord(root.admin));
  checkApi(out, asRecord(root.api));
  checkPassthroughPaths(out, asRecord(root.passthrough));
  const limits = asRecord(server?.limits);
  const maxRoomLength =
    typeof limits?.maxRoomLength === "number"
      ? limits.maxRoomLength
      : DEFAULTS.server.limits.maxRoomLength;
  const namespaces = asRecord(root.namespaces);
  if (!namespaces) return;
  for (const [nsp, value] of Object.entries(namespaces)) {
    const namespace = asRecord(value);
    const auth = asRecord(namespace?.auth);
    const jwt = asRecord(auth?.jwt);
    const webhook = asRecord(auth?.webhook);
    if (jwt && webhook) {
      out.add("SWY_CFG_VALUE", out.doc.position(["namespaces", nsp, "auth"], "value"), [
        `${describePath(["namespaces", nsp, "auth"])} takes jwt or webhook, not both`,
      ]);
    }
    if (jwt) checkJwt(out, ["namespaces", nsp, "auth", "jwt"], jwt);
    if (webhook) checkSigningSecret(out, ["namespaces", nsp, "auth", "webhook"], webhook);
    const scope: TemplateScope = { hasClaims: jwt !== undefined || webhook !== undefined };
    if (Array.isArray(namespace?.join)) {
      namespace.join.forEach((room, i) => {
        if (typeof room !== "string") return;
        checkTemplate(out, ["namespaces", nsp, "join", i], room, "join", NO_ALLOW, scope);
      });
    }
    const events = asRecord(namespace?.events);
    if (!events) continue;
    for (const [event, rule] of Object.entries(events)) {
      const path = ["namespaces", nsp, "events", event];
      checkRule(out, path, event, asRecord(rule), maxRoomLength, scope);
    }
  }
}

/** What a namespace lets its templates read beyond the event. */
interface TemplateScope {
  /** `auth: { jwt }` or `auth: { webhook }`: `{claims.x}` reads the claims. */
  readonly hasClaims: boolean;
}

const NO_ALLOW: AllowInfo = { captureSets: [] };

function checkJwt(out: Reporter, path: DocPath, jwt: Record<string, unknown>): void {
  const at = out.doc.position(path, "value");
  const given = JWT_KEYS.filter((key) => typeof jwt[key] === "string");
  if (given.length === 0) {
    out.add("SWY_CFG_REQUIRED", at, ["secret"], {
      hint: `in ${describePath(path)}: give secret (HS*), publicKey (PEM, RS*/PS*/ES*) or jwksFile`,
    });
    return;
  }
  if (given.length > 1) {
    out.add("SWY_CFG_VALUE", out.doc.position([...path, given[1]!], "key"), [
      `${describePath(path)} takes one of secret, publicKey and jwksFile, not ${given.join(" and ")}`,
    ]);
    return;
  }
  if (given[0] === "jwksFile") {
    checkJwksFile(out, path, jwt);
    return;
  }
  const hasSecret = given[0] === "secret";
  const keyName = hasSecret ? "secret" : "publicKey";
  const keyPath = [...path, keyName];
  if (out.doc.isEnvBroken(keyPath)) return;
  const vars = out.doc.envVars(keyPath);
  // A public key may be published; an HMAC secret in the file is readable by anyone who reads it.
  if (hasSecret && vars.length === 0) {
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position(keyPath, "value"),
      [
        `${describePath(keyPath)} is written in the file, where anyone who reads it can sign tokens`,
      ],
      { hint: `read it from the environment: secret: "\${JWT_SECRET}"`, severity: "warning" },
    );
  }
  if (hasSecret) {
    checkSecretLength(out, keyPath, jwt.secret as string, "anyone who guesses it can sign tokens");
  }
  const usable = hasSecret ? HMAC_ALGORITHMS : publicKeyAlgorithms(jwt.publicKey as string);
  if (usable.length === 0) {
    const subject = vars.length > 0 ? capitalise(describeEnv(vars)) : describePath(keyPath);
    out.add("SWY_CFG_VALUE", out.doc.position(keyPath, "value"), [
      `${subject} is not a PEM public key of type RSA or EC (P-256, P-384, P-521)`,
    ]);
    return;
  }
  checkAlgorithms(out, path, jwt, usable, keyName);
}

/** The ways `auth.jwt` takes its key; exactly one is given. */
const JWT_KEYS = ["secret", "publicKey", "jwksFile"] as const;

function checkJwksFile(out: Reporter, path: DocPath, jwt: Record<string, unknown>): void {
  const filePath = [...path, "jwksFile"];
  if (out.doc.isEnvBroken(filePath)) return;
  const at = out.doc.position(filePath, "value");
  const file = resolvePath(dirname(out.doc.file), jwt.jwksFile as string);
  const read = readJwks(file);
  if (read.problem !== undefined) {
    out.add("SWY_CFG_VALUE", at, [
      `The key set ${out.show(filePath, jwt.jwksFile)} ${read.problem}`,
    ]);
    return;
  }
  for (const i of read.weakKeys) {
    out.add(
      "SWY_CFG_INSECURE",
      at,
      [
        `Key ${i} of the key set ${out.show(filePath, jwt.jwksFile)} is an oct key shorter than ${RECOMMENDED_SECRET_LENGTH} bytes: anyone who guesses it can sign tokens`,
      ],
      { hint: `use at least ${RECOMMENDED_SECRET_LENGTH} random bytes`, severity: "warning" },
    );
  }
  checkAlgorithms(out, path, jwt, read.algorithms, "key set");
}

function checkAlgorithms(
  out: Reporter,
  path: DocPath,
  jwt: Record<string, unknown>,
  usable: readonly string[],
  keyName: string,
): void {
  if (!Array.isArray(jwt.algorithms)) return;
  jwt.algorithms.forEach((algorithm, i) => {
    if (typeof algorithm !== "string" || usable.includes(algorithm)) return;
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position([...path, "algorithms", i], "value"),
      [`Algorithm ${algorithm} cannot be verified with this ${keyName}`],
      { hint: `it allows ${usable.join(", ")}` },
    );
  });
}

function checkCors(out: Reporter, cors: Record<string, unknown> | undefined): void {
  if (cors?.credentials === true && cors.origin === "*") {
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position(["server", "cors", "credentials"], "value"),
      ["Browsers refuse credentials from a server that allows origin '*'"],
      { hint: "list the origins instead", severity: "warning" },
    );
  }
}

function checkCookie(out: Reporter, cookie: Record<string, unknown> | undefined): void {
  if (cookie?.sameSite === "None" && cookie.secure !== true) {
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position(["server", "cookie", "sameSite"], "value"),
      ["Browsers drop a SameSite=None cookie that is not Secure"],
      { hint: "set secure: true and serve HTTPS", severity: "warning" },
    );
  }
}

function checkAdmin(
  out: Reporter,
  server: Record<string, unknown> | undefined,
  admin: Record<string, unknown> | undefined,
): void {
  const serverPort = typeof server?.port === "number" ? server.port : DEFAULTS.server.port;
  if (typeof admin?.port === "number" && admin.port !== 0 && admin.port === serverPort) {
    out.add("SWY_CFG_VALUE", out.doc.position(["admin", "port"], "value"), [
      `admin.port is server.port (${serverPort}): the admin listener needs a port of its own`,
    ]);
  }
}

/** Paths Switchyard answers itself, which a passthrough path must not take over. */
const OWN_PATHS = ["/healthz/", "/readyz/", "/metrics/"];

/** A passthrough path that is one of Switchyard's own (probes, the API) could never be relayed. */
function checkPassthroughPaths(
  out: Reporter,
  passthrough: Record<string, unknown> | undefined,
): void {
  const value = passthrough?.path;
  const paths = typeof value === "string" ? [value] : Array.isArray(value) ? value : [];
  paths.forEach((path, i) => {
    if (typeof path !== "string") return;
    const normal = normalisePath(path);
    if (!OWN_PATHS.includes(normal) && !normal.startsWith("/api/")) return;
    const at = typeof value === "string" ? ["passthrough", "path"] : ["passthrough", "path", i];
    out.add("SWY_CFG_VALUE", out.doc.position(at, "value"), [
      `passthrough.path ${normal} is Switchyard's own (probes and the API answer there), not the legacy server's`,
    ]);
  });
}

function checkApi(out: Reporter, api: Record<string, unknown> | undefined): void {
  const path = ["api", "token"];
  if (typeof api?.token !== "string" || out.doc.isEnvBroken(path)) return;
  checkSecretLength(out, path, api.token, "a short token is easier to guess");
  if (out.doc.envVars(path).length === 0) {
    out.add(
      "SWY_CFG_VALUE",
      out.doc.position(path, "value"),
      ["api.token is written in the file, where anyone who reads it can use the API"],
      {
        hint: `read it from the environment: token: "\${SWITCHYARD_API_TOKEN}"`,
        severity: "warning",
      },
    );
  }
}

/**
 * Warns (SWY_CFG_INSECURE) about a secret shorter than RECOMMENDED_SECRET_LENGTH
 * characters, saying what a guess would give; never prints the value.
 */
function checkSecretLength(out: Reporter, path: DocPath, value: string, risk: string): void {
  if (value.length >= RECOMMENDED_SECRET_LENGTH) return;
  const at = out.doc.position(path, "value");
  // A value the schema refused is reported once, as the error it is.
  if (out.list.some((d) => d.severity === "error" && d.line === at.line && d.col === at.col)) {
    return;
  }
  out.add(
    "SWY_CFG_INSECURE",
    at,
    [`${describePath(path)} is shorter than ${RECOMMENDED_SECRET_LENGTH} characters: ${risk}`],
    {
      hint: `use at least ${RECOMMENDED_SECRET_LENGTH} random characters, e.g. from openssl rand -base64 32`,
      severity: "warning",
    },
  );
}

/** `signingSecret` of a webhook or a forward rule: from the environment, and long enough. */
function checkSigningSecret(out: Reporter, parent: DocPath, owner: Record<string, unknown>): void {
  const path = [...parent, "signingSecret"];
  const value = owner.signingSecret;
  if (typeof value !== "string" || value === "" || out.doc.isEnvBroken(path)) return;
  if (out.doc.envVars(path).length === 0) {
    out.add(
      "SWY_CFG_INSECURE",
      out.doc.position(path, "value"),
      [
        `${describePath(path)} is written in the file, where anyone who reads it can sign requests to the app`,
      ],
      {
        hint: `read it from the environment: signingSecret: "\${APP_SIGNING_SECRET}"`,
        severity: "warning",
      },
    );
  }
  checkSecretLength(out, path, value, "anyone who guesses it can sign requests to the app");
}

/** What an ack may read about the rule's allow patterns. */
interface AllowInfo {
  /** Capture names of each valid pattern; `*` and literal patterns contribute `[]`. */
  readonly captureSets: readonly (readonly string[])[];
}

function checkRule(
  out: Reporter,
  path: DocPath,
  event: string,
  rule: Record<string, unknown> | undefined,
  maxRoomLength: number,
  scope: TemplateScope,
): void {
  if (RESERVED_EVENTS.has(event)) {
    out.add("SWY_CFG_RESERVED_EVENT", out.doc.position(path, "key"), [event], {
      hint: "clients cannot send it; pick another name",
    });
  }
  const action = rule?.action;
  if (!rule || !RULE_ACTIONS.includes(action as RuleAction)) return;
  const keys = RULE_KEYS[action as RuleAction];
  const has = (key: string) => keys.includes(key) && rule[key] !== undefined;

  const captureSets: string[][] = [];
  const shapes = new Set<string>();
  let anyAt: number | undefined;
  if (has("allow") && Array.isArray(rule.allow)) {
    rule.allow.forEach((pattern, i) => {
      if (typeof pattern !== "string" || pattern === "") return;
      const patternPath = [...path, "allow", i];
      const parsed = checkRoomPattern(out, patternPath, pattern);
      if (parsed === undefined) return;
      const at = out.doc.position(patternPath, "value");
      if (anyAt !== undefined || shapes.has(patternShape(parsed))) {
        out.add(
          "SWY_CFG_UNREACHABLE",
          at,
          [
            anyAt !== undefined
              ? `Room pattern ${out.show(patternPath, pattern)} comes after '*', which already allows every room`
              : `Room pattern ${out.show(patternPath, pattern)} allows only rooms an earlier pattern of this list allows`,
          ],
          { hint: "its captures are never read; remove it", severity: "warning" },
        );
      }
      shapes.add(patternShape(parsed));
      if (parsed.isAny) anyAt ??= i;
      captureSets.push([...parsed.captures]);
      const literal = parsed.parts.every((p) => typeof p === "string")
        ? parsed.parts.join("")
        : undefined;
      if (!parsed.isAny && literal !== undefined && literal.length > maxRoomLength) {
        out.add(
          "SWY_CFG_PATTERN",
          at,
          [
            `Room pattern ${out.show(patternPath, pattern)} is longer than maxRoomLength (${maxRoomLength})`,
          ],
          { hint: "no room can match it", severity: "warning" },
        );
      }
    });
  }
  const allow: AllowInfo = { captureSets };
  if (action === "join") checkJoinAllowed(out, path, event, rule);
  if (action === "forward") checkSigningSecret(out, path, rule);

  if (has("room") && typeof rule.room === "string") {
    checkTemplate(out, [...path, "room"], rule.room, "room", allow, scope);
  }
  if (has("args") && Array.isArray(rule.args)) {
    rule.args.forEach((arg, i) => {
      forEachString(arg, [...path, "args", i], (text, p) =>
        checkTemplate(out, p, text, "args", allow, scope),
      );
    });
  }
  if (has("ack")) {
    forEachString(rule.ack, [...path, "ack"], (text, p) =>
      checkTemplate(out, p, text, "ack", allow, scope),
    );
  }
  if (has("emit") && typeof rule.emit === "string" && RESERVED_EVENTS.has(rule.emit)) {
    out.add("SWY_CFG_RESERVED_EVENT", out.doc.position([...path, "emit"], "value"), [rule.emit], {
      hint: "Socket.IO clients would not receive it as an event",
    });
  }
}

/**
 * A join rule without `allow` lets a client into any room it names, another socket's
 * id among them (where the HTTP API and the cluster address that socket alone).
 */
function checkJoinAllowed(
  out: Reporter,
  path: DocPath,
  event: string,
  rule: Record<string, unknown>,
): void {
  const allow = rule.allow;
  if (allow !== undefined && !(Array.isArray(allow) && allow.length === 0)) return;
  const at = out.doc.position(allow === undefined ? path : [...path, "allow"], "value");
  out.add(
    "SWY_CFG_INSECURE",
    at,
    [
      `Join rule '${event}' has no allow list: a client joins any room it names, another socket's id included`,
    ],
    { hint: 'list the rooms it may join, e.g. allow: ["room:{id}"]', severity: "warning" },
  );
}

function checkTemplate(
  out: Reporter,
  path: DocPath,
  text: string,
  field: "room" | "args" | "ack" | "join",
  allow: AllowInfo,
  scope: TemplateScope,
): void {
  // A `${VAR}` problem was reported at this scalar; its text is not what was meant.
  if (out.doc.isEnvBroken(path)) return;
  const parsed = parseTemplate(text);
  const at = out.doc.position(path, "value");
  const vars = out.doc.envVars(path);
  const secret = vars.length > 0;
  for (const problem of parsed.problems) {
    out.add("SWY_CFG_TEMPLATE", at, [
      secret
        ? `${capitalise(describeEnv(vars))} is not a valid template: ${problem.summary}`
        : problem.message,
    ]);
  }
  for (const ref of parsed.refs) {
    const shown = secret ? capitalise(describeEnv(vars)) : `'{${ref.text}}'`;
    if ((ref.root === "room" || ref.root === "captures") && field !== "ack") {
      out.add("SWY_CFG_TEMPLATE", at, [`${shown} is only known in ack, not in ${field}`]);
      continue;
    }
    if ((ref.root === "data" || ref.root === "args") && field === "join") {
      out.add("SWY_CFG_TEMPLATE", at, [`${shown} reads an event; a namespace's join has none`]);
      continue;
    }
    if (ref.root === "auth" && (field === "room" || field === "join") && scope.hasClaims) {
      // The namespace verifies who the client is, then lets the client say it again.
      out.add(
        "SWY_CFG_INSECURE",
        at,
        [
          `${shown} names a room from the CONNECT auth payload, which the client chooses: any client can name any room this way`,
        ],
        {
          hint: `read the verified claims instead: '{${secret ? "claims.…" : ["claims", ...ref.path].join(".")}}'`,
          severity: "warning",
        },
      );
      continue;
    }
    if (ref.root === "claims" && !scope.hasClaims) {
      out.add(
        "SWY_CFG_TEMPLATE",
        at,
        [
          `${shown} reads token claims, which only a namespace with auth: { jwt } or { webhook } has`,
        ],
        { hint: "add auth: { jwt: { secret: ... } } to this namespace" },
      );
      continue;
    }
    if (ref.root !== "captures" || ref.path.length === 0) continue;
    const name = ref.path[0]!;
    const capturing = allow.captureSets.filter((set) => set.includes(name)).length;
    if (capturing === 0) {
      const names = [...new Set(allow.captureSets.flat())];
      const suggestion = secret ? undefined : didYouMean(name, names);
      out.add(
        "SWY_CFG_TEMPLATE",
        at,
        [`${shown} reads a capture no allow pattern of this rule has`],
        {
          hint: suggestion
            ? `did you mean '{captures.${suggestion}}'?`
            : names.length > 0
              ? `captures: ${names.join(", ")}`
              : `add a pattern such as 'room:{${name}}' to allow`,
        },
      );
    } else if (capturing < allow.captureSets.length) {
      out.add(
        "SWY_CFG_TEMPLATE",
        at,
        [`${shown} reads a capture only some allow patterns have; it is empty for the others`],
        { severity: "warning" },
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Helpers

function ruleBranch(action: RuleAction): JsonSchema {
  const namespaces = (CONFIG_SCHEMA.properties as Record<string, JsonSchema>).namespaces!;
  const namespace = namespaces.additionalProperties as JsonSchema;
  const events = (namespace.properties as Record<string, JsonSchema>).events!;
  const rule = events.additionalProperties as JsonSchema;
  const branches = rule.allOf as { if: JsonSchema; then: JsonSchema }[];
  const found = branches.find(
    (b) => ((b.if.properties as Record<string, { const: string }>).action?.const ?? "") === action,
  );
  if (!found) throw new Error(`schema has no branch for action ${action}`);
  return found.then;
}

function isRulePath(path: DocPath): boolean {
  return path.length === 4 && path[0] === "namespaces" && path[2] === "events";
}

/** Calls `fn` for every string in a template value, with its path. */
function forEachString(
  value: unknown,
  path: DocPath,
  fn: (text: string, path: DocPath) => void,
): void {
  if (typeof value === "string") fn(value, path);
  else if (Array.isArray(value)) {
    value.forEach((item, i) => {
      forEachString(item, [...path, i], fn);
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) forEachString(item, [...path, key], fn);
  }
}

function pointerToPath(pointer: string): DocPath {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function keyLabel(path: DocPath): string {
  if (path.length === 1 && path[0] === "namespaces") return "Namespace name";
  if (path.length === 3 && path[0] === "namespaces" && path[2] === "events") return "Event name";
  return "Key";
}

function typeName(type: string): string {
  switch (type) {
    case "integer":
      return "an integer";
    case "number":
      return "a number";
    case "string":
      return "a string";
    case "boolean":
      return "true or false";
    case "object":
      return "a mapping";
    case "array":
      return "a list";
    case "null":
      return "empty";
    default:
      return type;
  }
}

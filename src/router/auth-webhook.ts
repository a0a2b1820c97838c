import { SwitchyardError } from "../errors.js";
import { ConnectRefusal } from "../ingress/sio/client.js";
import { textExceedsDepth } from "../json-depth.js";
import { knownKeysHint } from "../mapping/did-you-mean.js";
import type { WebhookAuthConfig } from "../mapping/types.js";
import type { Claims } from "./authenticator.js";
import { PostFailure, postJson } from "./post-json.js";

/** Largest answer an auth app may send, in bytes. */
const MAX_ANSWER_BYTES = 65_536;

/** The keys of an answer; any other is a mistake worth naming, not ignoring. */
const ANSWER_KEYS: readonly string[] = ["ok", "claims", "message", "code"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Asks the app of a namespace with `auth: { webhook }` whether a connection may in:
 * POSTs `{nsp, auth}` (signed when the config has a `signingSecret`) and reads the
 * answer. `auth` is the CONNECT payload as the client sent it, `token` included:
 * judging it is the app's job here.
 *
 * - 2xx `{ok: true, claims?}` accepts; `claims` (an object) become the socket's claims.
 * - 2xx `{ok: false, message?, code?}` refuses with the app's message and code (defaults:
 *   SWY_AUTH_REFUSED's); any other status refuses with SWY_AUTH_REFUSED.
 * - No connection, no answer within `timeout`, or another 2xx body (not JSON, a key other
 *   than those, no boolean `ok`): SWY_AUTH_UNAVAILABLE, its cause naming the problem and
 *   the known keys, for the log.
 *
 * @returns The claims (`undefined` when the app gave none).
 * @throws ConnectRefusal (rejects) for the app's own refusal with a code, or
 *   SwitchyardError SWY_AUTH_REFUSED / SWY_AUTH_UNAVAILABLE (the cause attached).
 */
export async function authWebhook(
  config: WebhookAuthConfig,
  nsp: string,
  auth: Readonly<Record<string, unknown>>,
  maxDepth: number,
): Promise<Claims | undefined> {
  let answer: { status: number; text: string };
  try {
    answer = await postJson(
      config.url,
      {},
      { nsp, auth },
      {
        timeoutMs: config.timeout,
        maxBytes: MAX_ANSWER_BYTES,
        signingSecret: config.signingSecret,
      },
    );
  } catch (cause) {
    if (!(cause instanceof PostFailure)) throw cause;
    throw new SwitchyardError("SWY_AUTH_UNAVAILABLE", [], { cause });
  }
  if (answer.status < 200 || answer.status > 299) {
    throw new SwitchyardError("SWY_AUTH_REFUSED");
  }
  const malformed = (why: string) =>
    new SwitchyardError("SWY_AUTH_UNAVAILABLE", [], { cause: new Error(`answer ${why}`) });
  // The answer object and `claims` sit above each claim's value.
  if (textExceedsDepth(answer.text, maxDepth + 2)) throw malformed("nests too deep");
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch (cause) {
    throw new SwitchyardError("SWY_AUTH_UNAVAILABLE", [], { cause });
  }
  if (!isObject(body)) throw malformed("is not a JSON object");
  for (const key of Object.keys(body)) {
    // A typo such as `claim` would otherwise let the client in without its claims.
    if (!ANSWER_KEYS.includes(key)) {
      throw malformed(`has an unknown key '${key}' (${knownKeysHint(key, ANSWER_KEYS)})`);
    }
  }
  if (typeof body.ok !== "boolean") {
    throw malformed(`has no boolean 'ok' (known keys: ${ANSWER_KEYS.join(", ")})`);
  }
  if (body.ok) {
    if (body.claims === undefined) return undefined;
    if (!isObject(body.claims)) throw malformed("has claims that are not an object");
    return body.claims;
  }
  const { message, code } = body;
  if (typeof code !== "string" || code === "") throw new SwitchyardError("SWY_AUTH_REFUSED");
  throw new ConnectRefusal(
    typeof message === "string" ? message : "Connection refused by the app",
    { code },
  );
}

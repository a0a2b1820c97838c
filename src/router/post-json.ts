import type { Secret } from "../mapping/secret.js";
import { signatureHeaders } from "./app-signature.js";

/** Why {@link postJson} got no usable answer. */
export type PostFailureReason = "unavailable" | "timeout" | "too-large";

/** {@link postJson} failed before a complete answer arrived; `cause` says why. */
export class PostFailure extends Error {
  readonly reason: PostFailureReason;

  constructor(reason: PostFailureReason, options?: { cause?: unknown }) {
    super(`POST failed: ${reason}`, options);
    this.name = "PostFailure";
    this.reason = reason;
  }
}

/** A complete answer: its status, and its body as text (empty for a non-2xx status). */
export interface PostAnswer {
  readonly status: number;
  readonly text: string;
}

/** How {@link postJson} sends and what it accepts back. */
export interface PostOptions {
  /** The whole exchange, answer body included, in ms. */
  readonly timeoutMs: number;
  /** The largest answer body, in bytes. */
  readonly maxBytes: number;
  /** Signs the request (src/router/app-signature.ts) when present. */
  readonly signingSecret?: Secret | undefined;
}

/**
 * POSTs `body` as JSON to an app with Node's `fetch`, signed when the options hold a
 * signing secret. The whole exchange, answer body included, must finish within
 * `timeoutMs`; redirects are not followed. The body of a non-2xx answer is discarded
 * unread.
 *
 * @throws PostFailure (rejects) `timeout`, `too-large` (the answer passed `maxBytes`) or
 *   `unavailable` (no connection, TLS failure, a redirect); the cause is attached.
 */
export async function postJson(
  url: string,
  headers: Readonly<Record<string, string>>,
  body: unknown,
  options: PostOptions,
): Promise<PostAnswer> {
  try {
    const text = JSON.stringify(body);
    const signature =
      options.signingSecret === undefined ? {} : signatureHeaders(options.signingSecret, text);
    const response = await fetch(url, {
      method: "POST",
      headers: {
        ...headers,
        ...signature,
        "content-type": "application/json",
        accept: "application/json",
      },
      body: text,
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: "error",
    });
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel();
      return { status: response.status, text: "" };
    }
    return { status: response.status, text: await readLimited(response, options.maxBytes) };
  } catch (cause) {
    if (cause instanceof PostFailure) throw cause;
    if (cause instanceof Error && cause.name === "TimeoutError") {
      throw new PostFailure("timeout", { cause });
    }
    throw new PostFailure("unavailable", { cause });
  }
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await response.body.cancel().catch(() => {});
      throw new PostFailure("too-large");
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

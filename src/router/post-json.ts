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

/**
 * POSTs `body` as JSON to an app with Node's `fetch`. The whole exchange, answer body
 * included, must finish within `timeoutMs`; redirects are not followed. The body of a
 * non-2xx answer is discarded unread.
 *
 * @throws PostFailure (rejects) `timeout`, `too-large` (the answer passed `maxBytes`) or
 *   `unavailable` (no connection, TLS failure, a redirect); the cause is attached.
 */
export async function postJson(
  url: string,
  headers: Readonly<Record<string, string>>,
  body: unknown,
  limits: { readonly timeoutMs: number; readonly maxBytes: number },
): Promise<PostAnswer> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(limits.timeoutMs),
      redirect: "error",
    });
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel();
      return { status: response.status, text: "" };
    }
    return { status: response.status, text: await readLimited(response, limits.maxBytes) };
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

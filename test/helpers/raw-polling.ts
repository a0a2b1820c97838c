import { request } from "node:http";

/** The record separator between packets of a polling payload. */
export const SEPARATOR = "\x1e";

/** `http://127.0.0.1:<port><path>?EIO=4&transport=polling&…` */
export function pollingUrl(
  httpUrl: string,
  path: string,
  query: Record<string, string> = {},
): string {
  const params = new URLSearchParams({ EIO: "4", transport: "polling", ...query });
  return `${httpUrl}${path}?${params}`;
}

export interface Handshake {
  readonly sid: string;
  readonly upgrades: string[];
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly maxPayload: number;
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** A request with its whole body read. */
export async function fetchText(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The `{code, message}` body of an Engine.IO error. */
export function errorBody(reply: Reply): { code: number | string; message: string } {
  return JSON.parse(reply.body) as { code: number | string; message: string };
}

/**
 * One Engine.IO session driven by hand over HTTP long-polling (GET receives,
 * POST sends).
 */
export class PollingSession {
  readonly httpUrl: string;
  readonly path: string;
  readonly handshake: Handshake;
  /** The response to the handshake GET. */
  readonly handshakeReply: Reply;

  private constructor(httpUrl: string, path: string, handshake: Handshake, reply: Reply) {
    this.httpUrl = httpUrl;
    this.path = path;
    this.handshake = handshake;
    this.handshakeReply = reply;
  }

  /** Opens a session with the handshake GET. */
  static async open(
    httpUrl: string,
    path: string,
    init: RequestInit = {},
  ): Promise<PollingSession> {
    const reply = await fetchText(pollingUrl(httpUrl, path), init);
    if (reply.status !== 200 || !reply.body.startsWith("0{")) {
      throw new Error(`handshake failed: ${reply.status} ${reply.body}`);
    }
    const handshake = JSON.parse(reply.body.slice(1)) as Handshake;
    return new PollingSession(httpUrl, path, handshake, reply);
  }

  get sid(): string {
    return this.handshake.sid;
  }

  get url(): string {
    return pollingUrl(this.httpUrl, this.path, { sid: this.sid });
  }

  /**
   * Sends the Socket.IO CONNECT for `/` and polls the reply. Resolves with the
   * socket id and the records that came after the reply in the same response.
   */
  async connectNamespace(): Promise<{ socketId: string; rest: string[] }> {
    const post = await this.post("40");
    if (post.status !== 200) throw new Error(`CONNECT refused: ${post.status} ${post.body}`);
    const [reply = "", ...rest] = (await this.get()).body.split(SEPARATOR);
    if (!reply.startsWith("40{")) throw new Error(`expected a CONNECT reply, got ${reply}`);
    return { socketId: (JSON.parse(reply.slice(2)) as { sid: string }).sid, rest };
  }

  get(init: RequestInit = {}): Promise<Reply> {
    return fetchText(this.url, init);
  }

  post(body: string, headers: Record<string, string> = {}): Promise<Reply> {
    return fetchText(this.url, {
      method: "POST",
      body,
      headers: { "Content-Type": "text/plain;charset=UTF-8", ...headers },
    });
  }

  /**
   * A POST whose body is sent with chunked transfer encoding (no Content-Length).
   * `chunks` are written in order; with `end: false` the body stays unfinished
   * until `signal` aborts the request.
   */
  postChunked(
    chunks: readonly string[],
    options: { end?: boolean; signal?: AbortSignal } = {},
  ): Promise<Reply> {
    return chunkedPost(this.url, chunks, options.end ?? true, options.signal);
  }
}

function chunkedPost(
  url: string,
  chunks: readonly string[],
  end: boolean,
  signal: AbortSignal | undefined,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: { "Content-Type": "text/plain;charset=UTF-8", "Transfer-Encoding": "chunked" },
      signal,
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === "string") headers.set(name, value);
          else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
        }
        resolve({ status: res.statusCode ?? 0, headers, body });
      });
    });
    for (const chunk of chunks) req.write(chunk);
    if (end) req.end();
  });
}

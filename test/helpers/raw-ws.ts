import type { IncomingHttpHeaders } from "node:http";
import { WebSocket } from "ws";
import type { Cleanup } from "./cleanup.js";
import { WAIT_LIMIT_MS, within } from "./wait-for.js";

export type Frame = string | Buffer;

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

export interface RawWsOptions {
  /** Answer every server ping (`2`) with a pong (`3`) and keep pings out of {@link RawWs.next}. */
  readonly autoPong?: boolean;
  readonly headers?: Record<string, string>;
}

/** `ws://127.0.0.1:<port><path>?EIO=4&transport=websocket&…` */
export function wsUrl(httpUrl: string, path: string, query: Record<string, string> = {}): string {
  const params = new URLSearchParams({ EIO: "4", transport: "websocket", ...query });
  return `${httpUrl.replace(/^http/, "ws")}${path}?${params}`;
}

/**
 * A raw WebSocket speaking Engine.IO by hand. Every frame is queued from the moment
 * it arrives, so none is lost between two awaits.
 */
export class RawWs {
  readonly ws: WebSocket;
  /** Headers of the 101 response. */
  readonly upgradeHeaders: IncomingHttpHeaders;
  /** Every frame received, pings included, in order. */
  readonly received: Frame[] = [];
  /** Settles when the connection is closed, with the close code seen by the client. */
  readonly closed: Promise<CloseInfo>;
  #queue: Frame[] = [];
  #waiter: ((frame: Frame | undefined) => void) | undefined;
  #closeInfo: CloseInfo | undefined;

  private constructor(ws: WebSocket, upgradeHeaders: IncomingHttpHeaders, autoPong: boolean) {
    this.ws = ws;
    this.upgradeHeaders = upgradeHeaders;
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const frame: Frame = isBinary ? data : data.toString();
      this.received.push(frame);
      if (autoPong && frame === "2") {
        ws.send("3");
        return;
      }
      this.#push(frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        this.#closeInfo = { code, reason: reason.toString() };
        resolve(this.#closeInfo);
        this.#waiter?.(undefined);
        this.#waiter = undefined;
      });
    });
  }

  /** Opens a WebSocket and waits for the 101; closed (terminated) by `cleanup`. */
  static async open(cleanup: Cleanup, url: string, options: RawWsOptions = {}): Promise<RawWs> {
    const ws = new WebSocket(url, { headers: options.headers, perMessageDeflate: false });
    ws.on("error", () => {
      // Surfaced through `close`; an unhandled "error" would crash the worker.
    });
    cleanup.add(() => ws.terminate());
    let headers: IncomingHttpHeaders = {};
    ws.once("upgrade", (res) => {
      headers = res.headers;
    });
    // Listen before the first frame can arrive: it follows the 101 in the same read.
    const pending: Frame[] = [];
    const early = (data: Buffer, isBinary: boolean): void => {
      pending.push(isBinary ? data : data.toString());
    };
    ws.on("message", early);
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("close", (code) => reject(new Error(`WebSocket closed (${code}) before opening`)));
        ws.once("unexpected-response", (_req, res) =>
          reject(new Error(`WebSocket refused with HTTP ${res.statusCode}`)),
        );
      }),
      `the WebSocket to ${url} to open`,
    );
    ws.off("message", early);
    const raw = new RawWs(ws, headers, options.autoPong ?? false);
    for (const frame of pending) {
      raw.received.push(frame);
      raw.#push(frame);
    }
    return raw;
  }

  /** Resolves with the status of a refused upgrade (the server answered without 101). */
  static refusal(
    url: string,
    options: Pick<RawWsOptions, "headers"> = {},
  ): Promise<{ status: number; body: string }> {
    const ws = new WebSocket(url, { headers: options.headers, perMessageDeflate: false });
    ws.on("error", () => {});
    return within(
      new Promise((resolve, reject) => {
        ws.once("open", () => {
          ws.terminate();
          reject(new Error("the upgrade was accepted"));
        });
        ws.once("unexpected-response", (_req, res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.on("end", () => {
            ws.terminate();
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
      }),
      `the upgrade of ${url} to be refused`,
    );
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: Frame): void {
    this.ws.send(frame);
  }

  /** The next frame (pings excluded with `autoPong`). Rejects if the connection closes first. */
  next(limitMs = WAIT_LIMIT_MS): Promise<Frame> {
    const frame = this.#queue.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.#closeInfo !== undefined) {
      return Promise.reject(new Error(`closed (${this.#closeInfo.code}) with no frame left`));
    }
    return within(
      new Promise<Frame>((resolve, reject) => {
        this.#waiter = (next) => {
          if (next === undefined)
            reject(new Error(`closed (${this.#closeInfo?.code}) while waiting`));
          else resolve(next);
        };
      }),
      "a WebSocket frame",
      limitMs,
    );
  }

  /** Sends the Socket.IO CONNECT for `nsp` and resolves with the socket id of the reply. */
  async connectNamespace(nsp = "/", auth?: object): Promise<string> {
    const prefix = nsp === "/" ? "" : `${nsp},`;
    this.send(`40${prefix}${auth === undefined ? "" : JSON.stringify(auth)}`);
    const reply = await this.next();
    const expected = `40${prefix}`;
    if (typeof reply !== "string" || !reply.startsWith(`${expected}{`)) {
      throw new Error(`expected a CONNECT reply, got ${String(reply)}`);
    }
    return (JSON.parse(reply.slice(expected.length)) as { sid: string }).sid;
  }

  /** Waits for the close and returns what the client saw. */
  whenClosed(limitMs = WAIT_LIMIT_MS): Promise<CloseInfo> {
    return within(this.closed, "the WebSocket to close", limitMs);
  }

  #push(frame: Frame): void {
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter(frame);
    } else {
      this.#queue.push(frame);
    }
  }
}

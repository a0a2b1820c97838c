import { request } from "node:http";
import { createRequire } from "node:module";
import type { V2Options, V2Socket } from "socket.io-client-v2";
import type { Cleanup } from "./cleanup.js";
import { WAIT_LIMIT_MS, waitFor, within } from "./wait-for.js";

/**
 * socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4), loaded here so that its
 * HTTP long-polling behaves as in a browser.
 *
 * In Node, engine.io-client 3.x polls through `xmlhttprequest-ssl`, which has no
 * `responseType`: the client then believes XHR2 is missing and always asks for base64
 * (`b64=1`), so the binary polling payloads every browser uses would never be
 * exercised. Before the client is loaded, {@link Xhr2} takes the place of that module:
 * a minimal XMLHttpRequest level 2 over `node:http` that sends Buffer bodies as they are
 * and, with `responseType = "arraybuffer"`, hands the body over as a Buffer (what the
 * Node build of engine.io-parser 2.x decodes). `forceBase64: true` still gives the
 * base64 client.
 *
 * The swap is per process (vitest runs each test file in its own), so import the
 * client from here rather than from "socket.io-client-v2" directly.
 */
class Xhr2 {
  readyState = 0;
  status = 0;
  responseType = "";
  response: Buffer | string | null = null;
  responseText = "";
  withCredentials = false;
  timeout = 0;
  onreadystatechange: (() => void) | null = null;
  #method = "GET";
  #url = "";
  #headers: Record<string, string> = {};
  #responseHeaders: Record<string, string | string[] | undefined> = {};
  #isAborted = false;
  #abort: (() => void) | undefined;

  open(method: string, url: string): void {
    this.#method = method;
    this.#url = url;
    this.readyState = 1;
  }

  setRequestHeader(name: string, value: string): void {
    this.#headers[name] = value;
  }

  getResponseHeader(name: string): string | null {
    const value = this.#responseHeaders[name.toLowerCase()];
    return typeof value === "string" ? value : null;
  }

  send(data: string | Buffer | null): void {
    const body = data === null ? undefined : data;
    const req = request(this.#url, { method: this.#method, headers: this.#headers, agent: false });
    this.#abort = () => req.destroy();
    req.on("error", () => this.#finish(0, Buffer.alloc(0)));
    req.on("response", (res) => {
      this.#responseHeaders = res.headers;
      this.status = res.statusCode ?? 0;
      this.#change(2);
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => this.#finish(this.status, Buffer.concat(chunks)));
      res.on("error", () => this.#finish(0, Buffer.alloc(0)));
    });
    req.end(body);
  }

  abort(): void {
    this.#isAborted = true;
    this.#abort?.();
  }

  #finish(status: number, body: Buffer): void {
    if (this.readyState === 4) return;
    this.status = status;
    this.responseText = this.responseType === "arraybuffer" ? "" : body.toString();
    this.response = this.responseType === "arraybuffer" ? body : this.responseText;
    this.#change(4);
  }

  #change(state: number): void {
    this.readyState = state;
    if (!this.#isAborted) this.onreadystatechange?.();
  }
}

const require = createRequire(import.meta.url);
const clientPath = require.resolve("socket.io-client-v2");
const enginePath = createRequire(clientPath).resolve("engine.io-client");
const xhrPath = createRequire(enginePath).resolve("xmlhttprequest-ssl");
if (require.cache[clientPath] !== undefined) {
  throw new Error("socket.io-client-v2 was loaded before test/helpers/sio-client-v2.ts");
}
require(xhrPath);
require.cache[xhrPath]!.exports = Xhr2;

/** socket.io-client 2.x's `io()`, polling with XHR2 as in a browser. */
export const ioV2 = require("socket.io-client-v2") as (
  url: string,
  options?: V2Options,
) => V2Socket;

/** How a 2.x client reaches the server. */
export type V2Mode = "polling" | "polling-b64" | "websocket" | "upgrade";

export const V2_MODES: readonly V2Mode[] = ["polling", "polling-b64", "websocket", "upgrade"];

/** What each mode means, for test names. */
export const V2_MODE_NAMES: Record<V2Mode, string> = {
  polling: "polling with binary payloads",
  "polling-b64": "polling with base64 (b64=1)",
  websocket: "websocket",
  upgrade: "polling upgraded to websocket",
};

const MODE_OPTIONS: Record<V2Mode, V2Options> = {
  polling: { transports: ["polling"], upgrade: false },
  "polling-b64": { transports: ["polling"], upgrade: false, forceBase64: true },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"], upgrade: true },
};

/**
 * Creates a 2.x client socket on its own connection, without reconnection, closed by
 * `cleanup`. `url` may name a namespace and carry its query (`…/admin?token=abc`).
 * Does not wait: listeners added right away see every event.
 */
export function createV2Client(
  cleanup: Cleanup,
  url: string,
  mode: V2Mode,
  options: V2Options = {},
): V2Socket {
  const socket = ioV2(url, {
    forceNew: true,
    reconnection: false,
    ...MODE_OPTIONS[mode],
    ...options,
  });
  cleanup.add(() => closeV2Client(socket));
  return socket;
}

/** Closes a 2.x client and its whole connection. */
export function closeV2Client(socket: V2Socket): void {
  socket.io.reconnection(false);
  socket.close();
  socket.io.engine?.close();
}

/**
 * Resolves on `connect`. Rejects with the namespace's refusal (`error`, which 2.x
 * clients emit for a CONNECT error), an engine failure (`connect_error`), or after
 * `limitMs` without an answer.
 */
export function whenV2Connected(socket: V2Socket, limitMs = WAIT_LIMIT_MS): Promise<void> {
  if (socket.connected) return Promise.resolve();
  const connected = new Promise<void>((resolve, reject) => {
    const settle = (error?: unknown): void => {
      socket.off("connect", onConnect);
      socket.off("error", onError);
      socket.off("connect_error", onError);
      if (error === undefined) resolve();
      else reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
    };
    const onConnect = (): void => settle();
    const onError = (error: unknown): void => settle(error ?? "error");
    socket.on("connect", onConnect);
    socket.on("error", onError);
    socket.on("connect_error", onError);
  });
  return within(connected, `${socket.nsp} to connect`, limitMs);
}

/**
 * Creates a 2.x client and waits until it is connected; in `upgrade` mode also until
 * its connection runs on the WebSocket.
 */
export async function connectV2Client(
  cleanup: Cleanup,
  url: string,
  mode: V2Mode,
  options: V2Options = {},
): Promise<V2Socket> {
  const socket = createV2Client(cleanup, url, mode, options);
  await whenV2Connected(socket);
  if (mode === "upgrade") await whenV2Upgraded(socket);
  return socket;
}

/** Resolves once the connection of `socket` runs on the WebSocket. */
export async function whenV2Upgraded(socket: V2Socket): Promise<void> {
  const engine = socket.io.engine;
  if (engine.transport.name !== "websocket") await waitFor(engine, "upgrade");
}

/** Resolves with the arguments of the next `event` on a 2.x socket. */
export function nextV2(socket: V2Socket, event: string): Promise<unknown[]> {
  return waitFor<unknown[]>(socket, event);
}

/** Emits `event` with a callback and resolves with the arguments of the ack. */
export function emitWithAckV2(
  socket: V2Socket,
  event: string,
  ...args: unknown[]
): Promise<unknown[]> {
  return new Promise((resolve) => {
    socket.emit(event, ...args, (...reply: unknown[]) => resolve(reply));
  });
}

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Cleanup } from "./cleanup.js";

/** What the app received: the parsed JSON body, the body as sent, and the request headers. */
export interface Received {
  readonly body: Record<string, unknown>;
  /** The body exactly as it arrived, before parsing: what a signature covers. */
  readonly raw: string;
  readonly headers: IncomingHttpHeaders;
}

/** The app's reply: a status (default 200) and a body (a string is sent as it is). */
export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
}

export type AppHandler = (received: Received) => Reply | Promise<Reply>;

/** A running app: its URL and every request it received, in order. */
export interface HttpApp {
  readonly url: string;
  readonly received: Received[];
}

/**
 * A local HTTP app on 127.0.0.1, port 0, that answers JSON POSTs with `handler`; it is
 * closed (open connections included) by `cleanup`.
 */
export async function startApp(cleanup: Cleanup, handler: AppHandler): Promise<HttpApp> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const entry = { body: JSON.parse(raw) as Record<string, unknown>, raw, headers: req.headers };
      received.push(entry);
      const reply = await handler(entry);
      const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(reply.status ?? 200, { "content-type": "application/json" }).end(text);
    });
  });
  await listen(server);
  cleanup.add(() => closeServer(server));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

/** A URL on 127.0.0.1 where nothing listens: the port of a server already closed. */
export async function unusedUrl(): Promise<string> {
  const server = createServer();
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  await closeServer(server);
  return `http://127.0.0.1:${port}/hook`;
}

/**
 * A reply held until the returned `release` is called; `cleanup` releases it, so a
 * test that gives up waiting does not leave the handler pending.
 */
export function heldReply(cleanup: Cleanup, reply: Reply = { body: {} }): Promise<Reply> {
  let release: () => void = () => {};
  const held = new Promise<Reply>((resolve) => {
    release = () => resolve(reply);
  });
  cleanup.add(() => release());
  return held;
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

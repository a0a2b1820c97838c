import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { expect, it } from "vitest";
import { describeWithBrowser, useBrowser } from "../helpers/browser.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";

const BUNDLES: Record<string, string> = {
  "/socket.io-v2.js": "../../node_modules/socket.io-client-v2/dist/socket.io.js",
  "/socket.io-v4.js": "../../node_modules/socket.io-client/dist/socket.io.js",
};

/** What the pages' scripts leave on `window` (the test's tsconfig has no DOM types). */
interface PageSocket {
  on(event: string, listener: (...args: unknown[]) => void): void;
  once(event: string, listener: (...args: unknown[]) => void): void;
  emit(event: string, ...args: unknown[]): void;
  close(): void;
}
interface PageGlobals {
  io(url: string, options: Record<string, unknown>): PageSocket;
  socket?: PageSocket;
  message?: Promise<unknown>;
}

type Outcome = { connected: true; ack: unknown } | { connected: false; error: string };

function yaml(cors: string): string {
  return `
server:
  allowEIO3: true
  cors: ${cors}
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
      publish:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;
}

/** A page server on port 0: `/<version>` is a blank page loading that client's bundle. */
async function pageServer(cleanup: Cleanup): Promise<string> {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? "/", "http://page").pathname;
    const bundle = BUNDLES[path];
    if (bundle !== undefined) {
      response.writeHead(200, { "content-type": "text/javascript" });
      response.end(await readFile(fileURLToPath(new URL(bundle, import.meta.url))));
      return;
    }
    if (path === "/v2" || path === "/v4") {
      response.writeHead(200, { "content-type": "text/html" });
      response.end(`<!doctype html><script src="/socket.io-${path.slice(1)}.js"></script>`);
      return;
    }
    response.writeHead(404).end();
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  cleanup.add(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Connects the page's client to `url` over polling and joins `room`; resolves with the
 * join's ack, or with the connect_error when the client cannot connect.
 */
function connectAndJoin(page: Page, url: string, room: string): Promise<Outcome> {
  return page.evaluate(
    ({ url, room }) =>
      new Promise<Outcome>((resolve) => {
        const page = globalThis as unknown as PageGlobals;
        const socket = page.io(url, { transports: ["polling"], reconnection: false });
        page.socket = socket;
        socket.on("connect", () =>
          socket.emit("join", { room }, (ack: unknown) => resolve({ connected: true, ack })),
        );
        socket.on("connect_error", (error: unknown) =>
          resolve({ connected: false, error: String((error as Error).message ?? error) }),
        );
      }),
    { url, room },
  );
}

/**
 * Starts listening for the page socket's next `message` (resolved once the listener is
 * on); the returned function resolves with that message.
 */
async function pageMessage(page: Page): Promise<() => Promise<unknown>> {
  await page.evaluate(() => {
    const page = globalThis as unknown as PageGlobals;
    page.message = new Promise((resolve) => page.socket!.once("message", resolve));
  });
  return () => page.evaluate(() => (globalThis as unknown as PageGlobals).message);
}

describeWithBrowser("a socket.io 2.x browser client polling from another origin", () => {
  const cleanup = useCleanup();
  const browser = useBrowser();

  /** A fresh page at `<page origin>/<version>`, with the console errors it logs. */
  async function openPage(version: "v2" | "v4"): Promise<{ page: Page; errors: string[] }> {
    const origin = await pageServer(cleanup);
    const context = await browser().newContext();
    cleanup.add(() => context.close());
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await page.goto(`${origin}/${version}`);
    return { page, errors };
  }

  async function switchyard(cors: (pageOrigin: string) => string, page: Page) {
    const pageOrigin = new URL(page.url()).origin;
    const harness = await Harness.start(yaml(cors(pageOrigin)));
    cleanup.add(() => harness.close());
    expect(new URL(harness.url).origin).not.toBe(pageOrigin);
    return harness;
  }

  it("connects with cors.credentials: true and receives what a 4.x client publishes to its room", async () => {
    const { page } = await openPage("v2");
    const harness = await switchyard(
      (origin) => `{ origin: "${origin}", credentials: true }`,
      page,
    );
    expect(await connectAndJoin(page, harness.url, "room:1")).toEqual({
      connected: true,
      ack: { ok: true },
    });
    const received = await pageMessage(page);
    const publisher = await harness.connect();
    publisher.emit("publish", { room: "room:1", payload: { text: "hello, 2.x" } });
    expect(await received()).toEqual({ text: "hello, 2.x" });
  });

  it("cannot connect with the default cors.credentials (false): the browser drops the answers", async () => {
    const { page, errors } = await openPage("v2");
    const harness = await switchyard((origin) => `{ origin: "${origin}" }`, page);
    expect(await connectAndJoin(page, harness.url, "room:1")).toEqual({
      connected: false,
      error: "xhr poll error",
    });
    expect(errors.join("\n")).toContain("Access-Control-Allow-Credentials");
  });

  it("while a 4.x browser client (no credentials by default) connects to that same server", async () => {
    const { page } = await openPage("v4");
    const harness = await switchyard((origin) => `{ origin: "${origin}" }`, page);
    expect(await connectAndJoin(page, harness.url, "room:1")).toEqual({
      connected: true,
      ack: { ok: true },
    });
  });
});

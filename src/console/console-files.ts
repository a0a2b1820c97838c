import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SwitchyardError } from "../errors.js";

/** Where the migration console is served. */
export const CONSOLE_PREFIX = "/console/";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/**
 * The page may load its own files and talk to its own origin, nothing else: no inline
 * script, no other host, never inside another site's frame.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The page's build: `dist/console/page/` (npm run build). This module runs from
 * `dist/console/` in production and from `src/console/` under the tests, which read the
 * same build.
 */
export function consolePageDir(): string {
  const here = import.meta.url;
  return fileURLToPath(
    new URL(here.endsWith(".ts") ? "../../dist/console/page/" : "./page/", here),
  );
}

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

/**
 * The migration console's page (index.html, console.css, console.js), served under
 * {@link CONSOLE_PREFIX} from memory. As with the Admin UI's files, the list is read
 * once at start, so a request can only name one of those files and no path reaches the
 * disk (`..`, encoded slashes and the like match nothing: 404). The page is the login
 * form and holds no data: everything it shows comes from the token-protected API.
 */
export class ConsoleFiles {
  readonly #files = new Map<string, StaticFile>();
  /**
   * Where the page was looked for, when it is not there (a build by `tsc` alone): every
   * request under the prefix is then 503 SWY_CONSOLE_FILES_MISSING, and the node serves on.
   */
  readonly missing: string | undefined;

  constructor(dir: string = consolePageDir()) {
    if (!existsSync(join(dir, "index.html")) || !existsSync(join(dir, "console.js"))) {
      this.missing = dir;
      return;
    }
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const type = TYPES[extname(entry.name)];
      if (!entry.isFile() || type === undefined) continue;
      this.#files.set(entry.name, { body: readFileSync(join(dir, entry.name)), type });
    }
  }

  /**
   * Answers a GET or HEAD under the prefix and returns true; returns false, untouched,
   * for any other path. `/console` is redirected to `/console/` (the page's links are
   * relative); another method is 405, an unknown file 404, both with a coded body.
   */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path === CONSOLE_PREFIX.slice(0, -1)) {
      res.writeHead(301, { Location: CONSOLE_PREFIX, "Content-Length": "0" }).end();
      return true;
    }
    if (!path.startsWith(CONSOLE_PREFIX)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      const refusal = new SwitchyardError("SWY_API_METHOD_NOT_ALLOWED", [req.method ?? "", "GET"]);
      send(res, 405, "application/json", errorBody(refusal), req, { Allow: "GET, HEAD" });
      return true;
    }
    if (this.missing !== undefined) {
      const missing = new SwitchyardError("SWY_CONSOLE_FILES_MISSING");
      send(res, 503, "application/json", errorBody(missing), req);
      return true;
    }
    const name = path.slice(CONSOLE_PREFIX.length);
    const file = this.#files.get(name === "" ? "index.html" : name);
    if (file === undefined) {
      send(res, 404, "application/json", errorBody(new SwitchyardError("SWY_HTTP_NOT_FOUND")), req);
      return true;
    }
    send(res, 200, file.type, file.body, req, { "Cache-Control": "no-cache" });
    return true;
  }
}

function errorBody(error: SwitchyardError): Buffer {
  return Buffer.from(JSON.stringify(error.toJSON()));
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: Buffer,
  req: IncomingMessage,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": String(body.length),
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    ...headers,
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

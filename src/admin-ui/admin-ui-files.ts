import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { SwitchyardError } from "../errors.js";

/** Content types of the files the UI's build and its icon font hold. */
const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".eot": "application/vnd.ms-fontobject",
};

/** The two stylesheets the package's index.html loads from CDNs, and what replaces them. */
const GOOGLE_FONTS = /<link rel="stylesheet" href="https:\/\/fonts\.googleapis\.com\/[^"]*">/;
const MDI_CDN = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css";
const MDI_LOCAL = "mdi/css/materialdesignicons.min.css";

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

/**
 * The Socket.IO Admin UI's own files (`ui/dist` of `@socket.io/admin-ui`), served under
 * `prefix` from memory: the file list is read once, at start, so a request can only
 * name one of those files and no path reaches the disk (`..`, encoded slashes and the
 * like simply match nothing: 404).
 *
 * index.html is served without its CDN stylesheets: the icon font comes from
 * `@mdi/font` under `<prefix>mdi/`, and the text falls back to the system's sans-serif
 * instead of Google's Roboto, so the page asks nothing of any other host.
 */
export class AdminUiFiles {
  readonly prefix: string;
  readonly #files = new Map<string, StaticFile>();

  /**
   * @param prefix Normalised path with both slashes, e.g. `/admin-ui/`.
   * @throws SwitchyardError SWY_ADMIN_UI_FILES_MISSING when the package is not installed.
   */
  constructor(prefix: string) {
    this.prefix = prefix;
    const require = createRequire(import.meta.url);
    let ui: string | undefined;
    let mdi: string | undefined;
    try {
      ui = join(dirname(require.resolve("@socket.io/admin-ui/package.json")), "ui", "dist");
      mdi = dirname(require.resolve("@mdi/font/package.json"));
    } catch {
      // Reported below with the path looked at.
    }
    if (ui === undefined || mdi === undefined || !existsSync(join(ui, "index.html"))) {
      throw new SwitchyardError("SWY_ADMIN_UI_FILES_MISSING", [
        ui ?? "@socket.io/admin-ui/ui/dist",
      ]);
    }
    this.#add(ui, "");
    this.#add(join(mdi, "css"), "mdi/css/");
    this.#add(join(mdi, "fonts"), "mdi/fonts/");
    const index = this.#files.get("index.html")!;
    const html = index.body.toString("utf8").replace(GOOGLE_FONTS, "").replace(MDI_CDN, MDI_LOCAL);
    this.#files.set("index.html", { body: Buffer.from(html), type: index.type });
  }

  /** Reads every file under `dir` (the build is a few files; nothing is followed out of it). */
  #add(dir: string, under: string): void {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const name = `${under}${entry.name}`;
      if (entry.isDirectory()) {
        this.#add(join(dir, entry.name), `${name}/`);
        continue;
      }
      const type = TYPES[extname(entry.name)];
      if (!entry.isFile() || type === undefined) continue;
      this.#files.set(name, { body: readFileSync(join(dir, entry.name)), type });
    }
  }

  /**
   * Answers a GET or HEAD under the prefix and returns true; returns false, untouched,
   * for any other path. The prefix without its slash is redirected to it (the page's
   * links are relative); an unknown file is 404 with a coded body.
   */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path === this.prefix.slice(0, -1)) {
      res.writeHead(301, { Location: this.prefix, "Content-Length": "0" }).end();
      return true;
    }
    if (!path.startsWith(this.prefix)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      const refusal = new SwitchyardError("SWY_API_METHOD_NOT_ALLOWED", [req.method ?? "", "GET"]);
      send(res, 405, "application/json", errorBody(refusal), req, {
        Allow: "GET, HEAD",
      });
      return true;
    }
    const name = path.slice(this.prefix.length);
    const file = this.#files.get(name === "" ? "index.html" : name);
    if (file === undefined) {
      send(res, 404, "application/json", errorBody(new SwitchyardError("SWY_HTTP_NOT_FOUND")), req);
      return true;
    }
    // The built assets carry a content hash in their names; index.html does not.
    const cache = /\.[0-9a-f]{8}\.(js|css)$/.test(name)
      ? "public, max-age=31536000, immutable"
      : "no-cache";
    send(res, 200, file.type, file.body, req, { "Cache-Control": cache });
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
    // The page holds buttons that disconnect sockets: never inside another site's frame.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    ...headers,
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

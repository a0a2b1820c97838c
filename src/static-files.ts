import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { SwitchyardError } from "./errors.js";

/** Content types of the files Switchyard's pages hold (the console's, the Admin UI's). */
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

export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

/**
 * Reads every file of a known type under `dir` into `files`, named `<under><relative
 * path>`; subfolders too when `recursive`. Read once at start: nothing is followed out of
 * `dir`, and no request ever reaches the disk.
 */
export function readStaticFiles(
  files: Map<string, StaticFile>,
  dir: string,
  options: { readonly under?: string; readonly recursive?: boolean } = {},
): void {
  const under = options.under ?? "";
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const name = `${under}${entry.name}`;
    if (entry.isDirectory() && options.recursive === true) {
      readStaticFiles(files, join(dir, entry.name), { under: `${name}/`, recursive: true });
      continue;
    }
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    files.set(name, { body: readFileSync(join(dir, entry.name)), type });
  }
}

/** How a page's files are answered. */
export interface StaticFilesOptions {
  /** The path they are served under, with both slashes (`/console/`). */
  readonly prefix: string;
  /** Headers added to every answer (a page's Content-Security-Policy). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The Cache-Control of a file; default `no-cache`. */
  readonly cacheControl?: (name: string) => string;
  /** Set when the files are not there: every request under the prefix is 503 with it. */
  readonly unavailable?: SwitchyardError;
}

/**
 * A page's files served from memory under a prefix: GET and HEAD of one of the files
 * read at start (a request can name nothing else: `..`, encoded slashes and the like
 * match nothing, 404), the prefix without its slash redirected to it (the pages' links
 * are relative), any other method 405; errors as coded JSON bodies. Never inside
 * another site's frame.
 *
 * Why by hand: the few lines a static-file package would save do not pay for what it
 * would add, a path that reads the disk on every request.
 */
export class StaticFiles {
  readonly prefix: string;
  readonly #files: ReadonlyMap<string, StaticFile>;
  readonly #options: StaticFilesOptions;

  constructor(files: ReadonlyMap<string, StaticFile>, options: StaticFilesOptions) {
    this.prefix = options.prefix;
    this.#files = files;
    this.#options = options;
  }

  /**
   * Answers a request under the prefix and returns true; returns false, untouched, for
   * any other path.
   */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const { prefix } = this;
    if (path === prefix.slice(0, -1)) {
      res.writeHead(301, { Location: prefix, "Content-Length": "0" }).end();
      return true;
    }
    if (!path.startsWith(prefix)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      const refusal = new SwitchyardError("SWY_API_METHOD_NOT_ALLOWED", [req.method ?? "", "GET"]);
      this.#error(req, res, 405, refusal, { Allow: "GET, HEAD" });
      return true;
    }
    if (this.#options.unavailable !== undefined) {
      this.#error(req, res, 503, this.#options.unavailable);
      return true;
    }
    const name = path.slice(prefix.length) || "index.html";
    const file = this.#files.get(name);
    if (file === undefined) {
      this.#error(req, res, 404, new SwitchyardError("SWY_HTTP_NOT_FOUND"));
      return true;
    }
    const cache = this.#options.cacheControl?.(name) ?? "no-cache";
    this.#send(req, res, 200, file.type, file.body, { "Cache-Control": cache });
    return true;
  }

  #error(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    error: SwitchyardError,
    headers: Record<string, string> = {},
  ): void {
    const body = Buffer.from(JSON.stringify(error.toJSON()));
    this.#send(req, res, status, "application/json", body, headers);
  }

  #send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    type: string,
    body: Buffer,
    headers: Record<string, string>,
  ): void {
    res.writeHead(status, {
      "Content-Type": type,
      "Content-Length": String(body.length),
      "X-Frame-Options": "DENY",
      "X-Content-Type-Options": "nosniff",
      ...this.#options.headers,
      ...headers,
    });
    res.end(req.method === "HEAD" ? undefined : body);
  }
}

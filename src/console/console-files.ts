import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SwitchyardError } from "../errors.js";
import { readStaticFiles, type StaticFile, StaticFiles } from "../static-files.js";

/** Where the migration console is served. */
export const CONSOLE_PREFIX = "/console/";

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

/**
 * The migration console's page (index.html, console.css, console.js), served under
 * {@link CONSOLE_PREFIX} from memory (src/static-files.ts): the list is read once at
 * start, so a request can only name one of those files. The page is the login form and
 * holds no data: everything it shows comes from the token-protected API.
 */
export class ConsoleFiles extends StaticFiles {
  /**
   * Where the page was looked for, when it is not there (a build by `tsc` alone): every
   * request under the prefix is then 503 SWY_CONSOLE_FILES_MISSING, and the node serves on.
   */
  readonly missing: string | undefined;

  constructor(dir: string = consolePageDir()) {
    const isBuilt = existsSync(join(dir, "index.html")) && existsSync(join(dir, "console.js"));
    const files = new Map<string, StaticFile>();
    if (isBuilt) readStaticFiles(files, dir);
    super(files, {
      prefix: CONSOLE_PREFIX,
      headers: { "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer" },
      ...(isBuilt ? {} : { unavailable: new SwitchyardError("SWY_CONSOLE_FILES_MISSING") }),
    });
    this.missing = isBuilt ? undefined : dir;
  }
}

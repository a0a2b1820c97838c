import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { SwitchyardError } from "../errors.js";
import { readStaticFiles, type StaticFile, StaticFiles } from "../static-files.js";

/** The two stylesheets the package's index.html loads from CDNs, and what replaces them. */
const GOOGLE_FONTS = /<link rel="stylesheet" href="https:\/\/fonts\.googleapis\.com\/[^"]*">/;
const MDI_CDN = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css";
const MDI_LOCAL = "mdi/css/materialdesignicons.min.css";

/**
 * The Socket.IO Admin UI's own files (`ui/dist` of `@socket.io/admin-ui`), served under
 * `prefix` from memory (src/static-files.ts): the file list is read once, at start, so a
 * request can only name one of those files.
 *
 * index.html is served without its CDN stylesheets: the icon font comes from
 * `@mdi/font` under `<prefix>mdi/`, and the text falls back to the system's sans-serif
 * instead of Google's Roboto, so the page asks nothing of any other host.
 */
export class AdminUiFiles extends StaticFiles {
  /**
   * @param prefix Normalised path with both slashes, e.g. `/admin-ui/`.
   * @throws SwitchyardError SWY_ADMIN_UI_FILES_MISSING when the package is not installed.
   */
  constructor(prefix: string) {
    super(adminUiFiles(), {
      prefix,
      // The built assets carry a content hash in their names; index.html does not.
      cacheControl: (name) =>
        /\.[0-9a-f]{8}\.(js|css)$/.test(name) ? "public, max-age=31536000, immutable" : "no-cache",
    });
  }
}

/** The UI's build and the icon font's CSS and fonts, index.html rid of its CDN links. */
function adminUiFiles(): Map<string, StaticFile> {
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
    throw new SwitchyardError("SWY_ADMIN_UI_FILES_MISSING", [ui ?? "@socket.io/admin-ui/ui/dist"]);
  }
  const files = new Map<string, StaticFile>();
  readStaticFiles(files, ui, { recursive: true });
  readStaticFiles(files, join(mdi, "css"), { under: "mdi/css/", recursive: true });
  readStaticFiles(files, join(mdi, "fonts"), { under: "mdi/fonts/", recursive: true });
  const index = files.get("index.html")!;
  const html = index.body.toString("utf8").replace(GOOGLE_FONTS, "").replace(MDI_CDN, MDI_LOCAL);
  files.set("index.html", { body: Buffer.from(html), type: index.type });
  return files;
}

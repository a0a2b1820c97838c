/**
 * Builds the migration console's page into dist/console/page/ (part of `npm run build`):
 * its one TypeScript module compiled with the browser's library (tsconfig.console.json),
 * then its HTML and CSS copied beside it. Nothing is fetched: the page uses no package.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "console", "page");
const target = join(root, "dist", "console", "page");

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const compiled = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.console.json")], {
  stdio: "inherit",
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

mkdirSync(target, { recursive: true });
for (const name of readdirSync(source)) {
  if (extname(name) === ".html" || extname(name) === ".css") {
    copyFileSync(join(source, name), join(target, name));
  }
}

/**
 * Vitest globalSetup: builds the migration console's page (scripts/build-console-page.mjs,
 * part of `npm run build`) when dist/ has none or an older one than its sources, since
 * Switchyard run from src/ serves the page from dist/console/page/ (src/console/console-files.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

function newest(paths: readonly string[]): number {
  return Math.max(...paths.map((path) => statSync(path).mtimeMs));
}

export default function setup(): void {
  const pageSources = `${root}src/console/page/`;
  const sources = [
    ...readdirSync(pageSources).map((name) => pageSources + name),
    `${root}src/console/console-types.ts`,
  ];
  const built = ["index.html", "console.css", "console.js"].map(
    (name) => `${root}dist/console/page/${name}`,
  );
  if (built.every((path) => existsSync(path)) && newest(built) >= newest(sources)) return;
  const result = spawnSync(process.execPath, [`${root}scripts/build-console-page.mjs`], {
    stdio: "inherit",
  });
  if (result.status !== 0) throw new Error("the migration console's page did not build");
}

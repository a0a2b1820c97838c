import { readFileSync } from "node:fs";

/** Switchyard's version, from the package.json one level above this module (src/ or dist/). */
export const VERSION: string = (() => {
  try {
    const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === "string" ? version : "unknown";
  } catch {
    return "unknown";
  }
})();

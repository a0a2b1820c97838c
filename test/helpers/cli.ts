import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.js";

/** The repository's root, where `bin/switchyard.js` runs from. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The built CLI (`npm install` builds `dist/`, which it runs). */
export const BIN = "bin/switchyard.js";

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `switchyard ARGS` to completion. `env` is the child's whole environment
 * (default this process's); with `cleanup`, a child still running when the test ends is
 * killed.
 */
export function runCli(
  args: readonly string[],
  options: { readonly env?: NodeJS.ProcessEnv; readonly cleanup?: Cleanup } = {},
): Promise<CliRun> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  options.cleanup?.add(() => child.kill("SIGKILL"));
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

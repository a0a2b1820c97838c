/**
 * `npm test` without Redis (test/setup/redis.ts): the tests that need it are skipped
 * after one line saying which files and how to start Redis, with no ioredis noise and
 * no hook timeouts; with SWITCHYARD_REQUIRE_REDIS=1 (as .ci/run sets) the run fails.
 * Each case runs Vitest itself on a file of Redis tests, with REDIS_URL on a port
 * nobody listens on.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "../helpers/redis-server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const FILE = "test/contract/native-redis.test.ts";

/** Runs `vitest run FILE` with `env`; resolves with its exit code and output, colours off. */
function vitest(env: Record<string, string>): Promise<{ code: number; output: string }> {
  // The parent run's own variables (VITEST_*, the CI's requirement) stay out.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith("VITEST") && name !== "SWITCHYARD_REQUIRE_REDIS",
    ),
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", FILE],
      { cwd: root, env: { ...inherited, NO_COLOR: "1", CI: "1", ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe("npm test when no Redis answers at REDIS_URL", () => {
  it("skips the Redis tests after one line naming their files and how to start Redis", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { code, output } = await vitest({ REDIS_URL: url });
    expect(code).toBe(0);
    const lines = output.split("\n").filter((line) => line.startsWith("Redis: "));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`nothing answers at ${url} (REDIS_URL)`);
    expect(lines[0]).toContain(FILE);
    expect(lines[0]).toContain("redis-server --port 6379 --save ''");
    expect(output).toMatch(/Tests +\d+ skipped/);
    expect(output).not.toMatch(/passed|failed|ECONNREFUSED|Unhandled|timed out/i);
  }, 60_000);

  it("fails the run instead with SWITCHYARD_REQUIRE_REDIS=1, saying why", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { code, output } = await vitest({ REDIS_URL: url, SWITCHYARD_REQUIRE_REDIS: "1" });
    expect(code).not.toBe(0);
    expect(output).toContain(
      `Redis is required (SWITCHYARD_REQUIRE_REDIS=1): nothing answers at ${url} (REDIS_URL)`,
    );
    expect(output).not.toMatch(/ECONNREFUSED|timed out/i);
  }, 60_000);
});

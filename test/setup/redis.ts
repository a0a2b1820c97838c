/**
 * Vitest globalSetup: asks once, before any test file runs, whether the shared Redis
 * (`REDIS_URL`, default redis://127.0.0.1:6379) answers PING and whether a
 * `redis-server` binary is on PATH (for the tests that start a private one), and hands
 * the answer to every test file as `inject("redis")`.
 *
 * When either is missing, the tests that need it are skipped (test/helpers/redis-server.ts)
 * and this prints one line naming those files and how to start Redis. With
 * `SWITCHYARD_REQUIRE_REDIS=1` (.ci/run sets it) a missing Redis fails the run instead.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";

/** What test/setup/redis.ts found, as test files see it through `inject("redis")`. */
export interface RedisAvailability {
  /** The shared Redis of the tests: `REDIS_URL`, default redis://127.0.0.1:6379. */
  readonly url: string;
  /** Whether it answered PING. */
  readonly isUp: boolean;
  /** Whether `redis-server` can be started (tests with a private Redis need it). */
  readonly hasServerBinary: boolean;
}

declare module "vitest" {
  export interface ProvidedContext {
    redis: RedisAvailability;
  }
}

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
const PING_TIMEOUT_MS = 2000;

async function answersPing(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PING_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // The failure is the answer; without a listener ioredis reports it as unhandled.
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function hasRedisServerBinary(): boolean {
  const result = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return result.error === undefined && result.status === 0;
}

/** Test files (relative to `root`) whose source calls one of `helpers`. */
function filesUsing(root: string, helpers: readonly string[]): string[] {
  const files = readdirSync(join(root, "test"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".test.ts"))
    .map((file) => join("test", file));
  return files
    .filter((file) => {
      const source = readFileSync(join(root, file), "utf8");
      return helpers.some((helper) => source.includes(`${helper}(`));
    })
    .sort();
}

/**
 * The one line printed when something is missing (undefined when all is there): what
 * is missing, which test files need it, and how to get it. `isRequired` words it as
 * the failure SWITCHYARD_REQUIRE_REDIS=1 makes of it rather than as a skip.
 */
export function missingRedisMessage(
  root: string,
  found: RedisAvailability,
  isRequired = false,
): string | undefined {
  const outcome = (files: string[]): string =>
    `${isRequired ? "it is needed by" : "the tests that need it are skipped in"} ${files.join(", ")}`;
  const parts: string[] = [];
  if (!found.isUp) {
    const files = filesUsing(root, ["describeWithRedis", "itWithRedis"]);
    parts.push(
      `nothing answers at ${found.url} (REDIS_URL), so ${outcome(files)}; start one with \`redis-server --port 6379 --save ''\` or set REDIS_URL`,
    );
  }
  if (!found.hasServerBinary) {
    const files = filesUsing(root, ["describeWithRedisServer", "itWithRedisServer"]);
    parts.push(
      `no redis-server on PATH, so ${outcome(files)}; install it (apt-get install redis-server)`,
    );
  }
  if (parts.length === 0) return undefined;
  return `${isRequired ? "Redis is required (SWITCHYARD_REQUIRE_REDIS=1)" : "Redis"}: ${parts.join("; ")}.`;
}

export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const [isUp, hasServerBinary] = await Promise.all([answersPing(url), hasRedisServerBinary()]);
  const found: RedisAvailability = { url, isUp, hasServerBinary };
  project.provide("redis", found);
  const isRequired = process.env.SWITCHYARD_REQUIRE_REDIS === "1";
  const message = missingRedisMessage(project.config.root, found, isRequired);
  if (message === undefined) return;
  if (isRequired) throw new Error(message);
  console.warn(message);
}

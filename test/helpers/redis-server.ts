import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, inject, it } from "vitest";
import type { RedisAvailability } from "../setup/redis.js";
import type { Cleanup } from "./cleanup.js";

/** What test/setup/redis.ts found before the run: the shared Redis and `redis-server`. */
const redis: RedisAvailability = inject("redis");

/** The shared Redis of the tests: `REDIS_URL`, default redis://127.0.0.1:6379. */
export const REDIS_URL = redis.url;

/**
 * `describe` and `it` for tests on the shared Redis ({@link REDIS_URL}). Skipped when it
 * did not answer test/setup/redis.ts's PING, which then printed one line naming these
 * files and how to start Redis (with SWITCHYARD_REQUIRE_REDIS=1 the run fails instead).
 */
export const describeWithRedis = describe.skipIf(!redis.isUp);
export const itWithRedis = it.skipIf(!redis.isUp);

/**
 * `describe` and `it` for tests that start a {@link PrivateRedis}: skipped, with the
 * same one line, when no `redis-server` binary is on PATH.
 */
export const describeWithRedisServer = describe.skipIf(!redis.hasServerBinary);
export const itWithRedisServer = it.skipIf(!redis.hasServerBinary);

/** A connection of the test's own to the shared Redis (to watch keys), closed after the test. */
export function redisWatcher(cleanup: Cleanup): Redis {
  const connection = new Redis(REDIS_URL);
  cleanup.add(() => connection.disconnect());
  return connection;
}

/**
 * Deletes every key under `prefix` on the shared Redis after the test: what a test's
 * cluster leaves behind on purpose (the Admin UI's sessions last 24 hours).
 */
export function dropKeysAfter(cleanup: Cleanup, prefix: string): void {
  cleanup.add(async () => {
    const connection = new Redis(REDIS_URL);
    try {
      const keys = await connection.keys(`${prefix}*`);
      if (keys.length > 0) await connection.del(...keys);
    } finally {
      connection.disconnect();
    }
  });
}

/** A port nobody listens on right now (the OS's choice for port 0). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * A private `redis-server` for one test file: no persistence, stopped and started
 * again on the same port to play a Redis outage.
 */
export class PrivateRedis {
  readonly port: number;
  /** With `persistent`: the directory of its append-only file, kept across restarts. */
  readonly #dir: string | undefined;
  #process: ChildProcess | undefined;

  private constructor(port: number, dir: string | undefined) {
    this.port = port;
    this.#dir = dir;
  }

  /**
   * `persistent`: every write is in an append-only file (fsync'd each time) in a
   * directory of its own, so a restart, even after SIGKILL, comes back with the data.
   */
  static async start(options: { persistent?: boolean } = {}): Promise<PrivateRedis> {
    const dir =
      options.persistent === true ? await mkdtemp(join(tmpdir(), "swy-redis-")) : undefined;
    const redis = new PrivateRedis(await freePort(), dir);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.#process !== undefined) throw new Error("already running");
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        ...(this.#dir === undefined
          ? ["--appendonly", "no"]
          : ["--appendonly", "yes", "--appendfsync", "always", "--dir", this.#dir]),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#process = child;
    await new Promise<void>((resolve, reject) => {
      let output = "";
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes("Ready to accept connections")) {
          child.stdout?.off("data", onData);
          child.off("exit", onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => {
        this.#process = undefined;
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      };
      child.stdout?.on("data", onData);
      child.once("exit", onExit);
      child.once("error", (error) => {
        this.#process = undefined;
        reject(new Error("redis-server could not be started", { cause: error }));
      });
    });
    // Keep draining its output so the pipe never fills up.
    child.stdout?.resume();
    child.stderr?.resume();
  }

  /** Stops the server at once (SIGKILL: no goodbye to clients); resolves once it exited. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }
  }

  /** Stops the server and removes its data directory, if it has one. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
  }
}

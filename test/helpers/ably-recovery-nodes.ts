import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { startEmulator } from "../emulators/ably/test-support.js";
import type { Cleanup } from "./cleanup.js";
import { redisWatcher } from "./redis-server.js";
import type { Harness } from "./switchyard-harness.js";

/**
 * The Ably emulator, two nodes started by `node` on it and on one fresh Redis key (so
 * they form a cluster of their own), and a Redis connection to watch the session keys:
 * the set-up of the tests of recovery across nodes for rooms on Ably.
 */
export async function twoAblyNodes(
  cleanup: Cleanup,
  node: (emulator: AblyEmulator, key: string) => Promise<Harness>,
): Promise<{ redis: Redis; emulator: AblyEmulator; a: Harness; b: Harness }> {
  const redis = redisWatcher(cleanup);
  const emulator = await startEmulator(cleanup);
  const key = `swy-ably-recovery-${randomBytes(6).toString("hex")}`;
  return { redis, emulator, a: await node(emulator, key), b: await node(emulator, key) };
}

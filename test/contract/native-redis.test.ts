import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { expect, it } from "vitest";
import type { Delivery } from "../../src/egress/backend.js";
import { NativeBackend } from "../../src/egress/native/native-backend.js";
import {
  type RedisMode,
  resolveNativeRedisSettings,
} from "../../src/egress/native/redis/redis-settings.js";
import { roomChannel } from "../../src/egress/registry.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { RecordingSink, runBackendContract } from "./backend-contract.js";

/** In streams mode the key also names the stream, so every test has its own. */
function redisBackend(name: string, key: string, mode: RedisMode = "classic"): NativeBackend {
  const streams = mode === "streams" ? { streamName: key } : {};
  return new NativeBackend(name, {
    redis: resolveNativeRedisSettings({ url: REDIS_URL, key, mode, ...streams }),
    log: pino({ level: "silent" }),
  });
}

function randomKey(): string {
  return `swy-contract-${randomBytes(6).toString("hex")}`;
}

// Skipped when the shared Redis is down: test/setup/redis.ts says so in one line.
describeWithRedis("native on Redis", () => {
  runBackendContract("native", async () => ({ backend: redisBackend("native", randomKey()) }));
});

describeWithRedis("native on Redis in streams mode", () => {
  runBackendContract("native", async () => ({
    backend: redisBackend("native", randomKey(), "streams"),
  }));
});

describeWithRedis.each(["classic", "streams"] as const)(
  "native on Redis (%s) with plain delivery sinks (two nodes)",
  (mode) => {
    it("delivers a room channel's publication on the other node once, and never echoes it back", async () => {
      const key = randomKey();
      const a = redisBackend("native-a", key, mode);
      const b = redisBackend("native-b", key, mode);
      const sinkA = new RecordingSink();
      const sinkB = new RecordingSink();
      try {
        await a.start(sinkA);
        await b.start(sinkB);
        const room1 = roomChannel("/", "room1");
        const marker = roomChannel("/", "marker");
        await a.subscribe(room1);
        await a.subscribe(marker);
        await b.subscribe(room1);
        await b.subscribe(marker);
        await a.publish({ channel: room1, event: "message", args: [{ a: 1 }], except: "s1" });
        await a.publish({ channel: marker, event: "done", args: [] });
        await sinkB.received(2);
        // Published after B saw both, so it reaches A after any echo of A's own.
        await b.publish({ channel: marker, event: "fin", args: [] });
        await sinkA.received(3);
        const expected: Delivery[] = [
          { channel: room1, event: "message", args: [{ a: 1 }], except: "s1" },
          { channel: marker, event: "done", args: [] },
          { channel: marker, event: "fin", args: [] },
        ];
        expect(sinkB.deliveries).toEqual(expected);
        expect(sinkA.deliveries).toEqual(expected);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it("delivers nothing for a room channel the other node is not subscribed to", async () => {
      const key = randomKey();
      const a = redisBackend("native-a", key, mode);
      const b = redisBackend("native-b", key, mode);
      const sinkB = new RecordingSink();
      try {
        await a.start(new RecordingSink());
        await b.start(sinkB);
        const marker = roomChannel("/", "marker");
        await b.subscribe(marker);
        await a.publish({ channel: roomChannel("/", "elsewhere"), event: "message", args: [1] });
        await a.publish({ channel: marker, event: "done", args: [] });
        await sinkB.received(1);
        expect(sinkB.deliveries.map((d) => d.event)).toEqual(["done"]);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it("rejects arguments MessagePack cannot carry with SWY_NATIVE_REDIS_ENCODE_FAILED", async () => {
      const backend = redisBackend("native-encode", randomKey(), mode);
      try {
        await backend.start(new RecordingSink());
        await expect(
          backend.publish({ channel: roomChannel("/", "r"), event: "e", args: [10n] }),
        ).rejects.toMatchObject({ code: "SWY_NATIVE_REDIS_ENCODE_FAILED" });
      } finally {
        await backend.close();
      }
    });

    it("rejects a publication after close with SWY_NATIVE_REDIS_CLOSED", async () => {
      const backend = redisBackend("native-closed", randomKey(), mode);
      await backend.start(new RecordingSink());
      await backend.close();
      expect(backend.health().isReady).toBe(false);
      await expect(
        backend.publish({ channel: roomChannel("/", "r"), event: "e", args: [] }),
      ).rejects.toMatchObject({ code: "SWY_NATIVE_REDIS_CLOSED" });
    });
  },
);

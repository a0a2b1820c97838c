/**
 * Vector: while Redis was down, every room joined or left queued a subscription
 * command in the subscriber's unbounded offline queue (one per room in sharded mode),
 * and joins waited on it. Now nothing queues: the bus records what it wants and
 * subscribes it all when Redis is back, joins answer at once, publishes fail fast with
 * a message that names no host, and rooms joined during the outage work afterwards.
 */
import { expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { describeWithRedisServer, PrivateRedis } from "../helpers/redis-server.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

function config(url: string): string {
  return `
server:
  # Longer than the test's own limit: a join waiting on Redis would fail the test.
  joinTimeout: 60000
  limits: { eventBurst: 5000, eventsPerSecond: 5000, maxRoomsPerSocket: 5000 }
backends:
  native:
    kind: native
    settings: { redis: { url: "${url}", mode: sharded, subscriptionMode: dynamic, requestsTimeout: 500 } }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      leave: { action: leave, room: "{data.room}" }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;
}

async function until(harness: Harness, isReady: boolean): Promise<void> {
  for (;;) {
    const status = (await fetch(`${harness.url}/readyz`)).status;
    if ((status === 200) === isReady) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describeWithRedisServer("rooms joined and left while Redis is down", () => {
  const cleanup = useCleanup();

  it("answer at once, queue nothing, and are carried once Redis is back", async () => {
    const redis = await PrivateRedis.start();
    cleanup.add(() => redis.stop());
    const left = await Harness.start(config(redis.url));
    cleanup.add(() => left.close());
    const right = await Harness.start(config(redis.url));
    cleanup.add(() => right.close());
    const sender = await left.connect({ transports: ["websocket"] });
    const member = await right.connect({ transports: ["websocket"] });
    const churner = await right.connect({ transports: ["websocket"] });

    await redis.stop();
    await Promise.all([until(left, false), until(right, false)]);
    // Thousands of subscription changes: each answered now, none waiting for Redis.
    for (let round = 0; round < 2; round++) {
      const rooms = Array.from({ length: 1000 }, (_, n) => `room:churn-${n}`);
      const joined = await Promise.all(rooms.map((room) => churner.emitWithAck("join", { room })));
      expect(joined.every((ack) => (ack as { ok: boolean }).ok)).toBe(true);
      await Promise.all(rooms.map((room) => churner.emitWithAck("leave", { room })));
    }
    expect(await member.emitWithAck("join", { room: "room:during" })).toEqual({ ok: true });
    expect(await sender.emitWithAck("publish", { room: "room:during", payload: 0 })).toEqual({
      ok: false,
      error: { code: "SWY_NATIVE_REDIS_UNAVAILABLE", message: "Redis could not be reached" },
    });

    await redis.restart();
    await Promise.all([until(left, true), until(right, true)]);
    const got = next(member, "message");
    expect(await sender.emitWithAck("publish", { room: "room:during", payload: 1 })).toEqual({
      ok: true,
    });
    expect(await got).toEqual([1]);
  });
});

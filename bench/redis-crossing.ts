/**
 * What one broadcast costs each side of the Redis crossing, without sockets: the native
 * core's Redis bus (src/egress/native/redis/redis-cluster-bus.ts) publishing in this process,
 * and another bus receiving in a child process, both on the local Redis in the classic
 * dialect of @socket.io/redis-adapter, on a fresh random key.
 *
 *   npx tsx bench/redis-crossing.ts [--count 200000] [--inflight 1000] [--rounds 3]
 *     [--redis-url redis://127.0.0.1:6379] [--mode classic|sharded]
 *
 * - publisher: CPU of this process per publication (`process.cpuUsage`), from the first
 *   publish of a round until the receiver has the round's last: the encode, the PUBLISH and
 *   its reply, and this node's own copy coming back on its subscription (dropped unread);
 * - receiver: CPU of the child per broadcast, first to last of a round: reading, the
 *   own-message test, the decode and the checks, handing it to the node (here a sink that
 *   counts it; a real node then writes it to its members' sockets);
 * - Redis: the server's CPU per publication over the round (`INFO cpu`, user and system):
 *   taking the commands and sending every subscriber its messages.
 *
 * The publications are `io.to("room:<i % 100>").except(<a socket id>).emit("message", <100 B>)`,
 * as the cluster benchmark's publishers send them, `--inflight` at a time.
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pino from "pino";
import type { Delivery } from "../src/egress/backend.js";
import type { ClusterBroadcast, ClusterSink, ClusterSocket } from "../src/egress/cluster.js";
import { RedisClusterBus } from "../src/egress/native/redis/redis-cluster-bus.js";
import {
  type NativeRedisSettingsInput,
  resolveNativeRedisSettings,
} from "../src/egress/native/redis/redis-settings.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "200000" },
    inflight: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
    "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
    mode: { type: "string", default: "classic" },
    receiver: { type: "string" },
  },
});
const count = Number(values.count);
const ROOMS = 100;
const rounds = Number(values.rounds);

/** Counts the broadcasts another node sends; every other call is a no-op. */
class CountingSink implements ClusterSink {
  received = 0;
  onBroadcast: () => void = () => {};

  namespaces(): string[] {
    return ["/"];
  }
  deliver(_delivery: Delivery): void {}
  broadcast(_broadcast: ClusterBroadcast): void {
    this.received++;
    this.onBroadcast();
  }
  broadcastWithAck(_b: ClusterBroadcast, _t: number, onCount: (count: number) => void): void {
    onCount(0);
  }
  joinSockets(): void {}
  leaveSockets(): void {}
  disconnectSockets(): void {}
  fetchSockets(): ClusterSocket[] {
    return [];
  }
  rooms(): string[] {
    return [];
  }
  hasSocket(): boolean {
    return false;
  }
}

async function startedBus(name: string, key: string, sink: ClusterSink): Promise<RedisClusterBus> {
  const input = { url: values["redis-url"], key, mode: values.mode } as NativeRedisSettingsInput;
  const bus = new RedisClusterBus(
    name,
    resolveNativeRedisSettings(input),
    pino({ level: "silent" }),
    32,
  );
  await bus.start(sink, sink.namespaces());
  if (!bus.health().isReady) throw new Error(`the ${name} bus is not ready: is Redis up?`);
  return bus;
}

/** Redis's own CPU so far, in µs (`INFO cpu`: used_cpu_user + used_cpu_sys). */
async function redisCpuMicros(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1]);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

/** The child: counts every round's broadcasts and reports its CPU per broadcast. */
async function receive(key: string): Promise<void> {
  const sink = new CountingSink();
  const bus = await startedBus("receiver", key, sink);
  // It has members in every room (a node drops a room's messages unread when it has none).
  for (let room = 0; room < ROOMS; room++) await bus.addRoom("/", `room:${room}`);
  let started = process.cpuUsage();
  sink.onBroadcast = () => {
    if (sink.received === 1) started = process.cpuUsage();
    if (sink.received < count) return;
    process.send?.({ round: cpuMicros(started) / (count - 1) });
    sink.received = 0;
  };
  process.on("disconnect", () => {
    void bus.close().then(() => process.exit(0));
  });
  process.send?.({ ready: true });
}

async function publish(): Promise<void> {
  const key = `swy-bench-crossing-${randomBytes(4).toString("hex")}`;
  const child = fork(
    new URL(import.meta.url).pathname,
    [...process.argv.slice(2), "--receiver", key],
    {
      execArgv: process.execArgv,
    },
  );
  const messages: { ready?: boolean; round?: number }[] = [];
  let wake: (() => void) | undefined;
  child.on("message", (message: { ready?: boolean; round?: number }) => {
    messages.push(message);
    wake?.();
  });
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return messages.shift() as { ready?: boolean; round?: number };
  };
  const bus = await startedBus("publisher", key, new CountingSink());
  for (let room = 0; room < ROOMS; room++) await bus.addRoom("/", `room:${room}`);
  await next(); // ready
  const payload = "x".repeat(100);
  const except = [randomBytes(10).toString("base64url")];
  const inflight = Number(values.inflight);
  console.log(
    `${count.toLocaleString("en-US")} publications per round, ${inflight} in flight, ${values.mode} dialect, node ${process.version}`,
  );
  console.log("round  publisher µs/publication  receiver µs/broadcast  Redis µs/publication");
  const redis = new Redis(values["redis-url"]);
  for (let round = 1; round <= rounds; round++) {
    const redisStarted = await redisCpuMicros(redis);
    const started = process.cpuUsage();
    let sent = 0;
    await new Promise<void>((resolve, reject) => {
      let settled = 0;
      const one = () => {
        const i = sent++;
        bus.publish("/", `room:${i % ROOMS}`, except, "message", [payload]).then(() => {
          settled++;
          if (sent < count) one();
          else if (settled === count) resolve();
        }, reject);
      };
      for (let i = 0; i < Math.min(inflight, count); i++) one();
    });
    const { round: receiverMicros } = await next();
    const publisherMicros = cpuMicros(started) / count;
    const redisMicros = ((await redisCpuMicros(redis)) - redisStarted) / count;
    console.log(
      `${String(round).padEnd(6)} ${publisherMicros.toFixed(2).padStart(24)}  ${receiverMicros?.toFixed(2).padStart(21)}  ${redisMicros.toFixed(2).padStart(20)}`,
    );
  }
  redis.disconnect();
  child.disconnect();
  await bus.close();
}

if (values.receiver !== undefined) await receive(values.receiver);
else await publish();

/**
 * Vector: anyone who can write to the cluster's Redis can XADD whatever they like to
 * the stream a streams-mode node reads (or put a key of another type in its place).
 * Every such entry is counted and dropped on its own, nothing reaches a client, the
 * reader never stops or spins, and the good entries after it still arrive.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { encode as msgpackEncode } from "notepack.io";
import type { Counter } from "prom-client";
import { expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";
import { useCleanup } from "../helpers/cleanup.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const cleanup = useCleanup();

function config(key: string): string {
  return `
backends:
  native:
    kind: native
    settings:
      redis:
        url: "${REDIS_URL}"
        key: "${key}"
        mode: streams
        streamName: "${key}"
        # Short reads, so that a stream key replaced under the reader is met at once.
        blockTimeInMs: 200
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;
}

async function node(): Promise<{ key: string; writer: Redis; got: unknown[] }> {
  const key = `swy-hostile-streams-${randomBytes(6).toString("hex")}`;
  const harness = await Harness.start(config(key));
  cleanup.add(() => harness.close());
  const member = await harness.connect({ transports: ["websocket"] });
  await joinRoom(member, "room:h");
  const got: unknown[] = [];
  member.on("message", (payload: unknown) => got.push(payload));
  const writer = new Redis(REDIS_URL);
  cleanup.add(() => writer.disconnect());
  return { key, writer, got };
}

/** The `data` field of `io.to("room:h").emit("message", ...args)` as the adapter writes it. */
function broadcastData(args: string): string {
  return `{"packet":{"type":2,"data":["message",${args}],"nsp":"/"},"opts":{"rooms":["room:h"],"except":[],"flags":{}}}`;
}

function entry(data: string, nsp = "/"): string[] {
  return ["uid", "0123456789abcdef", "nsp", nsp, "type", "3", "data", data];
}

function base64(bytes: readonly number[] | Buffer): string {
  return Buffer.from(bytes).toString("base64");
}

async function total(counter: Counter, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([name, value]) => v.labels[name] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Resolves once `got` holds `payload`: it may have come before this was called. */
function arrives(got: readonly unknown[], payload: string): Promise<void> {
  return until(() => got.includes(payload), `message ${payload}`);
}

const DEEP = 10_000;

/** Entries the adapter would never write, each wrong in one way. */
const MALFORMED: readonly (readonly string[])[] = [
  ["nsp", "/", "type", "3", "data", broadcastData('"no uid"')],
  ["uid", "0123456789abcdef", "type", "3", "data", broadcastData('"no nsp"')],
  ["uid", "0123456789abcdef", "nsp", "/", "data", broadcastData('"no type"')],
  ["uid", "0123456789abcdef", "nsp", "/", "type", "three", "data", broadcastData('"bad type"')],
  ["uid", "0123456789abcdef", "nsp", "/", "type", "3"],
  entry("{not json"),
  entry("!!not base64!!"),
  entry(base64([0xc1])),
  entry(base64([0x82, 0xa6, 0x70, 0x61])),
  entry(base64(msgpackEncode(42) as Buffer)),
  entry(base64([0xdd, 0xff, 0xff, 0xff, 0xff])),
  entry(base64([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])),
  entry('{"packet":{"type":2,"data":"not an array","nsp":"/"},"opts":{}}'),
  entry('{"packet":{"type":2,"data":["message"],"nsp":"/"},"opts":{"rooms":[{}]}}'),
  entry(broadcastData(`${"[".repeat(DEEP)}${"]".repeat(DEEP)}`)),
  entry(base64(Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])]))),
  // Binary beside an attachment placeholder: a client would drop its connection.
  entry(
    base64(
      msgpackEncode({
        packet: { type: 2, data: ["message", Buffer.from([1]), { _placeholder: true, num: 0 }] },
        opts: { rooms: ["room:h"], except: [], flags: {} },
      }) as Buffer,
    ),
  ),
];

describeWithRedis("malformed entries on the stream of a streams-mode node", () => {
  it("are counted and dropped one by one, never reach a client, and the next good entry arrives", async () => {
    const { key, writer, got } = await node();
    const labels = { backend: "native" };
    const dropped = async (): Promise<number> =>
      (await total(metrics.nativeRedisReceiveErrors, { ...labels, reason: "malformed" })) +
      (await total(metrics.nativeRedisReceiveErrors, { ...labels, reason: "too_deep" }));
    const ignored = (): Promise<number> =>
      total(metrics.nativeRedisStreamIgnored, { ...labels, reason: "other_namespace" });
    const internal = (): Promise<number> => total(metrics.internalErrors, {});
    const [droppedBefore, ignoredBefore, internalBefore] = await Promise.all([
      dropped(),
      ignored(),
      internal(),
    ]);

    const batch = writer.multi();
    for (const fields of MALFORMED) batch.xadd(key, "*", ...fields);
    batch.xadd(key, "*", ...entry(broadcastData('"for another namespace"'), "/nowhere"));
    batch.xadd(key, "*", ...entry(broadcastData('"good"')));
    await batch.exec();
    await arrives(got, "good");

    expect(got).toEqual(["good"]);
    expect((await dropped()) - droppedBefore).toBe(MALFORMED.length);
    expect((await ignored()) - ignoredBefore).toBe(1);
    expect((await internal()) - internalBefore).toBe(0);
  });

  it("a key of another type in the stream's place is counted, retried after a pause, and reading goes on once it is a stream again", async () => {
    const { key, writer, got } = await node();
    const failures = (): Promise<number> =>
      total(metrics.nativeRedisStreamReadFailures, { backend: "native" });
    const before = await failures();
    await writer.multi().del(key).set(key, "not a stream").exec();
    await until(async () => (await failures()) > before, "a failed read to be counted");
    await writer
      .multi()
      .del(key)
      .xadd(key, "*", ...entry(broadcastData('"back"')))
      .exec();
    await arrives(got, "back");
    expect(got).toEqual(["back"]);
    // One read a pause, not a busy loop.
    expect((await failures()) - before).toBeLessThanOrEqual(3);
  });
});

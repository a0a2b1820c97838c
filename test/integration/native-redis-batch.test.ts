import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NativeBackend } from "../../src/egress/native/native-backend.js";
import {
  MAX_BATCH_COUNT,
  PublishBatch,
  type PublishBatchEvents,
} from "../../src/egress/native/redis/publish-batch.js";
import { resolveNativeRedisSettings } from "../../src/egress/native/redis/redis-settings.js";
import { roomChannel } from "../../src/egress/registry.js";
import { metrics } from "../../src/metrics.js";
import { RecordingSink } from "../contract/backend-contract.js";
import { useCleanup } from "../helpers/cleanup.js";
import { describeWithRedisServer, PrivateRedis } from "../helpers/redis-server.js";
import { within } from "../helpers/wait-for.js";

/**
 * The classic dialect's publications of one turn go to Redis as one script call
 * (src/egress/native/redis/publish-batch.ts). A private Redis, so that its command
 * counts and ACL users are this file's alone.
 */
describeWithRedisServer("publications batched per turn", () => {
  const cleanup = useCleanup();
  let server: PrivateRedis;
  let admin: Redis;

  beforeAll(async () => {
    server = await PrivateRedis.start();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  function connection(options: { username?: string; password?: string } = {}): Redis {
    const redis = new Redis(server.url, { ...options, enableOfflineQueue: false });
    cleanup.add(() => redis.disconnect());
    return redis;
  }

  async function ready(redis: Redis): Promise<Redis> {
    if (redis.status !== "ready") await within(once(redis, "ready"), "redis ready");
    return redis;
  }

  /** A subscriber that collects every message of `channel`, in order. */
  async function listener(
    channel: string,
  ): Promise<{ got: string[]; count(n: number): Promise<void> }> {
    const sub = await ready(connection());
    const got: string[] = [];
    let waiter: { n: number; resolve: () => void } | undefined;
    sub.on("message", (_channel: string, message: string) => {
      got.push(message);
      if (waiter !== undefined && got.length >= waiter.n) waiter.resolve();
    });
    await sub.subscribe(channel);
    return {
      got,
      count: (n) =>
        within(
          new Promise<void>((resolve) => {
            if (got.length >= n) resolve();
            else waiter = { n, resolve };
          }),
          `${n} messages on ${channel}`,
        ),
    };
  }

  /**
   * How many times Redis ran `command` to the end since it started (INFO commandstats:
   * `calls` less `failed_calls`).
   */
  async function calls(command: string): Promise<number> {
    const info = await admin.info("commandstats");
    const line = info.split("\r\n").find((l) => l.startsWith(`cmdstat_${command}:`));
    if (line === undefined) return 0;
    const field = (name: string) => Number(new RegExp(`\\b${name}=(\\d+)`).exec(line)?.[1] ?? 0);
    return field("calls") - field("failed_calls");
  }

  function channel(): string {
    return `batch-${randomBytes(4).toString("hex")}`;
  }

  /** A batch on a connection of the default user, and a listener of a fresh channel. */
  async function publishing() {
    const pub = await ready(connection());
    const told = new Told();
    const batch = new PublishBatch(() => pub, told);
    const name = channel();
    return { batch, told, name, sub: await listener(name) };
  }

  it("sends the publications of one turn in one script call, each delivered once and in order", async () => {
    const { batch, told, name, sub } = await publishing();
    const scripted = await calls("eval");
    const published = await calls("publish");

    const sent = Array.from({ length: 10 }, (_, i) => batch.add(name, `m${i}`));
    await Promise.all(sent);
    await sub.count(10);

    expect(sub.got).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(await calls("eval")).toBe(scripted + 1);
    // The script's PUBLISHes are counted as PUBLISH calls; no other PUBLISH was sent.
    expect(await calls("publish")).toBe(published + 10);
    expect(told.commands).toEqual({ eval: 1, publish: 0 });
  });

  it(`splits a turn's burst into calls of at most ${MAX_BATCH_COUNT}, in order`, async () => {
    const { batch, told, name, sub } = await publishing();
    const scripted = await calls("eval");
    const total = MAX_BATCH_COUNT * 2 + 5;

    await Promise.all(Array.from({ length: total }, (_, i) => batch.add(name, String(i))));
    await sub.count(total);

    expect(sub.got).toEqual(Array.from({ length: total }, (_, i) => String(i)));
    expect(await calls("eval")).toBe(scripted + 3);
    expect(told.commands).toEqual({ eval: 3, publish: 0 });
  });

  it("sends a lone publication as a plain PUBLISH", async () => {
    const { batch, told, name, sub } = await publishing();
    const scripted = await calls("eval");

    await batch.add(name, "alone");
    await sub.count(1);

    expect(sub.got).toEqual(["alone"]);
    expect(await calls("eval")).toBe(scripted);
    expect(told.commands).toEqual({ eval: 0, publish: 1 });
  });

  it("keeps order across batches in flight while Redis forgets its scripts (SCRIPT FLUSH)", async () => {
    const { batch, name, sub } = await publishing();
    const sent: Promise<void>[] = [];
    const flushes: Promise<unknown>[] = [];
    for (let turn = 0; turn < 6; turn++) {
      sent.push(batch.add(name, `${turn}a`), batch.add(name, `${turn}b`));
      if (turn % 2 === 1) flushes.push(admin.script("FLUSH"));
      // The next pair is the next turn's batch, sent before this one is answered.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([...sent, ...flushes]);
    await sub.count(12);

    expect(sub.got).toEqual([0, 1, 2, 3, 4, 5].flatMap((turn) => [`${turn}a`, `${turn}b`]));
  });

  it("falls back to one PUBLISH each, for good, when the Redis user may not run scripts", async () => {
    const username = `swy-noscript-${randomBytes(3).toString("hex")}`;
    await admin.acl("SETUSER", username, "on", ">secret", "~*", "&*", "+@all", "-@scripting");
    cleanup.add(() => admin.acl("DELUSER", username));
    const pub = await ready(connection({ username, password: "secret" }));
    const told = new Told();
    const batch = new PublishBatch(() => pub, told);
    const name = channel();
    const sub = await listener(name);

    await Promise.all([batch.add(name, "1"), batch.add(name, "2"), batch.add(name, "3")]);
    await Promise.all([batch.add(name, "4"), batch.add(name, "5")]);
    await sub.count(5);

    expect(sub.got).toEqual(["1", "2", "3", "4", "5"]);
    expect(told.refusals).toHaveLength(1);
    expect(told.refusals[0]?.message).toMatch(/^NOPERM/);
    // The refused call, then every publication as a PUBLISH.
    expect(told.commands).toEqual({ eval: 1, publish: 5 });
  });

  it("a node whose Redis user may not run scripts says so once and still reaches the other nodes, in order", async () => {
    const username = `swy-node-${randomBytes(3).toString("hex")}`;
    await admin.acl("SETUSER", username, "on", ">secret", "~*", "&*", "+@all", "-@scripting");
    cleanup.add(() => admin.acl("DELUSER", username));
    const key = `swy-batch-${randomBytes(4).toString("hex")}`;
    const lines: { level: number; msg: string }[] = [];
    const node = (name: string, url: string, log = pino({ level: "silent" })) => {
      const backend = new NativeBackend(name, {
        redis: resolveNativeRedisSettings({ url, key }),
        log,
      });
      cleanup.add(() => backend.close());
      return backend;
    };
    const restricted = `redis://${username}:secret@127.0.0.1:${server.port}`;
    const a = node(
      "native-noscript",
      restricted,
      pino({ level: "warn" }, { write: (text: string) => lines.push(JSON.parse(text)) }),
    );
    const b = node("native-peer", server.url);
    const sink = new RecordingSink();
    await a.start(new RecordingSink());
    await b.start(sink);
    const room = roomChannel("/", "room1");
    await a.subscribe(room);
    await b.subscribe(room);

    for (const turn of [0, 1]) {
      await Promise.all(
        [0, 1, 2].map((n) => a.publish({ channel: room, event: "m", args: [turn * 3 + n] })),
      );
    }
    await sink.received(6);

    expect(sink.deliveries.map((d) => d.args[0])).toEqual([0, 1, 2, 3, 4, 5]);
    const refusals = lines.filter((line) => line.msg.includes("Redis refuses scripts"));
    expect(refusals).toHaveLength(1);
    const { values } = await metrics.nativeRedisPublishCommands.get();
    const sent = (command: string) =>
      values.find((v) => v.labels.backend === "native-noscript" && v.labels.command === command)
        ?.value;
    expect([sent("eval"), sent("publish")]).toEqual([1, 6]);
  });

  it("settles each publication as its own PUBLISH would: refused from the channel Redis denies on", async () => {
    const username = `swy-channels-${randomBytes(3).toString("hex")}`;
    const open = channel();
    await admin.acl(
      "SETUSER",
      username,
      "on",
      ">secret",
      "~*",
      "resetchannels",
      `&${open}`,
      "+@all",
    );
    cleanup.add(() => admin.acl("DELUSER", username));
    const pub = await ready(connection({ username, password: "secret" }));
    const batch = new PublishBatch(() => pub, new Told());
    const sub = await listener(open);

    const outcomes = await Promise.allSettled([
      batch.add(open, "first"),
      batch.add(channel(), "denied"),
      batch.add(open, "after"),
    ]);

    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "rejected"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(
      /can't publish to the channel/,
    );
    // Nothing after the refusal was published: the next message is the next batch's.
    await batch.add(open, "next");
    await sub.count(2);
    expect(sub.got).toEqual(["first", "next"]);
  });

  it("rejects every publication of the batch when the connection is not there", async () => {
    const pub = connection();
    await ready(pub);
    pub.disconnect();
    const batch = new PublishBatch(() => pub, new Told());

    const outcomes = await Promise.allSettled([batch.add("x", "1"), batch.add("x", "2")]);

    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected"]);
  });
});

/** What a batch told: its refusals of scripts, and the commands it sent by kind. */
class Told implements PublishBatchEvents {
  readonly refusals: Error[] = [];
  readonly commands = { eval: 0, publish: 0 };

  scriptsRefused(error: Error): void {
    this.refusals.push(error);
  }

  sent(command: "eval" | "publish", count: number): void {
    this.commands[command] += count;
  }
}

function once(emitter: Redis, event: string): Promise<void> {
  return new Promise((resolve) => emitter.once(event, () => resolve()));
}

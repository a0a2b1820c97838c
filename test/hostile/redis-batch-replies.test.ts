/**
 * Vector: the Redis server (or something in its place) answers a batch of publications
 * (src/egress/native/redis/publish-batch.ts) with a reply the script never gives: a
 * count that is not the batch's, a refusal past the end, a string, an array nested
 * thousands deep. Each publication must settle with a clear outcome (none left
 * hanging, none claimed published on a reply that does not say so), nothing may
 * throw, and the next batch on the same connection must work.
 *
 * The server here speaks just enough RESP for ioredis: `+OK` to everything but the
 * script calls, whose answers the test chooses.
 */
import { once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PublishBatch } from "../../src/egress/native/redis/publish-batch.js";

/** A fake Redis whose answer to EVAL is the next of `scriptReplies` (raw RESP). */
class FakeRedis {
  readonly scriptReplies: string[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
    server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      let pending = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          const parsed = parseCommand(pending);
          if (parsed === undefined) break;
          pending = pending.subarray(parsed.length);
          socket.write(this.#answer(parsed.name));
        }
      });
    });
  }

  static async start(): Promise<FakeRedis> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return new FakeRedis(server);
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #answer(name: string): string {
    if (name === "EVAL") return this.scriptReplies.shift() ?? ":0\r\n";
    if (name === "PUBLISH") return ":1\r\n";
    if (name === "INFO") return "$9\r\nloading:0\r\n";
    return "+OK\r\n";
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** One complete RESP command at the front of `buffer`: its name and byte length. */
function parseCommand(buffer: Buffer): { name: string; length: number } | undefined {
  let at = 0;
  const line = (): string | undefined => {
    const end = buffer.indexOf("\r\n", at);
    if (end < 0) return undefined;
    const text = buffer.toString("latin1", at, end);
    at = end + 2;
    return text;
  };
  const header = line();
  if (header === undefined) return undefined;
  const count = Number(header.slice(1));
  let name = "";
  for (let i = 0; i < count; i++) {
    const size = line();
    if (size === undefined) return undefined;
    const length = Number(size.slice(1));
    if (buffer.length < at + length + 2) return undefined;
    if (i === 0) name = buffer.toString("latin1", at, at + length).toUpperCase();
    at += length + 2;
  }
  return { name, length: at };
}

function nestedArray(depth: number): string {
  return `${"*1\r\n".repeat(depth)}:1\r\n`;
}

describe("hostile replies to a batch of publications", () => {
  let fake: FakeRedis;
  let redis: Redis;
  let batch: PublishBatch;

  beforeEach(async () => {
    fake = await FakeRedis.start();
    redis = new Redis(fake.url, { enableOfflineQueue: false, commandTimeout: 2000 });
    await once(redis, "ready");
    batch = new PublishBatch(() => redis, {
      scriptsRefused: () => {
        throw new Error("no refusal of scripts is played here");
      },
      sent: () => {},
    });
  });
  afterEach(async () => {
    redis.disconnect();
    await fake.close();
  });

  async function outcomes(count: number): Promise<string[]> {
    const sent = Array.from({ length: count }, (_, i) => batch.add("channel", String(i)));
    const settled = await Promise.allSettled(sent);
    return settled.map((s) => s.status);
  }

  it.each([
    ["a count that is not the batch's", ":3\r\n"],
    ["a count past the batch", ":9\r\n"],
    ["a string", "$2\r\nok\r\n"],
    ["a refusal that claims more than the batch", "*2\r\n:7\r\n$4\r\nnope\r\n"],
    ["a refusal with a negative count", "*2\r\n:-1\r\n$4\r\nnope\r\n"],
    ["a refusal whose reason is not text", "*2\r\n:1\r\n:5\r\n"],
  ])(
    "%s: every publication of the batch is refused, and the next batch works",
    async (_, reply) => {
      fake.scriptReplies.push(reply, ":5\r\n");

      expect(await outcomes(5)).toEqual(Array(5).fill("rejected"));
      expect(await outcomes(5)).toEqual(Array(5).fill("fulfilled"));
    },
  );

  it("an array nested 100,000 deep: the batch is refused, the connection starts over, and the next batch works", async () => {
    // ioredis gives up on such a reply as on a broken connection: an `error` event (the
    // bus logs it), then a reconnection.
    const errors: Error[] = [];
    redis.on("error", (error: Error) => errors.push(error));
    fake.scriptReplies.push(nestedArray(100_000));
    // Not events.once: it would reject on the `error` event this reply causes.
    const reconnected = new Promise((resolve) => redis.once("ready", resolve));

    expect(await outcomes(5)).toEqual(Array(5).fill("rejected"));
    await reconnected;
    fake.scriptReplies.push(":5\r\n");
    expect(await outcomes(5)).toEqual(Array(5).fill("fulfilled"));
    expect(errors.map((e) => e.name)).toEqual(["RangeError"]);
  });

  it("a refusal within the batch: those before it published, it and those after refused", async () => {
    fake.scriptReplies.push("*2\r\n:2\r\n$26\r\nERR denied by the fake one\r\n");

    const sent = Array.from({ length: 5 }, (_, i) => batch.add("channel", String(i)));
    const settled = await Promise.allSettled(sent);

    expect(settled.map((s) => s.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "rejected",
      "rejected",
    ]);
    expect(String((settled[2] as PromiseRejectedResult).reason)).toContain(
      "denied by the fake one",
    );
  });
});

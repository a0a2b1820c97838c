/**
 * Vectors against recovery across nodes (docs/recovery.md), where kept sockets wait in
 * Redis (streams mode):
 * - a thief naming another client's pid on another node, without the owner's
 *   credentials, gets a new socket and leaves the kept one to its owner;
 * - a pid recovers once, on one node;
 * - forged session keys (not base64 MessagePack, not a map, another pid, rooms that
 *   are not names, data nested past `maxDepth`, oversize) and offsets the stream does
 *   not hold give a new socket, are counted, and the node serves everyone else;
 * - malformed or too deeply nested entries in the stream a client's missed broadcasts are
 *   read back from are passed over: the client gets the real ones, once.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { encode } from "notepack.io";
import type { Socket } from "socket.io-client";
import { expect, it } from "vitest";
import { nativeOnStreams } from "../helpers/backend-yaml.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  connected,
  recoveringClient,
  keptMember as sharedKeptMember,
} from "../helpers/recovery-client.js";
import { describeWithRedis, REDIS_URL, redisWatcher } from "../helpers/redis-server.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const cleanup = useCleanup();
const TOKEN = "recovery-store-hostile-token-0123456789";

async function node(key: string): Promise<Harness> {
  const harness = await Harness.start(`
server: { connectionStateRecovery: { maxDisconnectionDuration: 10000 } }
api: { token: "${TOKEN}" }
backends:
${nativeOnStreams(REDIS_URL, key)}
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`);
  cleanup.add(() => harness.close());
  return harness;
}

/** A client of `url` with `auth` (a forged `{pid, offset}` goes out as it is). */
function client(url: string, auth: Record<string, unknown>): Promise<Socket> {
  return recoveringClient(cleanup, url, auth);
}

function keptMember(
  harness: Harness,
  redis: Redis,
  auth: Record<string, unknown>,
): ReturnType<typeof sharedKeptMember> {
  return sharedKeptMember(cleanup, harness.url, TOKEN, redis, auth);
}

describeWithRedis("recovery across nodes against forged pids, offsets and session keys", () => {
  it("does not hand a kept socket to a thief on another node, and leaves it to its owner", async () => {
    const redis = redisWatcher(cleanup);
    const key = `swy-hostile-${randomBytes(6).toString("hex")}`;
    const a = await node(key);
    const b = await node(key);
    const owner = await keptMember(a, redis, { token: "owner-secret" });
    const ownerId = owner.id;

    // The pid and offset alone, or with other credentials: a new socket, nothing kept lost.
    for (const auth of [
      { pid: owner.pid, offset: owner.offset },
      { pid: owner.pid, offset: owner.offset, token: "guess" },
    ]) {
      const thief = await client(b.url, auth);
      expect(thief.recovered).toBe(false);
      expect(thief.id).not.toBe(ownerId);
    }
    expect(await b.metric(/^switchyard_recovery_total\{outcome="auth_changed"\} (\d+)/m)).toBe(2);
    expect(await redis.exists(`sio:session:${owner.pid}`)).toBe(1);

    // The owner comes back through B, once.
    (owner.socket.io as unknown as { uri: string }).uri = b.url;
    owner.socket.connect();
    await connected(owner.socket);
    expect(owner.socket.recovered).toBe(true);
    expect(owner.socket.id).toBe(ownerId);
    const replay = await client(a.url, {
      pid: owner.pid,
      offset: owner.offset,
      token: "owner-secret",
    });
    expect(replay.recovered).toBe(false);
    expect(replay.id).not.toBe(ownerId);
  });

  it("passes over malformed and too deep stream entries while it reads back what a client missed", async () => {
    const redis = redisWatcher(cleanup);
    const key = `swy-hostile-${randomBytes(6).toString("hex")}`;
    const a = await node(key);
    const b = await node(key);
    const kept = await keptMember(a, redis, {});
    const got: string[] = [];
    kept.socket.on("message", (text: string) => got.push(text));
    const deep: unknown = JSON.parse(`${"[".repeat(100)}${"]".repeat(100)}`);
    const entry = (data: string) => [
      "uid",
      "0123456789abcdef",
      "nsp",
      "/",
      "type",
      "3",
      "data",
      data,
    ];
    const broadcast = (args: unknown[]) =>
      JSON.stringify({
        packet: { type: 2, data: ["message", ...args], nsp: "/" },
        opts: { rooms: ["room:1"], except: [], flags: {} },
      });
    // Written straight to the stream while the client is away, between two real broadcasts.
    const publish = async (text: string) => {
      const res = await fetch(`${b.url}/api/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ room: "room:1", event: "message", args: [text] }),
      });
      expect(res.status).toBe(202);
    };
    await publish("first");
    for (const fields of [
      entry("%%%not json nor base64%%%"),
      entry("{not json"),
      entry(JSON.stringify({ packet: "not a packet" })),
      entry(broadcast([deep])),
      ["uid", "0123456789abcdef", "nsp", "/", "type", "3"],
      ["uid", "0123456789abcdef", "type", "3", "data", broadcast(["no namespace"])],
    ]) {
      await redis.xadd(key, "*", ...fields);
    }
    await publish("last");
    (kept.socket.io as unknown as { uri: string }).uri = b.url;
    kept.socket.connect();
    await connected(kept.socket);
    expect(kept.socket.recovered).toBe(true);
    // A live broadcast after them: once it is here, nothing else is on its way.
    await publish("after");
    await until(() => got.length >= 3, "the two missed broadcasts and a live one");
    expect(got).toEqual(["first", "last", "after"]);
  });

  it("gives a new socket for forged session keys and offsets the stream does not hold", async () => {
    const redis = redisWatcher(cleanup);
    const key = `swy-hostile-${randomBytes(6).toString("hex")}`;
    const harness = await node(key);
    const kept = await keptMember(harness, redis, {});
    const deep: unknown[] = [];
    let cursor = deep;
    for (let depth = 0; depth < 200; depth++) {
      const next: unknown[] = [];
      cursor.push(next);
      cursor = next;
    }
    const session = (fields: Record<string, unknown>, pid: string) =>
      encode({ sid: "forged-sid", pid, rooms: ["room:1"], data: {}, ...fields }).toString("base64");
    const forged: [string, (pid: string) => string][] = [
      ["not base64 msgpack", () => "%%%not-a-session%%%"],
      ["not a map", () => encode(["a", "list"]).toString("base64")],
      ["another pid", () => session({}, "someone-else")],
      ["rooms not names", (pid) => session({ rooms: [{ room: 1 }] }, pid)],
      ["data too deep", (pid) => session({ data: deep }, pid)],
      ["oversize", (pid) => session({ data: "x".repeat(400_000) }, pid)],
      ["swy not a map", (pid) => session({ swy: "switchyard" }, pid)],
    ];
    for (const [what, value] of forged) {
      const pid = `forged-${randomBytes(6).toString("hex")}`;
      await redis.set(`sio:session:${pid}`, value(pid), "PX", 10_000);
      const socket = await client(harness.url, { pid, offset: kept.offset });
      expect(socket.recovered, what).toBe(false);
      expect(socket.id, what).not.toBe("forged-sid");
    }
    expect(
      await harness.metric(
        /^switchyard_native_redis_receive_errors_total\{backend="native",reason="malformed"\} (\d+)/m,
      ),
    ).toBeGreaterThanOrEqual(forged.length - 1);

    // A real session with offsets the stream does not hold; the second is past what
    // Redis takes as an id, and is no offset at all (unknown_session).
    for (const offset of ["1-0", "99999999999999999999-99999999999999999999", "0-0"]) {
      const socket = await client(harness.url, { pid: kept.pid, offset });
      expect(socket.recovered, offset).toBe(false);
    }
    expect(await harness.metric(/^switchyard_recovery_total\{outcome="offset_gone"\} (\d+)/m)).toBe(
      2,
    );

    // The node serves everyone else as before.
    const other = await client(harness.url, {});
    await joinRoom(other, "room:1");
    expect(other.connected).toBe(true);
  });
});

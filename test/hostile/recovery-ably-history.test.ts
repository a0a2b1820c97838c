/**
 * Vectors against recovery across nodes for rooms on Ably (docs/recovery.md, "Across
 * nodes: rooms on Ably"), where another node reads what a client missed back from the
 * channels' history at the points its kept session names:
 * - a session without its history tail, or with a forged one (garbage, a point the
 *   channel's history does not hold, an attach serial Ably refuses) gives a new socket
 *   with a coded reason, and the rooms held for the read are released;
 * - anyone who may publish on the channel flooding it while the client is away costs the
 *   node at most `maxPackets` messages read (`too_many_missed`);
 * - Ably away when the client comes back: a new socket (`history_unavailable`) within the
 *   join timeout, not a hang;
 * - a drained node's clients all coming back together: at most 16 history reads at once,
 *   the rest waiting their turn;
 * and the node serves everyone else all along.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { decode, encode } from "notepack.io";
import { io, type Socket } from "socket.io-client";
import { expect, it } from "vitest";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { connectRealtime } from "../emulators/ably/test-support.js";
import { twoAblyNodes } from "../helpers/ably-recovery-nodes.js";
import { ablyOn, nativeOnStreams } from "../helpers/backend-yaml.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  collect,
  connected,
  cutAndPersist,
  publishText,
  reconnectThrough,
  recoveringClient,
  keptMember as sharedKeptMember,
} from "../helpers/recovery-client.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const cleanup = useCleanup();
const TOKEN = "ably-history-hostile-token-0123456789";

async function node(emulator: AblyEmulator, key: string): Promise<Harness> {
  const harness = await Harness.start(`
server:
  joinTimeout: 1000
  connectionStateRecovery: { maxDisconnectionDuration: 10000, maxPackets: 20 }
api: { token: "${TOKEN}" }
backends:
${nativeOnStreams(REDIS_URL, key)}
${ablyOn(emulator)}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: ably, channel: "room:{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`);
  cleanup.add(() => harness.close());
  return harness;
}

function client(url: string, auth: Record<string, unknown> = {}): Promise<Socket> {
  return recoveringClient(cleanup, url, auth);
}

/** A member of room:1 on `harness`, cut off and persisted, with its session as stored. */
async function keptMember(
  harness: Harness,
  redis: Redis,
): Promise<{ pid: string; offset: string; session: Record<string, unknown> }> {
  const { pid, offset } = await sharedKeptMember(cleanup, harness.url, TOKEN, redis);
  const raw = await redis.get(`sio:session:${pid}`);
  return { pid, offset, session: decode(Buffer.from(raw!, "base64")) as Record<string, unknown> };
}

/** Stores `session` with its history tail replaced under a new pid; returns the pid. */
async function forge(redis: Redis, session: Record<string, unknown>, h: unknown): Promise<string> {
  const pid = `forged-${randomBytes(6).toString("hex")}`;
  const swy = { ...(session.swy as Record<string, unknown>) };
  if (h === undefined) delete swy.h;
  else swy.h = h;
  await redis.set(
    `sio:session:${pid}`,
    encode({ ...session, pid, swy }).toString("base64"),
    "PX",
    10_000,
  );
  return pid;
}

/** A recovery outcome's count (the registry is the process's: both nodes count in it). */
function outcome(harness: Harness, name: string): Promise<number | undefined> {
  return harness.metric(
    new RegExp(`^switchyard_recovery_total\\{outcome="${name}"\\} (\\d+)`, "m"),
  );
}

/** The rooms of `/` on this node alone (held ones included), sockets' own ids left out. */
function heldRooms(harness: Harness): string[] {
  const names = harness.server.sio.namespace("/")?.roomNames() ?? [];
  return [...names].filter((room) => room.startsWith("room:"));
}

describeWithRedis("recovery of Ably rooms across nodes against forged tails and floods", () => {
  it("gives a new socket, with its reason, for sessions whose history tail is missing or forged", async () => {
    const { redis, emulator, a, b } = await twoAblyNodes(cleanup, node);
    const kept = await keptMember(a, redis);
    const h = (kept.session.swy as { h: { r: string[]; b: string[]; t: unknown[][] } }).h;
    const cases: [string, unknown, string][] = [
      ["no tail (as a socket.io node writes it)", undefined, "not_in_stream"],
      ["a tail that is not one", { r: "room:1", t: 7 }, "not_in_stream"],
      ["a tail for other rooms", { ...h, r: ["room:2"] }, "not_in_stream"],
      [
        "a point the channel's history does not hold",
        { ...h, t: [[kept.offset, h.t[0]![1], "no-such-message:0", 0]] },
        "offset_gone",
      ],
      [
        "an attach serial Ably refuses",
        { ...h, b: ["s:not-a-serial@0"], t: [[kept.offset, h.t[0]![1], "", 0]] },
        "history_unavailable",
      ],
    ];
    for (const [what, tail, reason] of cases) {
      const pid = await forge(redis, kept.session, tail);
      const before = (await outcome(b, reason)) ?? 0;
      const socket = await client(b.url, { pid, offset: kept.offset });
      expect(socket.recovered, what).toBe(false);
      expect(await outcome(b, reason), what).toBe(before + 1);
      // The forged session is left where it was: only a recovery takes a session.
      expect(await redis.exists(`sio:session:${pid}`), what).toBe(1);
      // Nothing held for the read stays: B has no member of room:1.
      expect(heldRooms(b), what).toEqual([]);
      socket.close();
    }

    // The real session still recovers on B, with what was published meanwhile.
    const native = await connectRealtime(emulator, cleanup, "json");
    await native.channels.get("room:1").publish("message", "while-away");
    const owner = io(b.url, {
      forceNew: true,
      transports: ["websocket"],
      reconnection: false,
      auth: { pid: kept.pid, offset: kept.offset },
    });
    cleanup.add(() => owner.close());
    const got: string[] = [];
    owner.on("message", (text: string) => got.push(text));
    await connected(owner);
    await until(() => got.length === 1, "the missed message");
    expect(got).toEqual(["while-away"]);
  });

  it("reads at most maxPackets back for a client whose room was flooded, and gives up at once when Ably is away", async () => {
    const { redis, emulator, a, b } = await twoAblyNodes(cleanup, node);
    const flooded = await keptMember(a, redis);
    const native = await connectRealtime(emulator, cleanup, "json");
    const channel = native.channels.get("room:1");
    // maxPackets is 20: 30 messages while the client is away are more than it reads.
    for (let n = 0; n < 30; n++) await channel.publish("message", `flood${n}`);
    const floods = (await outcome(b, "too_many_missed")) ?? 0;
    const socket = await client(b.url, { pid: flooded.pid, offset: flooded.offset });
    expect(socket.recovered).toBe(false);
    expect(await outcome(b, "too_many_missed")).toBe(floods + 1);
    expect(heldRooms(b)).toEqual([]);
    socket.close();

    const away = await keptMember(a, redis);
    await emulator.kill();
    const unavailable = (await outcome(b, "history_unavailable")) ?? 0;
    const started = Date.now();
    const late = await client(b.url, { pid: away.pid, offset: away.offset });
    expect(late.recovered).toBe(false);
    expect(await outcome(b, "history_unavailable")).toBe(unavailable + 1);
    // Within the join timeout (1 s) and a margin, not the client's own connect timeout.
    expect(Date.now() - started).toBeLessThan(5000);
    // B serves new clients all along.
    const fresh = await client(b.url);
    expect(fresh.connected).toBe(true);
  });

  it("reads at most 16 channel histories at once when a drained node's clients all come back together", async () => {
    const { redis, emulator, a, b } = await twoAblyNodes(cleanup, node);
    const members: Socket[] = [];
    for (let n = 0; n < 24; n++) members.push(await client(a.url));
    const got = members.map(collect);
    for (const member of members) {
      expect(await member.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    }
    await publishText(a.url, TOKEN, "room:1", "before");
    await until(
      () => got.every((messages) => messages.length === 1),
      "every member's first message",
    );
    for (const member of members) await cutAndPersist(member, redis);

    // Ably's REST API stops answering: the history reads B starts stay in flight.
    const release = emulator.holdRest();
    const requests = /^switchyard_ably_requests_total\{backend="ably"\} (\d+)/m;
    const before = (await b.metric(requests)) ?? 0;
    const back = members.map((member) => reconnectThrough(member, b.url));
    const reads = (state: string) =>
      b.metric(new RegExp(`^switchyard_recovery_history_reads\\{state="${state}"\\} (\\d+)`, "m"));
    await until(async () => (await reads("waiting")) === 8, "8 restores waiting their turn");
    expect(await reads("running")).toBe(16);
    expect(((await b.metric(requests)) ?? 0) - before).toBe(16);

    release();
    await Promise.all(back);
    for (const member of members) expect(member.recovered).toBe(true);
    expect(await reads("running")).toBe(0);
    // Each is in room:1 on B now, once.
    await publishText(b.url, TOKEN, "room:1", "after");
    await until(
      () => got.every((messages) => messages.length === 2),
      "every member's live message",
    );
    expect(new Set(got.map((messages) => messages.join()))).toEqual(new Set(["before,after"]));
  });
});

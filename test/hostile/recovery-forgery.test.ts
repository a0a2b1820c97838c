/**
 * Vectors against connection state recovery (docs/recovery.md): a client naming a
 * `pid` or an `offset` it was not given.
 * - another client's pid, while its owner is connected or after its transport was cut
 *   (without the owner's credentials), never hands over the owner's socket;
 * - malformed offsets (huge, not a string, from another process, out of range) give a
 *   new session and nothing else;
 * - a pid recovers once; the kept sockets are bounded by `maxSessions`.
 */
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { secretsOf } from "../helpers/recovery-client.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "recovery-hostile-token-0123456789abcdef";

const YAML = (maxSessions = 100) => `
server: { connectionStateRecovery: { maxSessions: ${maxSessions} } }
api: { token: "${TOKEN}" }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;

const kept = (harness: Harness) => harness.metric(/^switchyard_recovery_kept_sockets (\d+)/m);

describe("recovery against forged and replayed pids and offsets", () => {
  const cleanup = useCleanup();

  async function start(maxSessions?: number) {
    const harness = await Harness.start(YAML(maxSessions));
    cleanup.add(() => harness.close());
    return harness;
  }

  /** A client of `harness` with `auth`, in room:1, holding an offset. */
  async function member(harness: Harness, auth: Record<string, unknown> = {}): Promise<Socket> {
    const socket = await harness.connect({ transports: ["websocket"], auth });
    await joinRoom(socket, "room:1");
    const offset = new Promise<void>((resolve) => socket.once("message", () => resolve()));
    const res = await fetch(`${harness.url}/api/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ room: "room:1", event: "message", args: ["hi"] }),
    });
    expect(res.status).toBe(202);
    await offset;
    return socket;
  }

  async function cut(harness: Harness, socket: Socket, expectKept: number): Promise<void> {
    socket.io.engine.close();
    await until(async () => (await kept(harness)) === expectKept, "the socket kept");
  }

  it("does not hand a connected client's socket to whoever names its pid", async () => {
    const harness = await start();
    const owner = await member(harness);
    const thief = await harness.connect({ transports: ["websocket"], auth: secretsOf(owner) });
    expect(thief.recovered).toBeFalsy();
    expect(thief.id).not.toBe(owner.id);
    expect(owner.connected).toBe(true);
    expect(
      await harness.metric(/^switchyard_recovery_total\{outcome="unknown_session"\} (\d+)/m),
    ).toBeGreaterThanOrEqual(1);
  });

  it("needs the owner's credentials with its pid: a thief gets a new session, the owner still recovers", async () => {
    const harness = await start();
    const owner = await member(harness, { token: "owner-credential" });
    const secrets = secretsOf(owner);
    const id = owner.id;
    await cut(harness, owner, 1);
    const thief = await harness.connect({
      transports: ["websocket"],
      auth: { token: "thief-credential", ...secrets },
    });
    expect(thief.recovered).toBeFalsy();
    expect(thief.id).not.toBe(id);
    expect(await kept(harness)).toBe(1);

    owner.connect();
    await new Promise<void>((resolve) => owner.once("connect", () => resolve()));
    expect(owner.recovered).toBe(true);
    expect(owner.id).toBe(id);
  });

  it("recovers a pid once: the same pid and offset again find nothing", async () => {
    const harness = await start();
    const owner = await member(harness);
    const secrets = secretsOf(owner);
    await cut(harness, owner, 1);
    owner.connect();
    await new Promise<void>((resolve) => owner.once("connect", () => resolve()));
    expect(owner.recovered).toBe(true);
    const replay = await harness.connect({ transports: ["websocket"], auth: secrets });
    expect(replay.recovered).toBeFalsy();
    expect(replay.id).not.toBe(owner.id);
    expect(owner.connected).toBe(true);
  });

  it("answers malformed offsets with a new session, and never recovers from one", async () => {
    const harness = await start();
    const owner = await member(harness);
    const { pid, offset } = secretsOf(owner);
    await cut(harness, owner, 1);
    const forged: unknown[] = [
      "x".repeat(100_000),
      12,
      { seq: 1 },
      `${offset.slice(0, -1)}zzzzzzzzzzzzzzzz`,
      `AAAA.${offset.split(".")[1]}`,
      `${offset.split(".")[0]}.-1`,
      `${offset.split(".")[0]}.${Number.MAX_SAFE_INTEGER.toString(36)}`,
    ];
    for (const bad of forged) {
      const socket = io(harness.url, {
        forceNew: true,
        reconnection: false,
        transports: ["websocket"],
        auth: { pid: `${pid}-not`, offset: bad },
      });
      cleanup.add(() => socket.close());
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("connect_error", reject);
      });
      expect(socket.recovered, String(bad).slice(0, 20)).toBeFalsy();
    }
    // With the right pid but a bad offset: not recovered, and (the offset being gone)
    // the kept socket is released rather than kept for a replay.
    const wrong = io(harness.url, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: { pid, offset: "x".repeat(100_000) },
    });
    cleanup.add(() => wrong.close());
    await new Promise<void>((resolve) => wrong.once("connect", () => resolve()));
    expect(wrong.recovered).toBeFalsy();
    expect(await kept(harness)).toBe(0);
    expect((await fetch(`${harness.url}/readyz`)).status).toBe(200);
  });

  it("keeps at most maxSessions sockets, forgetting the oldest", async () => {
    const harness = await start(3);
    const members = [];
    for (let n = 0; n < 5; n++) members.push(await member(harness));
    const [firstId, lastId] = [members[0]!.id, members[4]!.id];
    const before = await harness.metric(/^switchyard_recovery_total\{outcome="forgotten"\} (\d+)/m);
    for (const [n, socket] of members.entries()) await cut(harness, socket, Math.min(n + 1, 3));
    expect(await kept(harness)).toBe(3);
    expect(await harness.metric(/^switchyard_recovery_total\{outcome="forgotten"\} (\d+)/m)).toBe(
      before + 2,
    );
    // The first was forgotten: it comes back as a new socket; the last recovers.
    const [first, last] = [members[0]!, members[4]!];
    first.connect();
    last.connect();
    await until(() => first.connected && last.connected, "both back");
    expect(first.recovered).toBeFalsy();
    expect(first.id).not.toBe(firstId);
    expect(last.recovered).toBe(true);
    expect(last.id).toBe(lastId);
  });
});

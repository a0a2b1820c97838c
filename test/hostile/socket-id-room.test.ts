/**
 * Vector: with no `allow` list, a client joined a room named after another socket's
 * id and received what the API addressed to that socket (socket.io treats a socket id
 * as a room). Now a join of a live socket's id is refused with SWY_ROOM_RESERVED, on
 * one node and across a cluster on Redis, and addressing a socket by id from the API
 * reaches that socket, also on a single node (it reached nobody).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { itWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const TOKEN = "socket-id-room-test-token-0123456789";

function config(redisKey?: string): string {
  const backends =
    redisKey === undefined
      ? ""
      : `backends:
  native: { kind: native, settings: { redis: { url: "${REDIS_URL}", key: "${redisKey}" } } }
`;
  return `${backends}api: { token: "${TOKEN}" }
namespaces:
  /:
    events:
      # No allow list, as in a careless file: any room name is accepted.
      join: { action: join, room: "{data.room}" }
`;
}

function publish(harness: Harness, room: string, payload: unknown): Promise<Response> {
  return fetch(`${harness.url}/api/v1/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ room, event: "private", args: [payload] }),
  });
}

const reserved = (id: string) => ({
  ok: false,
  error: { code: "SWY_ROOM_RESERVED", message: `Room '${id}' is the id of a connected socket` },
});

describe("a client joining a room named after another socket's id", () => {
  const cleanup = useCleanup();

  it("is refused on one node, and the API's message to that socket reaches it alone", async () => {
    const harness = await Harness.start(config());
    cleanup.add(() => harness.close());
    const victim = await harness.connect();
    const attacker = await harness.connect();
    const id = victim.id!;
    expect(await attacker.emitWithAck("join", { room: id })).toEqual(reserved(id));
    const seen: unknown[] = [];
    attacker.on("private", (payload: unknown) => seen.push(payload));
    const got = next(victim, "private");
    expect((await publish(harness, id, { secret: 1 })).status).toBe(202);
    expect(await got).toEqual([{ secret: 1 }]);
    // The attacker's own id still names the attacker: sent after, it arrives after.
    const own = next(attacker, "private");
    expect((await publish(harness, attacker.id!, "yours")).status).toBe(202);
    expect(await own).toEqual(["yours"]);
    expect(seen).toEqual(["yours"]);
    // Ordinary rooms are untouched, even ones shaped like an id once nobody holds it.
    expect(await attacker.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    expect(await attacker.emitWithAck("join", { room: "A".repeat(20) })).toEqual({ ok: true });
  });

  itWithRedis("is refused when the socket is on another node of the cluster", async () => {
    const key = `swy-test-${randomBytes(4).toString("hex")}`;
    const left = await Harness.start(config(key));
    cleanup.add(() => left.close());
    const right = await Harness.start(config(key));
    cleanup.add(() => right.close());
    const victim = await left.connect({ transports: ["websocket"] });
    const attacker = await right.connect({ transports: ["websocket"] });
    const id = victim.id!;
    expect(await attacker.emitWithAck("join", { room: id })).toEqual(reserved(id));
    // Addressed from the other node's API, the socket still gets it through Redis.
    const got = next(victim, "private");
    expect((await publish(right, id, "across")).status).toBe(202);
    expect(await got).toEqual(["across"]);
  });
});

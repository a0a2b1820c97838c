/**
 * Vector: one unauthenticated socket joined 200,000 rooms in 4 s (RSS 101 → 414 MB;
 * on Pusher or sharded Redis each is an upstream subscription). Now a join rule
 * refuses a socket's room past `maxRoomsPerSocket` with SWY_ROOM_LIMIT.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, next } from "../helpers/switchyard-harness.js";

const CONFIG = `
server:
  limits: { maxRoomsPerSocket: 50, eventBurst: 1000, eventsPerSecond: 1000 }
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
`;

type Ack = { ok: boolean; error?: { code: string; message: string } };

describe("a socket joining room after room", () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await Harness.start(CONFIG);
  });
  afterEach(() => harness.close());

  it("is refused past maxRoomsPerSocket with SWY_ROOM_LIMIT, while a bystander joins and hears", async () => {
    const attacker = await harness.connect({ transports: ["websocket"] });
    const acks = (await Promise.all(
      Array.from({ length: 80 }, (_, n) => attacker.emitWithAck("join", { room: `room:${n}` })),
    )) as Ack[];
    expect(acks.slice(0, 50).every((ack) => ack.ok)).toBe(true);
    expect(acks.slice(50)).toEqual(
      Array.from({ length: 30 }, () => ({
        ok: false,
        error: {
          code: "SWY_ROOM_LIMIT",
          message: "A socket may be in at most 50 rooms (limits.maxRoomsPerSocket)",
        },
      })),
    );
    // Joining a room it is already in costs nothing; leaving one makes room for another.
    expect(await attacker.emitWithAck("join", { room: "room:0" })).toEqual({ ok: true });
    expect(await attacker.emitWithAck("leave", { room: "room:0" })).toEqual({ ok: true });
    expect(await attacker.emitWithAck("join", { room: "room:60" })).toEqual({ ok: true });

    const bystander = await harness.connect({ transports: ["websocket"] });
    expect(await bystander.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    const got = next(bystander, "message");
    attacker.emit("publish", { room: "room:1", payload: "hello" });
    expect(await got).toEqual(["hello"]);
  });
});

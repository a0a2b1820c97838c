/**
 * Vector: no per-socket event rate limit, so one socket could make the node work for
 * it alone. Now each socket has a token bucket (`eventsPerSecond`, `eventBurst`): an
 * event past it is refused in its ack (SWY_RATE_LIMITED) and costs nothing more.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, next } from "../helpers/switchyard-harness.js";

const CONFIG = `
server:
  limits: { eventsPerSecond: 0.001, eventBurst: 20 }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
`;

type Ack = { ok: boolean; error?: { code: string; message: string } };

describe("a socket sending events as fast as it can", () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await Harness.start(CONFIG);
  });
  afterEach(() => harness.close());

  it("gets its burst, then SWY_RATE_LIMITED, and other sockets' budgets are their own", async () => {
    const attacker = await harness.connect({ transports: ["websocket"] });
    const acks = (await Promise.all(
      Array.from({ length: 50 }, (_, n) => attacker.emitWithAck("join", { room: `room:${n}` })),
    )) as Ack[];
    expect(acks.filter((ack) => ack.ok)).toHaveLength(20);
    expect(acks.slice(20)).toEqual(
      Array.from({ length: 30 }, () => ({
        ok: false,
        error: {
          code: "SWY_RATE_LIMITED",
          message: "More than 0.001 events per second (limits.eventsPerSecond); slow down",
        },
      })),
    );
    // Without an ack the refusal arrives as switchyard:error.
    const error = next(attacker, "switchyard:error");
    attacker.emit("publish", { room: "room:1", payload: 1 });
    expect(await error).toEqual([
      {
        event: "publish",
        code: "SWY_RATE_LIMITED",
        message: "More than 0.001 events per second (limits.eventsPerSecond); slow down",
      },
    ]);

    const bystander = await harness.connect({ transports: ["websocket"] });
    const listener = await harness.connect({ transports: ["websocket"] });
    expect(await bystander.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    expect(await listener.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    const got = next(listener, "message");
    bystander.emit("publish", { room: "room:1", payload: "fine" });
    expect(await got).toEqual(["fine"]);
  });
});

import type { Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, next } from "../helpers/switchyard-harness.js";

const CHAT = `
namespaces:
  /:
    events:
      join:
        action: join
        room: "{data.room}"
        allow: ["room:{id}", "lobby"]
        ack: { ok: true, room: "{room}", id: "{captures.id}" }
      leave:
        action: leave
        room: "{data.room}"
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}", "lobby"]
        emit: message
        args: ["{data.text}", { from: "{socket.id}" }]
      shout:
        action: broadcast
        room: "{data.room}"
        emit: shouted
        exceptSender: false
        requireMembership: false
      relay:
        action: broadcast
        room: "{data.room}"
        requireMembership: false
  /admin:
    events:
      join:
        action: join
        room: "{auth.team}"
`;

let harness: Harness;
afterEach(async () => {
  await harness.close();
});

type Transport = "polling" | "websocket";
const transports: [string, { transports: Transport[] }][] = [
  ["websocket", { transports: ["websocket"] }],
  ["polling", { transports: ["polling"] }],
  ["polling upgraded to websocket", { transports: ["polling", "websocket"] }],
];

describe("rooms through the mapping rules", () => {
  it.each(transports)(
    "a %s client joins a room and receives what another member says there",
    async (_, options) => {
      harness = await Harness.start(CHAT);
      const alice = await harness.connect({ ...options });
      const bob = await harness.connect({ ...options });
      expect(await alice.emitWithAck("join", { room: "room:7" })).toEqual({
        ok: true,
        room: "room:7",
        id: "7",
      });
      await bob.emitWithAck("join", { room: "room:7" });
      const received = next(bob, "message");
      expect(await alice.emitWithAck("say", { room: "room:7", text: "hi" })).toEqual({ ok: true });
      expect(await received).toEqual(["hi", { from: alice.id }]);
    },
  );

  it("leaves the sender out of its own broadcast unless the rule includes it", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect();
    const bob = await harness.connect();
    for (const s of [alice, bob]) await s.emitWithAck("join", { room: "lobby" });
    const seenByAlice: unknown[] = [];
    alice.on("message", (text) => seenByAlice.push(text));
    const bobGot = next(bob, "message");
    await alice.emitWithAck("say", { room: "lobby", text: "one" });
    await bobGot;
    // The shout reaches Alice too; the earlier "one" would have arrived before it.
    const shout = next(alice, "shouted");
    await alice.emitWithAck("shout", { room: "lobby", text: "two" });
    expect(await shout).toEqual([{ room: "lobby", text: "two" }]);
    expect(seenByAlice).toEqual([]);
  });

  it("forwards the client's arguments unchanged, binary included, when a rule has no args", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect({ transports: ["polling"] });
    const bob = await harness.connect({ transports: ["websocket"] });
    await bob.emitWithAck("join", { room: "room:1" });
    const got = next(bob, "relay");
    alice.emit("relay", { room: "room:1" }, Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] });
    const [first, buffer, nested] = await got;
    expect(first).toEqual({ room: "room:1" });
    expect(Buffer.from(buffer as ArrayBuffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(Buffer.from((nested as { nested: ArrayBuffer[] }).nested[0]!).toString()).toBe("x");
  });

  it("refuses a room outside the allow patterns with SWY_ROOM_NOT_ALLOWED", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect();
    expect(await alice.emitWithAck("join", { room: "admin:1" })).toEqual({
      ok: false,
      error: {
        code: "SWY_ROOM_NOT_ALLOWED",
        message: "Room 'admin:1' is not allowed by this rule",
      },
    });
  });

  it("refuses a broadcast from a non-member with SWY_ROOM_NOT_MEMBER, and delivers nothing", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect();
    const bob = await harness.connect();
    await bob.emitWithAck("join", { room: "room:2" });
    const seen: unknown[] = [];
    bob.on("message", (text) => seen.push(text));
    const reply = (await alice.emitWithAck("say", { room: "room:2", text: "x" })) as {
      error: { code: string };
    };
    expect(reply.error.code).toBe("SWY_ROOM_NOT_MEMBER");
    // A later broadcast that does arrive proves the refused one was not delivered.
    const shout = next(bob, "shouted");
    await alice.emitWithAck("shout", { room: "room:2" });
    await shout;
    expect(seen).toEqual([]);
  });

  it("answers a room that is not a string with SWY_ROOM_INVALID", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect();
    const reply = (await alice.emitWithAck("join", { room: 42 })) as { error: { code: string } };
    expect(reply.error.code).toBe("SWY_ROOM_INVALID");
    const missing = (await alice.emitWithAck("join", "not an object")) as {
      error: { code: string };
    };
    expect(missing.error.code).toBe("SWY_ROOM_INVALID");
  });

  it("answers an event no rule handles: in the ack, or as switchyard:error without one", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect();
    expect(await alice.emitWithAck("dance", 1)).toEqual({
      ok: false,
      error: { code: "SWY_EVENT_UNKNOWN", message: "No rule handles event 'dance'" },
    });
    const error = next(alice, "switchyard:error");
    alice.emit("dance");
    expect(await error).toEqual([
      { event: "dance", code: "SWY_EVENT_UNKNOWN", message: "No rule handles event 'dance'" },
    ]);
  });

  it("stops delivering to a socket that left the room", async () => {
    harness = await Harness.start(CHAT);
    const alice = await harness.connect();
    const bob = await harness.connect();
    for (const s of [alice, bob]) await s.emitWithAck("join", { room: "lobby" });
    const seen: unknown[] = [];
    bob.on("message", (text) => seen.push(text));
    await bob.emitWithAck("leave", { room: "lobby" });
    await alice.emitWithAck("say", { room: "lobby", text: "gone" });
    const shout = next(bob, "shouted");
    // Bob is no longer a member: only a broadcast that includes him proves ordering.
    await bob.emitWithAck("join", { room: "lobby" });
    await alice.emitWithAck("shout", { room: "lobby" });
    await shout;
    expect(seen).toEqual([]);
  });

  it("keeps rooms apart per namespace, and names rooms from the auth payload", async () => {
    harness = await Harness.start(CHAT);
    const admin = await harness.connect({ auth: { team: "lobby" } }, "/admin");
    expect(await admin.emitWithAck("join", {})).toEqual({ ok: true });
    const user = await harness.connect();
    await user.emitWithAck("join", { room: "lobby" });
    const seen: unknown[] = [];
    admin.onAny((event) => seen.push(event));
    const userSeen = next(user, "shouted");
    await user.emitWithAck("shout", { room: "lobby" });
    await userSeen;
    expect(seen).toEqual([]);
    expect(await admin.emitWithAck("say", {})).toMatchObject({
      error: { code: "SWY_EVENT_UNKNOWN" },
    });
  });

  it("delivers one broadcast exactly once to each of 500 members of a room", async () => {
    harness = await Harness.start(CHAT);
    const members: Socket[] = [];
    for (let i = 0; i < 500; i++)
      members.push(await harness.connect({ transports: ["websocket"] }));
    await Promise.all(members.map((s) => s.emitWithAck("join", { room: "room:big" })));
    const counts = new Map<Socket, number>();
    const allReceived = Promise.all(
      members.slice(1).map(
        (s) =>
          new Promise<void>((resolve) => {
            s.on("message", () => {
              counts.set(s, (counts.get(s) ?? 0) + 1);
              resolve();
            });
          }),
      ),
    );
    await members[0]!.emitWithAck("say", { room: "room:big", text: "hello all" });
    await allReceived;
    // A second broadcast, delivered after the first on every socket, flushes any duplicate.
    const marker = Promise.all(members.slice(1).map((s) => next(s, "shouted")));
    await members[0]!.emitWithAck("shout", { room: "room:big" });
    await marker;
    expect(counts.size).toBe(499);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  }, 60_000);
});

describe("the native core's broadcast", () => {
  it("reaches a socket in several target rooms once, and leaves the excepted socket out", async () => {
    harness = await Harness.start(CHAT);
    const [alice, bob, carol] = [
      await harness.connect(),
      await harness.connect({ transports: ["polling"] }),
      await harness.connect(),
    ];
    await alice.emitWithAck("join", { room: "room:1" });
    await alice.emitWithAck("join", { room: "room:2" });
    await bob.emitWithAck("join", { room: "room:2" });
    await carol.emitWithAck("join", { room: "room:1" });
    const nsp = harness.server.sio.namespace("/")!;
    const counts = { alice: 0, bob: 0, carol: 0 };
    alice.on("news", () => counts.alice++);
    bob.on("news", () => counts.bob++);
    carol.on("news", () => counts.carol++);
    const recipients = nsp.broadcast(
      { rooms: ["room:1", "room:2"], except: carol.id },
      "news",
      [1],
    );
    expect(recipients).toBe(2);
    // Namespace-wide: everyone, carol included, once; it arrives after the first broadcast.
    const done = Promise.all([alice, bob, carol].map((s) => next(s, "all")));
    expect(nsp.broadcast({ rooms: [] }, "all", [])).toBe(3);
    await done;
    expect(counts).toEqual({ alice: 1, bob: 1, carol: 0 });
  });
});

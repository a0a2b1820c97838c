import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { ChannelNaming } from "../../src/egress/channel-naming.js";
import { NativeBackend } from "../../src/egress/native/native-backend.js";
import { nativeFactory } from "../../src/egress/native/native-factory.js";
import { BackendRegistry } from "../../src/egress/registry.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const TOKEN = "routes-test-token-0123456789";

/** An in-process backend that names channels the way Pusher does, with a 24-character limit. */
const BUS_NAMING: ChannelNaming = {
  maxLength: 24,
  allowedText: "A-Z a-z 0-9 _ - = @ , . ;",
  escapeChar: "=",
  isAllowed: (char) => /^[A-Za-z0-9_\-=@,.;]$/.test(char),
};

/** Subscriptions that never settle, or that the service refuses. */
const NEVER = new Promise<void>(() => {});
const KINDS = new BackendRegistry()
  .register(nativeFactory)
  .register({
    kind: "bus",
    settingsSchema: { type: "object", additionalProperties: false, properties: {} },
    channelNaming: BUS_NAMING,
    create: (name) => new NativeBackend(name),
  })
  .register({
    kind: "silent",
    settingsSchema: { type: "object" },
    create: (name) => Object.assign(new NativeBackend(name), { subscribe: () => NEVER }),
  })
  .register({
    kind: "refusing",
    settingsSchema: { type: "object" },
    create: (name) =>
      Object.assign(new NativeBackend(name), {
        subscribe: () => Promise.reject(new Error("channel is disabled")),
      }),
  });

const RULES = `
    events:
      join: { action: join, room: "{data.room}" }
      publish: { action: broadcast, room: "{data.room}", emit: message, args: ["{data.payload}"] }`;

const YAML = `
api: { token: "\${TOKEN}" }
backends:
  bus: { kind: bus }
namespaces:
  /:
    auth: { jwt: { secret: "\${TOKEN}" } }
    join: ["user:{claims.sub}"]
    routes:
      - { room: "room:{id}", backend: bus, channel: "room-{id}" }
      - { room: "user:{id}", backend: bus, channel: "u-{id}" }
      - { room: "shout:{id}", backend: native, rename: { message: shout } }
${RULES}
`;

async function token(sub: string): Promise<string> {
  const { SignJWT } = await import("jose");
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(TOKEN));
}

type Ack = { ok: boolean; error?: { code: string; message: string } };

function emit(socket: Socket, event: string, data: unknown): Promise<Ack> {
  return socket.emitWithAck(event, data) as Promise<Ack>;
}

describe("routes: rooms carried on the backend and channel their route names", () => {
  const cleanup = useCleanup();

  async function start(): Promise<Harness> {
    const harness = await Harness.start(YAML, { TOKEN }, KINDS);
    cleanup.add(() => harness.close());
    return harness;
  }

  async function member(harness: Harness, sub: string, room: string): Promise<Socket> {
    const socket = await harness.connect({ auth: { token: await token(sub) } });
    expect(await emit(socket, "join", { room })).toEqual({ ok: true });
    return socket;
  }

  it("delivers a broadcast to a room on a routed backend to every other member once", async () => {
    const harness = await start();
    const [a, b, c] = await Promise.all(
      ["ann", "bob", "cy"].map((sub) => member(harness, sub, "room:1")),
    );
    const got = { a: [] as unknown[], b: [] as unknown[], c: [] as unknown[] };
    a!.on("message", (payload) => got.a.push(payload));
    b!.on("message", (payload) => got.b.push(payload));
    const cDone = new Promise<void>((resolve) => {
      c!.on("message", (payload) => {
        got.c.push(payload);
        if (got.c.length === 2) resolve();
      });
    });
    expect(await emit(a!, "publish", { room: "room:1", payload: { n: 1 } })).toEqual({ ok: true });
    expect(await emit(b!, "publish", { room: "room:1", payload: { n: 2 } })).toEqual({ ok: true });
    await cDone;
    // b's own publish reached a: what a holds is all that was sent to it, in order.
    await new Promise<void>((resolve) =>
      got.a.length > 0 ? resolve() : a!.once("message", () => resolve()),
    );
    expect(got).toEqual({ a: [{ n: 2 }], b: [{ n: 1 }], c: [{ n: 1 }, { n: 2 }] });
  });

  it("shows each room's backend and channel in the rooms API", async () => {
    const harness = await start();
    await member(harness, "ann", "room:7");
    await member(harness, "bob", "shout:1");
    await member(harness, "cy", "lobby");
    const res = await fetch(`${harness.url}/api/v1/rooms`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await res.json()) as { rooms: { room: string }[] };
    expect(body.rooms.sort((x, y) => x.room.localeCompare(y.room))).toEqual([
      { room: "lobby", members: 1, backend: "native" },
      { room: "room:7", members: 1, backend: "bus", channel: "room-7" },
      { room: "shout:1", members: 1, backend: "native" },
      { room: "user:ann", members: 1, backend: "bus", channel: "u-ann" },
      { room: "user:bob", members: 1, backend: "bus", channel: "u-bob" },
      { room: "user:cy", members: 1, backend: "bus", channel: "u-cy" },
    ]);
  });

  it("renames events on deliveries from a route with rename", async () => {
    const harness = await start();
    const [a, b] = await Promise.all(["ann", "bob"].map((sub) => member(harness, sub, "shout:1")));
    const shouted = next(b!, "shout");
    expect(await emit(a!, "publish", { room: "shout:1", payload: "hey" })).toEqual({ ok: true });
    expect(await shouted).toEqual(["hey"]);
  });

  it("refuses a join whose channel would be too long, with the lengths, and keeps the socket", async () => {
    const harness = await start();
    const socket = await member(harness, "ann", "room:1");
    const room = `room:${"é".repeat(6)}`; // each é escapes to =C3=A9: 5 + 36 characters
    expect(await emit(socket, "join", { room })).toEqual({
      ok: false,
      error: {
        code: "SWY_CHANNEL_INVALID",
        message: `Room '${room}' needs a channel of 41 characters on backend 'bus' (at most 24)`,
      },
    });
    expect(socket.connected).toBe(true);
    expect(await emit(socket, "join", { room: "room:2" })).toEqual({ ok: true });
  });

  it("refuses a connection whose auto-join room cannot have a channel", async () => {
    const harness = await start();
    const refusal = await harness.refusal({ auth: { token: await token("x".repeat(30)) } });
    expect(refusal.data).toEqual({ code: "SWY_CHANNEL_INVALID" });
    expect(refusal.message).toContain("at most 24");
  });

  it("acks a join only once the room's channel is subscribed, and refuses one never confirmed", async () => {
    const harness = await Harness.start(
      `
server: { joinTimeout: 100 }
backends:
  silent: { kind: silent }
  refusing: { kind: refusing }
namespaces:
  /:
    routes:
      - { room: "quiet:{id}", backend: silent }
      - { room: "closed:{id}", backend: refusing }
${RULES}
`,
      {},
      KINDS,
    );
    cleanup.add(() => harness.close());
    const [a, b] = [await harness.connect(), await harness.connect()];
    expect(await emit(a, "join", { room: "quiet:1" })).toEqual({
      ok: false,
      error: {
        code: "SWY_SUBSCRIBE_FAILED",
        message:
          "Room 'quiet:1' could not be subscribed on backend 'silent': no confirmation within 100 ms",
      },
    });
    expect(await emit(a, "join", { room: "closed:1" })).toEqual({
      ok: false,
      error: {
        code: "SWY_SUBSCRIBE_FAILED",
        message:
          // The backend's own words stay in the log: they may name hosts and ports.
          "Room 'closed:1' could not be subscribed on backend 'refusing': the backend refused it",
      },
    });
    // The failed joins left no membership behind: a member of neither room hears nothing of them.
    expect(await emit(b, "join", { room: "lobby" })).toEqual({ ok: true });
    expect(await emit(a, "join", { room: "lobby" })).toEqual({ ok: true });
    const heard = next(b, "message");
    expect(await emit(a, "publish", { room: "closed:1", payload: 1 })).toMatchObject({
      ok: false,
      error: { code: "SWY_ROOM_NOT_MEMBER" },
    });
    expect(await emit(a, "publish", { room: "lobby", payload: 2 })).toEqual({ ok: true });
    expect(await heard).toEqual([2]);
  });
});

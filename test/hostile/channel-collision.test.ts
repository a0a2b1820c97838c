/**
 * Vector: a client picks a room name whose channel is another room's channel, or a
 * channel the backend signs for. With captured text keeping `-`, `room:42-staff`
 * (route `room:{id}` → `private-room-{id}`) landed on `private-room-42-staff`, the
 * channel of `staff:42` (route `staff:{id}` → `private-room-{id}-staff`); a template
 * beginning with `{room}` let a client have the backend subscribe `private-…` and
 * `presence-…` channels of its choosing. Now a room's text keeps only letters and
 * digits, and the loader refuses files whose routes can still meet.
 */
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import { APP, restClient, startEmulator } from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { Harness, next } from "../helpers/switchyard-harness.js";
import { WAIT_LIMIT_MS } from "../helpers/wait-for.js";

const BACKEND = `
${pusherBackendYaml()}namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}", "staff:{id}", "*"] }
      say: { action: broadcast, room: "{data.room}", emit: message, args: ["{data.payload}"] }
    routes:`;

/** The routes of the issue: escaping keeps their channels apart. */
const ACCEPTED = `${BACKEND}
      - { room: "room:{id}", backend: pusher, channel: "private-room-{id}" }
      - { room: "staff:{id}", backend: pusher, channel: "private-room-{id}-staff" }
      - { room: "*", backend: pusher, channel: "public-{room}" }
`;

/** Routes whose channels still meet: room:staff42 and staff:42 would share one. */
const COLLIDING = `${BACKEND}
      - { room: "room:{id}", backend: pusher, channel: "private-room-{id}" }
      - { room: "staff:{id}", backend: pusher, channel: "private-room-staff{id}" }
`;

/** A catch-all whose channel a client would choose whole. */
const CLIENT_CHOSEN = `${BACKEND}
      - { room: "*", backend: pusher, channel: "{room}" }
`;

describe("a client choosing a room name to land on another room's channel", () => {
  const cleanup = useCleanup();

  async function start(emulator: PusherEmulator): Promise<Harness> {
    const harness = await Harness.start(ACCEPTED, pusherEnv(emulator));
    cleanup.add(() => harness.close());
    return harness;
  }

  async function member(harness: Harness, room: string): Promise<Socket> {
    const socket = await harness.connect();
    expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
    return socket;
  }

  /** Resolves once the bridge holds a subscription to each of `channels` on the emulator. */
  async function subscribed(emulator: PusherEmulator, channels: readonly string[]): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    const missing = () =>
      channels.filter((c) => (emulator.channels(APP.id)[c]?.subscriptionCount ?? 0) === 0);
    while (missing().length > 0) {
      if (Date.now() > deadline) throw new Error(`never subscribed: ${missing().join(", ")}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  function record(socket: Socket): unknown[] {
    const seen: unknown[] = [];
    socket.on("message", (payload: unknown) => seen.push(payload));
    return seen;
  }

  it("is refused at load when two routes can give one channel, with both lines named", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    await expect(Harness.start(COLLIDING, pusherEnv(emulator))).rejects.toThrow(
      "test.yaml:19:57 SWY_CFG_CHANNEL Channel template 'private-room-staff{id}' can produce the same channel as the route at line 18, such as 'private-room-staffx' (two rooms would share a channel on backend 'pusher': make the literal text of one tell them apart)",
    );
  });

  it("joining room:42-staff does not receive what members of staff:42 get; a member of staff:42 does", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await start(emulator);
    const attacker = await member(harness, "room:42-staff");
    const bystander = await member(harness, "staff:42");
    const colleague = await member(harness, "staff:42");
    await subscribed(emulator, ["private-room-42=2Dstaff", "private-room-42-staff"]);
    const stolen = record(attacker);
    const heard = record(bystander);

    // The app publishes to the staff channel, and a staff member broadcasts to the room.
    const fromApp = next(bystander, "message");
    await restClient(emulator).trigger("private-room-42-staff", "message", { text: "payroll" });
    expect(await fromApp).toEqual([{ text: "payroll" }]);
    const fromColleague = next(bystander, "message");
    expect(await colleague.emitWithAck("say", { room: "staff:42", payload: "raise" })).toEqual({
      ok: true,
    });
    expect(await fromColleague).toEqual(["raise"]);

    // Pusher delivers one connection's channels in order: the marker comes after both.
    const marker = next(attacker, "message");
    await restClient(emulator).trigger("private-room-42=2Dstaff", "message", { mark: "end" });
    expect(await marker).toEqual([{ mark: "end" }]);
    expect(stolen).toEqual([{ mark: "end" }]);
    expect(heard).toEqual([{ text: "payroll" }, "raise"]);
  });

  it("cannot make the backend subscribe a private- or presence- channel of its choosing", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    await expect(Harness.start(CLIENT_CHOSEN, pusherEnv(emulator))).rejects.toThrow(
      "test.yaml:18:48 SWY_CFG_CHANNEL Channel template '{room}' begins with {room}, so a room could choose the channel's prefix",
    );

    const harness = await start(emulator);
    const bystander = await member(harness, "room:1");
    const attacker = await member(harness, "private-admin");
    await member(harness, "presence-admin");
    await subscribed(emulator, [
      "private-room-1",
      "public-private=2Dadmin",
      "public-presence=2Dadmin",
    ]);
    const chosen = Object.keys(emulator.channels(APP.id)).filter((c) => c.endsWith("-admin"));
    expect(chosen).toEqual([]);

    const stolen = record(attacker);
    await restClient(emulator).trigger("private-admin", "message", { text: "secret" });
    const marker = next(attacker, "message");
    await restClient(emulator).trigger("public-private=2Dadmin", "message", { mark: "end" });
    expect(await marker).toEqual([{ mark: "end" }]);
    expect(stolen).toEqual([{ mark: "end" }]);

    const delivered = next(bystander, "message");
    await restClient(emulator).trigger("private-room-1", "message", { text: "still here" });
    expect(await delivered).toEqual([{ text: "still here" }]);
  });
});

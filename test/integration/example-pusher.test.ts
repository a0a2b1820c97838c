import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import {
  APP,
  connectClient,
  nextEvent,
  type Pusher,
  restClient,
  startEmulator,
  subscribe,
} from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { waitFor } from "../helpers/wait-for.js";

/** The example exactly as shipped; only the environment points it at the emulator. */
const EXAMPLE = readFileSync(
  new URL("../../examples/pusher/switchyard.yaml", import.meta.url),
  "utf8",
);

const cleanup = useCleanup();

async function startExample(emulator: PusherEmulator): Promise<Harness> {
  const harness = await Harness.start(EXAMPLE, {
    PUSHER_APP_ID: APP.id,
    PUSHER_KEY: APP.key,
    PUSHER_SECRET: APP.secret,
    PUSHER_HOST: emulator.host,
    PUSHER_PORT: String(emulator.port),
    PUSHER_USE_TLS: "false",
  });
  cleanup.add(() => harness.close());
  return harness;
}

function pusherJs(emulator: PusherEmulator): Promise<Pusher> {
  return connectClient(emulator, (task) => cleanup.add(task));
}

/** Subscribers of `channel` on the emulator right now. */
function subscribers(emulator: PusherEmulator, channel: string): number {
  return emulator.channels(APP.id)[channel]?.subscriptionCount ?? 0;
}

describe("examples/pusher/switchyard.yaml against the Pusher emulator", () => {
  it("a pusher-js client on private-room-1 receives what a Socket.IO client publishes to room:1, and the Socket.IO client receives what is triggered on private-room-1", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startExample(emulator);
    const native = await pusherJs(emulator);
    const channel = await subscribe(native, "private-room-1");
    const alice = await harness.connect();
    await joinRoom(alice, "room:1");
    // A join is acked once the node's subscription is confirmed: no wait needed.
    expect(subscribers(emulator, "private-room-1")).toBe(2);

    const onPusher = nextEvent(channel, "message");
    const ack = await alice.emitWithAck("publish", { room: "room:1", payload: { text: "hi" } });
    expect(ack).toEqual({ ok: true });
    expect(await onPusher).toEqual([{ text: "hi" }, expect.anything()]);

    const onSocketIo = waitFor(alice, "message");
    await restClient(emulator).trigger("private-room-1", "message", { text: "hello back" });
    expect(await onSocketIo).toEqual([{ text: "hello back" }]);
  });

  it("a client-message from a pusher-js client on private-room-1 reaches the Socket.IO members of room:1 as message", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startExample(emulator);
    const native = await pusherJs(emulator);
    const channel = await subscribe(native, "private-room-1");
    const alice = await harness.connect();
    const bob = await harness.connect();
    await joinRoom(alice, "room:1");
    await joinRoom(bob, "room:1");
    expect(subscribers(emulator, "private-room-1")).toBe(2);

    const received = Promise.all([waitFor(alice, "message"), waitFor(bob, "message")]);
    expect(channel.trigger("client-message", { text: "typing" })).toBe(true);
    expect(await received).toEqual([[{ text: "typing" }], [{ text: "typing" }]]);
  });

  it("a room no route names (lobby) stays on the native core: its members meet and nothing reaches Pusher", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await startExample(emulator);
    const alice = await harness.connect();
    const bob = await harness.connect();
    await joinRoom(alice, "lobby");
    await joinRoom(bob, "lobby");
    const received = waitFor(bob, "message");
    expect(await alice.emitWithAck("publish", { room: "lobby", payload: 7 })).toEqual({ ok: true });
    expect(await received).toEqual([7]);
    expect(Object.keys(emulator.channels(APP.id))).toEqual([]);
    expect(emulator.stats.published).toBe(0);
  });
});

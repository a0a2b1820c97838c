import { readFileSync } from "node:fs";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { connectRealtime, Inbox, KEY, startEmulator } from "../emulators/ably/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness, joinRoom, receives } from "../helpers/switchyard-harness.js";

/** The example exactly as shipped; only the environment points it at the emulator. */
const EXAMPLE = readFileSync(
  new URL("../../examples/ably/switchyard.yaml", import.meta.url),
  "utf8",
);

async function startExample(cleanup: Cleanup, emulator: AblyEmulator): Promise<Harness> {
  const harness = await Harness.start(EXAMPLE, {
    ABLY_KEY: KEY,
    ABLY_HOST: emulator.host,
    ABLY_PORT: String(emulator.port),
    ABLY_TLS: "false",
  });
  cleanup.add(() => harness.close());
  return harness;
}

/** Resolves with the next `message` on `socket`. */
function nextMessage(socket: Socket): Promise<unknown> {
  return new Promise((resolve) => socket.once("message", resolve));
}

describe("examples/ably/switchyard.yaml", () => {
  const cleanup = useCleanup();

  it("a Socket.IO member of room:42 and an ably client on channel room:42 see each other's message events exactly once", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await startExample(cleanup, emulator);
    const alice = await harness.connect({ transports: ["websocket"] });
    const bob = await harness.connect({ transports: ["websocket"] });
    await joinRoom(alice, "room:42");
    await joinRoom(bob, "room:42");
    const native = await connectRealtime(emulator, cleanup, "msgpack", { echoMessages: false });
    const channel = native.channels.get("room:42");
    const inbox = await Inbox.of(channel, "message");

    const seenByBob: unknown[] = [];
    bob.on("message", (payload: unknown) => seenByBob.push(payload));
    const atBob = nextMessage(bob);
    expect(
      await alice.emitWithAck("publish", { room: "room:42", payload: { text: "hi" } }),
    ).toEqual({ ok: true });
    expect(await atBob).toEqual({ text: "hi" });
    expect((await inbox.next(1))[0]?.data).toEqual({ text: "hi" });

    const atAlice = nextMessage(alice);
    await channel.publish("message", { text: "from ably" });
    expect(await atAlice).toEqual({ text: "from ably" });
    // One more from each side: anything doubled would have arrived before them.
    const lastAtBob = receives(bob, "last");
    await channel.publish("message", "last");
    await lastAtBob;
    expect(seenByBob).toEqual([{ text: "hi" }, { text: "from ably" }, "last"]);
    expect(inbox.messages.map((message) => message.data)).toEqual([{ text: "hi" }]);
  });

  it("keeps a room no route names (lobby) on the native core: nothing reaches Ably", async () => {
    const emulator = await startEmulator(cleanup);
    const harness = await startExample(cleanup, emulator);
    const alice = await harness.connect({ transports: ["websocket"] });
    const bob = await harness.connect({ transports: ["websocket"] });
    await joinRoom(alice, "lobby");
    await joinRoom(bob, "lobby");
    const got = nextMessage(bob);
    expect(await alice.emitWithAck("publish", { room: "lobby", payload: 7 })).toEqual({ ok: true });
    expect(await got).toBe(7);
    expect(emulator.stats.published).toBe(0);
  });
});

/**
 * Vectors: another user of the Pusher app (any holder of a channel authorisation)
 * sends client events Switchyard's members must not suffer from:
 * - data nested thousands of levels deep, well under Pusher's 10 KB: every Switchyard
 *   node subscribed to the channel used to recurse over it and throw outside any catch;
 * - an envelope whose binary attachments come with a placeholder naming none of them:
 *   delivered, it made every Socket.IO member's client drop its connection ("illegal
 *   attachments").
 * Now the backend drops such events, counts them and keeps delivering the channel.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";
import {
  APP,
  RawPusherSocket,
  restClient,
  startEmulator,
} from "../emulators/pusher/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { Harness, next } from "../helpers/switchyard-harness.js";
import { WAIT_LIMIT_MS } from "../helpers/wait-for.js";

const YAML = `
${pusherBackendYaml()}namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: pusher, channel: "private-room-{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;

const CHANNEL = "private-room-1";

async function drops(reason: string): Promise<number> {
  const { values } = await metrics.pusherReceiveErrors.get();
  return values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

/** A bridge on the emulator with a member of room:1, and an attacker on its channel. */
async function setUp(cleanup: Cleanup) {
  const emulator = await startEmulator((task) => cleanup.add(task));
  const harness = await Harness.start(YAML, pusherEnv(emulator));
  cleanup.add(() => harness.close());
  const alice = await harness.connect();
  expect(await alice.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
  const seen: unknown[] = [];
  alice.on("client-message", (payload: unknown) => seen.push(payload));

  // The attacker: any holder of a channel authorisation (here signed like the app would).
  const attacker = RawPusherSocket.open(emulator);
  cleanup.add(() => attacker.close());
  const socketId = await attacker.handshake();
  const signature = createHmac("sha256", APP.secret).update(`${socketId}:${CHANNEL}`).digest("hex");
  attacker.send({
    event: "pusher:subscribe",
    data: { channel: CHANNEL, auth: `${APP.key}:${signature}` },
  });
  expect((await attacker.next()).event).toBe("pusher_internal:subscription_succeeded");
  const subscribed = Date.now() + WAIT_LIMIT_MS;
  while ((emulator.channels(APP.id)[CHANNEL]?.subscriptionCount ?? 0) < 2) {
    if (Date.now() > subscribed) throw new Error("the bridge never subscribed");
    await new Promise((resolve) => setImmediate(resolve));
  }
  /** Sends `data` as a client event, then a fine one; resolves once alice has the fine one. */
  const sendThenFine = async (data: string): Promise<void> => {
    attacker.socket.send(JSON.stringify({ event: "client-message", channel: CHANNEL, data }));
    // Sent after it on the same connection, so it arrives after it.
    const fine = next(alice, "client-message");
    attacker.send({
      event: "client-message",
      channel: CHANNEL,
      data: JSON.stringify({ text: "fine" }),
    });
    expect(await fine).toEqual([{ text: "fine" }]);
  };
  return { emulator, alice, seen, sendThenFine };
}

describe("client events other users of the Pusher app send", () => {
  const cleanup = useCleanup();

  it("nested thousands of levels deep: dropped and counted, the room's members keep receiving", async () => {
    const { emulator, alice, seen, sendThenFine } = await setUp(cleanup);
    const before = await drops("too_deep");
    // 2,500 levels in 5 KB: a string, relayed by Pusher as it is, parsed by pusher-js.
    await sendThenFine(`${"[".repeat(2500)}${"]".repeat(2500)}`);
    expect(seen).toEqual([{ text: "fine" }]);
    expect(await drops("too_deep")).toBe(before + 1);

    const fromApp = next(alice, "message");
    await restClient(emulator).trigger(CHANNEL, "message", { text: "from the app" });
    expect(await fromApp).toEqual([{ text: "from the app" }]);
  });

  it("binary next to a placeholder naming no attachment: dropped, and no member is disconnected", async () => {
    const { alice, seen, sendThenFine } = await setUp(cleanup);
    const before = await drops("malformed");
    await sendThenFine(
      JSON.stringify({
        $switchyard: 1,
        args: [
          { _placeholder: true, num: 0 },
          { _placeholder: true, num: 7 },
        ],
        attachments: ["AQ=="],
      }),
    );
    expect(seen).toEqual([{ text: "fine" }]);
    expect(alice.connected).toBe(true);
    expect(await drops("malformed")).toBe(before + 1);
  });
});

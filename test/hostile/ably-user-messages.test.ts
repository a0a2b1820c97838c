/**
 * Vectors: another user of the Ably app (any holder of a key that may publish on the
 * channel) sends messages Switchyard's members must not suffer from: data nested
 * thousands of levels deep (JSON, which the SDK parses without limit), and an envelope
 * whose binary attachments come with a placeholder naming none of them (a Socket.IO
 * client would drop its connection over it). The backend drops both, counts them, and
 * keeps delivering the channel.
 */
import * as Ably from "ably";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { clientOptions, KEY, startEmulator } from "../emulators/ably/test-support.js";
import { ablyOn } from "../helpers/backend-yaml.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";

function yaml(emulator: AblyEmulator): string {
  return `
backends:
${ablyOn(emulator)}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: ably, channel: "room:{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;
}

async function drops(reason: string): Promise<number> {
  const { values } = await metrics.ablyReceiveErrors.get();
  return values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

/** A bridge with a member of room:1 that records what it receives. */
async function setUp(cleanup: Cleanup) {
  const emulator = await startEmulator(cleanup);
  const harness = await Harness.start(yaml(emulator));
  cleanup.add(() => harness.close());
  const alice: Socket = await harness.connect({ transports: ["websocket"] });
  expect(await alice.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
  const seen: unknown[] = [];
  alice.on("message", (payload: unknown) => seen.push(payload));
  const rest = new Ably.Rest(clientOptions(emulator, "json"));
  const channel = rest.channels.get("room:1");
  /** Resolves once alice has the fine message sent after whatever came before. */
  const fine = async (): Promise<void> => {
    const got = new Promise<void>((resolve) => {
      const listener = (payload: unknown): void => {
        if ((payload as { text?: unknown } | null)?.text !== "fine") return;
        alice.off("message", listener);
        resolve();
      };
      alice.on("message", listener);
    });
    await channel.publish("message", { text: "fine" });
    await got;
  };
  return { emulator, alice, seen, channel, fine };
}

describe("messages other users of the Ably app publish", () => {
  const cleanup = useCleanup();

  it("nested thousands of levels deep: dropped and counted, the room's members keep receiving", async () => {
    const { emulator, seen, fine } = await setUp(cleanup);
    const before = await drops("too_deep");
    // Raw REST, as any client may send it: the SDK on the bridge parses the JSON whole.
    const deep = `${"[".repeat(3000)}${"]".repeat(3000)}`;
    const response = await fetch(
      `http://${emulator.host}:${emulator.port}/channels/${encodeURIComponent("room:1")}/messages`,
      {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(KEY).toString("base64")}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ name: "message", data: deep, encoding: "json" }),
      },
    );
    expect(response.status).toBe(201);
    await fine();
    expect(seen).toEqual([{ text: "fine" }]);
    expect(await drops("too_deep")).toBe(before + 1);
  });

  it("binary next to a placeholder naming no attachment: dropped, and no member is disconnected", async () => {
    const { alice, seen, channel, fine } = await setUp(cleanup);
    const before = await drops("malformed");
    await channel.publish("message", {
      $switchyard: 1,
      args: [
        { _placeholder: true, num: 0 },
        { _placeholder: true, num: 7 },
      ],
      attachments: ["AQ=="],
    });
    await fine();
    expect(seen).toEqual([{ text: "fine" }]);
    expect(alice.connected).toBe(true);
    expect(await drops("malformed")).toBe(before + 1);
  });
});

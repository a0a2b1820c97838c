/**
 * Vector: one socket fills a managed backend's publish queue, which every socket
 * shares, so everyone else's broadcasts fail with SWY_PUSHER_QUEUE_FULL. Now a socket's
 * publications waiting for the backend are capped (`maxPublishesPerSocket`): its own
 * extra ones are refused with SWY_PUBLISH_BUSY and the others' still go through.
 */
import { describe, expect, it } from "vitest";
import { startEmulator } from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { Harness } from "../helpers/switchyard-harness.js";

const YAML = `
server:
  limits: { maxPublishesPerSocket: 5 }
${pusherBackendYaml("      publishTimeout: 10000")}namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: pusher, channel: "room-{id}" }
    events:
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        requireMembership: false
`;

type Ack = { ok: boolean; error?: { code: string; message: string } };

describe("one socket flooding a Pusher backend's publish queue", () => {
  const cleanup = useCleanup();

  it("gets SWY_PUBLISH_BUSY past its share while another socket's publication is accepted", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const harness = await Harness.start(YAML, pusherEnv(emulator));
    cleanup.add(() => harness.close());
    const attacker = await harness.connect();
    const bystander = await harness.connect();
    // Pusher slows down: nothing the backend sends is answered for now.
    const release = emulator.holdRest();
    cleanup.add(release);

    const flood = Array.from(
      { length: 10 },
      (_, n) => attacker.emitWithAck("say", { room: `room:${n}` }) as Promise<Ack>,
    );
    const refused = await Promise.all(flood.slice(5));
    expect(refused).toEqual(
      Array.from({ length: 5 }, () => ({
        ok: false,
        error: {
          code: "SWY_PUBLISH_BUSY",
          message: "5 publications of this socket are still waiting for their backend",
        },
      })),
    );
    const theirs = bystander.emitWithAck("say", { room: "room:99" }) as Promise<Ack>;

    release();
    expect(await Promise.all(flood.slice(0, 5))).toEqual(
      Array.from({ length: 5 }, () => ({ ok: true })),
    );
    expect(await theirs).toEqual({ ok: true });
    // Its share freed, the attacker may publish again.
    expect(await attacker.emitWithAck("say", { room: "room:1" })).toEqual({ ok: true });
  });
});

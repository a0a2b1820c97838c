/**
 * Rooms moved between backends by hot reloads while they carry a steady stream: every
 * publication a backend accepted reaches the room's other members once, whatever reload
 * happens meanwhile (moves are make-before-break, and a publication still on its way to
 * the old backend is delivered when it is accepted). Native, Pusher and Ably (on their
 * emulators), each move between two of them.
 */
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import {
  KEY as ABLY_KEY,
  startEmulator as startAblyEmulator,
} from "../emulators/ably/test-support.js";
import { startEmulator } from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { Harness } from "../helpers/switchyard-harness.js";

const ROOMS = 20;

type Kind = "native" | "pusher" | "ably";

/** The order the room visits the kinds in: every move between two kinds happens. */
const TOUR: readonly Kind[] = [
  "pusher",
  "ably",
  "native",
  "ably",
  "pusher",
  "native",
  "pusher",
  "ably",
];

function config(backend: Kind, ably: AblyEmulator): string {
  const target =
    backend === "native"
      ? `{ room: "room:{id}", backend: native }`
      : backend === "pusher"
        ? `{ room: "room:{id}", backend: pusher, channel: "room-{id}" }`
        : `{ room: "room:{id}", backend: ably, channel: "room:{id}" }`;
  return `
server:
  limits: { eventsPerSecond: 1000, eventBurst: 1000 }
${pusherBackendYaml()}  ably:
    kind: ably
    settings: { key: "${ABLY_KEY}", host: "${ably.host}", port: ${ably.port}, tls: false }
namespaces:
  /:
    routes:
      - ${target}
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
`;
}

type Ack = { ok: boolean; error?: { code: string } };

describe("rooms moving between backends under load", () => {
  const cleanup = useCleanup();

  it("lose nothing and duplicate nothing across moves between native, Pusher and Ably", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const ably = await startAblyEmulator(cleanup);
    const env = pusherEnv(emulator);
    const harness = await Harness.start(config("native", ably), env);
    cleanup.add(() => harness.close());

    const senders: Socket[] = [];
    const received = new Map<number, number[]>();
    const lastArrivals: Promise<void>[] = [];
    for (let room = 0; room < ROOMS; room++) {
      const sender = await harness.connect({ transports: ["websocket"] });
      const receiver = await harness.connect({ transports: ["websocket"] });
      for (const socket of [sender, receiver]) {
        expect(await socket.emitWithAck("join", { room: `room:${room}` })).toEqual({ ok: true });
      }
      const got: number[] = [];
      received.set(room, got);
      lastArrivals.push(
        new Promise((resolve) => {
          receiver.on("message", (payload: { n: number }) => {
            if (payload.n === -1) resolve();
            else got.push(payload.n);
          });
        }),
      );
      senders.push(sender);
    }

    // Each sender publishes in turn, one at a time per room, while the route flips.
    const accepted = new Map<number, number[]>();
    let isFlowing = true;
    let total = 0;
    let waiter: { count: number; resolve(): void } | undefined;
    /** Resolves once `more` publications have been accepted from now on. */
    const untilAccepted = (more: number) =>
      new Promise<void>((resolve) => {
        waiter = { count: total + more, resolve };
      });
    const streams = senders.map(async (sender, room) => {
      const sent: number[] = [];
      accepted.set(room, sent);
      for (let n = 0; isFlowing; n++) {
        const ack = (await sender.emitWithAck("publish", {
          room: `room:${room}`,
          payload: { n },
        })) as Ack;
        expect(ack).toEqual({ ok: true });
        sent.push(n);
        total += 1;
        if (waiter !== undefined && total >= waiter.count) {
          waiter.resolve();
          waiter = undefined;
        }
      }
    });
    for (const kind of TOUR) {
      // Traffic on the current backend, then the move while it keeps flowing.
      await untilAccepted(ROOMS * 3);
      const { config: next, diagnostics } = loadConfigFromString(
        config(kind, ably),
        "test.yaml",
        env,
      );
      if (next === undefined) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
      const summary = await harness.server.reload(next);
      expect(summary.movedRooms).toBe(ROOMS);
    }
    await untilAccepted(ROOMS * 3);
    isFlowing = false;
    await Promise.all(streams);

    // A last message per room, after everything: what came before it has arrived.
    await Promise.all(
      senders.map((sender, room) =>
        sender.emitWithAck("publish", { room: `room:${room}`, payload: { n: -1 } }),
      ),
    );
    await Promise.all(lastArrivals);
    for (let room = 0; room < ROOMS; room++) {
      expect(received.get(room), `room:${room}`).toEqual(accepted.get(room));
    }
    expect(total).toBeGreaterThanOrEqual(ROOMS * 3 * (TOUR.length + 1));
  });
});

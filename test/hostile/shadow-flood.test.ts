/**
 * Vectors against shadowing (docs/shadow.md):
 * - another user of the shadow's provider publishes on a shadowed room's shadow channel,
 *   fast: none of it may reach a member, and the comparator's memory stays within
 *   `limits.maxShadowPending` (what it cannot keep is shed and counted, and the
 *   verdict says the evidence is incomplete);
 * - a shadow provider that stops answering: the senders' acks do not wait for it, and
 *   what exceeds `limits.maxShadowWrites` is dropped and counted;
 * - the report and its reset behind the API token.
 */
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { ShadowReport } from "../../src/router/shadow/report.js";
import { restClient, startEmulator } from "../emulators/pusher/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { shadowReport } from "../helpers/shadow-report.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "shadow-hostile-token-0123456789abcdef";
const CHANNEL = "private-room-1";

function yaml(limits: string): string {
  return `
server: { limits: { ${limits} } }
api: { token: "\${TOKEN}" }
${pusherBackendYaml()}namespaces:
  /:
    routes:
      - room: "room:{id}"
        backend: native
        shadow: { backend: pusher, channel: "private-room-{id}", window: 2000, verdict: { minMessages: 1 } }
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

async function start(cleanup: Cleanup, limits: string) {
  const emulator = await startEmulator((task) => cleanup.add(task));
  const harness = await Harness.start(yaml(limits), { TOKEN, ...pusherEnv(emulator) });
  cleanup.add(() => harness.close());
  const alice = await harness.connect({ transports: ["websocket"] });
  expect(await alice.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
  await until(
    () => (emulator.channels("1")[CHANNEL]?.subscriptionCount ?? 0) === 1,
    "the bridge subscribed the shadow channel",
  );
  return { emulator, harness, alice };
}

async function get(harness: Harness, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${harness.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...init.headers },
  });
}

function report(harness: Harness): Promise<ShadowReport> {
  return shadowReport(harness, TOKEN);
}

function heard(socket: Socket): unknown[] {
  const list: unknown[] = [];
  socket.on("message", (payload: unknown) => list.push(payload));
  return list;
}

describe("shadowing against a hostile provider and its other users", () => {
  const cleanup = useCleanup();

  it("a flood on the shadow channel reaches no member; the comparator keeps at most maxShadowPending", async () => {
    const { emulator, harness, alice } = await start(cleanup, "maxShadowPending: 50");
    const seen = heard(alice);
    const rest = restClient(emulator);
    const flood = Array.from({ length: 150 }, (_, n) => ({
      channel: CHANNEL,
      name: "message",
      data: JSON.stringify({ flood: n }),
    }));
    for (let i = 0; i < flood.length; i += 10) await rest.triggerBatch(flood.slice(i, i + 10));
    // Everything received was either kept (50) or shed (100), then decided as extra.
    await until(
      async () => (await report(harness)).routes[0]?.counts.extra === 50,
      "the kept ones decided as extra",
    );
    const [route] = (await report(harness)).routes;
    expect(route!.counts.extra).toBe(50);
    expect(route!.verdict).toBe("insufficient-data");
    expect(route!.reasons).toEqual([expect.stringMatching(/^100 messages were not compared/)]);
    expect(
      await harness.metric(/^switchyard_shadow_shed_total\{route="\/ room:\{id\}"\} (\d+)$/m),
    ).toBe(100);
    // A publication after the flood: alice is a member but the sender (except-sender),
    // so she hears nothing at all; nothing of the flood reached her either.
    expect(await alice.emitWithAck("publish", { room: "room:1", payload: "after" })).toEqual({
      ok: true,
    });
    expect(seen).toEqual([]);

    // A reset gives a clean window: the next messages are compared again.
    expect((await get(harness, "/api/v1/shadow/reset", { method: "POST" })).status).toBe(200);
    const bob = await harness.connect({ transports: ["websocket"] });
    expect(await bob.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    expect(await alice.emitWithAck("publish", { room: "room:1", payload: 1 })).toEqual({
      ok: true,
    });
    await until(
      async () => (await report(harness)).routes[0]?.counts.matched === 1,
      "the next message matched",
    );
    expect((await report(harness)).routes[0]!.verdict).not.toBe("not-ready");
  });

  it("a provider that stops answering never holds a sender; writes past maxShadowWrites are dropped, counted", async () => {
    const { emulator, harness, alice } = await start(cleanup, "maxShadowWrites: 2");
    const release = emulator.holdRest();
    cleanup.add(release);
    const acks = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        alice.emitWithAck("publish", { room: "room:1", payload: n }),
      ),
    );
    expect(acks).toEqual(Array.from({ length: 10 }, () => ({ ok: true })));
    const [route] = (await report(harness)).routes;
    expect(route!.counts.shadowDropped).toBe(8);
    expect(
      await harness.metric(
        /^switchyard_shadow_messages_total\{route="\/ room:\{id\}",outcome="shadowDropped"\} (\d+)$/m,
      ),
    ).toBe(8);
    release();
  });

  it("keeps the report and its reset behind the API token", async () => {
    const { harness } = await start(cleanup, "eventsPerSecond: 100");
    for (const [path, method] of [
      ["/api/v1/shadow", "GET"],
      ["/api/v1/shadow/reset", "POST"],
    ] as const) {
      const none = await fetch(`${harness.url}${path}`, { method });
      expect(none.status).toBe(401);
      expect(await none.json()).toMatchObject({ code: "SWY_API_UNAUTHORIZED" });
      const wrong = await fetch(`${harness.url}${path}`, {
        method,
        headers: { authorization: "Bearer not-the-token" },
      });
      expect(wrong.status).toBe(401);
    }
    const wrongMethod = await get(harness, "/api/v1/shadow/reset");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
  });
});

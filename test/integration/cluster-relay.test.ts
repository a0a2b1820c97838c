import { randomBytes } from "node:crypto";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { itWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { RoundRobin } from "../helpers/round-robin.js";
import { connectV2Client, emitWithAckV2 } from "../helpers/sio-client-v2.js";
import { Harness } from "../helpers/switchyard-harness.js";

const RULES = `
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true, room: "{room}" } }`;

/** Two nodes of one cluster (a registry key of this test's own) or two unrelated nodes. */
function yaml(key: string | undefined): string {
  const cluster =
    key === undefined ? "" : `cluster: { redis: "${REDIS_URL}", key: ${key}, nodeTtl: 3000 }\n`;
  return `server: { allowEIO3: true }\n${cluster}namespaces:\n  /:${RULES}\n`;
}

describe("no sticky sessions: a round-robin balancer in front of a cluster", () => {
  const cleanup = useCleanup();

  async function cluster(key: string | undefined, options: { upgradesTo?: number } = {}) {
    const nodes = [await Harness.start(yaml(key)), await Harness.start(yaml(key))];
    for (const node of nodes) cleanup.add(() => node.close());
    const urls = nodes.map((node) => node.url);
    const upgrades = options.upgradesTo === undefined ? urls : [urls[options.upgradesTo]!];
    const balancer = await RoundRobin.start(urls, { upgrades });
    cleanup.add(() => balancer.close());
    return { nodes, balancer };
  }

  function client(url: string, transports: ("polling" | "websocket")[]): Socket {
    const socket = io(url, { forceNew: true, reconnection: false, transports });
    cleanup.add(() => socket.close());
    return socket;
  }

  /** Relays counted so far (the metrics registry is one per process: both nodes of a test count in it). */
  async function relayed(node: Harness, transport: "polling" | "websocket"): Promise<number> {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    const line = new RegExp(
      `^switchyard_relayed_requests_total\\{transport="${transport}"\\} (\\d+)`,
      "m",
    );
    return Number(line.exec(text)?.[1] ?? 0);
  }

  // A cluster needs the shared Redis: skipped without it (test/setup/redis.ts says so).
  itWithRedis(
    "keeps a polling session working while every request lands on the other node in turn",
    async () => {
      const { nodes, balancer } = await cluster(`swy-relay-${randomBytes(4).toString("hex")}`);
      const before = await relayed(nodes[0]!, "polling");
      const socket = client(balancer.url, ["polling"]);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      for (let i = 0; i < 10; i++) {
        expect(await socket.emitWithAck("join", { room: `room:${i}` })).toEqual({
          ok: true,
          room: `room:${i}`,
        });
      }
      expect(socket.connected).toBe(true);
      expect(balancer.counts.every((n) => n > 5)).toBe(true);
      expect((await relayed(nodes[0]!, "polling")) - before).toBeGreaterThan(5);
    },
  );

  itWithRedis(
    "relays a WebSocket upgrade that lands on the node that does not own the session",
    async () => {
      // HTTP alternates between the nodes; every upgrade goes to node 1, so the sessions
      // node 0 made must be upgraded through the relay.
      const key = `swy-relay-${randomBytes(4).toString("hex")}`;
      const { nodes, balancer } = await cluster(key, { upgradesTo: 1 });
      const before = await relayed(nodes[0]!, "websocket");
      for (let i = 0; i < 4; i++) {
        const socket = client(balancer.url, ["polling", "websocket"]);
        await new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("connect_error", reject);
        });
        await new Promise<void>((resolve) => {
          if (socket.io.engine.transport.name === "websocket") resolve();
          else socket.io.engine.once("upgrade", () => resolve());
        });
        expect(await socket.emitWithAck("join", { room: "lobby" })).toEqual({
          ok: true,
          room: "lobby",
        });
      }
      expect((await relayed(nodes[0]!, "websocket")) - before).toBeGreaterThan(0);
    },
  );

  it("without a cluster block the same balancer breaks polling sessions (why the relay exists)", async () => {
    const { balancer } = await cluster(undefined);
    const socket = client(balancer.url, ["polling"]);
    const outcome = await new Promise<string>((resolve) => {
      socket.once("connect_error", (error) => resolve(`connect_error ${error.message}`));
      socket.once("disconnect", (reason) => resolve(`disconnect ${reason}`));
      socket.once("connect", () => {
        socket.emitWithAck("join", { room: "a" }).catch(() => {});
      });
    });
    expect(outcome).toMatch(/^(connect_error|disconnect) /);
  });

  itWithRedis.each(["polling", "upgrade"] as const)(
    "keeps socket.io 2.x clients' sessions too (%s)",
    async (mode) => {
      const { balancer } = await cluster(`swy-relay-${randomBytes(4).toString("hex")}`);
      const socket = await connectV2Client(cleanup, balancer.url, mode);
      for (let i = 0; i < 6; i++) {
        expect(await emitWithAckV2(socket, "join", { room: `room:${i}` })).toEqual([
          { ok: true, room: `room:${i}` },
        ]);
      }
      expect(socket.connected).toBe(true);
    },
  );
});

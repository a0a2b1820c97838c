import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import { Server } from "socket.io";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useCleanup, useFileCleanup } from "../helpers/cleanup.js";
import {
  describeWithRedis,
  itWithRedis,
  itWithRedisServer,
  PrivateRedis,
  REDIS_URL,
} from "../helpers/redis-server.js";
import { RoundRobin } from "../helpers/round-robin.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { SwitchyardProcess } from "../helpers/switchyard-process.js";
import { within } from "../helpers/wait-for.js";

const CONFIG = "examples/cluster/switchyard.yaml";

type Ack = { ok: boolean; error?: { code: string } };

/** Cluster processes and their environment: a key space of this run's own on the shared Redis. */
function clusterEnv(redisUrl: string): Record<string, string> {
  const suffix = randomBytes(4).toString("hex");
  return {
    REDIS_URL: redisUrl,
    SOCKET_IO_KEY: `swy-e2e-${suffix}`,
    SWITCHYARD_CLUSTER_KEY: `swy-e2e-nodes-${suffix}`,
    LOG_LEVEL: "info", // the harness reads the port from the "listening" line
  };
}

/**
 * A socket.io 4.8 server with @socket.io/redis-adapter: the same join/publish
 * contract as examples/cluster (`publish` → `socket.to(room).emit("message", payload)`).
 */
async function socketIoNode(key: string) {
  const pub = new Redis(REDIS_URL);
  const sub = pub.duplicate();
  const httpServer = createServer();
  const io = new Server(httpServer);
  io.adapter(createAdapter(pub, sub, { key }));
  io.on("connection", (socket) => {
    socket.on("join", async ({ room }: { room: string }, ack?: (a: Ack) => void) => {
      await socket.join(room);
      await sub.ping(); // the adapter's subscriptions for the room are in place
      ack?.({ ok: true });
    });
    socket.on("publish", ({ room, payload }: { room: string; payload: unknown }) => {
      socket.to(room).emit("message", payload);
    });
  });
  httpServer.listen(0, "127.0.0.1");
  await once(httpServer, "listening");
  await sub.ping();
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  return {
    io,
    pub,
    url,
    async close() {
      await new Promise((resolve) => io.close(resolve));
      pub.disconnect();
      sub.disconnect();
    },
  };
}

async function member(url: string, room: string, transports = ["websocket"]): Promise<Socket> {
  const client = connect(url, { forceNew: true, reconnection: false, transports });
  await new Promise<void>((resolve, reject) => {
    client.once("connect", resolve);
    client.once("connect_error", reject);
  });
  expect(((await client.emitWithAck("join", { room })) as Ack).ok).toBe(true);
  return client;
}

/** Every `message` a client receives, in order. */
function inbox(client: Socket): unknown[] {
  const got: unknown[] = [];
  client.on("message", (payload) => got.push(payload));
  return got;
}

/** Resolves once `client` has received a `message` equal to `payload`. */
function receives(client: Socket, payload: unknown): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const check = (got: unknown) => {
        if (JSON.stringify(got) !== JSON.stringify(payload)) return;
        client.off("message", check);
        resolve();
      };
      client.on("message", check);
    }),
    `${JSON.stringify(payload)} at ${client.id}`,
  );
}

describeWithRedis(
  "a cluster: three Switchyard processes, a socket.io server with the Redis adapter, and the emitter",
  () => {
    const files = useFileCleanup();
    const cleanup = useCleanup();
    const env = clusterEnv(REDIS_URL);
    let nodes: SwitchyardProcess[] = [];
    let socketIo: Awaited<ReturnType<typeof socketIoNode>>;
    let urls: string[] = [];

    beforeAll(async () => {
      nodes = await Promise.all([0, 1, 2].map(() => SwitchyardProcess.start(CONFIG, env)));
      for (const node of nodes) files.add(() => node.stop());
      socketIo = await socketIoNode(env.SOCKET_IO_KEY!);
      files.add(() => socketIo.close());
      urls = [...nodes.map((node) => node.url), socketIo.url];
    });
    afterAll(() => files.run());

    async function members(room: string, perServer: number): Promise<Socket[][]> {
      return Promise.all(
        urls.map((url) =>
          Promise.all(
            Array.from({ length: perServer }, async () => {
              const client = await member(url, room);
              cleanup.add(() => client.close());
              return client;
            }),
          ),
        ),
      );
    }

    it("delivers a broadcast from any node to every other member on every node, exactly once", async () => {
      const room = `room:${randomBytes(3).toString("hex")}`;
      const room1 = await members(room, 2);
      const room2 = await members(`room:other-${randomBytes(3).toString("hex")}`, 1);
      const inboxes = new Map([...room1.flat(), ...room2.flat()].map((c) => [c, inbox(c)]));

      // One publisher per server: Switchyard nodes 0, 1, 2 and the socket.io server.
      const arrivals: Promise<void>[] = [];
      for (const [s, servers] of room1.entries()) {
        const payload = { from: s };
        for (const client of room1.flat()) {
          if (client !== servers[0]) arrivals.push(receives(client, payload));
        }
        servers[0]!.emit("publish", { room, payload });
      }
      await Promise.all(arrivals);
      // A last message through every server: anything duplicated would have arrived before it.
      const last = { from: "last" };
      const lastArrivals = room1
        .flat()
        .slice(1)
        .map((client) => receives(client, last));
      room1[0]![0]!.emit("publish", { room, payload: last });
      await Promise.all(lastArrivals);

      for (const [s, servers] of room1.entries()) {
        for (const [i, client] of servers.entries()) {
          const got = inboxes.get(client)!.filter((p) => (p as { from: unknown }).from !== "last");
          const expected = [0, 1, 2, 3].filter((from) => !(from === s && i === 0));
          expect(got.map((p) => (p as { from: number }).from).sort()).toEqual(expected);
        }
      }
      for (const client of room2.flat()) expect(inboxes.get(client)).toEqual([]);
    });

    it("takes the emitter's emit, socketsJoin, socketsLeave and disconnectSockets on every node", async () => {
      const suffix = randomBytes(3).toString("hex");
      const group = await members(`room:group-${suffix}`, 1);
      const all = group.flat();
      const emitter = new Emitter(socketIo.pub, { key: env.SOCKET_IO_KEY! });

      const hello = { from: "emitter" };
      const arrived = Promise.all(all.map((client) => receives(client, hello)));
      emitter.to(`room:group-${suffix}`).emit("message", hello);
      await arrived;

      emitter.in(`room:group-${suffix}`).socketsJoin(`extra:${suffix}`);
      // socketsJoin has no answer: a message to the new room shows when every node applied it.
      const extra = { from: "extra" };
      const viaExtra = Promise.all(all.map((client) => receives(client, extra)));
      const send = setInterval(() => emitter.to(`extra:${suffix}`).emit("message", extra), 50);
      try {
        await viaExtra;
      } finally {
        clearInterval(send);
      }

      const gone = Promise.all(
        all.map((client) => within(new Promise((r) => client.once("disconnect", r)), "disconnect")),
      );
      emitter.in(`room:group-${suffix}`).disconnectSockets();
      expect(await gone).toEqual(all.map(() => "io server disconnect"));
    });

    it("carries a burst from one client across Redis whole and in order, to socket.io and to the other nodes", async () => {
      // Publications of one turn leave in batches (src/egress/native/redis/publish-batch.ts);
      // the socket.io server and the other nodes must still read one broadcast per message.
      const room = `room:burst-${randomBytes(3).toString("hex")}`;
      const group = await members(room, 1);
      const [publisher, ...rest] = group.flat();
      const inboxes = rest.map((client) => inbox(client));
      const count = 180; // within the socket's event burst (200)
      const last = { n: count - 1 };
      const arrived = Promise.all(rest.map((client) => receives(client, last)));
      for (let n = 0; n < count; n++) publisher!.emit("publish", { room, payload: { n } });
      await arrived;
      const expected = Array.from({ length: count }, (_, n) => ({ n }));
      for (const got of inboxes) expect(got).toEqual(expected);
    });

    it("lets the socket.io server exclude a Switchyard socket, or reach it alone by its id", async () => {
      const suffix = randomBytes(3).toString("hex");
      const group = await members(`room:x-${suffix}`, 1);
      const [left, ...rest] = group.flat();
      const got = inbox(left!);
      const payload = { from: "io", n: 1 };
      const arrived = Promise.all(rest.map((client) => receives(client, payload)));
      socketIo.io.to(`room:x-${suffix}`).except(left!.id!).emit("message", payload);
      await arrived;
      // Directed at the excluded socket alone, by id, from the socket.io server.
      const direct = { from: "io", n: 2 };
      const reached = receives(left!, direct);
      socketIo.io.to(left!.id!).emit("message", direct);
      await reached;
      expect(got).toEqual([direct]);
    });

    it("counts every node, socket and room of the cluster in GET /api/v1/cluster", async () => {
      const token = "cluster-api-token-0123456789";
      const yaml = `
api: { token: "${token}" }
backends:
  native: { kind: native, settings: { redis: { url: "${REDIS_URL}", key: "${env.SOCKET_IO_KEY}" } } }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}" }
`;
      const harness = await Harness.start(yaml);
      cleanup.add(() => harness.close());
      const room = `room:count-${randomBytes(3).toString("hex")}`;
      const group = await members(room, 1); // one member on each of the four other servers
      const mine = await harness.connect({ transports: ["websocket"] });
      expect(((await mine.emitWithAck("join", { room })) as Ack).ok).toBe(true);
      const res = await fetch(`${harness.url}/api/v1/cluster`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        nodes: number;
        connections: number;
        rooms: { room: string; members: number }[];
      };
      expect(body.nodes).toBe(5);
      expect(body.rooms.find((r) => r.room === room)).toEqual({ room, members: group.length + 1 });
      expect(body.connections).toBeGreaterThanOrEqual(group.length + 1);
    });

    it("serves polling clients behind a round-robin balancer, their sessions relayed to their nodes", async () => {
      const balancer = await RoundRobin.start(nodes.map((node) => node.url));
      cleanup.add(() => balancer.close());
      const room = `room:poll-${randomBytes(3).toString("hex")}`;
      const a = await member(balancer.url, room, ["polling"]);
      const b = await member(balancer.url, room, ["polling"]);
      const c = await member(socketIo.url, room);
      for (const client of [a, b, c]) cleanup.add(() => client.close());
      const payload = { from: "polling" };
      const arrived = Promise.all([receives(b, payload), receives(c, payload)]);
      a.emit("publish", { room, payload });
      await arrived;
      expect(balancer.counts.every((n) => n > 0)).toBe(true);
    });
  },
);

describe("a cluster's faults: Redis restarted, a node killed", () => {
  const cleanup = useCleanup();

  async function readyz(node: SwitchyardProcess): Promise<number> {
    return (await fetch(`${node.url}/readyz`)).status;
  }

  /** Resolves once `node` answers /readyz with `status` (asked again after each answer). */
  async function until(node: SwitchyardProcess, status: number): Promise<void> {
    await within(
      (async () => {
        while ((await readyz(node)) !== status) {
          await new Promise((resolve) => setImmediate(resolve));
        }
      })(),
      `/readyz ${status}`,
      10_000,
    );
  }

  itWithRedisServer(
    "fails publishes loudly while Redis is down, and carries broadcasts again once it is back",
    async () => {
      const redis = await PrivateRedis.start();
      cleanup.add(() => redis.stop());
      const env = clusterEnv(redis.url);
      const nodes = await Promise.all([0, 1].map(() => SwitchyardProcess.start(CONFIG, env)));
      for (const node of nodes) cleanup.add(() => node.stop());
      const room = "room:fault";
      const [a, b] = await Promise.all(nodes.map((node) => member(node.url, room)));
      for (const client of [a!, b!]) cleanup.add(() => client.close());

      await redis.stop();
      await Promise.all(nodes.map((node) => until(node, 503)));
      const ack = (await a!.emitWithAck("publish", { room, payload: "during" })) as Ack;
      expect(ack).toMatchObject({ ok: false, error: { code: "SWY_NATIVE_REDIS_UNAVAILABLE" } });
      expect(a!.connected && b!.connected).toBe(true);

      await redis.restart();
      await Promise.all(nodes.map((node) => until(node, 200)));
      const after = receives(b!, "after");
      expect(await a!.emitWithAck("publish", { room, payload: "after" })).toEqual({ ok: true });
      await after;
    },
  );

  itWithRedis(
    "keeps serving when a node is killed: its clients reconnect through the balancer to another",
    async () => {
      const env = clusterEnv(REDIS_URL);
      const nodes = await Promise.all([0, 1].map(() => SwitchyardProcess.start(CONFIG, env)));
      for (const node of nodes) cleanup.add(() => node.stop());
      const balancer = await RoundRobin.start(nodes.map((node) => node.url));
      cleanup.add(() => balancer.close());
      const room = `room:${randomBytes(3).toString("hex")}`;

      // A client that joins its room again whenever it (re)connects, as apps do.
      const roamer = connect(balancer.url, {
        forceNew: true,
        transports: ["websocket"],
        reconnectionDelay: 50,
        reconnectionDelayMax: 200,
      });
      cleanup.add(() => roamer.close());
      const joined = () =>
        within(
          new Promise<void>((resolve) => {
            roamer.once("connect", async () => {
              await roamer.emitWithAck("join", { room });
              resolve();
            });
          }),
          "connect and join",
        );
      await joined();
      // The session id starts with its node's tag, which each node logs when it starts.
      const owner = nodes.find((node) =>
        node.output.includes(`"tag":"${roamer.io.engine.id.slice(0, 4)}"`),
      );
      expect(owner).toBeDefined();
      const survivor = nodes.find((node) => node !== owner)!;
      const speaker = await member(survivor.url, room);
      cleanup.add(() => speaker.close());

      const rejoined = joined();
      await owner!.kill();
      await rejoined;
      const arrived = receives(roamer, "still here");
      expect(await speaker.emitWithAck("publish", { room, payload: "still here" })).toEqual({
        ok: true,
      });
      await arrived;
    },
  );
});

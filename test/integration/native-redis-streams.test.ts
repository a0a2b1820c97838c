/**
 * The native core in streams mode beside real socket.io 4.8 nodes on
 * `@socket.io/redis-streams-adapter` 0.3: broadcasts and remote joins cross on the
 * stream (both ways, binary too), requests on pub/sub, and a reader that resumes from
 * the last entry it read when Redis comes back.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import type { Server } from "socket.io";
import { io as connect, type Socket } from "socket.io-client";
import { expect, it } from "vitest";
import type { Delivery } from "../../src/egress/backend.js";
import type {
  ClusterBroadcast,
  ClusterSink,
  ClusterSocket,
  SocketSelector,
} from "../../src/egress/cluster.js";
import { RedisClusterBus } from "../../src/egress/native/redis/redis-cluster-bus.js";
import {
  type NativeRedisSettingsInput,
  resolveNativeRedisSettings,
} from "../../src/egress/native/redis/redis-settings.js";
import { nativeOnStreams } from "../helpers/backend-yaml.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  describeWithRedis,
  describeWithRedisServer,
  PrivateRedis,
  REDIS_URL,
} from "../helpers/redis-server.js";
import { onJoin, socketIoStreamsNode } from "../helpers/socketio-streams-node.js";
import { Harness, joinRoom } from "../helpers/switchyard-harness.js";
import { until, within } from "../helpers/wait-for.js";

const cleanup = useCleanup();
const silent = pino({ level: "silent" });

/** A key of the test's own: the channel prefix and the stream's name. */
function uniqueKey(): string {
  return `swy-streams-${randomBytes(6).toString("hex")}`;
}

/** A Switchyard node in streams mode with the examples' join and publish rules. */
async function switchyardNode(url: string, key: string): Promise<Harness> {
  const harness = await Harness.start(`
backends:
${nativeOnStreams(url, key)}
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
        exceptSender: true
        requireMembership: false
`);
  cleanup.add(() => harness.close());
  return harness;
}

/** A socket.io 4.8 server on the streams adapter with the same join/publish contract. */
function socketIoNode(redisUrl: string, key: string): Promise<{ io: Server; url: string }> {
  return socketIoStreamsNode(cleanup, redisUrl, key, (socket) => {
    onJoin(socket);
    socket.on("publish", ({ room, payload }: { room: string; payload: unknown }) => {
      socket.to(room).emit("message", payload);
    });
  });
}

async function client(url: string): Promise<Socket> {
  const socket = connect(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  cleanup.add(() => socket.disconnect());
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Everything a client receives as `message`, in order. */
function inbox(socket: Socket): unknown[] {
  const received: unknown[] = [];
  socket.on("message", (payload: unknown) => received.push(payload));
  return received;
}

/** Resolves once `socket` received a `message` equal to `payload`. */
function receives(socket: Socket, payload: unknown): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const listener = (got: unknown): void => {
        if (JSON.stringify(got) !== JSON.stringify(payload)) return;
        socket.off("message", listener);
        resolve();
      };
      socket.on("message", listener);
    }),
    `message ${JSON.stringify(payload)}`,
  );
}

function publish(socket: Socket, room: string, payload: unknown): void {
  socket.emit("publish", { room, payload });
}

function sorted(values: readonly unknown[]): string[] {
  return values.map((value) => JSON.stringify(value)).sort();
}

/** What a broadcast reaching a socket.io-client as binary looks like, as bytes. */
function bytes(value: unknown): number[] {
  return [...new Uint8Array(value as ArrayBuffer)];
}

describeWithRedis(
  "native core in streams mode beside a socket.io node on the streams adapter",
  () => {
    it("carries a broadcast from either side to the other side's members of the room once", async () => {
      const key = uniqueKey();
      const sio = await socketIoNode(REDIS_URL, key);
      const swy = await switchyardNode(REDIS_URL, key);
      const swySender = await swy.connect({ transports: ["websocket"] });
      const swyMember = await swy.connect({ transports: ["websocket"] });
      const sioSender = await client(sio.url);
      const sioMember = await client(sio.url);
      await joinRoom(swyMember, "room:1");
      expect(await sioMember.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
      const atSwy = inbox(swyMember);
      const atSio = inbox(sioMember);

      publish(swySender, "room:1", { from: "switchyard", n: 1 });
      publish(sioSender, "room:1", { from: "socket.io", n: 2 });
      // Markers sent after, on the same paths: once both reached both members, nothing
      // else is on its way.
      const markers = Promise.all(
        [swyMember, sioMember].flatMap((member) => [
          receives(member, "marker-from-swy"),
          receives(member, "marker-from-sio"),
        ]),
      );
      publish(swySender, "room:1", "marker-from-swy");
      publish(sioSender, "room:1", "marker-from-sio");
      await markers;
      // Each member got its own side's message locally and the other side's once; the
      // two sides' order between them is not defined.
      const everything = [
        { from: "switchyard", n: 1 },
        { from: "socket.io", n: 2 },
        "marker-from-swy",
        "marker-from-sio",
      ];
      expect(sorted(atSwy)).toEqual(sorted(everything));
      expect(sorted(atSio)).toEqual(sorted(everything));
    });

    it("carries binary arguments both ways", async () => {
      const key = uniqueKey();
      const sio = await socketIoNode(REDIS_URL, key);
      const swy = await switchyardNode(REDIS_URL, key);
      const swySender = await swy.connect({ transports: ["websocket"] });
      const swyMember = await swy.connect({ transports: ["websocket"] });
      const sioSender = await client(sio.url);
      const sioMember = await client(sio.url);
      await joinRoom(swyMember, "room:bin");
      await sioMember.emitWithAck("join", { room: "room:bin" });

      const atSio = new Promise<unknown[]>((resolve) =>
        sioMember.once("message", (...a) => resolve(a)),
      );
      publish(swySender, "room:bin", Buffer.from([1, 2, 3]));
      const [fromSwy] = await within(atSio, "the binary message at the socket.io member");
      expect(bytes(fromSwy)).toEqual([1, 2, 3]);

      const atSwy = new Promise<unknown[]>((resolve) =>
        swyMember.once("message", (...a) => resolve(a)),
      );
      publish(sioSender, "room:bin", { nested: Buffer.from([4, 5]) });
      const [fromSio] = await within(atSwy, "the binary message at the Switchyard member");
      expect(bytes((fromSio as { nested: unknown }).nested)).toEqual([4, 5]);
    });

    it("lets the socket.io node move a Switchyard socket into a room with socketsJoin, and disconnect it", async () => {
      const key = uniqueKey();
      const sio = await socketIoNode(REDIS_URL, key);
      const swy = await switchyardNode(REDIS_URL, key);
      const swyClient = await swy.connect({ transports: ["websocket"] });
      // The join and the broadcast are entries of one stream: read in that order.
      sio.io.in(swyClient.id as string).socketsJoin("room:moved");
      const arrived = receives(swyClient, "after the move");
      sio.io.to("room:moved").emit("message", "after the move");
      await arrived;
      const disconnected = within(
        new Promise<string>((resolve) => swyClient.once("disconnect", resolve)),
        "the disconnection",
      );
      sio.io.in("room:moved").disconnectSockets();
      expect(await disconnected).toBe("io server disconnect");
    });

    it("answers the socket.io node's fetchSockets with Switchyard's sockets, and counts it", async () => {
      const key = uniqueKey();
      const sio = await socketIoNode(REDIS_URL, key);
      const swy = await switchyardNode(REDIS_URL, key);
      const swyClient = await swy.connect({ transports: ["websocket"] });
      await joinRoom(swyClient, "room:f");
      const sioClient = await client(sio.url);
      expect(await sio.io.of("/").adapter.serverCount()).toBe(2);
      const sockets = await sio.io.fetchSockets();
      expect(sockets.map((s) => s.id).sort()).toEqual([swyClient.id, sioClient.id].sort());
      const remote = sockets.find((s) => s.id === swyClient.id);
      expect(remote?.rooms).toEqual(new Set([swyClient.id, "room:f"]));
      const inRoom = await sio.io.in("room:f").fetchSockets();
      expect(inRoom.map((s) => s.id)).toEqual([swyClient.id]);
    });

    it("answers the socket.io node's broadcast with acks (a count, then each ack) and ignores its serverSideEmit", async () => {
      const key = uniqueKey();
      const sio = await socketIoNode(REDIS_URL, key);
      const swy = await switchyardNode(REDIS_URL, key);
      const swyClient = await swy.connect({ transports: ["websocket"] });
      swyClient.on("ping", (ack: (answer: string) => void) => ack("pong from switchyard"));
      const sioClient = await client(sio.url);
      sioClient.on("ping", (ack: (answer: string) => void) => ack("pong from socket.io"));
      sio.io.serverSideEmit("hello-servers", 1);
      const answers = await sio.io.timeout(2000).emitWithAck("ping");
      expect([...answers].sort()).toEqual(["pong from socket.io", "pong from switchyard"]);
    });

    it("asks the socket.io node for its sockets, and counts it", async () => {
      const key = uniqueKey();
      const sio = await socketIoNode(REDIS_URL, key);
      const sioClient = await client(sio.url);
      expect(await sioClient.emitWithAck("join", { room: "room:s" })).toEqual({ ok: true });
      const bus = await startedBus(
        "streams-requests",
        { url: REDIS_URL, key, mode: "streams", streamName: key },
        new BroadcastRecorder(),
      );
      expect(await bus.serverCount("/")).toBe(2);
      const sockets = await bus.clusterSockets({ nsp: "/", rooms: ["room:s"], except: [] });
      expect(sockets.map((socket) => socket.id)).toEqual([sioClient.id]);
      expect(sockets[0]?.rooms).toEqual(expect.arrayContaining([sioClient.id, "room:s"]));
      expect(await bus.clusterRooms("/")).toEqual(expect.arrayContaining(["room:s"]));
    });

    it("exchanges broadcasts between two Switchyard nodes once", async () => {
      const key = uniqueKey();
      const left = await switchyardNode(REDIS_URL, key);
      const right = await switchyardNode(REDIS_URL, key);
      const leftClient = await left.connect({ transports: ["websocket"] });
      const rightClient = await right.connect({ transports: ["websocket"] });
      await joinRoom(leftClient, "room:2");
      await joinRoom(rightClient, "room:2");
      const atLeft = inbox(leftClient);
      const atRight = inbox(rightClient);
      const rightGot = receives(rightClient, "marker-left");
      publish(leftClient, "room:2", { n: 1 });
      publish(leftClient, "room:2", "marker-left");
      await rightGot;
      const leftGot = receives(leftClient, "marker-right");
      publish(rightClient, "room:2", { n: 2 });
      publish(rightClient, "room:2", "marker-right");
      await leftGot;
      expect(atRight).toEqual([{ n: 1 }, "marker-left"]);
      expect(atLeft).toEqual([{ n: 2 }, "marker-right"]);
    });
  },
);

/** A {@link ClusterSink} of one namespace without sockets that records the broadcasts it gets. */
class BroadcastRecorder implements ClusterSink {
  readonly broadcasts: ClusterBroadcast[] = [];
  served: string[] = ["/"];
  #waiters: { count: number; resolve: () => void }[] = [];

  namespaces(): string[] {
    return this.served;
  }

  deliver(_delivery: Delivery): void {}

  broadcast(broadcast: ClusterBroadcast): void {
    this.broadcasts.push(broadcast);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.broadcasts.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once `count` broadcasts in all have arrived. */
  received(count: number): Promise<void> {
    if (this.broadcasts.length >= count) return Promise.resolve();
    return within(
      new Promise((resolve) => this.#waiters.push({ count, resolve })),
      `${count} broadcasts (${this.broadcasts.length} so far)`,
    );
  }

  broadcastWithAck(_b: ClusterBroadcast, _t: number, onCount: (count: number) => void): void {
    onCount(0);
  }

  joinSockets(): void {}

  leaveSockets(): void {}

  disconnectSockets(): void {}

  fetchSockets(_selector: SocketSelector): ClusterSocket[] {
    return [];
  }

  rooms(): string[] {
    return [];
  }

  hasSocket(): boolean {
    return false;
  }
}

async function startedBus(
  name: string,
  settings: NativeRedisSettingsInput,
  sink: ClusterSink,
): Promise<RedisClusterBus> {
  const bus = new RedisClusterBus(name, resolveNativeRedisSettings(settings), silent, 32);
  cleanup.add(() => bus.close());
  await bus.start(sink, sink.namespaces());
  expect(bus.health()).toEqual({ isReady: true });
  return bus;
}

/** An entry as the adapter XADDs `io.to(room).emit("message", payload)`. */
function adapterEntry(room: string, payload: unknown): string[] {
  const data = {
    packet: { type: 2, data: ["message", payload], nsp: "/" },
    opts: { rooms: [room], except: [], flags: {} },
  };
  return ["uid", "0123456789abcdef", "nsp", "/", "type", "3", "data", JSON.stringify(data)];
}

describeWithRedis("the streams mode's offsets and reading", () => {
  it("hands on broadcasts with their entry id as offset, and tells the id of what it XADDs", async () => {
    const key = uniqueKey();
    const settings = { url: REDIS_URL, key, mode: "streams", streamName: key } as const;
    const sink = new BroadcastRecorder();
    const peer = new BroadcastRecorder();
    const bus = await startedBus("streams-offsets", settings, sink);
    await startedBus("streams-offsets-peer", settings, peer);
    const id = await bus.publishWithOffset("/", "room:o", ["s1"], "message", ["x"]);
    expect(id).toMatch(/^\d+-\d+$/);
    await peer.received(1);
    expect(peer.broadcasts[0]).toEqual({
      nsp: "/",
      rooms: ["room:o"],
      except: ["s1"],
      event: "message",
      args: ["x"],
      volatile: false,
      offset: id,
    });
    const redis = new Redis(REDIS_URL);
    cleanup.add(() => redis.disconnect());
    const [[entryId, fields]] = (await redis.xrange(key, "-", "+")) as [[string, string[]]];
    expect(entryId).toBe(id);
    expect(fields.slice(0, 6)).toEqual(["uid", bus.uid, "nsp", "/", "type", "3"]);
    // Its own entry is not handed back to it.
    expect(sink.broadcasts).toEqual([]);
  });

  it("reads readCount entries at a time and goes on from the last one: 250 at once arrive once, in order", async () => {
    const key = uniqueKey();
    const sink = new BroadcastRecorder();
    await startedBus(
      "streams-batches",
      { url: REDIS_URL, key, mode: "streams", streamName: key, readCount: 100 },
      sink,
    );
    const redis = new Redis(REDIS_URL);
    cleanup.add(() => redis.disconnect());
    const batch = redis.multi();
    for (let n = 0; n < 250; n++) batch.xadd(key, "*", ...adapterEntry("room:b", n));
    await batch.exec();
    await sink.received(250);
    expect(sink.broadcasts.map((b) => b.args[0])).toEqual(Array.from({ length: 250 }, (_, n) => n));
    const ids = sink.broadcasts.map((b) => b.offset);
    expect(new Set(ids).size).toBe(250);
  });
});

describeWithRedis("the streams mode on several streams", () => {
  it("writes each namespace to its stream and reads a namespace added while a read is blocked at once", async () => {
    const key = uniqueKey();
    // A read blocks for a minute: only ending it can bring the new namespace in time.
    const settings = {
      url: REDIS_URL,
      key,
      mode: "streams",
      streamName: key,
      streamCount: 4,
      blockTimeInMs: 60_000,
    } as const;
    const sink = new BroadcastRecorder();
    const peerSink = new BroadcastRecorder();
    peerSink.served = ["/", "/notifications", "/dashboard"];
    const bus = await startedBus("streams-spread", settings, sink);
    const peer = await startedBus("streams-spread-peer", settings, peerSink);
    const redis = new Redis(REDIS_URL);
    cleanup.add(() => redis.disconnect());
    sink.served = ["/", "/notifications"];
    await bus.setNamespaces(sink.served);
    await peer.publish("/notifications", "room:n", [], "message", ["to notifications"]);
    await peer.publish("/", "room:n", [], "message", ["to the main namespace"]);
    await peer.publish("/dashboard", "room:n", [], "message", ["to a namespace not served"]);
    await sink.received(2);
    expect(sink.broadcasts.map((b) => `${b.nsp} ${b.args[0]}`).sort()).toEqual([
      "/ to the main namespace",
      "/notifications to notifications",
    ]);
    // The adapter's stream names: hashCode(nsp) % 4, negative for these two.
    expect(await redis.xlen(`${key}-3`)).toBe(1);
    expect(await redis.xlen(`${key}--3`)).toBe(2);
  });
});

describeWithRedisServer("the streams mode through a Redis outage", () => {
  it("resumes from the last entry it read: what the stream holds when it is back arrives once, in order", async () => {
    const redis = await PrivateRedis.start();
    cleanup.add(() => redis.stop());
    const key = uniqueKey();
    const swy = await switchyardNode(redis.url, key);
    const member = await swy.connect({ transports: ["websocket"] });
    await joinRoom(member, "room:r");
    const got = inbox(member);
    // Waits on what arrived so far: a message may come before a listener added late.
    const seen = (payload: string): Promise<void> =>
      until(() => got.includes(payload), `message ${payload}`);
    const writer = new Redis(redis.url, { maxRetriesPerRequest: null });
    cleanup.add(() => writer.disconnect());
    await writer.xadd(key, "*", ...adapterEntry("room:r", "before"));
    await seen("before");

    // Restarted empty (no persistence): entries written at once may come before the
    // node's reader is back; it reads after the last id it saw, so they are not lost.
    await redis.stop();
    await redis.restart();
    for (const n of [1, 2, 3])
      await writer.xadd(key, "*", ...adapterEntry("room:r", `restart-${n}`));
    await seen("restart-3");

    // Every connection but the writer's dropped, and entries added in the same
    // transaction: they are in the stream before the reader can be back.
    const batch = writer.multi();
    batch.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    for (const n of [4, 5, 6]) batch.xadd(key, "*", ...adapterEntry("room:r", `dropped-${n}`));
    await batch.exec();
    await seen("dropped-6");

    await writer.xadd(key, "*", ...adapterEntry("room:r", "after"));
    await seen("after");
    expect(got).toEqual([
      "before",
      "restart-1",
      "restart-2",
      "restart-3",
      "dropped-4",
      "dropped-5",
      "dropped-6",
      "after",
    ]);
  });
});

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdapter, createShardedAdapter, type RedisAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Server } from "socket.io";
import { type Socket as ClientSocket, io as connect } from "socket.io-client";
import { beforeAll, expect, it } from "vitest";
import type { Delivery } from "../../src/egress/backend.js";
import type {
  ClusterBroadcast,
  ClusterSink,
  ClusterSocket,
  SocketSelector,
} from "../../src/egress/cluster.js";
import { NativeBackend } from "../../src/egress/native/native-backend.js";
import {
  type NativeRedisSettingsInput,
  resolveNativeRedisSettings,
} from "../../src/egress/native/redis/redis-settings.js";
import { roomChannel } from "../../src/egress/registry.js";
import { metrics } from "../../src/metrics.js";
import { useFileCleanup } from "../helpers/cleanup.js";
import {
  describeWithRedis,
  describeWithRedisServer,
  PrivateRedis,
  REDIS_URL,
} from "../helpers/redis-server.js";

const ROOM1 = roomChannel("/", "room1");

interface Call {
  readonly method: keyof ClusterSink;
  readonly args: readonly unknown[];
}

/** A socket of the fake node, in socket.io's `fetchSockets()` shape. */
function fakeSocket(id: string, rooms: readonly string[]): ClusterSocket {
  return {
    id,
    handshake: {
      headers: { "user-agent": "fake" },
      time: new Date(0).toString(),
      address: "10.0.0.9",
      xdomain: false,
      secure: false,
      issued: 0,
      url: "/socket.io/?EIO=4&transport=websocket",
      query: {},
      auth: {},
    },
    rooms: [id, ...rooms],
    data: { from: "switchyard" },
  };
}

/**
 * This node as the router would be: a few local sockets of namespace `/`, and a
 * record of every call a cluster backend makes, with a way to wait for the next.
 */
class FakeClusterSink implements ClusterSink {
  readonly calls: Call[] = [];
  readonly deliveries: Delivery[] = [];
  readonly sockets: ClusterSocket[];
  served: string[] = ["/"];
  #waiters: {
    from: number;
    method: string;
    test(args: readonly unknown[]): boolean;
    resolve(args: readonly unknown[]): void;
  }[] = [];

  constructor(sockets: ClusterSocket[]) {
    this.sockets = sockets;
  }

  namespaces(): string[] {
    return this.served;
  }

  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
  }

  broadcast(broadcast: ClusterBroadcast): void {
    this.#record("broadcast", [broadcast]);
  }

  broadcastWithAck(
    broadcast: ClusterBroadcast,
    timeoutMs: number,
    onCount: (count: number) => void,
    onAck: (arg: unknown) => void,
  ): void {
    this.#record("broadcastWithAck", [broadcast, timeoutMs]);
    const targets = this.#select(broadcast);
    onCount(targets.length);
    for (const socket of targets) queueMicrotask(() => onAck(`ack:${socket.id}`));
  }

  joinSockets(selector: SocketSelector, rooms: readonly string[]): void {
    this.#record("joinSockets", [selector, rooms]);
  }

  leaveSockets(selector: SocketSelector, rooms: readonly string[]): void {
    this.#record("leaveSockets", [selector, rooms]);
  }

  disconnectSockets(selector: SocketSelector, close: boolean): void {
    this.#record("disconnectSockets", [selector, close]);
  }

  fetchSockets(selector: SocketSelector): ClusterSocket[] {
    this.#record("fetchSockets", [selector]);
    return this.#select(selector);
  }

  hasSocket(_nsp: string, id: string): boolean {
    return this.sockets.some((socket) => socket.id === id);
  }

  rooms(nsp: string): string[] {
    this.#record("rooms", [nsp]);
    return [...new Set(this.sockets.flatMap((socket) => socket.rooms))];
  }

  /** The arguments of the next call of `method` (from now on) that passes `test`. */
  next(
    method: keyof ClusterSink,
    test: (args: readonly unknown[]) => boolean = () => true,
  ): Promise<readonly unknown[]> {
    return new Promise((resolve) =>
      this.#waiters.push({ from: this.calls.length, method, test, resolve }),
    );
  }

  /** The next broadcast of `event`. */
  nextBroadcast(event: string): Promise<ClusterBroadcast> {
    return this.next("broadcast", ([b]) => (b as ClusterBroadcast).event === event).then(
      ([b]) => b as ClusterBroadcast,
    );
  }

  callsOf(method: keyof ClusterSink, since = 0): Call[] {
    return this.calls.slice(since).filter((call) => call.method === method);
  }

  #record(method: keyof ClusterSink, args: readonly unknown[]): void {
    this.calls.push({ method, args });
    const index = this.calls.length - 1;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.method !== method || index < waiter.from || !waiter.test(args)) return true;
      waiter.resolve(args);
      return false;
    });
  }

  #select(selector: SocketSelector): ClusterSocket[] {
    return this.sockets.filter(
      (socket) =>
        (selector.rooms.length === 0 || selector.rooms.some((r) => socket.rooms.includes(r))) &&
        !selector.except.some((r) => socket.rooms.includes(r)),
    );
  }
}

const silent = pino({ level: "silent" });
const cleanup = useFileCleanup();

function randomKey(): string {
  return `swy-test-${randomBytes(6).toString("hex")}`;
}

function backendOn(name: string, redis: NativeRedisSettingsInput): NativeBackend {
  const backend = new NativeBackend(name, {
    redis: resolveNativeRedisSettings(redis),
    log: silent,
  });
  cleanup.add(() => backend.close());
  return backend;
}

async function startedBackend(
  name: string,
  redis: NativeRedisSettingsInput,
  sink: FakeClusterSink,
): Promise<NativeBackend> {
  const backend = backendOn(name, redis);
  await backend.start(sink);
  expect(backend.health()).toEqual({ isReady: true });
  await backend.subscribe(ROOM1);
  return backend;
}

/** A socket.io 4.8 server on port 0 whose adapter is `adapter(pub, sub)`; `join` acks once joined. */
async function socketIoServer(
  adapter: (pub: Redis, sub: Redis) => Parameters<Server["adapter"]>[0],
): Promise<{ io: Server; pub: Redis; url: string }> {
  const pub = new Redis(REDIS_URL);
  const sub = pub.duplicate();
  const httpServer = createServer();
  const io = new Server(httpServer);
  io.adapter(adapter(pub, sub));
  io.on("connection", (socket) => {
    socket.on("join", async (room: string, ack: () => void) => {
      await socket.join(room);
      // Subscriptions the adapter made for the room are in place once this PING is answered.
      await sub.ping();
      ack();
    });
  });
  httpServer.listen(0, "127.0.0.1");
  await once(httpServer, "listening");
  cleanup.add(async () => {
    await new Promise((resolve) => io.close(resolve));
    pub.disconnect();
    sub.disconnect();
  });
  // The adapter subscribed before this PING on the same connection.
  await sub.ping();
  const { port } = httpServer.address() as AddressInfo;
  return { io, pub, url: `http://127.0.0.1:${port}` };
}

async function member(url: string, room: string): Promise<ClientSocket> {
  const client = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  cleanup.add(() => client.disconnect());
  client.on("ping", (ack: (value: string) => void) => ack("pong"));
  await new Promise<void>((resolve) => client.once("connect", resolve));
  await client.emitWithAck("join", room);
  return client;
}

function nextEvent(client: ClientSocket, event: string): Promise<unknown[]> {
  return new Promise((resolve) => client.once(event, (...args: unknown[]) => resolve(args)));
}

async function publishFailures(backend: string): Promise<number> {
  const { values } = await metrics.nativeRedisPublishFailures.get();
  return (
    values.find((v) => v.labels.backend === backend && v.labels.reason === "unavailable")?.value ??
    0
  );
}

describeWithRedis(
  "native backend on Redis (classic) beside a socket.io server with the redis adapter",
  () => {
    const key = randomKey();
    const sink = new FakeClusterSink([
      fakeSocket("swy-socket-1", ["room1"]),
      fakeSocket("swy-socket-2", ["swy-room"]),
    ]);
    let backend: NativeBackend;
    let io: Server;
    let ioPub: Redis;
    let c1: ClientSocket;
    let c2: ClientSocket;

    beforeAll(async () => {
      const server = await socketIoServer((pub, sub) => createAdapter(pub, sub, { key }));
      ({ io, pub: ioPub } = server);
      c1 = await member(server.url, "room1");
      c2 = await member(server.url, "room1");
      backend = await startedBackend("native-classic", { url: REDIS_URL, key }, sink);
    });

    it("turns io.to('room1').emit('hello', 1, {a: 2}) into a broadcast for the sink", async () => {
      const got = sink.nextBroadcast("hello");
      io.to("room1").emit("hello", 1, { a: 2 });
      expect(await got).toEqual({
        nsp: "/",
        rooms: ["room1"],
        except: [],
        event: "hello",
        args: [1, { a: 2 }],
        volatile: false,
      });
    });

    it("carries except, volatile and binary arguments (as Buffers)", async () => {
      const excepted = sink.nextBroadcast("excepted");
      const isVolatile = sink.nextBroadcast("volatile");
      const binary = sink.nextBroadcast("binary");
      io.to("room1").except("x").emit("excepted");
      io.volatile.emit("volatile", "v");
      io.to("room1").emit("binary", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4]) });
      expect(await excepted).toMatchObject({ rooms: ["room1"], except: ["x"], volatile: false });
      expect(await isVolatile).toMatchObject({
        rooms: [],
        except: [],
        volatile: true,
        args: ["v"],
      });
      const { args } = await binary;
      expect(Buffer.isBuffer(args[0])).toBe(true);
      expect(args).toEqual([Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) }]);
    });

    it("publishes so that socket.io members of the room receive it (binary too), not the excepted id", async () => {
      const c1News = nextEvent(c1, "news");
      const c2Seen: string[] = [];
      c2.onAny((event: string) => {
        if (event === "news" || event === "news-marker") c2Seen.push(event);
      });
      const c2Marker = nextEvent(c2, "news-marker");
      await backend.publish({
        channel: ROOM1,
        event: "news",
        args: ["x", Buffer.from([4, 5])],
        except: c2.id,
      });
      await backend.publish({ channel: ROOM1, event: "news-marker", args: [] });
      const [text, bytes] = await c1News;
      expect(text).toBe("x");
      expect(Buffer.from(bytes as ArrayBuffer)).toEqual(Buffer.from([4, 5]));
      await c2Marker;
      expect(c2Seen).toEqual(["news-marker"]);
      // Delivered locally once, never again through Redis.
      expect(sink.deliveries.filter((d) => d.event === "news")).toHaveLength(1);
      expect(
        sink.callsOf("broadcast").some(({ args: [b] }) => (b as ClusterBroadcast).event === "news"),
      ).toBe(false);
    });

    it("sends a turn's publications as one script call, read by socket.io members one by one and in order", async () => {
      const commands = async (command: string) =>
        (await metrics.nativeRedisPublishCommands.get()).values.find(
          (v) => v.labels.backend === "native-classic" && v.labels.command === command,
        )?.value ?? 0;
      const [evals, publishes] = [await commands("eval"), await commands("publish")];
      const got: unknown[] = [];
      const all = new Promise<void>((resolve) => {
        c1.on("burst", (n: number) => {
          got.push(n);
          if (got.length === 20) resolve();
        });
      });

      await Promise.all(
        Array.from({ length: 20 }, (_, n) =>
          backend.publish({ channel: ROOM1, event: "burst", args: [n] }),
        ),
      );
      await all;

      expect(got).toEqual(Array.from({ length: 20 }, (_, n) => n));
      expect(await commands("eval")).toBe(evals + 1);
      expect(await commands("publish")).toBe(publishes);
    });

    it("takes the emitter's emit, socketsJoin, socketsLeave and disconnectSockets", async () => {
      const emitter = new Emitter(ioPub, { key });
      const emitted = sink.nextBroadcast("from-emitter");
      emitter.to("room1").emit("from-emitter", "x");
      expect(await emitted).toEqual({
        nsp: "/",
        rooms: ["room1"],
        except: [],
        event: "from-emitter",
        args: ["x"],
        volatile: false,
      });
      const joined = sink.next("joinSockets");
      emitter.in("room1").except("swy-socket-2").socketsJoin("room2");
      expect(await joined).toEqual([
        { nsp: "/", rooms: ["room1"], except: ["swy-socket-2"] },
        ["room2"],
      ]);
      const left = sink.next("leaveSockets");
      emitter.in("room2").socketsLeave(["room2", "room3"]);
      expect(await left).toEqual([{ nsp: "/", rooms: ["room2"], except: [] }, ["room2", "room3"]]);
      const disconnected = sink.next("disconnectSockets");
      emitter.in("nobody-here").disconnectSockets(true);
      expect(await disconnected).toEqual([{ nsp: "/", rooms: ["nobody-here"], except: [] }, true]);
    });

    it("drops a single-room broadcast for a room without local members before decoding it", async () => {
      const emitter = new Emitter(ioPub, { key });
      const since = sink.calls.length;
      const after = sink.nextBroadcast("after-drop");
      emitter.to("room-not-here").emit("dropped");
      emitter.to("room1").emit("after-drop");
      await after;
      expect(
        sink.callsOf("broadcast", since).map(({ args: [b] }) => (b as ClusterBroadcast).event),
      ).toEqual(["after-drop"]);
    });

    it("is counted by the socket.io server and answers its fetchSockets and allRooms once", async () => {
      expect(await io.of("/").adapter.serverCount()).toBe(2);
      const since = sink.calls.length;
      const sockets = await io.fetchSockets();
      expect(sockets.map((s) => s.id).sort()).toEqual(
        [c1.id, c2.id, "swy-socket-1", "swy-socket-2"].sort(),
      );
      expect(sink.callsOf("fetchSockets", since)).toHaveLength(1);
      const remote = sockets.find((s) => s.id === "swy-socket-1");
      expect(remote?.rooms).toEqual(new Set(["swy-socket-1", "room1"]));
      expect(remote?.data).toEqual({ from: "switchyard" });
      expect(remote?.handshake.address).toBe("10.0.0.9");
      const inRoom = await io.in("room1").fetchSockets();
      expect(inRoom.map((s) => s.id).sort()).toEqual([c1.id, c2.id, "swy-socket-1"].sort());
      const rooms = await (io.of("/").adapter as RedisAdapter).allRooms();
      expect([...rooms]).toEqual(
        expect.arrayContaining(["room1", "swy-room", "swy-socket-2", c1.id]),
      );
      expect(sink.callsOf("rooms", since)).toHaveLength(1);
    });

    it("answers the 7.x requests that name one socket or ask for socket ids", async () => {
      const listener = ioPub.duplicate();
      cleanup.add(() => listener.disconnect());
      const replies: Record<string, unknown>[] = [];
      let onReply = (): void => {};
      listener.on("message", (_channel: string, text: string) => {
        // Acks of other tests' broadcasts travel in MessagePack on the same channel.
        if (!text.startsWith("{")) return;
        replies.push(JSON.parse(text) as Record<string, unknown>);
        onReply();
      });
      await listener.subscribe(`${key}-response#/#`);
      const joined = sink.next("joinSockets");
      await ioPub.publish(
        `${key}-request#/#`,
        JSON.stringify({
          uid: "old7x1",
          requestId: "L1",
          type: 2,
          sid: "swy-socket-1",
          room: "room7",
        }),
      );
      expect(await joined).toEqual([{ nsp: "/", rooms: ["swy-socket-1"], except: [] }, ["room7"]]);
      // Both this node and the socket.io server answer a SOCKETS request.
      const answered = new Promise<void>((resolve) => {
        onReply = () => {
          if (replies.filter((r) => r.requestId === "L2").length === 2) resolve();
        };
      });
      await ioPub.publish(
        `${key}-request#/#`,
        JSON.stringify({ uid: "old7x1", requestId: "L2", type: 0, rooms: ["swy-room"] }),
      );
      await answered;
      expect(replies.filter((r) => r.requestId === "L1")).toEqual([{ requestId: "L1" }]);
      expect(replies.filter((r) => r.requestId === "L2")).toEqual(
        expect.arrayContaining([{ requestId: "L2", sockets: ["swy-socket-2"] }]),
      );
      listener.disconnect();
    });

    it("does nothing with a server-side emit, and keeps answering afterwards", async () => {
      const since = sink.calls.length;
      io.serverSideEmit("hello-servers", 1);
      const sockets = await io.fetchSockets();
      expect(sockets).toHaveLength(4);
      expect(sink.calls.slice(since).map((call) => call.method)).toEqual(["fetchSockets"]);
    });

    it("answers io.timeout(1000).emit('ping', cb) with one count and the sink's acks", async () => {
      const responses = await io.timeout(1000).emitWithAck("ping");
      expect([...responses].sort()).toEqual([
        "ack:swy-socket-1",
        "ack:swy-socket-2",
        "pong",
        "pong",
      ]);
      const calls = sink.callsOf("broadcastWithAck");
      expect(calls).toHaveLength(1);
      const [broadcast, timeoutMs] = calls[0]?.args ?? [];
      expect(broadcast).toEqual({
        nsp: "/",
        rooms: [],
        except: [],
        event: "ping",
        args: [],
        volatile: false,
      });
      expect(timeoutMs).toBe(1000);
    });

    it("sees the socket.io server's rooms and sockets through its ClusterView", async () => {
      expect(await backend.serverCount("/")).toBe(2);
      const rooms = await backend.clusterRooms("/");
      expect(rooms).toEqual(expect.arrayContaining(["room1", "swy-room", c1.id, c2.id]));
      const sockets = await backend.clusterSockets({ nsp: "/", rooms: ["room1"], except: [] });
      expect(sockets.map((s) => s.id).sort()).toEqual([c1.id, c2.id, "swy-socket-1"].sort());
      const fromServer = sockets.find((s) => s.id === c1.id);
      expect(fromServer?.rooms).toEqual(expect.arrayContaining([c1.id, "room1"]));
    });

    it("rejects a cluster request on a namespace it does not listen on", async () => {
      await expect(backend.clusterRooms("/elsewhere")).rejects.toMatchObject({
        code: "SWY_API_NAMESPACE_UNKNOWN",
      });
    });
  },
);

describeWithRedis(
  "native backends on Redis (sharded) beside a socket.io server with the sharded adapter",
  () => {
    const key = randomKey();
    const sinkA = new FakeClusterSink([fakeSocket("a-socket", ["room1"])]);
    const sinkB = new FakeClusterSink([fakeSocket("b-socket", ["room1"])]);
    let isSupported = false;
    let io: Server;
    let client: ClientSocket;
    let a: NativeBackend;

    beforeAll(async () => {
      // SPUBLISH/SSUBSCRIBE need Redis 7; an older local Redis skips these tests.
      const probe = new Redis(REDIS_URL);
      const info = await probe.info("server");
      probe.disconnect();
      const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
      isSupported = major >= 7;
      if (!isSupported) return;
      const server = await socketIoServer((pub, sub) =>
        createShardedAdapter(pub, sub, { channelPrefix: key }),
      );
      io = server.io;
      client = await member(server.url, "room1");
      const redis = { url: REDIS_URL, key, mode: "sharded" } as const;
      a = await startedBackend("native-sharded-a", redis, sinkA);
      await startedBackend("native-sharded-b", redis, sinkB);
    });

    it("exchanges broadcasts with the socket.io server and between backends", async (context) => {
      if (!isSupported) context.skip();
      const gotA = sinkA.nextBroadcast("s-hello");
      const gotB = sinkB.nextBroadcast("s-hello");
      io.to("room1").emit("s-hello", 1);
      const expected = {
        nsp: "/",
        rooms: ["room1"],
        except: [],
        event: "s-hello",
        args: [1],
        volatile: false,
      };
      expect(await gotA).toEqual(expected);
      expect(await gotB).toEqual(expected);

      const atB = sinkB.nextBroadcast("s-pub");
      const atClient = nextEvent(client, "s-pub");
      await a.publish({ channel: ROOM1, event: "s-pub", args: [2, Buffer.from([7])] });
      expect(await atB).toMatchObject({ rooms: ["room1"], args: [2, Buffer.from([7])] });
      const [n, bytes] = await atClient;
      expect(n).toBe(2);
      expect(Buffer.from(bytes as ArrayBuffer)).toEqual(Buffer.from([7]));
      expect(
        sinkA
          .callsOf("broadcast")
          .some(({ args: [b] }) => (b as ClusterBroadcast).event === "s-pub"),
      ).toBe(false);
    });

    it("is counted by SHARDNUMSUB and answers fetchSockets both ways", async (context) => {
      if (!isSupported) context.skip();
      expect(await a.serverCount("/")).toBe(3);
      const sockets = await io.fetchSockets();
      expect(sockets.map((s) => s.id).sort()).toEqual([client.id, "a-socket", "b-socket"].sort());
      const seen = await a.clusterSockets({ nsp: "/", rooms: [], except: [] });
      expect(seen.map((s) => s.id).sort()).toEqual([client.id, "a-socket", "b-socket"].sort());
      expect(await a.clusterRooms("/")).toEqual(expect.arrayContaining(["room1", client.id]));
    });
  },
);

describeWithRedis("native backend on Redis when the namespaces change", () => {
  it("listens on the namespaces the sink serves after onNamespacesChanged, and stops on the old", async () => {
    const key = randomKey();
    const sink = new FakeClusterSink([]);
    const backend = await startedBackend("native-namespaces", { url: REDIS_URL, key }, sink);
    const pub = new Redis(REDIS_URL);
    cleanup.add(() => pub.disconnect());
    const emitter = new Emitter(pub, { key });
    expect(await backend.serverCount("/admin")).toBe(0);
    sink.served = ["/admin"];
    await backend.onNamespacesChanged();
    expect(await backend.serverCount("/admin")).toBe(1);
    expect(await backend.serverCount("/")).toBe(0);
    const got = sink.nextBroadcast("to-admin");
    emitter.of("/admin").emit("to-admin", 1);
    expect(await got).toMatchObject({ nsp: "/admin", rooms: [], args: [1] });
  });
});

describeWithRedisServer("native backend on Redis through an outage", () => {
  it("rejects publications while Redis is down, counts them, and carries traffic again once it is back", async () => {
    const redis = await PrivateRedis.start();
    cleanup.add(() => redis.stop());
    const settings = { url: redis.url, key: randomKey(), requestsTimeout: 1000 };
    const sink = new FakeClusterSink([]);
    const peerSink = new FakeClusterSink([]);
    const backend = await startedBackend("native-outage", settings, sink);
    const peer = await startedBackend("native-outage-peer", settings, peerSink);

    const before = peerSink.nextBroadcast("before");
    await backend.publish({ channel: ROOM1, event: "before", args: [] });
    await before;

    await redis.stop();
    const failures = await publishFailures("native-outage");
    await expect(
      backend.publish({ channel: ROOM1, event: "during", args: [] }),
    ).rejects.toMatchObject({ code: "SWY_NATIVE_REDIS_UNAVAILABLE" });
    expect(await publishFailures("native-outage")).toBe(failures + 1);
    expect(backend.health().isReady).toBe(false);
    // Local members still got it: only the other nodes missed it, and the caller knows.
    expect(sink.deliveries.map((d) => d.event)).toEqual(["before", "during"]);

    await redis.restart();
    await Promise.all([backend.whenReady(), peer.whenReady()]);
    const after = peerSink.nextBroadcast("after");
    await backend.publish({ channel: ROOM1, event: "after", args: [] });
    expect(await after).toMatchObject({ event: "after", rooms: ["room1"] });
  });
});

/**
 * Vectors: the bus behind a `websocket` backend is hostile or broken, and every byte
 * from it is untrusted. It sends text that is not JSON, JSON nested 10,000 deep, binary
 * frames, frames no rule of the preset matches, publications whose channel is a number,
 * is missing, hides behind `__proto__` or is none Switchyard subscribed to, data with
 * `__proto__` and `constructor` keys, frames larger than `maxFrameBytes`, and more
 * publications than a member reads.
 *
 * None may end the process, stall the backend, reach a member or touch another room.
 * Each dropped frame is counted in switchyard_websocket_receive_errors_total{reason}
 * (except a publication on a channel nobody here wants: dropped quietly, as a message
 * that crossed an unsubscribe is); data with `__proto__` keys is plain data, delivered
 * as it is; an oversized frame closes the connection with 1009, which is made again
 * with its subscriptions. A good publication afterwards arrives exactly once.
 */
import { connect, type Socket as TcpSocket } from "node:net";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { SOCKETCLUSTER_PATH, SocketClusterBus } from "../buses/socketcluster-bus.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until, waitFor, waitForMatch, within } from "../helpers/wait-for.js";

/** A backend `bus` on the bus at ${BUS_URL}; `settings` and `server` add YAML flow entries. */
function yaml(settings = "", server = ""): string {
  return `
${server === "" ? "" : `server: { limits: { ${server} } }`}
backends:
  bus:
    kind: websocket
    settings: { url: "\${BUS_URL}", preset: socketcluster${settings === "" ? "" : `, ${settings}`} }
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: bus, channel: "room:{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;
}

/** SocketCluster's frame for a message on `channel`, as the server sends it. */
function publishFrame(channel: unknown, data: unknown): string {
  return JSON.stringify({ event: "#publish", data: { channel, data } });
}

/** A Socket.IO member of `room` and everything it receives, as [event, ...args]. */
async function member(harness: Harness, room: string) {
  const socket = await harness.connect({ transports: ["websocket"] });
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
  const seen: unknown[][] = [];
  socket.onAny((event: string, ...args: unknown[]) => seen.push([event, ...args]));
  return { socket, seen };
}

type Member = Awaited<ReturnType<typeof member>>;

/** switchyard_websocket_receive_errors_total of backend `bus`, by reason, from /metrics. */
async function receiveErrors(harness: Harness): Promise<Record<string, number>> {
  const text = await (await fetch(`${harness.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const sample = /^switchyard_websocket_receive_errors_total\{(.*)\} (\S+)$/.exec(line);
    if (sample === null || !sample[1]!.includes('backend="bus"')) continue;
    counts[/reason="([^"]*)"/.exec(sample[1]!)![1]!] = Number(sample[2]);
  }
  return counts;
}

/** What went up between two {@link receiveErrors} readings. */
function increase(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const up: Record<string, number> = {};
  for (const [reason, value] of Object.entries(after)) {
    const delta = value - (before[reason] ?? 0);
    if (delta !== 0) up[reason] = delta;
  }
  return up;
}

/** Publishes `data` on `channel` from the bus; resolves once `to` has it as `message`. */
async function arrives(
  to: Member,
  publish: (channel: string, data: unknown) => unknown,
  channel: string,
  data: unknown,
): Promise<void> {
  const got = waitForMatch<[unknown]>(to.socket, "message", (payload) =>
    isDeepStrictEqual(payload, data),
  );
  await publish(channel, data);
  await got;
}

/**
 * After a bad frame: one good publication for each room, then another as a barrier
 * (the bus keeps its order), and each member has had exactly its own two, nothing
 * of the bad frame; the process still answers its probes.
 */
async function goodAfter(
  harness: Harness,
  publish: (channel: string, data: unknown) => unknown,
  alice: Member,
  bob: Member,
): Promise<void> {
  await arrives(alice, publish, "room:42", { good: 1 });
  await arrives(bob, publish, "room:43", { good: 2 });
  await arrives(alice, publish, "room:42", { good: 3 });
  await arrives(bob, publish, "room:43", { good: 4 });
  expect(alice.seen).toEqual([
    ["message", { good: 1 }],
    ["message", { good: 3 }],
  ]);
  expect(bob.seen).toEqual([
    ["message", { good: 2 }],
    ["message", { good: 4 }],
  ]);
  expect(alice.socket.connected && bob.socket.connected).toBe(true);
  expect((await fetch(`${harness.url}/readyz`)).status).toBe(200);
}

/** A bridge on a real SocketCluster server, alice in room:42, bob in room:43. */
async function onSocketCluster(cleanup: Cleanup, settings = "", server = "") {
  const bus = await SocketClusterBus.start();
  cleanup.add(() => bus.close());
  const harness = await Harness.start(yaml(settings, server), { BUS_URL: bus.url });
  cleanup.add(() => harness.close());
  const alice = await member(harness, "room:42");
  const bob = await member(harness, "room:43");
  const publish = (channel: string, data: unknown) => bus.publish(channel, data);
  return { bus, harness, alice, bob, publish };
}

/**
 * A bus on a bare `ws` server speaking SocketCluster's protocol (handshake, subscribe,
 * publish), for what socketcluster-server never sends: binary frames, and frames past
 * the bridge's limit whose close code the test must see. Emits `subscribe` (channel)
 * and `disconnect` (close code).
 */
class RawBus extends WebSocketServer {
  readonly #channels = new Map<WebSocket, Set<string>>();

  static async open(cleanup: Cleanup): Promise<RawBus> {
    const bus = new RawBus({ host: "127.0.0.1", port: 0, path: SOCKETCLUSTER_PATH });
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          for (const ws of bus.clients) ws.terminate();
          bus.close(() => resolve());
        }),
    );
    await new Promise((resolve) => bus.once("listening", resolve));
    bus.on("connection", (ws) => bus.#serve(ws));
    return bus;
  }

  get url(): string {
    const { port } = this.address() as { port: number };
    return `ws://127.0.0.1:${port}${SOCKETCLUSTER_PATH}`;
  }

  /** Stops reading from every connected socket: what they send piles up unsent. */
  stopReading(): void {
    for (const ws of this.clients) (ws as unknown as { _socket: TcpSocket })._socket.pause();
  }

  /** Sends `data` to every connected socket as it is. */
  sendRaw(data: string | Buffer, binary: boolean): void {
    for (const ws of this.clients) ws.send(data, { binary });
  }

  /** A message on `channel` to the sockets subscribed to it. */
  publish(channel: string, data: unknown): void {
    for (const [ws, channels] of this.#channels) {
      if (channels.has(channel)) ws.send(publishFrame(channel, data));
    }
  }

  #serve(ws: WebSocket): void {
    const channels = new Set<string>();
    this.#channels.set(ws, channels);
    ws.on("close", (code) => {
      this.#channels.delete(ws);
      this.emit("disconnect", code);
    });
    ws.on("message", (raw, isBinary) => {
      const text = String(raw);
      if (isBinary || text === "") return; // the bridge's pong
      const frame = JSON.parse(text) as { event: string; data: unknown; cid: number };
      const reply = (data?: unknown) => ws.send(JSON.stringify({ rid: frame.cid, data }));
      switch (frame.event) {
        case "#handshake":
          reply({ id: "raw", pingTimeout: 20_000, isAuthenticated: false });
          return;
        case "#subscribe": {
          const { channel } = frame.data as { channel: string };
          channels.add(channel);
          reply();
          this.emit("subscribe", channel);
          return;
        }
        case "#unsubscribe":
          channels.delete(frame.data as string);
          reply();
          return;
        case "#publish": {
          const { channel, data } = frame.data as { channel: string; data: unknown };
          reply();
          this.publish(channel, data);
          return;
        }
      }
    });
  }
}

/** A bridge on a {@link RawBus}, alice in room:42, bob in room:43. */
async function onRawBus(cleanup: Cleanup, settings = "") {
  const bus = await RawBus.open(cleanup);
  const harness = await Harness.start(yaml(settings), { BUS_URL: bus.url });
  cleanup.add(() => harness.close());
  const alice = await member(harness, "room:42");
  const bob = await member(harness, "room:43");
  const publish = (channel: string, data: unknown) => bus.publish(channel, data);
  return { bus, harness, alice, bob, publish };
}

const DEEP = 10_000;

/** Frames of a bus gone wrong, and the reason each is counted under. */
const COUNTED: readonly { what: string; frame: string; reason: string }[] = [
  {
    what: "text that is not JSON (read as a string, which no rule matches)",
    frame: publishFrame("room:42", "cut short").slice(0, -8),
    reason: "unmatched",
  },
  {
    what: "JSON no rule matches, naming a channel with members",
    frame: JSON.stringify({ type: "message", channel: "room:42", data: "no rule" }),
    reason: "unmatched",
  },
  {
    what: `a publication nested ${DEEP.toLocaleString("en")} deep (not parsed)`,
    frame: `{"event":"#publish","data":{"channel":"room:42","data":${"[".repeat(DEEP)}${"]".repeat(DEEP)}}}`,
    reason: "too_deep",
  },
  {
    // Within the frame's bound (maxDepth 32 + 8), past the data's (32 + the envelope's 2).
    what: "a publication whose data nests 36 deep",
    frame: `{"event":"#publish","data":{"channel":"room:42","data":${"[".repeat(36)}${"]".repeat(36)}}}`,
    reason: "too_deep",
  },
  {
    what: "a publication whose event is only found through __proto__",
    frame: '{"__proto__":{"event":"#publish"},"data":{"channel":"room:42","data":"inherited"}}',
    reason: "unmatched",
  },
  {
    what: "a publication whose channel is a number",
    frame: publishFrame(42, "number"),
    reason: "malformed",
  },
  {
    what: "a publication with no channel",
    frame: JSON.stringify({ event: "#publish", data: { data: "no channel" } }),
    reason: "malformed",
  },
  {
    what: "a publication whose channel is only found through __proto__",
    frame: '{"event":"#publish","data":{"__proto__":{"channel":"room:42","data":"inherited"}}}',
    reason: "malformed",
  },
  {
    what: "a reply whose rid is an object",
    frame: '{"rid":{"cid":1},"error":null}',
    reason: "malformed",
  },
];

describe("frames a hostile SocketCluster bus sends", () => {
  const cleanup = useCleanup();

  it.each(COUNTED)(
    "$what: counted $reason, reaches nobody, the next arrives once",
    async ({ frame, reason }) => {
      const { bus, harness, alice, bob, publish } = await onSocketCluster(cleanup);
      const before = await receiveErrors(harness);
      bus.sendRaw(frame);
      await goodAfter(harness, publish, alice, bob);
      expect(increase(before, await receiveErrors(harness))).toEqual({ [reason]: 1 });
      expect(bus.clientsCount).toBe(1);
      expect(bus.subscribes.get("room:42")).toBe(1);
    },
  );

  it("a publication on a channel nobody here wants: dropped quietly, nobody gets it", async () => {
    const { bus, harness, alice, bob, publish } = await onSocketCluster(cleanup);
    const before = await receiveErrors(harness);
    bus.sendRaw(publishFrame("room:7", "not subscribed"));
    bus.sendRaw(publishFrame("room:420", "not subscribed"));
    await goodAfter(harness, publish, alice, bob);
    // Not counted: a message that crossed the bridge's unsubscribe looks the same.
    expect(increase(before, await receiveErrors(harness))).toEqual({});
  });

  it("data with __proto__ and constructor keys: delivered as plain data, no prototype touched", async () => {
    const { bus, harness, alice, bob, publish } = await onSocketCluster(cleanup);
    const data =
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"text":"proto"}';
    const before = await receiveErrors(harness);
    const got = waitFor<[Record<string, unknown>]>(alice.socket, "message");
    bus.sendRaw(`{"event":"#publish","data":{"channel":"room:42","data":${data}}}`);
    const [payload] = await got;
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    expect(Object.keys(payload)).toEqual(["__proto__", "constructor", "text"]);
    expect(JSON.stringify(payload)).toBe(data);
    // Neither Switchyard (in this process) nor the client built anything from the keys.
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    alice.seen.length = 0;
    await goodAfter(harness, publish, alice, bob);
    expect(increase(before, await receiveErrors(harness))).toEqual({});
  });

  it("publications flooding a room: a member that stops reading is cut off at maxQueuedBytes, the others keep up", async () => {
    const { bus, harness, alice, bob, publish } = await onSocketCluster(
      cleanup,
      "",
      "maxQueuedBytes: 65536",
    );
    const stalled = await stalledMember(harness.server.port, "room:42");
    cleanup.add(() => stalled.destroy());
    const before = await receiveErrors(harness);
    const slowBefore = await harness.metric(
      /switchyard_sessions_closed_total\{reason="slow consumer"\} (\S+)/,
    );

    // The link keeps no queue of received frames (each is delivered as it is read, and
    // `ws` stops reading while it works): the bound is each member's maxQueuedBytes.
    // 25 MiB in 64 KiB publications, far more than the loopback buffers hold. The bus
    // sends them as fast as the bridge reads; alice is waited for every 4 so that only
    // the member that stopped reading falls behind.
    const text = "x".repeat(64 * 1024);
    const count = 400;
    let received = 0;
    let onReceived = (): void => {};
    alice.socket.on("message", () => {
      received++;
      onReceived();
    });
    const receivedAll = (n: number) =>
      new Promise<void>((resolve) => {
        onReceived = () => {
          if (received >= n) resolve();
        };
        onReceived();
      });
    for (let sent = 1; sent <= count; sent++) {
      bus.sendRaw(publishFrame("room:42", text));
      if (sent % 4 === 0) await within(receivedAll(sent), `alice to have ${sent} publications`);
    }
    expect(received).toBe(count);

    // Reading again, the stalled member finds its connection ended short of the stream.
    let bytes = 0;
    stalled.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    const closed = new Promise((resolve) => stalled.once("close", resolve));
    stalled.resume();
    await within(closed, "the stalled member to be cut off");
    expect(bytes).toBeLessThan(count * text.length);
    expect(
      await harness.metric(/switchyard_sessions_closed_total\{reason="slow consumer"\} (\S+)/),
    ).toBe(slowBefore + 1);

    alice.seen.length = 0;
    await goodAfter(harness, publish, alice, bob);
    expect(increase(before, await receiveErrors(harness))).toEqual({});
    expect(bus.clientsCount).toBe(1);
    expect(bus.subscribes.get("room:42")).toBe(1);
  });
});

describe("frames socketcluster-server never sends", () => {
  const cleanup = useCleanup();

  it("a binary frame holding a publication's JSON: counted binary, reaches nobody", async () => {
    const { bus, harness, alice, bob, publish } = await onRawBus(cleanup);
    const before = await receiveErrors(harness);
    bus.sendRaw(Buffer.from(publishFrame("room:42", "binary")), true);
    await goodAfter(harness, publish, alice, bob);
    expect(increase(before, await receiveErrors(harness))).toEqual({ binary: 1 });
    expect(bus.clients.size).toBe(1);
  });

  it("a frame larger than maxFrameBytes: closed with 1009, counted, connected and subscribed again", async () => {
    const { bus, harness, alice, bob, publish } = await onRawBus(cleanup, "maxFrameBytes: 4096");
    const before = await receiveErrors(harness);
    const closed = waitFor<[number]>(bus, "disconnect");
    const again = new Set<string>();
    const resubscribed = waitForMatch<[string]>(bus, "subscribe", (channel) => {
      again.add(channel);
      return again.size === 2;
    });
    bus.sendRaw(publishFrame("room:42", "x".repeat(5000)), false);
    expect(await closed).toEqual([1009]);
    await resubscribed;
    expect([...again].sort()).toEqual(["room:42", "room:43"]);
    await until(
      async () => (await fetch(`${harness.url}/readyz`)).status === 200,
      "the backend ready again",
    );
    await goodAfter(harness, publish, alice, bob);
    expect(increase(before, await receiveErrors(harness))).toEqual({ too_large: 1 });
    expect(bus.clients.size).toBe(1);
  });
});

/** The preset's inbound rules, with a `ping` text frame answered by `pong` (text). */
function answeringPings(pong: string): string {
  return [
    "inbound: [",
    "{ match: { /rid: { exists: true } }, reply: { ref: /rid, error: /error } },",
    '{ match: { /event: "#publish" }, message: { channel: /data/channel, data: /data/data } },',
    `{ match: { "": "ping" }, respond: { text: "${pong}" } } ]`,
  ].join(" ");
}

describe("a bus that pings and stops reading", () => {
  const cleanup = useCleanup();

  it("loses its connection once 4 MiB of answers wait unsent; connected and subscribed again", async () => {
    // 64 KiB answers to 4-byte pings: the bound is passed after a few hundred.
    const { bus, harness, alice, bob, publish } = await onRawBus(
      cleanup,
      answeringPings("x".repeat(64 * 1024)),
    );
    const again = new Set<string>();
    const resubscribed = waitForMatch<[string]>(bus, "subscribe", (channel) => {
      again.add(channel);
      return again.size === 2;
    });
    const [first] = [...bus.clients];
    bus.stopReading();
    // Enough answers to pass the bound past what the kernel's buffers absorb.
    for (let i = 0; i < 1000 && first!.readyState === first!.OPEN; i++) bus.sendRaw("ping", false);
    await within(resubscribed, "a new connection subscribing both rooms");
    expect([...again].sort()).toEqual(["room:42", "room:43"]);
    await until(
      async () => (await fetch(`${harness.url}/readyz`)).status === 200,
      "the backend ready again",
    );
    await goodAfter(harness, publish, alice, bob);
  });
});

/**
 * A Socket.IO member of `room` on a raw TCP socket that stops reading once joined, so
 * nothing drains its receive buffer.
 */
async function stalledMember(port: number, room: string): Promise<TcpSocket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  );
  const read = (done: (seen: string) => boolean) =>
    new Promise<void>((resolve) => {
      let seen = "";
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString("latin1");
        if (!done(seen)) return;
        socket.off("data", onData);
        resolve();
      };
      socket.on("data", onData);
    });
  await within(
    read((seen) => seen.includes('"sid"') && seen.includes("0{")),
    "the open packet",
  );
  socket.write(maskedText("40"));
  const joined = read((seen) => seen.includes('430[{"ok":true}]'));
  socket.write(maskedText(`420["join",{"room":"${room}"}]`));
  await within(joined, "the join's ack");
  socket.pause();
  return socket;
}

/** A masked WebSocket text frame of fewer than 126 bytes, as a client sends it. */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const header = Buffer.from([0x81, 0x80 | payload.length]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([header, mask, masked]);
}

import { encode } from "notepack.io";
import { describe, expect, it } from "vitest";
import { ClassicCodec } from "../../../src/egress/native/redis/classic-codec.js";
import { decodePayload } from "../../../src/egress/native/redis/cluster-codec.js";

/** Hex with spaces and `"text"` runs, as /tmp/redis-adapter-wire.md writes the fixtures. */
function bytes(spec: string): Buffer {
  const hex = spec.replace(/"([^"]*)"/g, (_, text: string) => Buffer.from(text).toString("hex"));
  return Buffer.from(hex.replace(/\s+/g, ""), "hex");
}

/** What `@socket.io/redis-emitter` 5.1 publishes for `emitter.to("room1").emit("hello", "world")`. */
const EMITTER_HELLO = bytes(`
  93 a7"emitter" 83 a4"type" 02 a4"data" 92 a5"hello" a5"world" a3"nsp" a1"/"
     83 a5"rooms" 91 a5"room1" a5"flags" 80 a6"except" 90`);

/** An adapter broadcast with a binary argument, volatile and compress, except sid1. */
const ADAPTER_BINARY = bytes(`
  93 a6 416233644566 83 a4 74797065 02 a4 64617461 92 a3 62696e c4 03 010203 a3 6e7370 a1 2f
  83 a5 726f6f6d73 90 a6 657863657074 91 a4 73696431 a5 666c616773 82 a8 766f6c6174696c65 c3
  a8 636f6d7072657373 c3`);

describe("classic codec: broadcasts", () => {
  const codec = new ClassicCodec("socket.io", "XyZ123");

  it("decodes the emitter's to('room1').emit('hello', 'world') bytes into a broadcast", () => {
    expect(codec.decode("/", "broadcast", EMITTER_HELLO)).toEqual({
      type: "broadcast",
      from: "emitter",
      broadcast: {
        nsp: "/",
        rooms: ["room1"],
        except: [],
        event: "hello",
        args: ["world"],
        volatile: false,
      },
    });
  });

  it("decodes binary arguments as Buffers and keeps the volatile flag and the except list", () => {
    const inbound = codec.decode("/", "broadcast", ADAPTER_BINARY);
    expect(inbound).toEqual({
      type: "broadcast",
      from: "Ab3dEf",
      broadcast: {
        nsp: "/",
        rooms: [],
        except: ["sid1"],
        event: "bin",
        args: [Buffer.from([1, 2, 3])],
        volatile: true,
      },
    });
    if (inbound.type === "broadcast") expect(Buffer.isBuffer(inbound.broadcast.args[0])).toBe(true);
  });

  it("drops its own broadcasts by uid, and packets of another namespace", () => {
    const self = new ClassicCodec("socket.io", "Ab3dEf");
    expect(self.decode("/", "broadcast", ADAPTER_BINARY)).toEqual({
      type: "ignored",
      reason: "own message",
    });
    expect(codec.decode("/admin", "broadcast", EMITTER_HELLO)).toEqual({
      type: "ignored",
      reason: "other namespace",
    });
  });

  it("tells its own echo from its first bytes, and nobody else's", () => {
    const self = new ClassicCodec("socket.io", "Ab3dEf");
    expect(self.isOwn(ADAPTER_BINARY)).toBe(true);
    expect(codec.isOwn(ADAPTER_BINARY)).toBe(false);
    expect(self.isOwn(EMITTER_HELLO)).toBe(false);
    // Its own encoding, and a uid it starts or ends like.
    const own = self.encodeBroadcast("/", "room1", [], "e", [1]).payload as Buffer;
    expect(self.isOwn(own)).toBe(true);
    for (const uid of ["Ab3dE", "Ab3dEfg", "xAb3dEf"]) {
      expect(self.isOwn(encode([uid, {}, {}])), uid).toBe(false);
    }
    expect(self.isOwn(Buffer.alloc(0))).toBe(false);
  });

  it("reads a packet without nsp as the main namespace", () => {
    const payload = encode(["other1", { type: 2, data: ["e", 1] }, { rooms: [], except: [] }]);
    expect(codec.decode("/", "broadcast", payload)).toMatchObject({
      type: "broadcast",
      broadcast: { nsp: "/", event: "e", args: [1], volatile: false },
    });
  });

  it("encodes a single-room broadcast exactly as the adapter does, on the room's channel", () => {
    const sender = new ClassicCodec("socket.io", "Ab3dEf");
    const outbound = sender.encodeBroadcast("/", "room1", ["sid1", "sid1"], "hello", ["world"]);
    expect(outbound.channel).toBe("socket.io#/#room1#");
    expect(Buffer.from(outbound.payload).toString("hex")).toBe(
      bytes(`93 a6"Ab3dEf" 83 a4"type" 02 a4"data" 92 a5"hello" a5"world" a3"nsp" a1"/"
             83 a5"rooms" 91 a5"room1" a6"except" 91 a4"sid1" a5"flags" 80`).toString("hex"),
    );
  });

  it("encodes binary arguments inline as MessagePack bin, with packet type 2", () => {
    const sender = new ClassicCodec("k", "Ab3dEf");
    const outbound = sender.encodeBroadcast("/chat", "r", [], "bin", [new Uint8Array([1, 2, 3])]);
    expect(outbound.channel).toBe("k#/chat#r#");
    expect(decodePayload(Buffer.from(outbound.payload))).toEqual([
      "Ab3dEf",
      { type: 2, data: ["bin", Buffer.from([1, 2, 3])], nsp: "/chat" },
      { rooms: ["r"], except: [], flags: {} },
    ]);
  });

  it("names the channels and listens like the adapter, uid 6 characters", () => {
    const fresh = new ClassicCodec("socket.io");
    expect(fresh.uid).toMatch(/^[A-Za-z0-9]{6}$/);
    expect(codec.listening("/")).toEqual({
      patterns: ["socket.io#/#*"],
      channels: [
        { channel: "socket.io-request#/#", role: "request" },
        { channel: "socket.io-response#/#", role: "response" },
        { channel: "socket.io-response#/#XyZ123#", role: "response" },
      ],
    });
    expect(codec.countChannel("/admin")).toBe("socket.io-request#/admin#");
    expect(codec.roomOfChannel("/", "socket.io#/#room1#")).toBe("room1");
    expect(codec.roomOfChannel("/", "socket.io#/#")).toBeUndefined();
  });
});

describe("classic codec: requests and replies", () => {
  const codec = new ClassicCodec("socket.io", "XyZ123");
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

  it("reads the emitter's socketsJoin, socketsLeave and disconnectSockets (JSON, no uid)", () => {
    const opts = { rooms: ["room1"], except: ["x"] };
    const selector = { nsp: "/", rooms: ["room1"], except: ["x"] };
    expect(codec.decode("/", "request", json({ type: 2, opts, rooms: ["room2"] }))).toEqual({
      type: "join",
      selector,
      rooms: ["room2"],
    });
    expect(codec.decode("/", "request", json({ type: 3, opts, rooms: ["room2"] }))).toEqual({
      type: "leave",
      selector,
      rooms: ["room2"],
    });
    expect(codec.decode("/", "request", json({ type: 4, opts, close: true }))).toEqual({
      type: "disconnect",
      selector,
      close: true,
    });
  });

  it("reads the 7.x forms that name one socket", () => {
    expect(
      codec.decode(
        "/",
        "request",
        json({ uid: "a", requestId: "r1", type: 2, sid: "s", room: "x" }),
      ),
    ).toEqual({ type: "legacy-join", requestId: "r1", sid: "s", room: "x" });
    expect(
      codec.decode(
        "/",
        "request",
        json({ uid: "a", requestId: "r2", type: 4, sid: "s", close: false }),
      ),
    ).toEqual({ type: "legacy-disconnect", requestId: "r2", sid: "s", close: false });
    expect(
      codec.decode("/", "request", json({ uid: "a", requestId: "r3", type: 0, rooms: ["x"] })),
    ).toEqual({ type: "legacy-sockets", requestId: "r3", rooms: ["x"] });
  });

  it("reads all-rooms and fetch requests from others, and ignores its own", () => {
    expect(codec.decode("/", "request", json({ uid: "a", requestId: "r", type: 1 }))).toEqual({
      type: "all-rooms",
      from: "a",
      requestId: "r",
    });
    expect(
      codec.decode(
        "/",
        "request",
        json({ uid: "a", requestId: "r", type: 5, opts: { rooms: ["x"], except: [] } }),
      ),
    ).toEqual({
      type: "fetch-sockets",
      from: "a",
      requestId: "r",
      selector: { nsp: "/", rooms: ["x"], except: [] },
    });
    const own = Buffer.from(codec.encodeAllRooms("/", "mine").payload);
    expect(codec.decode("/", "request", own)).toEqual({ type: "ignored", reason: "own request" });
  });

  it("reads a MessagePack broadcast-with-ack request, without its flags, with its timeout", () => {
    const payload = encode({
      uid: "a",
      requestId: "r7",
      type: 7,
      packet: { type: 2, data: ["ping", Buffer.from([9])], nsp: "/" },
      opts: { rooms: ["room1"], except: [], flags: { volatile: true, timeout: 1000 } },
    });
    expect(payload[0]).not.toBe(0x7b);
    expect(codec.decode("/", "request", payload)).toEqual({
      type: "broadcast-with-ack",
      from: "a",
      requestId: "r7",
      timeoutMs: 1000,
      broadcast: {
        nsp: "/",
        rooms: ["room1"],
        except: [],
        event: "ping",
        args: [Buffer.from([9])],
        volatile: false,
      },
    });
  });

  it("reads a server-side emit as such, and a request of an unknown type as ignored", () => {
    expect(codec.decode("/", "request", json({ uid: "emitter", type: 6, data: ["x"] }))).toEqual({
      type: "server-side-emit",
      from: "emitter",
    });
    expect(codec.decode("/", "request", json({ type: 42 }))).toMatchObject({ type: "ignored" });
  });

  it("follows the JSON-vs-MessagePack rule: `{` first is JSON, anything else MessagePack", () => {
    expect(decodePayload(json({ a: 1 }))).toEqual({ a: 1 });
    expect(decodePayload(encode({ a: 1 }))).toEqual({ a: 1 });
    expect(() => decodePayload(Buffer.from("{not json"))).toThrow();
  });

  it("answers in JSON on the common response channel, acks in MessagePack", () => {
    const rooms = codec.encodeReply("/", "a", { kind: "rooms", requestId: "r", rooms: ["x"] });
    expect(rooms).toEqual({
      channel: "socket.io-response#/#",
      payload: '{"requestId":"r","rooms":["x"]}',
    });
    expect(
      codec.encodeReply("/", "a", { kind: "count", requestId: "r", clientCount: 2 }).payload,
    ).toBe('{"type":8,"requestId":"r","clientCount":2}');
    const ack = codec.encodeReply("/", "a", { kind: "ack", requestId: "r", arg: Buffer.from([1]) });
    expect(Buffer.isBuffer(ack.payload)).toBe(true);
    expect(decodePayload(ack.payload as Buffer)).toEqual({
      type: 9,
      requestId: "r",
      packet: Buffer.from([1]),
    });
    expect(codec.encodeReply("/", "a", { kind: "done", requestId: "r" }).payload).toBe(
      '{"requestId":"r"}',
    );
  });

  it("reads replies: rooms, sockets, counts and acks; a 7.x socket-id list is no fetch reply", () => {
    const socket = { id: "s1", handshake: {}, rooms: ["s1", "room1"], data: { u: 1 } };
    expect(codec.decode("/", "response", json({ requestId: "r", sockets: [socket] }))).toEqual({
      type: "reply",
      reply: { requestId: "r", sockets: [socket] },
    });
    expect(codec.decode("/", "response", json({ requestId: "r", sockets: ["s1"] }))).toEqual({
      type: "reply",
      reply: { requestId: "r" },
    });
    expect(
      codec.decode("/", "response", json({ type: 8, requestId: "r", clientCount: 3 })),
    ).toEqual({ type: "reply", reply: { requestId: "r", clientCount: 3 } });
    expect(
      codec.decode("/", "response", encode({ type: 9, requestId: "r", packet: "pong" })),
    ).toEqual({ type: "reply", reply: { requestId: "r", ack: { arg: "pong" } } });
  });

  it("encodes its own requests in JSON on the request channel", () => {
    expect(codec.encodeAllRooms("/", "r1")).toEqual({
      channel: "socket.io-request#/#",
      payload: '{"uid":"XyZ123","requestId":"r1","type":1}',
    });
    expect(
      codec.encodeFetchSockets("/", "r2", { nsp: "/", rooms: ["a"], except: ["b"] }).payload,
    ).toBe('{"uid":"XyZ123","requestId":"r2","type":5,"opts":{"rooms":["a"],"except":["b"]}}');
  });

  it("throws on malformed messages", () => {
    expect(() => codec.decode("/", "broadcast", encode({ not: "an array" }))).toThrow();
    expect(() => codec.decode("/", "request", json({ type: 1 }))).toThrow(/requestId/);
    expect(() =>
      codec.decode("/", "broadcast", encode(["u", { type: 2, data: [1], nsp: "/" }, {}])),
    ).toThrow(/packet.data/);
  });
});

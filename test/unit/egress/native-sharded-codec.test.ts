import { encode } from "notepack.io";
import { describe, expect, it } from "vitest";
import { decodePayload } from "../../../src/egress/native/redis/cluster-codec.js";
import { ShardedCodec } from "../../../src/egress/native/redis/sharded-codec.js";

const UID = "3f9c0a1b2c3d4e5f";
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe("sharded codec", () => {
  const codec = new ShardedCodec("socket.io", "dynamic", UID);

  it("encodes a single-room broadcast as the adapter's JSON ClusterMessage on the room's channel", () => {
    expect(codec.encodeBroadcast("/", "room1", [], "hello", ["world"])).toEqual({
      channel: "socket.io#/#room1#",
      payload: `{"uid":"${UID}","type":3,"data":{"packet":{"type":2,"data":["hello","world"],"nsp":"/"},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"nsp":"/"}`,
    });
  });

  it("chooses the channel by subscription mode; 20-character rooms count as socket ids in dynamic", () => {
    const socketIdLike = "a".repeat(20);
    expect(codec.encodeBroadcast("/", socketIdLike, [], "e", []).channel).toBe("socket.io#/#");
    expect(codec.roomListening("/", socketIdLike)).toBeUndefined();
    expect(codec.roomListening("/", "room1")).toBe("socket.io#/#room1#");
    const isStatic = new ShardedCodec("p", "static", UID);
    expect(isStatic.encodeBroadcast("/", "room1", [], "e", []).channel).toBe("p#/#");
    expect(isStatic.roomListening("/", "room1")).toBeUndefined();
    const isPrivate = new ShardedCodec("p", "dynamic-private", UID);
    expect(isPrivate.encodeBroadcast("/", socketIdLike, [], "e", []).channel).toBe(
      `p#/#${socketIdLike}#`,
    );
  });

  it("switches to MessagePack when a broadcast carries binary", () => {
    const outbound = codec.encodeBroadcast("/", "r", ["s1"], "bin", [Buffer.from([1, 2])]);
    expect(Buffer.isBuffer(outbound.payload)).toBe(true);
    expect(decodePayload(outbound.payload as Buffer)).toEqual({
      type: 3,
      data: {
        packet: { type: 2, data: ["bin", Buffer.from([1, 2])], nsp: "/" },
        opts: { rooms: ["r"], except: ["s1"], flags: {} },
      },
      uid: UID,
      nsp: "/",
    });
  });

  it("tells its own messages from their first bytes, JSON or MessagePack, and nobody else's", () => {
    const own = codec.encodeBroadcast("/", "room1", [], "e", [1]).payload;
    const ownBinary = codec.encodeBroadcast("/", "room1", [], "e", [Buffer.from([1])]).payload;
    expect(codec.isOwn(Buffer.from(own))).toBe(true);
    expect(codec.isOwn(Buffer.from(ownBinary))).toBe(true);
    // The adapter's order (uid third), another uid, a uid it starts like, nothing.
    const adapters = { type: 3, data: {}, uid: UID, nsp: "/" };
    for (const payload of [
      json(adapters),
      encode(adapters),
      json({ uid: "other", type: 3 }),
      encode({ uid: `${UID}0`, type: 3 }),
      json({ uid: UID.slice(0, -1), type: 3 }),
      Buffer.alloc(0),
    ]) {
      expect(codec.isOwn(payload), payload.toString("hex")).toBe(false);
    }
  });

  it("listens on the namespace channel and its own response channel; uid 16 hex", () => {
    expect(new ShardedCodec("socket.io", "dynamic").uid).toMatch(/^[0-9a-f]{16}$/);
    expect(codec.listening("/")).toEqual({
      patterns: [],
      channels: [
        { channel: "socket.io#/#", role: "broadcast" },
        { channel: `socket.io#/#${UID}#`, role: "response" },
      ],
    });
    expect(codec.countChannel("/")).toBe("socket.io#/#");
  });

  it("decodes broadcasts (volatile kept), drops its own, other namespaces and heartbeats", () => {
    const message = {
      type: 3,
      data: {
        packet: { type: 2, data: ["hello", 1], nsp: "/" },
        opts: { rooms: ["room1"], except: ["x"], flags: { volatile: true } },
      },
      uid: "other",
      nsp: "/",
    };
    expect(codec.decode("/", "broadcast", json(message))).toEqual({
      type: "broadcast",
      from: "other",
      broadcast: {
        nsp: "/",
        rooms: ["room1"],
        except: ["x"],
        event: "hello",
        args: [1],
        volatile: true,
      },
    });
    expect(codec.decode("/", "broadcast", json({ ...message, uid: UID }))).toEqual({
      type: "ignored",
      reason: "own message",
    });
    expect(codec.decode("/", "broadcast", json({ ...message, nsp: "/x" }))).toEqual({
      type: "ignored",
      reason: "other namespace",
    });
    expect(codec.decode("/", "broadcast", json({ type: 2, uid: "o", nsp: "/" }))).toMatchObject({
      type: "ignored",
    });
  });

  it("decodes acked broadcasts, joins, leaves, disconnects, fetches and server-side emits", () => {
    const opts = { rooms: ["a"], except: [], flags: { timeout: 900 } };
    const base = { uid: "o", nsp: "/" };
    const packet = { type: 2, data: ["ping"], nsp: "/" };
    expect(
      codec.decode(
        "/",
        "broadcast",
        encode({ type: 3, data: { packet, requestId: "q", opts }, ...base }),
      ),
    ).toMatchObject({ type: "broadcast-with-ack", from: "o", requestId: "q", timeoutMs: 900 });
    const selector = { nsp: "/", rooms: ["a"], except: [] };
    expect(
      codec.decode("/", "broadcast", json({ type: 4, data: { opts, rooms: ["b"] }, ...base })),
    ).toEqual({ type: "join", selector, rooms: ["b"] });
    expect(
      codec.decode("/", "broadcast", json({ type: 5, data: { opts, rooms: ["b"] }, ...base })),
    ).toEqual({ type: "leave", selector, rooms: ["b"] });
    expect(
      codec.decode("/", "broadcast", json({ type: 6, data: { opts, close: true }, ...base })),
    ).toEqual({ type: "disconnect", selector, close: true });
    expect(
      codec.decode("/", "broadcast", json({ type: 7, data: { opts, requestId: "f" }, ...base })),
    ).toEqual({ type: "fetch-sockets", from: "o", requestId: "f", selector });
    expect(
      codec.decode("/", "broadcast", json({ type: 9, data: { packet: ["x"] }, ...base })),
    ).toEqual({ type: "server-side-emit", from: "o" });
  });

  it("answers on the requester's response channel and reads replies", () => {
    expect(
      codec.encodeReply("/", "abc", { kind: "count", requestId: "q", clientCount: 0 }),
    ).toEqual({
      channel: "socket.io#/#abc#",
      payload: `{"uid":"${UID}","type":11,"data":{"requestId":"q","clientCount":0},"nsp":"/"}`,
    });
    const ack = codec.encodeReply("/", "abc", {
      kind: "ack",
      requestId: "q",
      arg: Buffer.from([7]),
    });
    expect(Buffer.isBuffer(ack?.payload)).toBe(true);
    expect(
      codec.encodeReply("/", "abc", { kind: "rooms", requestId: "q", rooms: [] }),
    ).toBeUndefined();
    const socket = { id: "s", handshake: {}, rooms: ["s"], data: null };
    expect(
      codec.decode(
        "/",
        "response",
        json({ type: 8, data: { requestId: "f", sockets: [socket] }, uid: "o", nsp: "/" }),
      ),
    ).toEqual({ type: "reply", reply: { requestId: "f", sockets: [socket] } });
    expect(
      codec.decode(
        "/",
        "response",
        encode({ type: 12, data: { requestId: "q", packet: 5 }, uid: "o", nsp: "/" }),
      ),
    ).toEqual({ type: "reply", reply: { requestId: "q", ack: { arg: 5 } } });
  });

  it("has no all-rooms request; fetches on the namespace channel in JSON", () => {
    expect(codec.encodeAllRooms()).toBeUndefined();
    expect(codec.encodeFetchSockets("/", "f", { nsp: "/", rooms: [], except: ["z"] })).toEqual({
      channel: "socket.io#/#",
      payload: `{"uid":"${UID}","type":7,"data":{"opts":{"rooms":[],"except":["z"],"flags":{}},"requestId":"f"},"nsp":"/"}`,
    });
  });
});

import { decode as adapterDecode, encode as adapterEncode } from "@msgpack/msgpack";
import { hashCode as adapterHashCode } from "@socket.io/redis-streams-adapter/dist/util.js";
import { describe, expect, it } from "vitest";
import { MalformedMessageError } from "../../../src/egress/native/redis/cluster-codec.js";
import {
  NATIVE_REDIS_STREAMS_DEFAULTS,
  resolveNativeRedisSettings,
} from "../../../src/egress/native/redis/redis-settings.js";
import { hashCode, StreamsCodec } from "../../../src/egress/native/redis/streams-codec.js";
import { compareStreamIds, isStreamId, nextStreamId } from "../../../src/stream-id.js";

const UID = "3f9c0a1b2c3d4e5f";
const ONE_STREAM = { streamName: "socket.io", streamCount: 1 };

describe("streams codec", () => {
  const codec = new StreamsCodec("socket.io", ONE_STREAM, UID);

  it("writes a broadcast as the adapter's stream entry: uid, nsp, type as text, JSON data", () => {
    expect(codec.encodeBroadcast("/", "room1", ["s1", "s1"], "hello", ["world"])).toEqual({
      stream: "socket.io",
      fields: [
        "uid",
        UID,
        "nsp",
        "/",
        "type",
        "3",
        "data",
        '{"packet":{"type":2,"data":["hello","world"],"nsp":"/"},"opts":{"rooms":["room1"],"except":["s1"],"flags":{}}}',
      ],
    });
  });

  it("writes binary data as base64 MessagePack the adapter's decoder reads", () => {
    const { fields } = codec.encodeBroadcast("/chat", "r", [], "bin", [Buffer.from([1, 2])]);
    const data = fields[7] as string;
    expect(data.startsWith("{")).toBe(false);
    // As the adapter decodes it: from a Buffer, so its bin comes back as a Buffer.
    expect(adapterDecode(Buffer.from(data, "base64"))).toEqual({
      packet: { type: 2, data: ["bin", Buffer.from([1, 2])], nsp: "/chat" },
      opts: { rooms: ["r"], except: [], flags: {} },
    });
  });

  it("picks the namespace's stream with the adapter's hash, negative indexes included", () => {
    const spread = new StreamsCodec("p", { streamName: "s", streamCount: 7 }, UID);
    for (const nsp of ["/", "/admin", "/chat", "/notifications", "/dashboard", "/é"]) {
      expect(hashCode(nsp)).toBe(adapterHashCode(nsp));
      expect(spread.streamOf(nsp)).toBe(`s-${adapterHashCode(nsp) % 7}`);
    }
    expect(spread.streamOf("/notifications")).toBe("s--1");
    expect(codec.streamOf("/anything")).toBe("socket.io");
  });

  it("listens on the public and private channels, counted on the public one, no room channels", () => {
    expect(codec.listening("/")).toEqual({
      patterns: [],
      channels: [
        { channel: "socket.io#/#", role: "broadcast" },
        { channel: `socket.io#/#${UID}#`, role: "response" },
      ],
    });
    expect(codec.countChannel("/")).toBe("socket.io#/#");
    expect(codec.roomListening()).toBeUndefined();
    expect(codec.encodeAllRooms()).toBeUndefined();
  });

  it("sends requests and replies in MessagePack the adapter decodes", () => {
    const request = codec.encodeFetchSockets("/", "r1", { nsp: "/", rooms: ["a"], except: [] });
    expect(request.channel).toBe("socket.io#/#");
    expect(adapterDecode(request.payload as Buffer)).toEqual({
      type: 7,
      data: { opts: { rooms: ["a"], except: [], flags: {} }, requestId: "r1" },
      uid: UID,
      nsp: "/",
    });
    const ack = codec.encodeReply("/", "other", { kind: "ack", requestId: "r2", arg: undefined });
    expect(ack?.channel).toBe("socket.io#/#other#");
    expect(adapterDecode(ack?.payload as Buffer)).toEqual({
      type: 12,
      data: { requestId: "r2" },
      uid: UID,
      nsp: "/",
    });
    expect(codec.encodeReply("/", "other", { kind: "done", requestId: "r3" })).toBeUndefined();
  });

  it("reads the adapter's pub/sub messages: an acked broadcast, a fetch request, replies", () => {
    const withAck = adapterEncode({
      type: 3,
      data: {
        packet: { type: 2, data: ["ping"], nsp: "/" },
        requestId: "q1",
        opts: { rooms: [], except: [], flags: { timeout: 1000 } },
      },
      uid: "peer",
      nsp: "/",
    });
    expect(codec.decode("/", "broadcast", Buffer.from(withAck))).toMatchObject({
      type: "broadcast-with-ack",
      from: "peer",
      requestId: "q1",
      timeoutMs: 1000,
    });
    const count = adapterEncode({
      type: 11,
      data: { requestId: "q2", clientCount: 3 },
      uid: "peer",
      nsp: "/",
    });
    expect(codec.decode("/", "response", Buffer.from(count))).toEqual({
      type: "reply",
      reply: { requestId: "q2", clientCount: 3 },
    });
  });

  it("reads an entry: its broadcast carries the entry id as offset; its own entries are skipped", () => {
    const fields = codec.encodeBroadcast("/", "room1", [], "hello", [1]).fields;
    const other = new StreamsCodec("socket.io", ONE_STREAM, "0000000000000000");
    const entry = other.parseEntry(fields);
    expect(entry).toMatchObject({ uid: UID, nsp: "/", type: 3 });
    expect(other.decodeEntry("1700000000000-3", entry)).toEqual({
      type: "broadcast",
      from: UID,
      broadcast: {
        nsp: "/",
        rooms: ["room1"],
        except: [],
        event: "hello",
        args: [1],
        volatile: false,
        offset: "1700000000000-3",
      },
    });
    expect(codec.decodeEntry("1-0", codec.parseEntry(fields))).toEqual({
      type: "ignored",
      reason: "own message",
    });
  });

  it("reads the adapter's join entry, and refuses entries without uid, nsp or a numeric type", () => {
    const join = codec.parseEntry([
      "uid",
      "peer",
      "nsp",
      "/",
      "type",
      "4",
      "data",
      '{"opts":{"rooms":["sid1"],"except":[]},"rooms":["room2"]}',
    ]);
    expect(codec.decodeEntry("2-0", join)).toEqual({
      type: "join",
      selector: { nsp: "/", rooms: ["sid1"], except: [] },
      rooms: ["room2"],
    });
    for (const fields of [
      ["nsp", "/", "type", "3"],
      ["uid", "u", "type", "3"],
      ["uid", "u", "nsp", "nowhere", "type", "3"],
      ["uid", "u", "nsp", "/", "type", "3.5"],
      ["uid", "u", "nsp", "/"],
      ["uid", "u", "nsp"],
    ]) {
      expect(() => codec.parseEntry(fields), fields.join(" ")).toThrow(MalformedMessageError);
    }
    const noBase64 = codec.parseEntry(["uid", "u", "nsp", "/", "type", "3", "data", "%%"]);
    expect(() => codec.decodeEntry("3-0", noBase64)).toThrow(MalformedMessageError);
  });
});

describe("streams settings", () => {
  it("fill in the adapter's defaults in streams mode only", () => {
    expect(resolveNativeRedisSettings({ mode: "streams" }).streams).toEqual({
      streamName: "socket.io",
      streamCount: 1,
      maxLen: 10_000,
      readCount: 100,
      blockTimeInMs: 5000,
      sessionKeyPrefix: "sio:session:",
    });
    expect(NATIVE_REDIS_STREAMS_DEFAULTS.maxLen).toBe(10_000);
    expect(resolveNativeRedisSettings({ mode: "streams", maxLen: 50 }).streams?.maxLen).toBe(50);
    expect(resolveNativeRedisSettings({ maxLen: 50 }).streams).toBeUndefined();
  });
});

describe("stream ids", () => {
  it("are ordered as the stream orders them, and bounded as Redis bounds them", () => {
    expect(isStreamId("1700000000000-0")).toBe(true);
    expect(isStreamId("18446744073709551615-18446744073709551615")).toBe(true);
    for (const bad of ["18446744073709551616-0", "1-", "-1", "1-2-3", "a-1", " 1-1", "1"]) {
      expect(isStreamId(bad), bad).toBe(false);
    }
    expect(compareStreamIds("2-0", "10-0")).toBe(-1);
    expect(compareStreamIds("5-10", "5-9")).toBe(1);
    expect(compareStreamIds("5-9", "5-9")).toBe(0);
    expect(nextStreamId("5-9")).toBe("5-10");
    expect(nextStreamId("5-18446744073709551615")).toBe("6-0");
  });
});

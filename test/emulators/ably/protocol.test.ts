import { describe, expect, it } from "vitest";
import {
  allowedOps,
  channelNameProblem,
  decodeFrame,
  encodeFrame,
  Flag,
  modesAllowedBy,
  OutboundFrame,
  parseKey,
  payloadFromWire,
  payloadToWire,
} from "./protocol.js";

describe("Ably emulator protocol helpers", () => {
  it("decodes a trailing base64 step to bytes and keeps the steps before it", () => {
    expect(payloadFromWire("AQI=", "base64")).toEqual({ data: Buffer.from([1, 2]) });
    expect(payloadFromWire("AQI=", "utf-8/base64")).toEqual({
      data: Buffer.from([1, 2]),
      encoding: "utf-8",
    });
    expect(payloadFromWire('{"a":1}', "json")).toEqual({ data: '{"a":1}', encoding: "json" });
    expect(payloadFromWire(undefined, undefined)).toEqual({});
  });

  it("refuses data that is neither a string nor bytes with 40013", () => {
    for (const data of [1, false, { a: 1 }, [1]]) {
      expect(payloadFromWire(data, undefined)).toMatchObject({ code: 40013, statusCode: 400 });
    }
  });

  it("writes bytes as base64 with a base64 step for json, and raw for msgpack", () => {
    const payload = { data: Buffer.from([255]), encoding: "cipher+aes-128-cbc" };
    expect(payloadToWire(payload, "json")).toEqual({
      data: "/w==",
      encoding: "cipher+aes-128-cbc/base64",
    });
    expect(payloadToWire(payload, "msgpack")).toEqual(payload);
  });

  it("encodes an outbound frame once per format and round-trips binary through both", () => {
    const frame = new OutboundFrame({
      action: 15,
      channel: "c",
      messages: [{ id: "a:0:0", timestamp: 1, serial: "s", data: Buffer.from([1, 2, 3]) }],
    });
    const json = decodeFrame(Buffer.from(frame.encoded("json") as string), "json") as {
      messages: { data: string; encoding: string }[];
    };
    expect(json.messages[0]).toMatchObject({ data: "AQID", encoding: "base64" });
    const msgpack = decodeFrame(frame.encoded("msgpack") as Buffer, "msgpack") as {
      messages: { data: Buffer; encoding?: string }[];
    };
    expect(Buffer.compare(msgpack.messages[0]!.data, Buffer.from([1, 2, 3]))).toBe(0);
    expect(msgpack.messages[0]!.encoding).toBeUndefined();
    expect(frame.encoded("json")).toBe(frame.encoded("json"));
  });

  it("leaves undefined fields out of both formats", () => {
    const message = { action: 4, error: undefined };
    expect(encodeFrame(message, "json")).toBe('{"action":4}');
    expect(decodeFrame(encodeFrame(message, "msgpack") as Buffer, "msgpack")).toEqual({
      action: 4,
    });
  });

  it("checks channel names as the service does", () => {
    for (const name of ["room:1", "a/b c", "ü?#%", "x".repeat(1000)]) {
      expect(channelNameProblem(name), name).toBeUndefined();
    }
    for (const name of ["", ":x", "[?rewind=1]x", "a\nb", 42]) {
      expect(channelNameProblem(name), String(name)).toBeDefined();
    }
  });

  it("matches capabilities exactly, by prefix wildcard and by *", () => {
    const capability = {
      "room:*": ["subscribe" as const],
      "room:secret": ["publish" as const],
      "*": ["presence" as const],
    };
    expect([...allowedOps(capability, "room:secret")].sort()).toEqual([
      "presence",
      "publish",
      "subscribe",
    ]);
    expect([...allowedOps(capability, "lobby")]).toEqual(["presence"]);
    expect(allowedOps({ "*": ["*"] }, "anything").size).toBe(4);
    expect(modesAllowedBy(allowedOps(capability, "room:1"))).toBe(
      Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE | Flag.PRESENCE,
    );
  });

  it("splits an API key at the first colon and the app id at the first dot", () => {
    expect(parseKey("app.key:se:cret")).toEqual({
      appId: "app",
      keyName: "app.key",
      secret: "se:cret",
    });
    expect(parseKey("nokey")).toBeUndefined();
    expect(parseKey("nodot:secret")).toBeUndefined();
  });
});

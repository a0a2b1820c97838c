import { describe, expect, it } from "vitest";
import { Outbound } from "../../../src/ingress/engine/outbound.js";
import {
  decodePayload,
  decodeText,
  encodePayload,
  PacketType,
} from "../../../src/ingress/engine/parser.js";

describe("Engine.IO v4 packets", () => {
  it("decodes each packet type with its data", () => {
    expect(decodeText("4hello")).toEqual({ type: PacketType.MESSAGE, data: "hello" });
    expect(decodeText("2probe")).toEqual({ type: PacketType.PING, data: "probe" });
    expect(decodeText("3")).toEqual({ type: PacketType.PONG });
    expect(decodeText("6")).toEqual({ type: PacketType.NOOP });
  });

  it("decodes a base64 record as a binary message", () => {
    expect(decodeText("bAQIDBA==")).toEqual({
      type: PacketType.MESSAGE,
      data: Buffer.from([1, 2, 3, 4]),
    });
  });

  it("refuses unknown types, empty packets and broken base64", () => {
    expect(decodeText("")).toBeUndefined();
    expect(decodeText("7")).toBeUndefined();
    expect(decodeText("abc")).toBeUndefined();
    expect(decodeText("b!!!")).toBeUndefined();
    expect(decodeText("bAQID")).toBeDefined();
    expect(decodeText("bAQ")).toBeUndefined();
  });

  it("splits a polling payload on the record separator, and refuses it whole if one record is bad", () => {
    expect(decodePayload("4hello\x1e4world\x1ebAQIDBA==")).toEqual([
      { type: PacketType.MESSAGE, data: "hello" },
      { type: PacketType.MESSAGE, data: "world" },
      { type: PacketType.MESSAGE, data: Buffer.from([1, 2, 3, 4]) },
    ]);
    expect(decodePayload("4hello\x1eabc")).toBeUndefined();
  });

  it("encodes a payload with binary as base64", () => {
    expect(
      encodePayload([
        { type: PacketType.MESSAGE, data: "hello" },
        { type: PacketType.MESSAGE, data: Buffer.from([1, 2, 3, 4]) },
        { type: PacketType.PING },
      ]),
    ).toBe("4hello\x1ebAQIDBA==\x1e2");
  });
});

describe("an outbound packet", () => {
  it("frames text as one unmasked WebSocket text frame", () => {
    const frame = Outbound.message("hi").wsFrame();
    expect(frame.toString("hex")).toBe(`8103${Buffer.from("4hi").toString("hex")}`);
  });

  it("frames binary as a binary frame without the Engine.IO type byte", () => {
    const frame = Outbound.message(Buffer.from([1, 2, 3])).wsFrame();
    expect(frame.toString("hex")).toBe("8203010203");
  });

  it("uses the 16-bit length form past 125 bytes", () => {
    const frame = Outbound.message("x".repeat(200)).wsFrame();
    expect(frame.subarray(0, 4).toString("hex")).toBe("817e00c9");
    expect(frame.length).toBe(4 + 201);
  });

  it("encodes its frame and its polling record once, however often it is asked", () => {
    const out = Outbound.message("shared");
    expect(out.wsFrame()).toBe(out.wsFrame());
    expect(out.pollingRecord()).toBe("4shared");
  });
});

import { describe, expect, it } from "vitest";
import { hasBinary } from "../../../src/binary.js";
import {
  decodeEvent,
  encodeEvent,
  isProtocolEvent,
  parseWireData,
} from "../../../src/egress/pusher/payload.js";

/** What a pusher-js client reads from an encoded event (it JSON.parses string data). */
function asPusherJsReads(data: string): unknown {
  return parseWireData(data);
}

/** The round trip through the wire: encode, then decode what pusher-js hands over. */
function roundTrip(event: string, args: unknown[]): { event: string; args: readonly unknown[] } {
  const encoded = encodeEvent(event, args);
  return decodeEvent(encoded.name, parseWireData(encoded.data));
}

describe("pusher payload: a single argument travels as the plain payload", () => {
  it.each([
    ["an object", { text: "hi", n: 1 }, '{"text":"hi","n":1}'],
    ["an array", [1, "two", { three: 3 }], '[1,"two",{"three":3}]'],
    ["a string", "hello", '"hello"'],
    ["a string that looks like a number", "123", '"123"'],
    ["a number", 123, "123"],
    ["a boolean", true, "true"],
    ["null", null, "null"],
  ])("%s is sent as its JSON text and a pusher-js client reads the same value", (_, arg, data) => {
    const encoded = encodeEvent("message", [arg]);
    expect(encoded).toEqual({ name: "message", data, isEnvelope: false });
    expect(asPusherJsReads(encoded.data)).toEqual(arg);
    expect(roundTrip("message", [arg])).toEqual({ event: "message", args: [arg] });
  });
});

describe("pusher payload: the envelope", () => {
  it("carries several arguments and decodes back to them", () => {
    const encoded = encodeEvent("move", [{ x: 1 }, "fast", 3]);
    expect(encoded.isEnvelope).toBe(true);
    expect(JSON.parse(encoded.data)).toEqual({ $switchyard: 1, args: [{ x: 1 }, "fast", 3] });
    expect(roundTrip("move", [{ x: 1 }, "fast", 3])).toEqual({
      event: "move",
      args: [{ x: 1 }, "fast", 3],
    });
  });

  it("carries no argument as an empty list", () => {
    expect(encodeEvent("ping", []).data).toBe('{"$switchyard":1,"args":[]}');
    expect(roundTrip("ping", [])).toEqual({ event: "ping", args: [] });
  });

  it("carries binary as base64 attachments behind placeholders, and decodes to Buffers", () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const encoded = encodeEvent("file", [{ name: "a.bin", body: bytes }]);
    expect(JSON.parse(encoded.data)).toEqual({
      $switchyard: 1,
      args: [{ name: "a.bin", body: { _placeholder: true, num: 0 } }],
      attachments: ["AAEC/w=="],
    });
    const decoded = roundTrip("file", [{ name: "a.bin", body: bytes }]);
    expect(decoded.args).toEqual([{ name: "a.bin", body: bytes }]);
    expect(Buffer.isBuffer((decoded.args[0] as { body: unknown }).body)).toBe(true);
  });

  it("turns ArrayBuffers and typed arrays into Buffers of the same bytes", () => {
    const view = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    const decoded = roundTrip("bin", [view, new Uint8Array([1, 2]).buffer]);
    expect(decoded.args).toEqual([Buffer.from([8, 7]), Buffer.from([1, 2])]);
  });

  it("wraps a single object that has the marker key, so it is not read as an envelope", () => {
    const tricky = { $switchyard: 1, args: ["not", "args"] };
    const encoded = encodeEvent("message", [tricky]);
    expect(encoded.isEnvelope).toBe(true);
    expect(roundTrip("message", [tricky])).toEqual({ event: "message", args: [tricky] });
  });

  it("sends an undefined single argument as null, as Socket.IO's JSON would", () => {
    expect(roundTrip("message", [undefined])).toEqual({ event: "message", args: [null] });
  });
});

describe("pusher payload: what other publishers send", () => {
  it("decodes an envelope from another Switchyard node", () => {
    const wire = '{"$switchyard":1,"args":[{"from":"node-2"},42]}';
    expect(decodeEvent("message", parseWireData(wire))).toEqual({
      event: "message",
      args: [{ from: "node-2" }, 42],
    });
  });

  it("decodes plain JSON from a native server as one argument", () => {
    expect(decodeEvent("message", parseWireData('{"text":"from php"}'))).toEqual({
      event: "message",
      args: [{ text: "from php" }],
    });
  });

  it("reads data the way pusher-js does: non-JSON stays a string, JSON primitives lose their quotes", () => {
    expect(parseWireData("hello")).toBe("hello");
    expect(parseWireData("123")).toBe(123);
    expect(parseWireData('"x"')).toBe("x");
    expect(decodeEvent("message", parseWireData("hello"))).toEqual({
      event: "message",
      args: ["hello"],
    });
  });

  it("keeps a client event's name and its data as the single argument", () => {
    expect(decodeEvent("client-message", { text: "typing" })).toEqual({
      event: "client-message",
      args: [{ text: "typing" }],
    });
  });

  it("refuses a placeholder that names no attachment next to real ones (a client would drop its connection)", () => {
    const wire = {
      $switchyard: 1,
      args: [
        { _placeholder: true, num: 0 },
        { _placeholder: true, num: 3 },
      ],
      attachments: ["AA=="],
    };
    expect(() => decodeEvent("x", wire)).toThrow("a placeholder names no attachment");
  });

  it("keeps a placeholder-shaped object as data when the envelope has no attachments", () => {
    const wire = { $switchyard: 1, args: [{ _placeholder: true, num: 3 }, 2] };
    expect(decodeEvent("x", wire).args).toEqual([{ _placeholder: true, num: 3 }, 2]);
  });

  it("treats an object whose marker is not 1 as a plain payload", () => {
    expect(decodeEvent("x", { $switchyard: 2, args: [] }).args).toEqual([
      { $switchyard: 2, args: [] },
    ]);
  });
});

describe("pusher payload helpers", () => {
  it("recognises Pusher's own events", () => {
    expect(isProtocolEvent("pusher:subscription_succeeded")).toBe(true);
    expect(isProtocolEvent("pusher_internal:member_added")).toBe(true);
    expect(isProtocolEvent("client-message")).toBe(false);
    expect(isProtocolEvent("message")).toBe(false);
  });

  it("finds binary nested in objects and arrays", () => {
    expect(hasBinary([{ a: [Buffer.alloc(1)] }])).toBe(true);
    expect(hasBinary({ a: [1, "x", null] })).toBe(false);
  });
});

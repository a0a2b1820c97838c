import { describe, expect, it } from "vitest";
import { hasBinary } from "../../../src/binary.js";
import {
  decodeText,
  encode,
  reconstruct,
  SioDecodeError,
  SioType,
} from "../../../src/ingress/sio/parser.js";

const LIMITS = { maxAttachments: 10, maxDepth: 4 };
const decode = (text: string) => decodeText(text, LIMITS);
const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

describe("Socket.IO v5 encoding", () => {
  it("writes type, namespace, ack id and JSON in that order", () => {
    expect(encode({ type: SioType.EVENT, nsp: "/", data: ["ev", 1] })).toEqual(['2["ev",1]']);
    expect(encode({ type: SioType.EVENT, nsp: "/admin", id: 12, data: ["ev"] })).toEqual([
      '2/admin,12["ev"]',
    ]);
    expect(encode({ type: SioType.ACK, nsp: "/admin", id: 12, data: [] })).toEqual([
      "3/admin,12[]",
    ]);
    expect(encode({ type: SioType.CONNECT, nsp: "/", data: { sid: "x" } })).toEqual([
      '0{"sid":"x"}',
    ]);
    expect(encode({ type: SioType.DISCONNECT, nsp: "/chat" })).toEqual(["1/chat,"]);
  });

  it("turns Buffers into placeholders and attachments, in order, nested or not", () => {
    const [text, ...attachments] = encode({
      type: SioType.EVENT,
      nsp: "/",
      data: ["ev", Buffer.from([1]), { deep: [Buffer.from([2])] }],
    });
    expect(text).toBe(
      '52-["ev",{"_placeholder":true,"num":0},{"deep":[{"_placeholder":true,"num":1}]}]',
    );
    expect(attachments).toEqual([Buffer.from([1]), Buffer.from([2])]);
  });

  it("makes an ack with binary a BINARY_ACK", () => {
    const [text] = encode({ type: SioType.ACK, nsp: "/", id: 7, data: [new Uint8Array([1])] });
    expect(text).toBe('61-7[{"_placeholder":true,"num":0}]');
  });

  it("finds binary data anywhere, and none in plain JSON", () => {
    expect(hasBinary([{ a: [1, { b: new ArrayBuffer(1) }] }])).toBe(true);
    expect(hasBinary([{ a: [1, { b: "x" }] }, null])).toBe(false);
  });
});

describe("Socket.IO v5 decoding", () => {
  it("reads every part of an event with a namespace and an ack id", () => {
    expect(decode('2/admin,456["ev",{"a":1}]')).toEqual({
      type: SioType.EVENT,
      nsp: "/admin",
      id: 456,
      data: ["ev", { a: 1 }],
      attachments: 0,
    });
  });

  it("reads a CONNECT with and without auth", () => {
    expect(decode("0")).toMatchObject({ type: SioType.CONNECT, nsp: "/", data: undefined });
    expect(decode('0/custom,{"token":"abc"}')).toMatchObject({
      nsp: "/custom",
      data: { token: "abc" },
    });
  });

  it("reads a DISCONNECT for a namespace without a trailing comma", () => {
    expect(decode("1/custom")).toMatchObject({ type: SioType.DISCONNECT, nsp: "/custom" });
  });

  it("puts attachments back in place of their placeholders", () => {
    const partial = decode(
      '52-789["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
    );
    expect(partial.attachments).toBe(2);
    const packet = reconstruct(partial, [Buffer.from([1]), Buffer.from([2])]);
    expect(packet).toEqual({
      type: SioType.BINARY_EVENT,
      nsp: "/",
      id: 789,
      data: ["ev", Buffer.from([1]), Buffer.from([2])],
      attachments: 0,
    });
  });

  it.each([
    ["an unknown type", "7[]"],
    ["an empty packet", ""],
    ["broken JSON", '2["ev"'],
    ["an event that is not an array", "2{}"],
    ["an empty event", "2[]"],
    ["text where the event name should be", '2abc["ev"]'],
    ["a reserved event name", '2["disconnect"]'],
    ["an event name that is an object", "2[{}]"],
    ["a CONNECT whose auth is not an object", '0"token"'],
    ["a CONNECT whose auth is an array", "0[1]"],
    ["a DISCONNECT with a payload", '1{"a":1}'],
    ["an ACK without id", "3[]"],
    ["an ACK that is not an array", '31{"a":1}'],
    ["a binary packet without an attachment count", '5["ev"]'],
    ["a binary packet with a bad attachment count", '5x-["ev"]'],
  ])("refuses %s", (_, text) => {
    expect(() => decode(text)).toThrow(SioDecodeError);
  });

  it("refuses more attachments than the limit, with its own code", () => {
    try {
      decodeText('511-["ev"]', LIMITS);
      expect.unreachable();
    } catch (error) {
      expect((error as SioDecodeError).code).toBe("SWY_SESSION_TOO_MANY_ATTACHMENTS");
    }
  });

  it("refuses a placeholder that points past the attachments", () => {
    const partial = decode('51-["ev",{"_placeholder":true,"num":3}]');
    expect(() => reconstruct(partial, [Buffer.from([1])])).toThrow(SioDecodeError);
  });

  it("accepts arguments nested exactly maxDepth deep, brackets in strings not counted", () => {
    expect(decode(`2["ev",${nested(4)}]`).data).toEqual(["ev", [[[[1]]]]]);
    expect(decode(`2["ev","${"[".repeat(50)}\\"["]`).tooDeep).toBeUndefined();
  });

  it("marks an event nested deeper than maxDepth without parsing it, keeping its name and ack id", () => {
    const packet = decode(`2/chat,7["ev",{"a":${nested(4)}}]`);
    expect(packet).toMatchObject({
      type: SioType.EVENT,
      nsp: "/chat",
      id: 7,
      tooDeep: { event: "ev" },
    });
    expect(packet.data).toBeUndefined();
  });

  it("marks a CONNECT whose auth nests too deep, and closes on an ACK that does", () => {
    expect(decode(`0{"a":${nested(4)}}`).tooDeep).toEqual({});
    try {
      decode(`31[${nested(5)}]`);
      expect.unreachable();
    } catch (error) {
      expect((error as SioDecodeError).code).toBe("SWY_PAYLOAD_TOO_DEEP");
    }
  });

  it("swallows the attachments of a binary event that nests too deep", () => {
    const partial = decode(`51-["ev",{"_placeholder":true,"num":0},${nested(5)}]`);
    expect(partial.tooDeep).toEqual({ event: "ev" });
    expect(reconstruct(partial, [Buffer.from([1])])).toMatchObject({
      attachments: 0,
      tooDeep: { event: "ev" },
    });
  });
});

import { describe, expect, it } from "vitest";
import {
  ablyMessageSize,
  decodeAblyMessage,
  encodeAblyEvent,
} from "../../../src/egress/ably/payload.js";

describe("the Ably payload mapping", () => {
  it("sends one string, binary, object or array as the message's data itself", () => {
    expect(encodeAblyEvent("m", ["hi"])).toEqual({ name: "m", data: "hi", isEnvelope: false });
    const bytes = new Uint8Array([1, 2, 3]);
    expect(encodeAblyEvent("m", [bytes]).data).toEqual(Buffer.from([1, 2, 3]));
    expect(encodeAblyEvent("m", [{ a: [1, "x"] }])).toEqual({
      name: "m",
      data: { a: [1, "x"] },
      isEnvelope: false,
    });
    expect(encodeAblyEvent("m", [[1, 2]]).data).toEqual([1, 2]);
  });

  it("wraps what Ably refuses or cannot carry in the envelope", () => {
    for (const args of [[], [1, 2], [42], [true], [null], [{ file: Buffer.from([7]) }]]) {
      expect(encodeAblyEvent("m", args).isEnvelope, JSON.stringify(args)).toBe(true);
    }
    expect(encodeAblyEvent("m", [{ file: Buffer.from([7]) }]).data).toEqual({
      $switchyard: 1,
      args: [{ file: { _placeholder: true, num: 0 } }],
      attachments: ["Bw=="],
    });
    expect(encodeAblyEvent("m", [{ $switchyard: 1 }]).isEnvelope).toBe(true);
  });

  it("decodes what it encodes, and a native client's plain data as one argument", () => {
    for (const args of [["hi"], [{ a: 1 }], [1, "two", null], [{ f: Buffer.from([9]) }], []]) {
      const out = encodeAblyEvent("m", args);
      expect(decodeAblyMessage(out.name, out.data)).toEqual({ event: "m", args });
    }
    expect(decodeAblyMessage("native", Buffer.from([1]))).toEqual({
      event: "native",
      args: [Buffer.from([1])],
    });
  });

  it("refuses an envelope whose placeholders name no attachment", () => {
    const wire = { $switchyard: 1, args: [{ _placeholder: true, num: 4 }], attachments: ["AA=="] };
    expect(() => decodeAblyMessage("m", wire)).toThrow("a placeholder names no attachment");
  });

  it("counts a message's size as Ably does: name plus data bytes", () => {
    expect(ablyMessageSize(encodeAblyEvent("ab", ["zoë"]))).toBe(2 + 4);
    expect(ablyMessageSize(encodeAblyEvent("m", [Buffer.alloc(10)]))).toBe(11);
    expect(ablyMessageSize(encodeAblyEvent("m", [{ a: 1 }]))).toBe(1 + 7);
  });
});

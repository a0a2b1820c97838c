import { describe, expect, it } from "vitest";
import { parseAnswer } from "../../../src/router/forward-event.js";

const bad = (body: unknown) => {
  try {
    parseAnswer(body, 8);
  } catch (error) {
    return (error as { code: string; message: string }).message;
  }
  throw new Error("accepted");
};

describe("parseAnswer", () => {
  it("applies the defaults to an empty answer: ack {ok: true}, nothing else", () => {
    expect(parseAnswer({}, 8)).toEqual({
      ack: { ok: true },
      leave: [],
      join: [],
      emit: [],
      disconnect: false,
    });
  });

  it("keeps an explicit ack, even null, and fills emit defaults", () => {
    const answer = parseAnswer({ ack: null, emit: [{ room: "r", event: "e" }] }, 8);
    expect(answer.ack).toBeNull();
    expect(answer.emit).toEqual([{ room: "r", event: "e", args: [], exceptSender: false }]);
  });

  it("names the first problem of a malformed answer", () => {
    expect(bad([])).toBe("The app's answer is malformed: not a JSON object");
    expect(bad({ joins: [] })).toBe("The app's answer is malformed: unknown key 'joins'");
    expect(bad({ join: "r" })).toContain("'join' must be a list of rooms");
    expect(bad({ leave: ["123456789"] })).toContain("'leave[0]' must be a non-empty string");
    expect(bad({ emit: [{ room: "r", event: "connect" }] })).toContain("non-reserved");
    expect(bad({ emit: [{ room: "r", event: "e", args: 1 }] })).toContain("'emit[0].args'");
    expect(bad({ emit: [{ room: "r", event: "e", to: 1 }] })).toContain("'emit[0].to'");
    expect(bad({ disconnect: "yes" })).toContain("'disconnect' must be a boolean");
  });
});

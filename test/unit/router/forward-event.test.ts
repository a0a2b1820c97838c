import { readFileSync } from "node:fs";
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
    expect(bad({ joins: [] })).toBe(
      "The app's answer is malformed: unknown key 'joins' (did you mean 'join'? known keys: ack, join, leave, emit, disconnect)",
    );
    expect(bad({ join: "r" })).toContain("'join' must be a list of rooms");
    expect(bad({ leave: ["123456789"] })).toContain("'leave[0]' must be a non-empty string");
    expect(bad({ emit: [{ room: "r", event: "connect" }] })).toContain("non-reserved");
    expect(bad({ emit: [{ room: "r", event: "e", args: 1 }] })).toContain("'emit[0].args'");
    expect(bad({ emit: [{ room: "r", event: "e", to: 1 }] })).toContain("'emit[0].to'");
    expect(bad({ disconnect: "yes" })).toContain("'disconnect' must be a boolean");
  });

  it("accepts the answers docs/mapping.md and examples/chat/README.md show, as written", () => {
    const answers = ["docs/mapping.md", "examples/chat/README.md"].flatMap((file) =>
      [
        ...readFileSync(new URL(`../../../${file}`, import.meta.url), "utf8").matchAll(
          /```json\n([\s\S]*?)```/g,
        ),
      ]
        .map((block) => JSON.parse(block[1]!) as Record<string, unknown>)
        // Forward answers; the request bodies and the webhook's answers have other keys.
        .filter((body) => "ack" in body && !("event" in body)),
    );
    expect(answers.length).toBeGreaterThanOrEqual(1);
    for (const answer of answers) expect(() => parseAnswer(answer, 64)).not.toThrow();
  });

  it("lists the known keys after an unknown one, with a suggestion when one is close", () => {
    expect(bad({ ok: true })).toBe(
      "The app's answer is malformed: unknown key 'ok' (known keys: ack, join, leave, emit, disconnect; what the client's ack receives goes in 'ack')",
    );
    expect(bad({ result: 1 })).toBe(
      "The app's answer is malformed: unknown key 'result' (known keys: ack, join, leave, emit, disconnect)",
    );
    expect(bad({ emit: [{ room: "r", event: "e", except: true }] })).toBe(
      "The app's answer is malformed: unknown key 'emit[0].except' (known keys: room, event, args, exceptSender)",
    );
    expect(bad({ emit: [{ room: "r", evnt: "e" }] })).toContain(
      "unknown key 'emit[0].evnt' (did you mean 'event'? known keys: room, event, args, exceptSender)",
    );
  });
});

import { describe, expect, it } from "vitest";
import {
  type ChannelNaming,
  disallowedChars,
  escapeChannelText,
} from "../../../src/egress/channel-naming.js";
import { pusherChannelNaming } from "../../../src/egress/pusher/pusher-channel-naming.js";

/** A kind with another escape character and a narrower alphabet: the rule is the same. */
const TILDE: ChannelNaming = {
  maxLength: 100,
  allowedText: "A-Z a-z 0-9 ~ :",
  escapeChar: "~",
  isAllowed: (char) => /^[A-Za-z0-9~:]$/.test(char),
};

const esc = (text: string, naming: ChannelNaming = pusherChannelNaming) =>
  escapeChannelText(naming, text);

describe("channel escaping: text a reference brings in keeps only letters and digits", () => {
  it("leaves ASCII letters and digits as they are", () => {
    expect(esc("Room42abcXYZ")).toBe("Room42abcXYZ");
  });

  it.each([
    ["42-staff", "42=2Dstaff"],
    ["a_b", "a=5Fb"],
    ["a.b", "a=2Eb"],
    ["a=b", "a=3Db"],
    ["a@b,c;d", "a=40b=2Cc=3Bd"],
    ["room:1", "room=3A1"],
    ["a b", "a=20b"],
    ["ann+bob", "ann=2Bbob"],
  ])(
    "escapes every other ASCII character, separators Pusher allows included: %s → %s",
    (text, expected) => {
      expect(esc(text)).toBe(expected);
    },
  );

  it("escapes each UTF-8 byte of non-ASCII text, four bytes for characters outside the BMP", () => {
    expect(esc("zoë")).toBe("zo=C3=AB");
    expect(esc("€")).toBe("=E2=82=AC");
    expect(esc("😀")).toBe("=F0=9F=98=80");
  });

  it("keeps lone surrogates apart instead of folding them into one replacement character", () => {
    expect(esc("\ud800")).toBe("=ED=A0=80");
    expect(esc("\ud801")).toBe("=ED=A0=81");
    expect(esc("\udc00x")).toBe("=ED=B0=80x");
  });

  it("applies the same rule to every kind, with the kind's escape character", () => {
    expect(esc("a:b-c~d", TILDE)).toBe("a~3Ab~2Dc~7Ed");
  });

  it("gives distinct rooms distinct text, so a route never merges two rooms by accident", () => {
    const rooms = [
      "42-staff",
      "42=2Dstaff",
      "42",
      "-",
      "=2D",
      "a.b",
      "a_b",
      "a b",
      "zoë",
      "zo=C3=AB",
    ];
    const escaped = rooms.map((room) => esc(room));
    expect(new Set(escaped).size).toBe(rooms.length);
    for (const text of escaped) expect(text).toMatch(/^([A-Za-z0-9]|=[0-9A-F]{2})+$/);
  });

  it("still lists the characters literal template text may not hold, by the kind's own rules", () => {
    expect(disallowedChars(pusherChannelNaming, "dm:{a}/x-y")).toEqual([":", "{", "}", "/"]);
    expect(disallowedChars(TILDE, "a:b-c")).toEqual(["-"]);
  });
});

describe("pusher channel naming", () => {
  it("reserves the prefixes that make the backend sign for a channel", () => {
    expect(pusherChannelNaming.reservedPrefixes).toEqual([
      "private-",
      "presence-",
      "private-encrypted-",
    ]);
  });
});

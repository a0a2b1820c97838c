import { describe, expect, it } from "vitest";
import { compileRoomPattern, parseRoomPattern } from "../../../src/mapping/pattern.js";

describe("parseRoomPattern", () => {
  it("splits literal text and captures", () => {
    const parsed = parseRoomPattern("room:{id}/{ part }");
    expect(parsed.problems).toEqual([]);
    expect(parsed.parts).toEqual(["room:", { capture: "id" }, "/", { capture: "part" }]);
    expect(parsed.captures).toEqual(["id", "part"]);
  });

  it("reads * alone as any room", () => {
    expect(parseRoomPattern("*")).toMatchObject({ isAny: true, problems: [] });
  });

  it.each([
    ["room:{id", "Room pattern 'room:{id': unclosed '{' (write '{{' for a literal '{')"],
    ["room:}", "Room pattern 'room:}': single '}' (write '}}' for a literal '}')"],
    [
      "room:{1x}",
      "Room pattern 'room:{1x}': capture name '{1x}' is not an identifier (letters, digits and _, not first a digit)",
    ],
    [
      "room:{}",
      "Room pattern 'room:{}': capture name '{}' is not an identifier (letters, digits and _, not first a digit)",
    ],
    ["{id}:{id}", "Room pattern '{id}:{id}': capture {id} appears twice"],
    ["{a}{b}", "Room pattern '{a}{b}': captures {a} and {b} need literal text between them"],
    [
      "room:*",
      "Room pattern 'room:*': '*' means any room only on its own; use a capture such as {id}",
    ],
  ])("reports %s", (source, message) => {
    expect(parseRoomPattern(source).problems.map((p) => p.message)).toEqual([message]);
  });
});

describe("compileRoomPattern", () => {
  it("matches a literal pattern exactly, with no captures", () => {
    const lobby = compileRoomPattern("lobby");
    expect(lobby.source).toBe("lobby");
    expect(lobby.match("lobby")).toEqual({});
    expect(lobby.match("lobby2")).toBeUndefined();
    expect(lobby.match("Lobby")).toBeUndefined();
  });

  it("captures one or more characters other than ':' and '/'", () => {
    const room = compileRoomPattern("room:{id}");
    expect(room.match("room:42")).toEqual({ id: "42" });
    expect(room.match("room:")).toBeUndefined();
    expect(room.match("room:4:2")).toBeUndefined();
    expect(room.match("room:4/2")).toBeUndefined();
    expect(room.match("xroom:42")).toBeUndefined();
    expect(room.match("room:a b.c-d")).toEqual({ id: "a b.c-d" });
  });

  it("captures several names and treats regex characters as text", () => {
    const p = compileRoomPattern("org.{org}+team:{team}");
    expect(p.match("org.acme+team:red")).toEqual({ org: "acme", team: "red" });
    expect(p.match("orgXacme+team:red")).toBeUndefined();
    expect(compileRoomPattern("a{{b}}:{x}").match("a{b}:1")).toEqual({ x: "1" });
  });

  it("lets * match any room", () => {
    const any = compileRoomPattern("*");
    expect(any.match("anything:at/all")).toEqual({});
    expect(any.match("*")).toEqual({});
  });

  it("is frozen and refuses an invalid pattern", () => {
    expect(Object.isFrozen(compileRoomPattern("room:{id}"))).toBe(true);
    expect(() => compileRoomPattern("room:{")).toThrow(/unclosed/);
  });

  it("tests a room without building captures, agreeing with match", () => {
    for (const source of ["lobby", "room:{id}", "dm:{a}-{b}", "*"]) {
      const pattern = compileRoomPattern(source);
      for (const room of ["lobby", "room:1", "room:", "dm:x-y", "room:1/2", "other"]) {
        expect(pattern.test(room), `${source} ${room}`).toBe(pattern.match(room) !== undefined);
      }
    }
  });
});

import { describe, expect, it } from "vitest";
import type { ChannelNaming } from "../../../src/egress/channel-naming.js";
import { pusherChannelNaming } from "../../../src/egress/pusher/pusher-channel-naming.js";
import {
  type ChannelShape,
  channelShape,
  reachableReservedPrefix,
  sharedChannel,
  unseparatedReferences,
} from "../../../src/mapping/channel-overlap.js";
import { parseChannelTemplate, parseRoomPattern } from "../../../src/mapping/pattern.js";

/** The shape of `template` on a route for `room` in namespace `nsp`, on Pusher by default. */
function shape(
  template: string,
  room = "r:{a}",
  nsp = "/",
  naming: ChannelNaming = pusherChannelNaming,
): ChannelShape {
  return channelShape(parseChannelTemplate(template), parseRoomPattern(room), nsp, naming);
}

/** The shared channel, checked to be found whichever of the two comes first. */
function shared(a: ChannelShape, b: ChannelShape): string | undefined {
  const forward = sharedChannel(a, b);
  expect(sharedChannel(b, a)).toBe(forward);
  return forward;
}

describe("channel overlap: whether two templates of one backend can give the same channel", () => {
  it("keeps `private-room-{id}` and `private-room-{id}-staff` apart: a room cannot bring in '-'", () => {
    expect(shared(shape("private-room-{a}"), shape("private-room-{a}-staff"))).toBeUndefined();
  });

  it("finds `a{x}` and `ab{x}` overlapping (room x = 'bx' on one, 'x' on the other)", () => {
    expect(shared(shape("a{a}"), shape("ab{a}"))).toBe("abx");
  });

  it("finds identical templates of two routes overlapping, and literal channels only when equal", () => {
    expect(shared(shape("room-{a}"), shape("room-{a}", "s:{a}"))).toBe("room-x");
    expect(shared(shape("lobby", "lobby"), shape("lobby", "hall"))).toBe("lobby");
    expect(shared(shape("lobby", "lobby"), shape("lobby2", "hall"))).toBeUndefined();
  });

  it("lines up separators: templates with different separators never overlap", () => {
    expect(shared(shape("a{a}"), shape("a-{a}"))).toBeUndefined();
    expect(shared(shape("x-{a}.y"), shape("x-{a}-y"))).toBeUndefined();
    expect(shared(shape("x-{a}-y"), shape("x-z-{a}"))).toBe("x-z-y");
  });

  it("knows a reference's text is letters, digits and escape + two upper-case hex digits", () => {
    // '=' in literal text can meet an escape a room brings in: room 'A' gives x=41.
    expect(shared(shape("x{a}"), shape("x=4{a}"))).toBe("x=40");
    expect(shared(shape("room-{a}"), shape("room-=2D", "dash"))).toBe("room-=2D");
    // After '=' come two hex digits; 'Z' and lower-case 'a' are neither.
    expect(shared(shape("x{a}"), shape("x=Z{a}"))).toBeUndefined();
    expect(shared(shape("x{a}"), shape("x=a1", "c"))).toBeUndefined();
  });

  it("reads {nsp} as the namespace's escaped name: the same template in two namespaces is apart", () => {
    expect(shared(shape("{nsp}-{a}", "r:{a}", "/a"), shape("{nsp}-{a}", "r:{a}", "/b"))).toBe(
      undefined,
    );
    expect(shared(shape("room-{a}", "r:{a}", "/a"), shape("room-{a}", "r:{a}", "/b"))).toBe(
      "room-x",
    );
    // Without a separator after it, a namespace can run into the room: /a + 'bx' = /ab + 'x'.
    expect(shared(shape("c-{nsp}{a}", "r:{a}", "/a"), shape("c-{nsp}{a}", "r:{a}", "/ab"))).toBe(
      "c-=2Fabx",
    );
  });

  it("reads {room} as the room pattern, its literal text escaped", () => {
    expect(shared(shape("c-{room}", "room:{a}"), shape("c-{room}", "chat:{a}"))).toBeUndefined();
    expect(shared(shape("c-{room}", "room:{a}"), shape("c-{room}", "*"))).toBe("c-room=3Ax");
    expect(shared(shape("c-{room}", "lobby"), shape("c-{room}", "hall"))).toBeUndefined();
  });

  it("counts only channels the kind accepts: an overlap longer than maxLength is none", () => {
    const long = (naming: ChannelNaming) => [
      shape(`p${"y".repeat(100)}{a}`, "r:{a}", "/", naming),
      shape(`p{a}${"z".repeat(100)}`, "r:{a}", "/", naming),
    ];
    const [a, b] = long(pusherChannelNaming);
    expect(shared(a!, b!)).toBeUndefined();
    const roomy = { ...pusherChannelNaming, maxLength: 300 };
    const [c, d] = long(roomy);
    expect(shared(c!, d!)).toBe(`p${"y".repeat(100)}${"z".repeat(100)}`);
  });
});

describe("channel overlap: what one template lets a room choose", () => {
  const reserved = pusherChannelNaming.reservedPrefixes!;

  it("finds a reserved prefix a room can complete, but not one the literal text already chose", () => {
    expect(reachableReservedPrefix(shape("pr{a}-x"), reserved)).toBe("private-");
    expect(reachableReservedPrefix(shape("p{a}-{b}", "r:{a}:{b}"), reserved)).toBe("private-");
    expect(reachableReservedPrefix(shape("private-{a}"), reserved)).toBeUndefined();
    expect(reachableReservedPrefix(shape("private-{a}-{b}", "r:{a}:{b}"), reserved)).toBe(
      undefined,
    );
    expect(reachableReservedPrefix(shape("presence-room-{a}"), reserved)).toBeUndefined();
  });

  it("knows a room cannot bring in the '-' a reserved prefix ends with", () => {
    expect(reachableReservedPrefix(shape("room-{a}"), reserved)).toBeUndefined();
    expect(reachableReservedPrefix(shape("p{a}"), reserved)).toBeUndefined();
    expect(reachableReservedPrefix(shape("private{a}-x"), reserved)).toBeUndefined();
    expect(reachableReservedPrefix(shape("{nsp}-{a}"), reserved)).toBeUndefined();
  });

  it("finds references a room could split two ways", () => {
    const split = (template: string, room = "r:{a}:{b}") =>
      unseparatedReferences(
        parseChannelTemplate(template),
        parseRoomPattern(room),
        pusherChannelNaming,
      );
    expect(split("c-{a}{b}")).toEqual(["a", "b"]);
    expect(split("c-{a}x{b}")).toEqual(["a", "b"]);
    expect(split("c-{a}={b}")).toEqual(["a", "b"]);
    expect(split("c-{a}{nsp}{b}")).toEqual(["a", "b"]);
    expect(split("c-{room}{a}", "room:{a}")).toEqual(["room", "a"]);
    expect(split("c-{a}-{b}")).toBeUndefined();
    expect(split("c-{a}x.{b}")).toBeUndefined();
    expect(split("{nsp}{room}", "*")).toBeUndefined();
    expect(split("c-{room}{nsp}", "lobby")).toBeUndefined();
  });
});

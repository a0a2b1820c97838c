/**
 * Where a kept socket stood in its Ably rooms' histories (docs/recovery.md, "Across
 * nodes: rooms on Ably"): the tail a keeping node writes, and what another node reads
 * from it for the offset the client brings back; and a forged tail from the shared
 * store refused.
 */
import { describe, expect, it } from "vitest";
import { BroadcastLog } from "../../../src/ingress/sio/broadcast-log.js";
import {
  type HistoryTail,
  parseTail,
  standPointOf,
  TAIL_LIMIT,
  tailOf,
} from "../../../src/ingress/sio/history-tail.js";
import type { RecoveryOptions } from "../../../src/ingress/sio/recovery.js";

const OPTIONS: RecoveryOptions = {
  maxDisconnectionDuration: 60_000,
  skipMiddlewares: true,
  maxSessions: 10,
  maxPackets: 10_000,
  maxBytes: 100_000_000,
};

const SID = "sock";

/** A log of the node that kept `SID`, a member of `a` and `b` (Ably) and `s` (the stream). */
function keptIn(): { log: BroadcastLog; tail: () => HistoryTail } {
  const log = new BroadcastLog("n.", OPTIONS);
  const rooms = new Set([SID, "a", "b", "s"]);
  const tail = () =>
    tailOf(
      log,
      ["a", "b"],
      (entry) => entry.target.except !== SID && entry.target.rooms.some((room) => rooms.has(room)),
      (room) => `serial-${room}`,
    );
  return { log, tail };
}

function onAbly(log: BroadcastLog, room: string, id: string, except?: string): string {
  const offset = log.nextOffset();
  log.append({ rooms: [room], except }, `x,"${offset}"]`, [], Date.now(), undefined, {
    rooms: [room],
    id,
  });
  return offset;
}

function onStream(log: BroadcastLog, id: string): string {
  log.append({ rooms: ["s"] }, `x,"${id}"]`, [], Date.now(), id);
  return id;
}

describe("the history tail of a kept socket", () => {
  it("tells each room's newest message and the stream's position as of any offset the client may hold", () => {
    const { log, tail } = keptIn();
    onStream(log, "10-0");
    const a1 = onAbly(log, "a", "A1");
    const s2 = onStream(log, "11-0");
    const b1 = onAbly(log, "b", "B1");
    onAbly(log, "a", "A2", SID); // its own except-sender message: not received, still a point
    const a3 = onAbly(log, "a", "A3");
    const written = tail();
    // Through the store and back.
    const read = parseTail(JSON.parse(JSON.stringify(written)));
    expect(read).toEqual(written);

    expect(standPointOf(read!, a1)).toEqual({
      stream: "10-0",
      rooms: new Map([
        ["a", { after: "A1" }],
        ["b", { attach: "serial-b" }],
      ]),
    });
    expect(standPointOf(read!, s2)).toEqual({
      stream: "11-0",
      rooms: new Map([
        ["a", { after: "A1" }],
        ["b", { attach: "serial-b" }],
      ]),
    });
    expect(standPointOf(read!, b1)).toMatchObject({
      rooms: new Map([
        ["a", { after: "A1" }],
        ["b", { after: "B1" }],
      ]),
    });
    expect(standPointOf(read!, a3)).toMatchObject({
      stream: "11-0",
      rooms: new Map([
        ["a", { after: "A3" }],
        ["b", { after: "B1" }],
      ]),
    });
    expect(standPointOf(read!, "n.zz")).toBe("offset_gone");
  });

  it("starts a room from its newest message before the tail, or the newest the log dropped", () => {
    const log = new BroadcastLog("n.", { ...OPTIONS, maxPackets: 3 });
    const rooms = new Set([SID, "a", "b"]);
    onAbly(log, "b", "B-old");
    onAbly(log, "a", "A-gone");
    onAbly(log, "b", "B-kept");
    const last = onAbly(log, "a", "A-last");
    const written = tailOf(
      log,
      ["a", "b"],
      (entry) => entry.target.rooms.some((room) => rooms.has(room)),
      () => undefined,
    );
    // `B-old` left the log (maxPackets 3); the tail holds the rest.
    expect(standPointOf(written, last)).toMatchObject({
      rooms: new Map([
        ["a", { after: "A-last" }],
        ["b", { after: "B-kept" }],
      ]),
    });
    expect(written.b).toEqual(["", "a:B-old"]);
  });

  it("says too_many_missed for an offset older than a full tail", () => {
    const { log, tail } = keptIn();
    const first = onAbly(log, "a", "A-first");
    for (let n = 0; n < TAIL_LIMIT; n++) onAbly(log, "a", `A${n}`);
    const written = tail();
    expect(written.t).toHaveLength(TAIL_LIMIT);
    expect(written.f).toBe(1);
    expect(standPointOf(written, first)).toBe("too_many_missed");
  });

  it("refuses forged tails", () => {
    const good = { r: ["a"], b: ["a:X"], t: [["n.0", "", "X", 0]], f: 0 };
    expect(parseTail(good)).toEqual(good);
    const forged: unknown[] = [
      null,
      "tail",
      { ...good, r: "a" },
      { ...good, b: [] },
      { ...good, f: 2 },
      { ...good, t: [["n.0", "", "X", 1]] }, // a room index past `r`
      { ...good, t: [["n.0", "", "X", -1]] },
      { ...good, t: [["n.0", "", "X", 0.5]] },
      { ...good, t: [["n.0", "", 7, 0]] },
      { ...good, t: [["n.0", ""]] },
      { ...good, t: [["n.0", "", "X", 0, 0]] }, // more indexes than rooms
      { ...good, t: Array.from({ length: TAIL_LIMIT + 1 }, () => ["n.0", "", "X", 0]) },
      { ...good, b: ["a:".padEnd(300, "x")] },
      { ...good, r: Array.from({ length: TAIL_LIMIT + 1 }, (_, n) => `r${n}`) },
    ];
    for (const value of forged) expect(parseTail(value), JSON.stringify(value)).toBeUndefined();
    // A base that names no point: the room's position cannot be told.
    expect(
      standPointOf({ ...good, t: [["n.0", "", "", 0]], b: ["q:X"] } as HistoryTail, "n.0"),
    ).toBe("offset_gone");
  });
});

/**
 * The recovery log's two kinds of offsets (docs/recovery.md): this node's own
 * (`<boot>.<seq>`) and the stream entry ids of broadcasts read from a shared stream,
 * which a client recovering on this node, or one restored from another, names.
 */
import { describe, expect, it } from "vitest";
import { BroadcastLog } from "../../../src/ingress/sio/broadcast-log.js";
import type { RecoveryOptions } from "../../../src/ingress/sio/recovery.js";

const OPTIONS: RecoveryOptions = {
  maxDisconnectionDuration: 60_000,
  skipMiddlewares: true,
  maxSessions: 10,
  maxPackets: 4,
  maxBytes: 1_000_000,
};

const TARGET = { rooms: ["room:1"] };

function texts(entries: readonly { text: string }[] | undefined): string[] | undefined {
  return entries?.map((entry) => entry.text);
}

describe("the recovery log", () => {
  it("finds entries after its own offsets and after stream ids, mixed in one order", () => {
    const log = new BroadcastLog("b00t.", OPTIONS);
    const own = log.nextOffset();
    log.append(TARGET, "own-0", [], 0);
    log.append(TARGET, "stream-1", [], 0, "100-0");
    log.append(TARGET, "own-2", [], 0);
    log.append(TARGET, "stream-3", [], 0, "100-1");
    expect(texts(log.after(own))).toEqual(["stream-1", "own-2", "stream-3"]);
    expect(texts(log.after("100-0"))).toEqual(["own-2", "stream-3"]);
    expect(texts(log.after("100-1"))).toEqual([]);
    // An id the log never held, or one of another process.
    expect(log.after("99-0")).toBeUndefined();
    expect(log.after("0ther.0")).toBeUndefined();
  });

  it("gives the stream entries between two ids, and nothing once one of them was dropped", () => {
    const log = new BroadcastLog("b00t.", OPTIONS);
    log.append(TARGET, "a", [], 0, "5-0");
    log.append(TARGET, "own", [], 0);
    log.append(TARGET, "b", [], 0, "5-1");
    log.append(TARGET, "c", [], 0, "6-0");
    expect(texts(log.streamEntriesBetween("5-0", "6-0"))).toEqual(["b", "c"]);
    expect(texts(log.streamEntriesBetween("5-0", "5-1"))).toEqual(["b"]);
    expect(texts(log.streamEntriesBetween("6-0", "9-0"))).toEqual([]);
    // maxPackets 4: "a" leaves; what came after 4-9 can no longer all be told.
    log.append(TARGET, "d", [], 0, "7-0");
    expect(log.streamEntriesBetween("4-9", "7-0")).toBeUndefined();
    expect(texts(log.streamEntriesBetween("5-0", "7-0"))).toEqual(["b", "c", "d"]);
  });
});

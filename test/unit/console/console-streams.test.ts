import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ConsoleStreams } from "../../../src/console/console-streams.js";
import type { ConsoleSnapshot } from "../../../src/console/console-types.js";
import { Metrics } from "../../../src/metrics.js";

/** The parts of a ServerResponse a stream uses, with what was written. */
class FakeResponse extends EventEmitter {
  readonly written: string[] = [];
  writableLength = 0;
  writableNeedDrain = false;
  writableEnded = false;
  isDestroyed = false;
  writeHead(): this {
    return this;
  }
  write(text: string): boolean {
    this.written.push(text);
    return true;
  }
  end(): void {
    this.writableEnded = true;
    this.emit("close");
  }
  destroy(): void {
    this.isDestroyed = true;
    this.emit("close");
  }
}

const SNAPSHOT = { at: 1 } as unknown as ConsoleSnapshot;

function streams(max = 2) {
  const metrics = new Metrics();
  return { metrics, streams: new ConsoleStreams(max, metrics, pino({ level: "silent" })) };
}

function open(s: ConsoleStreams, res: FakeResponse) {
  return s.open(res as unknown as ServerResponse, SNAPSHOT);
}

describe("the migration console's streams", () => {
  it("refuses one past the most, counted as a limit refusal, and counts those open", async () => {
    const { metrics, streams: s } = streams(2);
    expect(open(s, new FakeResponse())).toBeUndefined();
    const second = new FakeResponse();
    expect(open(s, second)).toBeUndefined();
    expect(open(s, new FakeResponse())?.code).toBe("SWY_API_CONSOLE_BUSY");
    expect((await metrics.limitRefusals.get()).values).toEqual([
      { value: 1, labels: { limit: "maxConsoleStreams" } },
    ]);
    expect((await metrics.consoleStreams.get()).values[0]?.value).toBe(2);
    second.emit("close");
    expect(s.size).toBe(1);
    expect((await metrics.consoleStreams.get()).values[0]?.value).toBe(1);
  });

  it("sends each stream one data line per snapshot, skips a full socket, and cuts a reader 1 MiB behind", () => {
    const { streams: s } = streams(3);
    const [fine, full, behind] = [new FakeResponse(), new FakeResponse(), new FakeResponse()];
    for (const res of [fine, full, behind]) open(s, res);
    expect(fine.written).toEqual(['data: {"at":1}\n\n']);
    full.writableNeedDrain = true;
    behind.writableLength = 1_048_577;
    // Opened just now: the first tick after is skipped (one event a second at most).
    s.send(SNAPSHOT);
    expect(fine.written).toHaveLength(1);
    expect(behind.isDestroyed).toBe(true);
    expect(s.size).toBe(2);
  });

  it("ends every stream at once", async () => {
    const { metrics, streams: s } = streams(2);
    const [a, b] = [new FakeResponse(), new FakeResponse()];
    open(s, a);
    open(s, b);
    s.endAll();
    expect([a.writableEnded, b.writableEnded]).toEqual([true, true]);
    expect(s.size).toBe(0);
    expect((await metrics.consoleStreams.get()).values[0]?.value).toBe(0);
  });
});

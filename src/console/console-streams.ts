import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import { SwitchyardError } from "../errors.js";
import { reportInternalError } from "../internal-errors.js";
import type { Metrics } from "../metrics.js";
import type { ConsoleSnapshot } from "./console-types.js";

/**
 * Bytes a stream may have waiting in its socket's buffer: past it the reader is not
 * keeping up (a snapshot is a few tens of KB at most), and its stream is ended.
 */
const MAX_BUFFERED_BYTES = 1_048_576;

/** The least time between two events of a stream, ms: ticks are a second apart, give or take the timer's jitter. */
const MIN_GAP_MS = 900;

/**
 * The migration console's open Server-Sent Events streams (`GET /api/v1/console/stream`):
 * at most `max` at once, each sent one `data:` line of JSON per {@link send}, the same
 * text for every stream. A stream whose reader falls behind skips snapshots while its
 * socket is full, and is ended once {@link MAX_BUFFERED_BYTES} wait.
 */
export class ConsoleStreams {
  /** Each open stream, with when it was last sent an event (ms, performance clock). */
  readonly #streams = new Map<ServerResponse, number>();
  readonly #max: number;
  readonly #metrics: Metrics;
  readonly #log: Logger;

  constructor(max: number, metrics: Metrics, log: Logger) {
    this.#max = max;
    this.#metrics = metrics;
    this.#log = log;
  }

  get size(): number {
    return this.#streams.size;
  }

  /**
   * Starts a stream on `res` with `first` (its history included), or returns the
   * refusal when `max` streams are open (the caller answers it).
   */
  open(res: ServerResponse, first: ConsoleSnapshot): SwitchyardError | undefined {
    if (this.#streams.size >= this.#max) {
      this.#metrics.limitRefusals.inc({ limit: "maxConsoleStreams" });
      return new SwitchyardError("SWY_API_CONSOLE_BUSY", [this.#max]);
    }
    this.#streams.set(res, performance.now());
    this.#metrics.consoleStreams.inc();
    res.once("close", () => {
      this.#streams.delete(res);
      this.#metrics.consoleStreams.dec();
    });
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      // A proxy in front (nginx) must pass each event on, not buffer the response.
      "X-Accel-Buffering": "no",
      "X-Content-Type-Options": "nosniff",
    });
    res.write(event(first));
    return undefined;
  }

  /** Sends `snapshot` to every open stream. */
  send(snapshot: ConsoleSnapshot): void {
    if (this.#streams.size === 0) return;
    const text = event(snapshot);
    const now = performance.now();
    for (const [res, sentAt] of this.#streams) {
      try {
        if (res.writableEnded) continue;
        if (res.writableLength > MAX_BUFFERED_BYTES) {
          this.#log.info("migration console stream ended: its reader does not keep up");
          res.destroy();
          continue;
        }
        // A full socket skips this snapshot: the next one says everything again.
        if (res.writableNeedDrain) continue;
        // A stream opened just before this tick had its first event then.
        if (now - sentAt < MIN_GAP_MS) continue;
        this.#streams.set(res, now);
        res.write(text);
      } catch (error) {
        reportInternalError(this.#log, "console", error);
        res.destroy();
      }
    }
  }

  /** Ends every stream (a drain or a close: the page reconnects elsewhere). */
  endAll(): void {
    // Each is forgotten, and uncounted, as it closes.
    for (const res of this.#streams.keys()) res.end();
  }
}

function event(snapshot: ConsoleSnapshot): string {
  // JSON has no raw newlines, so one `data:` line carries the whole snapshot.
  return `data: ${JSON.stringify(snapshot)}\n\n`;
}

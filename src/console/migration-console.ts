import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { SwitchyardError } from "../errors.js";
import { reportInternalError } from "../internal-errors.js";
import type { Metrics } from "../metrics.js";
import { ConsoleFiles } from "./console-files.js";
import { ConsoleHistory } from "./console-history.js";
import { ConsoleSnapshots, type ConsoleSources, shadowRouteId } from "./console-snapshot.js";
import { ConsoleStreams } from "./console-streams.js";
import { type ConsoleSnapshot, SAMPLE_INTERVAL_MS } from "./console-types.js";

export interface MigrationConsoleOptions {
  readonly sources: ConsoleSources;
  /** Streams open at once (`server.limits.maxConsoleStreams`). */
  readonly maxStreams: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The page's build; default {@link ConsoleFiles}'. */
  readonly pageDir?: string;
}

/**
 * The migration console of one node (docs/operations.md, "Migration console"): its page
 * under `/console/`, and what the HTTP API answers for it behind the API's token, a
 * snapshot and a stream of them. Samples the node every {@link SAMPLE_INTERVAL_MS} from
 * start, so the charts have ten minutes of history when a page opens; each tick with a
 * stream open builds one snapshot and sends it to every stream.
 */
export class MigrationConsole {
  readonly files: ConsoleFiles;
  readonly #history: ConsoleHistory;
  readonly #snapshots: ConsoleSnapshots;
  readonly #streams: ConsoleStreams;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #isTicking = false;
  #isClosed = false;

  constructor(options: MigrationConsoleOptions) {
    const { sources, metrics, log } = options;
    this.files = new ConsoleFiles(options.pageDir);
    if (this.files.missing !== undefined) {
      log.warn(
        { code: "SWY_CONSOLE_FILES_MISSING", dir: this.files.missing },
        "the migration console's page is not built (npm run build): /console/ answers 503",
      );
    }
    this.#log = log;
    this.#history = new ConsoleHistory(metrics, {
      connections: () => sources.sio.engine.size,
      shadowGaps: () =>
        Object.fromEntries(
          sources.rooms
            .shadowReport()
            .routes.map((route) => [shadowRouteId(route), route.latencyGap.p95]),
        ),
    });
    this.#snapshots = new ConsoleSnapshots(sources, this.#history, metrics);
    this.#streams = new ConsoleStreams(options.maxStreams, metrics, log);
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), SAMPLE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Open streams. */
  get streams(): number {
    return this.#streams.size;
  }

  /** `GET /api/v1/console/snapshot`, authorised: the snapshot with its history. */
  snapshot(): Promise<ConsoleSnapshot> {
    return this.#snapshots.build({ history: true });
  }

  /**
   * `GET /api/v1/console/stream`, authorised: starts a stream on `res` with a snapshot
   * and its history, or resolves with the refusal for the caller to answer.
   */
  async openStream(
    _req: IncomingMessage,
    res: ServerResponse,
  ): Promise<SwitchyardError | undefined> {
    if (this.#isClosed) return new SwitchyardError("SWY_DRAINING");
    const first = await this.#snapshots.build({ history: true });
    // The client may have gone while the snapshot was built.
    if (res.destroyed) return undefined;
    if (this.#isClosed) return new SwitchyardError("SWY_DRAINING");
    return this.#streams.open(res, first);
  }

  /**
   * Stops sampling and ends the open streams; a stream asked for later is refused
   * (SWY_DRAINING). A drain calls it before waiting for the API's answers, which a
   * stream would otherwise hold up.
   */
  close(): void {
    this.#isClosed = true;
    clearInterval(this.#timer);
    this.#streams.endAll();
  }

  #tick(): void {
    if (this.#isTicking) return;
    this.#isTicking = true;
    this.#history
      .sample()
      .then(() => (this.#streams.size === 0 ? undefined : this.#snapshots.build()))
      .then(
        (snapshot) => {
          if (snapshot !== undefined) this.#streams.send(snapshot);
        },
        (error: unknown) => reportInternalError(this.#log, "console", error),
      )
      .finally(() => {
        this.#isTicking = false;
      });
  }
}

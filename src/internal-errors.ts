import type { Logger } from "pino";
import { metrics } from "./metrics.js";

/**
 * Records an error nothing expected (a bug, not bad input): counted in
 * `switchyard_internal_errors_total{where}` and logged with its stack. Every handler
 * on a client's path ends in a catch that calls this and answers the client
 * SWY_INTERNAL; {@link guardProcess} catches what still escapes.
 */
export function reportInternalError(log: Logger, where: string, error: unknown): void {
  metrics.internalErrors.inc({ where });
  log.error({ err: error, where }, "internal error");
}

/**
 * Keeps the process serving when an error escapes every handler: the error is
 * reported (see {@link reportInternalError}) instead of ending the process and every
 * client's connection with it. Installed by the CLI, never by the library, so a host
 * application (or a test runner) keeps its own policy.
 */
export function guardProcess(log: Logger): void {
  process.on("unhandledRejection", (reason) =>
    reportInternalError(log, "unhandled_rejection", reason),
  );
  process.on("uncaughtException", (error) => reportInternalError(log, "uncaught_exception", error));
}

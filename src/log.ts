import type { IncomingMessage } from "node:http";
import pino, { type Logger } from "pino";

/** The levels `log.level` and `--log-level` take, most severe first; `silent` writes nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/**
 * Creates the process logger: JSON lines on stdout. Configuration values that came
 * from the environment are never logged; keys that commonly hold secrets are
 * redacted as a second line of defence.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "switchyard" },
    redact: {
      paths: ["*.secret", "*.token", "*.password", "*.authorization", "*.headers.authorization"],
      censor: "[redacted]",
    },
  });
}

/**
 * `log` for the lines an operator needs whatever level the file sets (where Switchyard
 * listens, whether its backends started): written at `info` even when `log` writes only
 * `warn` and above, so that a file logging at `warn` still shows that it started. A
 * `silent` logger stays silent.
 */
export function announcer(log: Logger): Logger {
  if (log.level === "silent" || log.isLevelEnabled("info")) return log;
  return log.child({}, { level: "info" });
}

/**
 * A request's `X-Request-Id`, when it is one a log can carry: at most 128 characters of
 * letters, digits and `-_.:/+=` (anything else is the client's to forge into the log).
 */
export function requestIdOf(req: IncomingMessage): string | undefined {
  const value = req.headers["x-request-id"];
  const id = Array.isArray(value) ? value[0] : value;
  return id !== undefined && /^[\w.:/+=-]{1,128}$/.test(id) ? id : undefined;
}

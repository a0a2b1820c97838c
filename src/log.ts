import pino, { type Logger } from "pino";

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

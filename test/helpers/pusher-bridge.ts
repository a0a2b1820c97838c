import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import { APP } from "../emulators/pusher/test-support.js";

/**
 * The `backends:` block of a Switchyard on the Pusher emulator: a backend named
 * `pusher` whose settings come from {@link pusherEnv}. `extra` adds settings lines
 * (indented like the others, e.g. `"      publishTimeout: 1000"`).
 */
export function pusherBackendYaml(...extra: string[]): string {
  return `backends:
  pusher:
    kind: pusher
    settings:
      appId: "\${PUSHER_APP_ID}"
      key: "\${PUSHER_KEY}"
      secret: "\${PUSHER_SECRET}"
      host: "\${PUSHER_HOST}"
      port: \${PUSHER_PORT}
      useTLS: false
${extra.map((line) => `${line}\n`).join("")}`;
}

/** The environment {@link pusherBackendYaml} reads: the emulator's app and address. */
export function pusherEnv(emulator: PusherEmulator): Record<string, string> {
  return {
    PUSHER_APP_ID: APP.id,
    PUSHER_KEY: APP.key,
    PUSHER_SECRET: APP.secret,
    PUSHER_HOST: emulator.host,
    PUSHER_PORT: String(emulator.port),
  };
}

import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { KEY } from "../emulators/ably/test-support.js";

/**
 * Backend entries that many test configurations hold, as YAML lines to put under
 * `backends:` (indented two spaces), so that each is written once.
 */

/** `native`: the native core on Redis at `url` in streams mode, `key` its key and stream. */
export function nativeOnStreams(url: string, key: string): string {
  return `  native:
    kind: native
    settings:
      redis: { url: "${url}", key: "${key}", mode: streams, streamName: "${key}", requestsTimeout: 2000 }`;
}

/** `ably`: the Ably backend on `emulator`, with the emulator's key. */
export function ablyOn(emulator: AblyEmulator): string {
  return `  ably:
    kind: ably
    settings: { key: "${KEY}", host: "${emulator.host}", port: ${emulator.port}, tls: false }`;
}

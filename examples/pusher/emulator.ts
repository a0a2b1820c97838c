/**
 * Starts the test suite's Pusher Channels emulator (test/emulators/pusher/) on a fixed
 * port, so examples/pusher/switchyard.yaml can run with no Pusher account, and prints
 * what to export. Stop it with Ctrl-C.
 *
 *   npx tsx examples/pusher/emulator.ts [--port 6001]
 *
 * The emulator keeps everything in memory, speaks plain HTTP and WebSocket (no TLS) on
 * 127.0.0.1 only, and accepts client events (`client-*`) as an app with them enabled.
 */
import { parseArgs } from "node:util";
import { PusherEmulator } from "../../test/emulators/pusher/pusher-emulator.js";

/** The one app the emulator serves. Local credentials: not a secret anywhere else. */
const APP = { id: "1", key: "example-key", secret: "example-secret" };

const { values } = parseArgs({ options: { port: { type: "string", default: "6001" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65_535) {
  console.error(`--port: expected 1-65535, got ${values.port}`);
  process.exit(2);
}

const emulator = await PusherEmulator.start({ apps: [{ ...APP, clientEvents: true }], port });
console.log(`Pusher emulator on ${emulator.host}:${emulator.port}. In another shell:

export PUSHER_APP_ID=${APP.id} PUSHER_KEY=${APP.key} PUSHER_SECRET=${APP.secret}
export PUSHER_HOST=${emulator.host} PUSHER_PORT=${emulator.port} PUSHER_USE_TLS=false
npx switchyard start --config examples/pusher/switchyard.yaml

pusher-js: new Pusher("${APP.key}", { cluster: "mt1", wsHost: "${emulator.host}", wsPort: ${emulator.port}, forceTLS: false, enabledTransports: ["ws"], ... })
Ctrl-C stops the emulator.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}

/**
 * Starts the test suite's Ably emulator (test/emulators/ably/) on a fixed port, so an
 * Ably backend and native `ably` SDK clients can run with no Ably account, and prints
 * what to export. Stop it with Ctrl-C.
 *
 *   npx tsx examples/ably/emulator.ts [--port 6002]
 *
 * The emulator keeps everything in memory, speaks plain HTTP and WebSocket (no TLS) on
 * 127.0.0.1 only, accepts json and msgpack, and has one app with one all-powerful key.
 * test/emulators/ably/README.md lists what it does not emulate.
 */
import { parseArgs } from "node:util";
import { AblyEmulator } from "../../test/emulators/ably/ably-emulator.js";

/** The one app and key the emulator serves. Local credentials: not a secret anywhere else. */
const APP = { id: "example", keys: [{ id: "local", secret: "example-secret" }] };
const KEY = `${APP.id}.${APP.keys[0]!.id}:${APP.keys[0]!.secret}`;

const { values } = parseArgs({ options: { port: { type: "string", default: "6002" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65_535) {
  console.error(`--port: expected 1-65535, got ${values.port}`);
  process.exit(2);
}

const emulator = await AblyEmulator.start({ apps: [APP], port });
const { connectivityCheckUrl, wsConnectivityCheckUrl } = emulator.connectivityCheckOptions;
console.log(`Ably emulator on ${emulator.host}:${emulator.port}. In another shell:

export ABLY_KEY=${KEY}
export ABLY_HOST=${emulator.host} ABLY_PORT=${emulator.port} ABLY_TLS=false

ably SDK: new Ably.Realtime({ key: "${KEY}", endpoint: "${emulator.host}", port: ${emulator.port}, tls: false,
  connectivityCheckUrl: "${connectivityCheckUrl}", wsConnectivityCheckUrl: "${wsConnectivityCheckUrl}" })
Ctrl-C stops the emulator.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}

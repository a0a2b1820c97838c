import pino from "pino";
import { describe } from "vitest";
import { ablyFactory } from "../../src/egress/ably/ably-factory.js";
import { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import { APP_ID, KEY, KEY_CONFIG } from "../emulators/ably/test-support.js";
import { runBackendContract } from "./backend-contract.js";

// Built through the kind's factory from YAML-shaped settings, as the CLI builds it.
describe.each([
  ["msgpack", true],
  ["json", false],
])("on the wire in %s", (_, useBinaryProtocol) => {
  runBackendContract("ably", async () => {
    const emulator = await AblyEmulator.start({
      apps: [{ id: APP_ID, keys: [KEY_CONFIG] }],
    });
    const backend = ablyFactory.create(
      "ably",
      { key: KEY, host: emulator.host, port: emulator.port, tls: false, useBinaryProtocol },
      { log: pino({ level: "silent" }) },
    );
    return { backend, dispose: () => emulator.close() };
  });
});

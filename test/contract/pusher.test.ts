import pino from "pino";
import { PusherBackend } from "../../src/egress/pusher/pusher-backend.js";
import { resolvePusherSettings } from "../../src/egress/pusher/pusher-settings.js";
import { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import { runBackendContract } from "./backend-contract.js";

const APP = { id: "1", key: "contract-key", secret: "contract-secret" };

runBackendContract("pusher", async () => {
  const emulator = await PusherEmulator.start({ apps: [APP] });
  const backend = new PusherBackend(
    "pusher",
    resolvePusherSettings({
      appId: APP.id,
      key: APP.key,
      secret: APP.secret,
      host: emulator.host,
      port: emulator.port,
      useTLS: false,
    }),
    { log: pino({ level: "silent" }) },
  );
  return { backend, dispose: () => emulator.close() };
});

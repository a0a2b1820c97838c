import { LazyBackend } from "../lazy-backend.js";
import type { BackendFactory } from "../registry.js";
import { pusherChannelNaming } from "./pusher-channel-naming.js";
import {
  type PusherSettingsInput,
  pusherSettingsSchema,
  resolvePusherSettings,
} from "./pusher-settings.js";

/** What a pusher backend can do besides publish and subscribe. */
const PUSHER_CAPABILITIES = { presence: false, history: false, clientEvents: true } as const;

/**
 * Kind `pusher`: rooms carried on Pusher Channels (or a Pusher-compatible server).
 * Publishes through the REST API, receives through one pusher-js connection per
 * backend. Routes to it name a Pusher channel template. docs/backends/pusher.md.
 */
export const pusherFactory = {
  kind: "pusher",
  settingsSchema: pusherSettingsSchema,
  channelNaming: pusherChannelNaming,
  capabilities: PUSHER_CAPABILITIES,
  // The pusher and pusher-js SDKs load only when a pusher backend starts.
  create: (name, settings, deps) => {
    const resolved = resolvePusherSettings(settings);
    return new LazyBackend(name, "pusher", PUSHER_CAPABILITIES, async () => {
      const { PusherBackend } = await import("./pusher-backend.js");
      return new PusherBackend(name, resolved, deps);
    });
  },
} as const satisfies BackendFactory<PusherSettingsInput>;

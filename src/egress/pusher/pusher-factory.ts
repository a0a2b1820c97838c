import type { BackendFactory } from "../registry.js";
import { PusherBackend } from "./pusher-backend.js";
import { pusherChannelNaming } from "./pusher-channel-naming.js";
import {
  type PusherSettingsInput,
  pusherSettingsSchema,
  resolvePusherSettings,
} from "./pusher-settings.js";

/**
 * Kind `pusher`: rooms carried on Pusher Channels (or a Pusher-compatible server).
 * Publishes through the REST API, receives through one pusher-js connection per
 * backend. Routes to it name a Pusher channel template. docs/backends/pusher.md.
 */
export const pusherFactory = {
  kind: "pusher",
  settingsSchema: pusherSettingsSchema,
  channelNaming: pusherChannelNaming,
  create: (name, settings, deps) => new PusherBackend(name, resolvePusherSettings(settings), deps),
} as const satisfies BackendFactory<PusherSettingsInput>;

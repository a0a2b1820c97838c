import { LazyBackend } from "../lazy-backend.js";
import type { BackendFactory } from "../registry.js";
import { ablyChannelNaming } from "./ably-channel-naming.js";
import {
  type AblySettingsInput,
  ablySettingsSchema,
  resolveAblySettings,
} from "./ably-settings.js";

/** What an ably backend can do besides publish and subscribe. */
const ABLY_CAPABILITIES = { presence: true, history: true, clientEvents: true } as const;

/**
 * Kind `ably`: rooms carried on Ably channels (or an Ably-compatible server). Publishes
 * through the REST API, receives through one Realtime connection per backend. Routes to
 * it name an Ably channel template. docs/backends/ably.md.
 */
export const ablyFactory = {
  kind: "ably",
  settingsSchema: ablySettingsSchema,
  channelNaming: ablyChannelNaming,
  capabilities: ABLY_CAPABILITIES,
  // The ably SDK loads only when an ably backend starts.
  create: (name, settings, deps) => {
    const resolved = resolveAblySettings(settings);
    return new LazyBackend(name, "ably", ABLY_CAPABILITIES, async () => {
      const { AblyBackend } = await import("./ably-backend.js");
      return new AblyBackend(name, resolved, deps);
    });
  },
} as const satisfies BackendFactory<AblySettingsInput>;

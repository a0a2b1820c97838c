import { LazyBackend } from "../lazy-backend.js";
import type { BackendFactory } from "../registry.js";
import { websocketChannelNaming } from "./websocket-channel-naming.js";
import {
  checkWebsocketSettings,
  resolveWebsocketSettings,
  type WebsocketSettingsInput,
  websocketSettingsSchema,
  withPreset,
} from "./websocket-settings.js";

/** What a websocket backend can do besides publish and subscribe. */
const WEBSOCKET_CAPABILITIES = { presence: false, history: false, clientEvents: true } as const;

/**
 * Kind `websocket`: rooms carried on the channels of any WebSocket pub/sub bus, whose
 * frames the settings describe (a preset or templates and rules of one's own). Routes to
 * it name a channel template. docs/backends/websocket.md.
 */
export const websocketFactory = {
  kind: "websocket",
  settingsSchema: websocketSettingsSchema,
  checkSettings: checkWebsocketSettings,
  shadowProblem: (settings) =>
    withPreset(settings).echo === "none"
      ? "its bus does not send a publisher its own messages (echo: none), so the comparator could not see this node's writes"
      : undefined,
  channelNaming: websocketChannelNaming,
  capabilities: WEBSOCKET_CAPABILITIES,
  create: (name, settings, deps) => {
    const resolved = resolveWebsocketSettings(settings);
    return new LazyBackend(name, "websocket", WEBSOCKET_CAPABILITIES, async () => {
      const { WebsocketBackend } = await import("./websocket-backend.js");
      return new WebsocketBackend(name, resolved, deps);
    });
  },
} as const satisfies BackendFactory<WebsocketSettingsInput>;

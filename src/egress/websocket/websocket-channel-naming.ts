import type { ChannelNaming } from "../channel-naming.js";
import { WEBSOCKET_MAX_CHANNEL_LENGTH } from "./websocket-settings.js";

/** Control characters: no bus we know takes them, and they would end up in logs. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * A WebSocket bus's channel names: any character but control characters, at most
 * {@link WEBSOCKET_MAX_CHANNEL_LENGTH}; `=` starts an escape in the text rooms bring in.
 * A bus with stricter names (SocketCluster takes any string, Phoenix any topic)
 * refuses the subscription, which reaches the joining client as a coded error.
 */
export const websocketChannelNaming: ChannelNaming = {
  maxLength: WEBSOCKET_MAX_CHANNEL_LENGTH,
  allowedText: "any character but control characters",
  escapeChar: "=",
  isAllowed: (char) => !hasControl(char),
};

/** Why `channel` cannot be used on a bus, or `undefined` when it can. */
export function websocketChannelProblem(channel: string): string | undefined {
  if (channel.length === 0) return "it is empty";
  if (channel.length > WEBSOCKET_MAX_CHANNEL_LENGTH) {
    return `it is ${channel.length} characters long (at most ${WEBSOCKET_MAX_CHANNEL_LENGTH})`;
  }
  if (hasControl(channel)) return "it holds a control character";
  return undefined;
}

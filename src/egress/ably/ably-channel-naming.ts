import type { ChannelNaming } from "../channel-naming.js";
import { ABLY_LIMITS } from "./ably-settings.js";

/**
 * Ably's channel names: any characters but a newline, not empty, not beginning with
 * `[` (a qualifier such as `[?rewind=1]`) or `:`, case-sensitive; no hard length limit,
 * 2048 characters kept for older browsers. The part before the first `:` is the
 * channel's namespace, for Ably's channel rules: templates choose it with their literal
 * text (`room:{id}`). `=` starts an escape in the text rooms bring in.
 */
export const ablyChannelNaming: ChannelNaming = {
  maxLength: ABLY_LIMITS.channelNameChars,
  allowedText: "any character but a newline; not beginning with [ or :",
  escapeChar: "=",
  invalidStarts: ["[", ":"],
  isAllowed: (char) => char !== "\n" && char !== "\r",
};

/** Why `channel` cannot be used on Ably (error 40010 there), or `undefined` when it can. */
export function ablyChannelProblem(channel: string): string | undefined {
  if (channel.length === 0) return "it is empty";
  if (channel.length > ABLY_LIMITS.channelNameChars) {
    return `it is ${channel.length} characters long (at most ${ABLY_LIMITS.channelNameChars})`;
  }
  if (channel.startsWith("[") || channel.startsWith(":")) return "it begins with '[' or ':'";
  if (/[\r\n]/.test(channel)) return "it holds a newline";
  return undefined;
}

import type { ChannelNaming } from "../channel-naming.js";
import { PUSHER_LIMITS } from "./pusher-settings.js";

const ALLOWED = /^[A-Za-z0-9_\-=@,.;]$/;

/**
 * Pusher's channel names: letters, digits and `_ - = @ , . ;`, at most 164 characters
 * including the `private-`/`presence-` prefix; `=` starts an escape. The prefix makes
 * the backend sign for the channel with the app secret, so it is reserved: only a
 * template's literal text may choose it. `#` (reserved by Pusher) is outside the set,
 * so no route can name a `#…` channel.
 */
export const pusherChannelNaming: ChannelNaming = {
  maxLength: PUSHER_LIMITS.channelNameChars,
  allowedText: "A-Z a-z 0-9 _ - = @ , . ;",
  escapeChar: "=",
  reservedPrefixes: ["private-", "presence-", "private-encrypted-"],
  isAllowed: (char) => ALLOWED.test(char),
};

/**
 * Why `channel` cannot be used on Pusher, or `undefined` when it can. Encrypted
 * channels need end-to-end keys this backend does not hold.
 */
export function pusherChannelProblem(channel: string): string | undefined {
  if (channel.length === 0) return "it is empty";
  if (channel.length > PUSHER_LIMITS.channelNameChars) {
    return `it is ${channel.length} characters long (at most ${PUSHER_LIMITS.channelNameChars})`;
  }
  for (const char of channel) {
    if (!pusherChannelNaming.isAllowed(char)) return `'${char}' is not allowed`;
  }
  if (channel.startsWith("private-encrypted-")) return "encrypted channels are not supported";
  return undefined;
}

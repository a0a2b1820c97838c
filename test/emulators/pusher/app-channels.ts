/**
 * Channel membership of one app: which connections are subscribed where, and
 * who is present on presence channels. Pure bookkeeping plus fan-out; the
 * WebSocket and REST halves both go through it.
 */
import { channelKind, encodeFrame } from "./protocol.js";

/** One connection as the channel registry sees it. */
export interface Subscriber {
  readonly socketId: string;
  /** Sends one already encoded text frame; a closed socket drops it. */
  send(text: string): void;
}

/** A presence identity taken from `channel_data` (reference §3). */
export interface PresenceMember {
  userId: string;
  userInfo: unknown;
}

/** Presence payload of `subscription_succeeded`, self included (reference §3). */
export interface PresenceSnapshot {
  ids: string[];
  hash: Record<string, unknown>;
  count: number;
}

/** What `PusherEmulator.channels()` reports for one occupied channel. */
export interface ChannelSnapshot {
  /** Connections subscribed. */
  subscriptionCount: number;
  /** Distinct user ids; presence channels only. */
  userCount?: number;
}

interface PresenceEntry {
  userInfo: unknown;
  connections: number;
}

interface ChannelState {
  /** Subscriber → its presence user id (undefined on other kinds). */
  subscribers: Map<Subscriber, string | undefined>;
  members: Map<string, PresenceEntry>;
}

/** Registry of one app's occupied channels. A channel exists while it has a subscriber. */
export class AppChannels {
  #channels = new Map<string, ChannelState>();

  /** True when `subscriber` is subscribed to `channel`. */
  isSubscribed(channel: string, subscriber: Subscriber): boolean {
    return this.#channels.get(channel)?.subscribers.has(subscriber) ?? false;
  }

  /** The presence user id `subscriber` joined `channel` with, if any. */
  userIdOf(channel: string, subscriber: Subscriber): string | undefined {
    return this.#channels.get(channel)?.subscribers.get(subscriber);
  }

  /**
   * Adds `subscriber`; idempotent. On presence channels, the first connection of
   * a user id announces `pusher_internal:member_added` to every other subscriber
   * (reference §3, §13.8). Returns the presence snapshot for presence channels.
   */
  subscribe(
    channel: string,
    subscriber: Subscriber,
    member?: PresenceMember,
  ): PresenceSnapshot | undefined {
    let state = this.#channels.get(channel);
    if (state === undefined) {
      state = { subscribers: new Map(), members: new Map() };
      this.#channels.set(channel, state);
    }
    if (!state.subscribers.has(subscriber)) {
      state.subscribers.set(subscriber, member?.userId);
      if (member !== undefined) {
        const entry = state.members.get(member.userId);
        if (entry !== undefined) {
          entry.connections += 1;
        } else {
          state.members.set(member.userId, { userInfo: member.userInfo, connections: 1 });
          const data: Record<string, unknown> = { user_id: member.userId };
          if (member.userInfo !== undefined) data.user_info = member.userInfo;
          this.#broadcast(
            state,
            encodeFrame({
              event: "pusher_internal:member_added",
              channel,
              data: JSON.stringify(data),
            }),
            subscriber,
          );
        }
      }
    }
    return channelKind(channel) === "presence" ? presenceOf(state) : undefined;
  }

  /**
   * Removes `subscriber`; a no-op when it is not subscribed. The last
   * connection of a presence user announces `pusher_internal:member_removed`.
   */
  unsubscribe(channel: string, subscriber: Subscriber): void {
    const state = this.#channels.get(channel);
    if (state === undefined || !state.subscribers.has(subscriber)) return;
    const userId = state.subscribers.get(subscriber);
    state.subscribers.delete(subscriber);
    if (userId !== undefined) {
      const entry = state.members.get(userId);
      if (entry !== undefined && --entry.connections === 0) {
        state.members.delete(userId);
        this.#broadcast(
          state,
          encodeFrame({
            event: "pusher_internal:member_removed",
            channel,
            data: JSON.stringify({ user_id: userId }),
          }),
        );
      }
    }
    if (state.subscribers.size === 0) this.#channels.delete(channel);
  }

  /** Removes `subscriber` from every channel, as when its connection closes. */
  removeEverywhere(subscriber: Subscriber): void {
    for (const [channel, state] of [...this.#channels]) {
      if (state.subscribers.has(subscriber)) this.unsubscribe(channel, subscriber);
    }
  }

  /**
   * Delivers an encoded frame to every subscriber of `channel` except `except`.
   * Returns how many connections it was handed to.
   */
  deliver(channel: string, text: string, except?: Subscriber | string): number {
    const state = this.#channels.get(channel);
    return state === undefined ? 0 : this.#broadcast(state, text, except);
  }

  /** Subscription and user counts of one channel; zeros when unoccupied. */
  info(channel: string): ChannelSnapshot {
    const state = this.#channels.get(channel);
    const snapshot: ChannelSnapshot = { subscriptionCount: state?.subscribers.size ?? 0 };
    if (channelKind(channel) === "presence") snapshot.userCount = state?.members.size ?? 0;
    return snapshot;
  }

  /** Names of the occupied channels. */
  names(): string[] {
    return [...this.#channels.keys()];
  }

  /** User ids present on a presence channel, in join order. */
  userIds(channel: string): string[] {
    return [...(this.#channels.get(channel)?.members.keys() ?? [])];
  }

  #broadcast(state: ChannelState, text: string, except?: Subscriber | string): number {
    let count = 0;
    for (const subscriber of state.subscribers.keys()) {
      if (subscriber === except || subscriber.socketId === except) continue;
      subscriber.send(text);
      count += 1;
    }
    return count;
  }
}

function presenceOf(state: ChannelState): PresenceSnapshot {
  const hash: Record<string, unknown> = {};
  for (const [userId, entry] of state.members) hash[userId] = entry.userInfo ?? null;
  const ids = [...state.members.keys()];
  return { ids, hash, count: ids.length };
}

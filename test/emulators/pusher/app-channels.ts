/**
 * Channel membership of one app: which connections are subscribed where, and
 * who is present on presence channels. Pure bookkeeping plus fan-out; the
 * WebSocket and REST halves both go through it.
 */
import { carryOutDelivery, type DeliveryFaultOf } from "../delivery-fault.js";
import { channelKind, encodeFrame } from "./protocol.js";

/** One connection as the channel registry sees it. */
export interface Subscriber {
  readonly socketId: string;
  /** Sends one already encoded text frame; a closed socket drops it. */
  send(text: string): void;
}

/** A channel event to deliver: a REST trigger or a relayed client event (reference §2). */
export interface ChannelEvent {
  event: string;
  channel: string;
  /** The publisher's string, or a client event's data as the client sent it. */
  data: unknown;
  /** The sender's user id, on client events of presence channels. */
  user_id?: string;
}

/**
 * A test hook's verdict on one channel event to one connection: deliver
 * (undefined), drop, send twice, send after a delay, send once a promise
 * settles, or send once now with `data` replaced by what `alter` returns.
 */
export type DeliveryFault = DeliveryFaultOf<(data: string) => string>;

/** What a delivery fault hook is told about one channel event to one connection. */
export interface Delivery {
  /** The connection the event goes to. */
  socketId: string;
  channel: string;
  event: string;
  /** The event's data as sent: the publisher's string; a client event's non-string data as JSON text. */
  data: string;
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
  #deliveryFault: () => ((delivery: Delivery) => DeliveryFault) | undefined;

  /** `deliveryFault` gives the hook channel events go through, if any (see {@link deliver}). */
  constructor(
    deliveryFault: () => ((delivery: Delivery) => DeliveryFault) | undefined = () => undefined,
  ) {
    this.#deliveryFault = deliveryFault;
  }

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
   * Delivers a channel event to every subscriber of its channel except `except`,
   * encoded once, each delivery through the fault hook when a test set one.
   * Returns how many connections it was addressed to.
   */
  deliver(frame: ChannelEvent, except?: Subscriber | string): number {
    const state = this.#channels.get(frame.channel);
    if (state === undefined) return 0;
    const text = encodeFrame(frame);
    const fault = this.#deliveryFault();
    if (fault === undefined) return this.#broadcast(state, text, except);
    const data = typeof frame.data === "string" ? frame.data : (JSON.stringify(frame.data) ?? "");
    return this.#forEachSubscriber(state, except, (subscriber) => {
      const verdict = fault({
        socketId: subscriber.socketId,
        channel: frame.channel,
        event: frame.event,
        data,
      });
      carryOutDelivery(verdict, (copies, alter) => {
        // An altered event carries its data as a string, which pusher-js parses as it would the original.
        const sent = alter === undefined ? text : encodeFrame({ ...frame, data: alter(data) });
        for (let i = 0; i < copies; i += 1) subscriber.send(sent);
      });
    });
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
    return this.#forEachSubscriber(state, except, (subscriber) => subscriber.send(text));
  }

  #forEachSubscriber(
    state: ChannelState,
    except: Subscriber | string | undefined,
    visit: (subscriber: Subscriber) => void,
  ): number {
    let count = 0;
    for (const subscriber of state.subscribers.keys()) {
      if (subscriber === except || subscriber.socketId === except) continue;
      visit(subscriber);
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

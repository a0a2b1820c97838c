/**
 * The channels of one app: who is attached (in attach order), the presence set,
 * a bounded log of published messages for resume and rewind, and fan-out.
 * Pure bookkeeping plus delivery; the realtime and REST halves both go through it.
 */
import { carryOutDelivery, type DeliveryFaultOf } from "../delivery-fault.js";
import {
  Action,
  Flag,
  OutboundFrame,
  type Payload,
  PresenceAction,
  randomId,
  type StoredMessage,
  type StoredPresence,
} from "./protocol.js";

/** One connection as a channel sees it. */
export interface Subscriber {
  readonly connectionId: string;
  /** False when the connection asked for `echo=false`: its own messages are not sent back. */
  readonly echo: boolean;
  /**
   * Whether frames for `channel` can go out now. False while the transport is
   * gone, and after a resume until the client re-attaches: the SDK drops messages
   * on a channel that is not attached (RTL17), so they wait in the log and are
   * replayed from the client's channelSerial instead (reference §10).
   */
  isReceiving(channel: string): boolean;
  /** Sends one frame now; false when the transport is not open. */
  send(frame: OutboundFrame): boolean;
}

/** What an attachment was granted. */
export interface Attachment {
  /** Mode bits (Flag.PUBLISH, …). */
  modes: number;
  /** Channel params as accepted, echoed in ATTACHED. */
  params: Record<string, string>;
}

/**
 * A test hook's verdict on one frame to one connection: deliver (undefined), drop,
 * send twice, send after a delay, send once a promise settles, or send once now
 * with each message's data put through `alter` (see {@link AlterData}).
 */
export type DeliveryFault = DeliveryFaultOf<AlterData>;

/**
 * Replaces the data of one message (or presence event) of an altered frame. It
 * gets the data as {@link DeliveredMessage.data} gives it and returns the new
 * data in the same terms: a string, bytes (Buffer or Uint8Array), undefined or
 * null for none, or any other value, which goes out JSON-encoded (`json`). The
 * emulator writes it for the connection's format (bytes are base64 on json).
 * Returning `data` itself leaves that message exactly as it was, so one message
 * of a frame can be picked by `message.id`.
 */
export type AlterData = (data: unknown, message: DeliveredMessage) => unknown;

/** One message or presence event of a frame, as a delivery fault hook sees it. */
export interface DeliveredMessage {
  id: string;
  /** The message's name; undefined for a nameless message and for presence events. */
  name?: string;
  clientId?: string;
  /**
   * The data as the subscriber's SDK hands it over when the encoding is absent
   * or `json`: a string, a Buffer, or the parsed JSON value; undefined for none.
   * With any other encoding (cipher, …) the stored string or bytes, still encoded.
   */
  data: unknown;
  /** What is left to decode of `data`: undefined, or an encoding other than `json`. */
  encoding?: string;
}

/** What a delivery fault hook is told about a frame. */
export interface Delivery {
  /** The connection the frame goes to. */
  connectionId: string;
  channel: string;
  /** Action.MESSAGE or Action.PRESENCE. */
  action: number;
  /** Ids of the messages or presence events in the frame. */
  ids: string[];
  /** The messages or presence events in the frame, in order (one publish may carry several). */
  messages: DeliveredMessage[];
}

/** Settings and hooks shared by every channel of an emulator. */
export interface ChannelContext {
  /** Messages kept per channel for resume and rewind; older ones fall off. */
  retainedMessages: number;
  /** Presence members per SYNC frame. */
  syncPageSize: number;
  /** Called with the number of messages handed to one connection. */
  onDelivered(count: number): void;
  /** The current delivery fault hook, if a test set one. */
  deliveryFault(): ((delivery: Delivery) => DeliveryFault) | undefined;
}

/** A message to publish; the channel adds the serial. */
export interface MessageToPublish extends Omit<StoredMessage, "serial"> {
  /** The publisher chose the id: a later message with the same id is not delivered again (RSL1k). */
  isIdempotent: boolean;
}

/** What a REST history request asks of a channel's log (reference §13). */
export interface HistoryQuery {
  /** Most messages in the page. */
  limit: number;
  /** "backwards" is newest first. */
  direction: "forwards" | "backwards";
  /** Inclusive bounds on the message timestamp (ms). */
  start?: number;
  end?: number;
  /**
   * A channel serial as ATTACHED carries it (`from_serial`): only messages
   * published at or before it, i.e. what the channel held at that attach.
   * Default: the channel's latest serial now.
   */
  bound?: string;
  /** The serial of the message a page starts at (inclusive), from a previous page. */
  cursor?: string;
}

/** One page of history. */
export interface HistoryPage {
  messages: StoredMessage[];
  /** The channel serial the query was bounded by: a later page passes it on unchanged. */
  bound: string;
  /** The serial of the first message of the next page; undefined on the last page. */
  next?: string;
}

/** Where a message sits in the log: its frame's seq and its index in the frame. */
interface Position {
  seq: number;
  index: number;
}

/** Negative when `a` was published before `b`, positive after, 0 for the same message. */
function comparePositions(a: Position, b: Position): number {
  return a.seq === b.seq ? a.index - b.index : a.seq - b.seq;
}

/** ProtocolMessage-level fields of a publish or presence frame. */
export interface FrameMeta {
  id: string;
  connectionId?: string;
  timestamp: number;
}

/** A presence request from a connection, already validated. */
export interface PresenceRequest extends Omit<StoredPresence, "connectionId"> {}

/** How many recently seen idempotent ids a channel remembers. */
const REMEMBERED_IDS = 10_000;

/** One channel. It lives as long as the emulator; its epoch marks serials of this incarnation. */
export class Channel {
  readonly name: string;
  #context: ChannelContext;
  #epoch = randomId(6);
  #seq = 0;
  #log: { seq: number; frame: OutboundFrame }[] = [];
  /** The highest seq of a logged message that fell off; continuity from before it is lost. */
  #evictedThrough = 0;
  #attachments = new Map<Subscriber, Attachment>();
  #members = new Map<string, StoredPresence>();
  #recentIds = new Map<string, string>();

  constructor(name: string, context: ChannelContext) {
    this.name = name;
    this.#context = context;
  }

  /** The serial of the channel's latest MESSAGE or PRESENCE, sent in ATTACHED. */
  get serial(): string {
    return this.#serialOf(this.#seq);
  }

  /** Adds or updates an attachment; a re-attach keeps its place in the delivery order. */
  attach(subscriber: Subscriber, attachment: Attachment): void {
    this.#attachments.set(subscriber, attachment);
  }

  attachmentOf(subscriber: Subscriber): Attachment | undefined {
    return this.#attachments.get(subscriber);
  }

  /** Removes the attachment and, with it, the connection's presence members (LEAVE to the rest). */
  detach(subscriber: Subscriber): void {
    if (!this.#attachments.has(subscriber)) return;
    this.leaveMembersOf(subscriber);
    this.#attachments.delete(subscriber);
  }

  /** Connection ids attached, in attach order. */
  attachedConnectionIds(): string[] {
    return [...this.#attachments.keys()].map((subscriber) => subscriber.connectionId);
  }

  /**
   * Logs and delivers a publish to every attachment with SUBSCRIBE mode, in
   * attach order, skipping the publisher when it connected with echo off.
   * A message whose idempotent id was seen before is not delivered again.
   * Returns the serial of each message.
   */
  publish(messages: MessageToPublish[], meta: FrameMeta, publisher?: Subscriber): string[] {
    const fresh: StoredMessage[] = [];
    const serials: string[] = [];
    const frameSerial = this.#serialOf(this.#seq + 1);
    for (const { isIdempotent, ...message } of messages) {
      const seen = isIdempotent ? this.#recentIds.get(message.id) : undefined;
      if (seen !== undefined) {
        serials.push(seen);
        continue;
      }
      const serial = `${frameSerial}:${fresh.length}`;
      fresh.push({ ...message, serial });
      serials.push(serial);
      if (isIdempotent) this.#rememberId(message.id, serial);
    }
    if (fresh.length === 0) return serials;
    this.#seq += 1;
    const frame = new OutboundFrame({
      action: Action.MESSAGE,
      id: meta.id,
      channel: this.name,
      channelSerial: frameSerial,
      connectionId: meta.connectionId,
      timestamp: meta.timestamp,
      messages: fresh,
    });
    this.#log.push({ seq: this.#seq, frame });
    while (this.#log.length > this.#context.retainedMessages) {
      this.#evictedThrough = this.#log.shift()!.seq;
    }
    this.#broadcast(frame, (subscriber, attachment) => {
      if ((attachment.modes & Flag.SUBSCRIBE) === 0) return false;
      return subscriber !== publisher || subscriber.echo;
    });
    return serials;
  }

  /**
   * Applies presence requests from `subscriber` (reference §9): ENTER of a
   * present member is an UPDATE, UPDATE of an absent one an ENTER, LEAVE keeps
   * the last data; an ENTER repeating the member's current id (the SDK's
   * re-entry after attach) changes nothing. Events go to PRESENCE_SUBSCRIBE
   * attachments and always back to the sender, whatever its echo (RTP17a).
   */
  enterPresence(subscriber: Subscriber, requests: PresenceRequest[], meta: FrameMeta): void {
    const events: StoredPresence[] = [];
    for (const request of requests) {
      const key = memberKey(request.clientId, subscriber.connectionId);
      const existing = this.#members.get(key);
      const event: StoredPresence = { ...request, connectionId: subscriber.connectionId };
      if (request.action === PresenceAction.LEAVE) {
        if (existing === undefined) continue;
        this.#members.delete(key);
        if (event.data === undefined && existing.data !== undefined) {
          event.data = existing.data;
          if (existing.encoding !== undefined) event.encoding = existing.encoding;
        }
      } else {
        if (existing?.id === request.id) continue;
        event.action = existing === undefined ? PresenceAction.ENTER : PresenceAction.UPDATE;
        this.#members.set(key, { ...event, action: PresenceAction.PRESENT });
      }
      events.push(event);
    }
    this.#sendPresence(events, meta, subscriber);
  }

  /** Synthesised LEAVEs for every member `subscriber` holds here, as when it detaches or goes away. */
  leaveMembersOf(subscriber: Subscriber): void {
    const timestamp = Date.now();
    // An id not starting with the member's connectionId marks the event as synthesised, so the
    // SDK orders it by timestamp against the member's own events (RTP2b1).
    const frameId = `${this.#epoch}-${randomId(4)}`;
    const events: StoredPresence[] = [];
    for (const [key, member] of this.#members) {
      if (member.connectionId !== subscriber.connectionId) continue;
      this.#members.delete(key);
      const id = `${frameId}:0:${events.length}`;
      events.push({ ...member, id, action: PresenceAction.LEAVE, timestamp });
    }
    this.#sendPresence(events, { id: frameId, timestamp });
  }

  /** Whether anyone is present, i.e. whether ATTACHED carries HAS_PRESENCE and a SYNC follows. */
  get hasMembers(): boolean {
    return this.#members.size > 0;
  }

  /** Current members as PRESENT entries, in the order they entered. */
  members(): StoredPresence[] {
    return [...this.#members.values()];
  }

  /**
   * The SYNC frames for the current presence set, `syncPageSize` members each.
   * `channelSerial` is `<syncId>:<cursor>` with an empty cursor on the last page (RTP18).
   */
  syncFrames(): OutboundFrame[] {
    const members = this.members();
    const pageSize = Math.max(1, this.#context.syncPageSize);
    const syncId = randomId(4);
    const frames: OutboundFrame[] = [];
    for (let start = 0; start < Math.max(members.length, 1); start += pageSize) {
      const isLast = start + pageSize >= members.length;
      frames.push(
        new OutboundFrame({
          action: Action.SYNC,
          channel: this.name,
          channelSerial: `${syncId}:${isLast ? "" : String(start + pageSize)}`,
          presence: members.slice(start, start + pageSize),
        }),
      );
    }
    return frames;
  }

  /**
   * The logged MESSAGE frames after `channelSerial`, or undefined when continuity
   * from there cannot be given: a serial of another incarnation of the channel
   * (the emulator restarted), a malformed one, or one older than the log.
   */
  framesAfter(channelSerial: string): OutboundFrame[] | undefined {
    const at = channelSerial.lastIndexOf("@");
    if (at === -1 || channelSerial.slice(0, at) !== this.#epoch) return undefined;
    const seq = Number(channelSerial.slice(at + 1));
    if (!Number.isInteger(seq) || seq < this.#evictedThrough || seq > this.#seq) return undefined;
    return this.#log.filter((entry) => entry.seq > seq).map((entry) => entry.frame);
  }

  /**
   * The backlog a `rewind` channel param asks for: the last N messages (`"10"`)
   * or those of the last N seconds or minutes (`"30s"`, `"2m"`); undefined for a
   * value the emulator does not understand.
   */
  rewind(param: string): OutboundFrame[] | undefined {
    const match = /^(\d+)([sm]?)$/.exec(param);
    if (match === null) return undefined;
    const amount = Number(match[1]);
    if (match[2] === "") {
      const frames: OutboundFrame[] = [];
      let count = 0;
      for (let i = this.#log.length - 1; i >= 0 && count < amount; i -= 1) {
        const frame = this.#log[i]!.frame;
        frames.unshift(frame);
        count += frame.message.messages?.length ?? 0;
      }
      return frames;
    }
    const since = Date.now() - amount * (match[2] === "s" ? 1000 : 60_000);
    return this.#log
      .filter((entry) => (entry.frame.message.timestamp ?? 0) >= since)
      .map((entry) => entry.frame);
  }

  /**
   * One page of logged messages (REST history, reference §13), newest first unless
   * `direction` is "forwards". A message's position is its frame's seq and its
   * index in the frame, the two numbers of its serial; the log only ever grows
   * at the newest end, so a position cursor neither repeats nor skips a message
   * however many are published between two pages. The `bound` (a channel serial,
   * as ATTACHED carries) fixes which messages the query and all its pages see.
   * Returns a problem (for a 400) when `bound` or `cursor` is not a serial of
   * this incarnation of the channel.
   */
  history(query: HistoryQuery): HistoryPage | { problem: string } {
    let boundSeq = this.#seq;
    if (query.bound !== undefined) {
      const seq = this.#seqOf(query.bound);
      if (seq === undefined) {
        return { problem: `from_serial ${query.bound} is not a channel serial of this channel` };
      }
      boundSeq = seq;
    }
    let cursor: Position | undefined;
    if (query.cursor !== undefined) {
      cursor = this.#positionOf(query.cursor);
      if (cursor === undefined || cursor.seq > boundSeq) {
        return { problem: `cursor ${query.cursor} is not a message serial of this channel` };
      }
    }
    const { limit, direction, start, end } = query;
    const isForwards = direction === "forwards";
    const matched: { message: StoredMessage; position: Position }[] = [];
    const entries = isForwards ? this.#log : [...this.#log].reverse();
    for (const { seq, frame } of entries) {
      if (seq > boundSeq) {
        if (isForwards) break;
        continue;
      }
      const inFrame = frame.message.messages ?? [];
      for (let n = 0; n < inFrame.length; n += 1) {
        const index = isForwards ? n : inFrame.length - 1 - n;
        const message = inFrame[index]!;
        const position = { seq, index };
        if (cursor !== undefined) {
          const order = comparePositions(position, cursor);
          if (isForwards ? order < 0 : order > 0) continue;
        }
        if (start !== undefined && message.timestamp < start) continue;
        if (end !== undefined && message.timestamp > end) continue;
        matched.push({ message, position });
        if (matched.length > limit) {
          const next = matched.pop()!.position;
          return {
            messages: matched.map((match) => match.message),
            bound: this.#serialOf(boundSeq),
            next: this.#messageSerialOf(next),
          };
        }
      }
    }
    return { messages: matched.map((match) => match.message), bound: this.#serialOf(boundSeq) };
  }

  #serialOf(seq: number): string {
    return `${this.#epoch}@${seq}`;
  }

  /** The serial a message at `position` was given by {@link publish}. */
  #messageSerialOf(position: Position): string {
    return `${this.#serialOf(position.seq)}:${position.index}`;
  }

  /** The seq of a channel serial (`{epoch}@{seq}`) of this incarnation, not newer than the channel. */
  #seqOf(channelSerial: string): number | undefined {
    const match = /^(.+)@(\d{1,15})$/.exec(channelSerial);
    if (match === null || match[1] !== this.#epoch) return undefined;
    const seq = Number(match[2]);
    return seq <= this.#seq ? seq : undefined;
  }

  /** The position in a message serial (`{epoch}@{seq}:{index}`) of this incarnation. */
  #positionOf(messageSerial: string): Position | undefined {
    const match = /^(.+):(\d{1,9})$/.exec(messageSerial);
    if (match === null) return undefined;
    const seq = this.#seqOf(match[1]!);
    return seq === undefined ? undefined : { seq, index: Number(match[2]) };
  }

  #rememberId(id: string, serial: string): void {
    this.#recentIds.set(id, serial);
    if (this.#recentIds.size > REMEMBERED_IDS) {
      this.#recentIds.delete(this.#recentIds.keys().next().value!);
    }
  }

  #sendPresence(events: StoredPresence[], meta: FrameMeta, sender?: Subscriber): void {
    if (events.length === 0) return;
    this.#seq += 1;
    const frame = new OutboundFrame({
      action: Action.PRESENCE,
      id: meta.id,
      channel: this.name,
      channelSerial: this.serial,
      connectionId: meta.connectionId,
      timestamp: meta.timestamp,
      presence: events,
    });
    this.#broadcast(
      frame,
      (subscriber, attachment) =>
        subscriber === sender || (attachment.modes & Flag.PRESENCE_SUBSCRIBE) !== 0,
    );
  }

  #broadcast(
    frame: OutboundFrame,
    wants: (subscriber: Subscriber, attachment: Attachment) => boolean,
  ): void {
    const fault = this.#context.deliveryFault();
    const items = frame.message.messages ?? frame.message.presence ?? [];
    const ids = items.map((item) => item.id);
    const messages = fault === undefined ? [] : items.map(deliveredMessage);
    for (const [subscriber, attachment] of this.#attachments) {
      if (!wants(subscriber, attachment) || !subscriber.isReceiving(this.name)) continue;
      const verdict = fault?.({
        connectionId: subscriber.connectionId,
        channel: this.name,
        action: frame.message.action,
        ids: [...ids],
        messages: messages.map((message) => ({ ...message })),
      });
      carryOutDelivery(verdict, (copies, alter) => {
        const sent = alter === undefined ? frame : alteredFrame(frame, messages, alter);
        let isSent = false;
        for (let i = 0; i < copies; i += 1) isSent = subscriber.send(sent) || isSent;
        if (isSent && frame.message.action === Action.MESSAGE) {
          this.#context.onDelivered(items.length);
        }
      });
    }
  }
}

function memberKey(clientId: string, connectionId: string): string {
  return `${clientId}:${connectionId}`;
}

/** A stored message or presence event as a fault hook sees it, its data decoded as the SDK would. */
function deliveredMessage(item: StoredMessage | StoredPresence): DeliveredMessage {
  const delivered: DeliveredMessage = { id: item.id, data: item.data };
  if ("name" in item && item.name !== undefined) delivered.name = item.name;
  if (item.clientId !== undefined) delivered.clientId = item.clientId;
  if (item.encoding === "json" && typeof item.data === "string") {
    try {
      delivered.data = JSON.parse(item.data);
    } catch {
      delivered.encoding = item.encoding;
    }
  } else if (item.encoding !== undefined) {
    delivered.encoding = item.encoding;
  }
  return delivered;
}

/** A copy of `frame` with each item's data put through `alter`; the log keeps the original. */
function alteredFrame(
  frame: OutboundFrame,
  delivered: DeliveredMessage[],
  alter: AlterData,
): OutboundFrame {
  const alterItem = <T extends StoredMessage | StoredPresence>(item: T, index: number): T => {
    const before = delivered[index]!;
    const after = alter(before.data, { ...before });
    if (Object.is(after, before.data)) return item;
    const { data: _data, encoding: _encoding, ...rest } = item;
    return { ...rest, ...payloadOf(after) } as T;
  };
  const { messages, presence } = frame.message;
  return new OutboundFrame({
    ...frame.message,
    ...(messages === undefined ? {} : { messages: messages.map(alterItem) }),
    ...(presence === undefined ? {} : { presence: presence.map(alterItem) }),
  });
}

/** Data as a test gives it, stored as the emulator keeps payloads (binary as a Buffer, objects as `json`). */
function payloadOf(value: unknown): Payload {
  if (value === undefined || value === null) return {};
  if (typeof value === "string") return { data: value };
  if (Buffer.isBuffer(value)) return { data: value };
  if (value instanceof Uint8Array) {
    return { data: Buffer.from(value.buffer, value.byteOffset, value.byteLength) };
  }
  return { data: JSON.stringify(value), encoding: "json" };
}

/** Registry of one app's channels; a channel is created on first use and kept. */
export class AppChannels {
  #context: ChannelContext;
  #channels = new Map<string, Channel>();

  constructor(context: ChannelContext) {
    this.#context = context;
  }

  /** The channel named `name`, created on first use. */
  get(name: string): Channel {
    let channel = this.#channels.get(name);
    if (channel === undefined) {
      channel = new Channel(name, this.#context);
      this.#channels.set(name, channel);
    }
    return channel;
  }

  /** The channel if it was ever used. */
  peek(name: string): Channel | undefined {
    return this.#channels.get(name);
  }

  /** Names of channels ever used. */
  names(): string[] {
    return [...this.#channels.keys()];
  }
}

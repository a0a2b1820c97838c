/**
 * One realtime connection: the state that outlives its WebSocket (id, key,
 * attachments, msgSerial bookkeeping) so that a dropped transport can be resumed
 * within `connectionStateTtl` (reference §4–§11).
 */
import type { WebSocket } from "ws";
import type { AppChannels, Subscriber } from "./app-channels.js";
import type { HandshakeParams, ResolvedKey } from "./handshake.js";
import {
  AblyCode,
  Action,
  ALL_MODES,
  allowedOps,
  capabilityRefusal,
  channelNameProblem,
  decodeFrame,
  type ErrorInfo,
  errorInfo,
  FIRST_VERSION_WITH_ACK_RES,
  Flag,
  type Format,
  modesAllowedBy,
  OutboundFrame,
  type OutboundMessage,
  PresenceAction,
  parseMessages,
  payloadFromWire,
  randomId,
  resolveClientId,
} from "./protocol.js";

/** Limits and timings every connection uses; the values sent in connectionDetails (reference §4). */
export interface ConnectionSettings {
  /** Bytes one publish may carry before it is NACKed with 40009. */
  maxMessageSize: number;
  /** The maxMessageSize advertised to clients (the SDK checks it locally before sending). */
  advertisedMaxMessageSize: number;
  /** Advertised only; the emulator does not rate-limit. */
  maxInboundRate: number;
  maxFrameSize: number;
  /** ms; the server sends something at least this often. */
  maxIdleInterval: number;
  /** ms a dropped connection can be resumed for. */
  connectionStateTtl: number;
  /** ms presence members of a dropped connection stay before they are left. */
  remainPresentFor: number;
}

/** Counters the connection bumps, owned by the emulator. */
export interface ConnectionCounters {
  published: number;
  presence: number;
  acks: number;
  nacks: number;
  delivered: number;
}

/** What a connection needs from the emulator. */
export interface ConnectionHost {
  settings: ConnectionSettings;
  stats: ConnectionCounters;
  serverId: string;
  channelsOf(appId: string): AppChannels;
  /** The error every realtime publish is refused with while a test asks for it. */
  publishRejection(): ErrorInfo | undefined;
  /** The connection's key changed (a resume): the old one no longer resumes it. */
  onKeyChanged(connection: AblyConnection, previousKey: string): void;
  /** The connection's state is gone (CLOSE, or the TTL ran out). */
  onGone(connection: AblyConnection): void;
}

/** How a publish or presence request ended, kept to answer a resent msgSerial the same way. */
type Outcome = { ok: true; serials?: string[] } | { ok: false; error: ErrorInfo };

/** ms a peer gets to finish a closing handshake the server started. */
const CLOSE_GRACE_MS = 1000;

/** Outcomes remembered per connection for resent msgSerials (RTN19a). */
const REMEMBERED_OUTCOMES = 1000;

interface Transport {
  socket: WebSocket;
  format: Format;
  version: number;
  heartbeats: boolean;
  lastSentAt: number;
  heartbeatTimer: NodeJS.Timeout;
}

/** A client → server ProtocolMessage after decoding. */
type ClientMessage = Record<string, unknown>;

/**
 * A realtime connection. `open` or `resume` binds a WebSocket; losing it
 * abruptly keeps the state for `connectionStateTtl`, CLOSE discards it at once.
 */
export class AblyConnection implements Subscriber {
  readonly connectionId: string;
  readonly appId: string;
  readonly clientId: string | undefined;
  readonly echo: boolean;
  #credentials: ResolvedKey;
  #host: ConnectionHost;
  #channels: AppChannels;
  #key: string;
  #keyRotations = 0;
  #transport: Transport | undefined;
  #maxIdleInterval: number;
  #remainPresentFor: number;
  /** Channels this connection is attached to. */
  #attached = new Set<string>();
  /** Attached channels the client has not re-attached since the last resume. */
  #awaitingReattach = new Set<string>();
  #lastMsgSerial = -1;
  #outcomes = new Map<number, Outcome>();
  #ttlTimer: NodeJS.Timeout | undefined;
  #leaveTimer: NodeJS.Timeout | undefined;
  #isGone = false;

  constructor(params: HandshakeParams, host: ConnectionHost) {
    this.connectionId = randomId(7);
    this.appId = params.key.appId;
    this.clientId = params.clientId;
    this.echo = params.echo;
    this.#credentials = params.key;
    this.#host = host;
    this.#channels = host.channelsOf(params.key.appId);
    this.#key = this.#nextKey();
    this.#maxIdleInterval = params.heartbeatInterval ?? host.settings.maxIdleInterval;
    this.#remainPresentFor = params.remainPresentFor ?? host.settings.remainPresentFor;
  }

  /** The current connectionKey; it changes on every resume (RTN15e). */
  get key(): string {
    return this.#key;
  }

  /**
   * Binds the first transport and sends CONNECTED. `error` is set when the
   * client asked to resume or recover a connection that no longer exists (80008).
   */
  open(socket: WebSocket, params: HandshakeParams, error?: ErrorInfo): void {
    this.#bind(socket, params);
    this.#sendConnected(error);
  }

  /**
   * Binds a new transport to this connection (a resume or recover): same id,
   * new key, attachments kept but held until the client re-attaches. A transport
   * still open (the client reconnected before the drop was seen) is cut off.
   */
  resume(socket: WebSocket, params: HandshakeParams): void {
    const previous = this.#transport;
    if (previous !== undefined) {
      this.#unbind();
      previous.socket.terminate();
    }
    clearTimeout(this.#ttlTimer);
    clearTimeout(this.#leaveTimer);
    const previousKey = this.#key;
    this.#key = this.#nextKey();
    this.#host.onKeyChanged(this, previousKey);
    for (const channel of this.#attached) this.#awaitingReattach.add(channel);
    this.#bind(socket, params);
    this.#sendConnected();
  }

  isReceiving(channel: string): boolean {
    return this.#transport !== undefined && !this.#awaitingReattach.has(channel);
  }

  /** Sends one frame on the current transport; false (and nothing sent) when there is none open. */
  send(frame: OutboundFrame): boolean {
    const transport = this.#transport;
    if (transport === undefined || transport.socket.readyState !== transport.socket.OPEN) {
      return false;
    }
    transport.socket.send(frame.encoded(transport.format));
    transport.lastSentAt = Date.now();
    return true;
  }

  /**
   * Fault control: drops the transport. With `disconnected`, a DISCONNECTED
   * carrying it goes first, as a server shedding load does (reference §11);
   * otherwise the TCP connection is cut. Either way the state is kept, so the SDK
   * resumes at once. Resolves when the socket is closed.
   */
  drop(disconnected?: ErrorInfo): Promise<void> {
    const transport = this.#transport;
    if (transport === undefined) return Promise.resolve();
    const { socket } = transport;
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    if (disconnected === undefined) {
      socket.terminate();
    } else {
      this.#sendMessage({ action: Action.DISCONNECTED, error: disconnected });
      // A peer that does not finish the closing handshake is cut off rather than waited for.
      const cutOff = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
      socket.once("close", () => clearTimeout(cutOff));
      socket.close();
    }
    return closed;
  }

  /** Forgets everything without telling anyone, as a crashed server would; the socket is cut. */
  discard(): void {
    this.#isGone = true;
    clearTimeout(this.#ttlTimer);
    clearTimeout(this.#leaveTimer);
    const transport = this.#transport;
    this.#unbind();
    transport?.socket.terminate();
  }

  #nextKey(): string {
    this.#keyRotations += 1;
    return `${randomId(6)}!${this.connectionId}-${this.#keyRotations}`;
  }

  #bind(socket: WebSocket, params: HandshakeParams): void {
    // Node clients send heartbeats=false: WebSocket pings are enough to keep them alive (reference §5).
    const tick = Math.max(5, Math.floor(this.#maxIdleInterval / 2));
    const transport: Transport = {
      socket,
      format: params.format,
      version: params.version,
      heartbeats: params.heartbeats,
      lastSentAt: Date.now(),
      heartbeatTimer: setInterval(() => this.#keepAlive(transport, tick), tick),
    };
    this.#transport = transport;
    socket.on("message", (raw: Buffer) => {
      if (this.#transport === transport) this.#onFrame(raw);
    });
    socket.on("close", () => {
      if (this.#transport === transport) this.#onTransportLost();
    });
    // ws reports protocol violations (a frame over maxPayload, …) here and then closes.
    socket.on("error", () => {});
  }

  #unbind(): void {
    if (this.#transport === undefined) return;
    clearInterval(this.#transport.heartbeatTimer);
    this.#transport = undefined;
  }

  #keepAlive(transport: Transport, tick: number): void {
    if (Date.now() - transport.lastSentAt < tick) return;
    if (transport.heartbeats) {
      this.#sendMessage({ action: Action.HEARTBEAT });
    } else if (transport.socket.readyState === transport.socket.OPEN) {
      transport.socket.ping();
      transport.lastSentAt = Date.now();
    }
  }

  #onTransportLost(): void {
    this.#unbind();
    if (this.#isGone) return;
    this.#ttlTimer = setTimeout(() => this.#forget(), this.#host.settings.connectionStateTtl);
    this.#leaveTimer = setTimeout(() => {
      for (const name of this.#attached) this.#channels.get(name).leaveMembersOf(this);
    }, this.#remainPresentFor);
  }

  /** Discards the state: detaches everywhere (members leave) and unregisters. */
  #forget(): void {
    if (this.#isGone) return;
    this.#isGone = true;
    clearTimeout(this.#ttlTimer);
    clearTimeout(this.#leaveTimer);
    for (const name of this.#attached) this.#channels.get(name).detach(this);
    this.#attached.clear();
    this.#awaitingReattach.clear();
    this.#host.onGone(this);
  }

  #sendConnected(error?: ErrorInfo): void {
    const { settings, serverId } = this.#host;
    const connectionDetails: Record<string, unknown> = {
      connectionKey: this.#key,
      maxMessageSize: settings.advertisedMaxMessageSize,
      maxInboundRate: settings.maxInboundRate,
      maxFrameSize: settings.maxFrameSize,
      maxIdleInterval: this.#maxIdleInterval,
      connectionStateTtl: settings.connectionStateTtl,
      serverId,
      siteCode: "local",
    };
    if (this.clientId !== undefined) connectionDetails.clientId = this.clientId;
    this.#sendMessage({
      action: Action.CONNECTED,
      connectionId: this.connectionId,
      connectionDetails,
      error,
    });
  }

  #sendMessage(message: OutboundMessage): boolean {
    return this.send(new OutboundFrame(message));
  }

  /** A connection-level ERROR is fatal for the SDK (reference §11): send it and close. */
  #fail(error: ErrorInfo): void {
    const socket = this.#transport?.socket;
    this.#sendMessage({ action: Action.ERROR, error });
    this.#forget();
    socket?.close();
  }

  #onFrame(raw: Buffer): void {
    let decoded: unknown;
    try {
      decoded = decodeFrame(raw, this.#transport!.format);
    } catch {
      this.#fail(errorInfo(AblyCode.BAD_REQUEST, 400, "Unable to decode protocol message"));
      return;
    }
    if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded)) {
      this.#fail(errorInfo(AblyCode.BAD_REQUEST, 400, "Protocol message is not an object"));
      return;
    }
    const message = decoded as ClientMessage;
    switch (message.action) {
      case Action.HEARTBEAT:
        // connection.ping() waits for its own id back (reference §5).
        if (typeof message.id === "string") {
          this.#sendMessage({ action: Action.HEARTBEAT, id: message.id });
        }
        return;
      case Action.CLOSE:
        this.#onClose();
        return;
      case Action.DISCONNECT:
        this.#transport?.socket.close();
        return;
      case Action.ATTACH:
        this.#onAttach(message);
        return;
      case Action.DETACH:
        this.#onDetach(message);
        return;
      case Action.MESSAGE:
        this.#acknowledge(message, (msgSerial) => this.#publish(message, msgSerial));
        return;
      case Action.PRESENCE:
        this.#acknowledge(message, (msgSerial) => this.#presence(message, msgSerial));
        return;
      case Action.SYNC:
        this.#onSyncRequest(message);
        return;
    }
    // AUTH, ACTIVATE and the out-of-scope actions (objects, annotations) are ignored.
  }

  #onClose(): void {
    const socket = this.#transport?.socket;
    this.#sendMessage({ action: Action.CLOSED });
    // The SDK does not wait for CLOSED: the socket close that follows is graceful (reference §11).
    this.#forget();
    this.#unbind();
    socket?.close();
  }

  #sendChannelError(channel: string, error: ErrorInfo): void {
    this.#sendMessage({ action: Action.ERROR, channel, error });
  }

  /**
   * ATTACH (reference §6): modes are the requested ones (all by default) within
   * the key's capability. With a channelSerial the log covers, the attach resumes:
   * ATTACHED carries RESUMED and the messages after that serial follow. Otherwise
   * a `rewind` param replays a backlog. A SYNC follows when members are present.
   */
  #onAttach(message: ClientMessage): void {
    const name = message.channel;
    const problem = channelNameProblem(name);
    if (problem !== undefined) {
      this.#sendChannelError(
        String(name ?? ""),
        errorInfo(AblyCode.INVALID_CHANNEL_NAME, 400, `Invalid channel name: ${problem}`),
      );
      return;
    }
    const channelName = name as string;
    const allowed = modesAllowedBy(allowedOps(this.#credentials.capability, channelName));
    if (allowed === 0) {
      this.#sendChannelError(channelName, capabilityRefusal(channelName, "attach"));
      return;
    }
    const requested =
      typeof message.flags === "number" && (message.flags & ALL_MODES) !== 0
        ? message.flags & ALL_MODES
        : ALL_MODES;
    const modes = requested & allowed;
    const params = acceptedParams(message.params);
    const channel = this.#channels.get(channelName);
    this.#attached.add(channelName);
    this.#awaitingReattach.delete(channelName);
    channel.attach(this, { modes, params });

    const replay =
      typeof message.channelSerial === "string"
        ? channel.framesAfter(message.channelSerial)
        : undefined;
    const backlog =
      replay === undefined && params.rewind !== undefined
        ? (channel.rewind(params.rewind) ?? [])
        : [];
    const syncs =
      (modes & Flag.PRESENCE_SUBSCRIBE) !== 0 && channel.hasMembers ? channel.syncFrames() : [];
    let flags = modes;
    if (replay !== undefined) flags |= Flag.RESUMED;
    if (syncs.length > 0) flags |= Flag.HAS_PRESENCE;
    if (backlog.length > 0) flags |= Flag.HAS_BACKLOG;
    const attached: OutboundMessage = {
      action: Action.ATTACHED,
      channel: channelName,
      channelSerial: channel.serial,
      flags,
    };
    if (Object.keys(params).length > 0) attached.params = params;
    this.#sendMessage(attached);
    for (const frame of syncs) this.send(frame);
    if ((modes & Flag.SUBSCRIBE) === 0) return;
    for (const frame of replay ?? backlog) {
      if (!this.echo && frame.message.connectionId === this.connectionId) continue;
      if (this.send(frame)) this.#host.stats.delivered += frame.message.messages?.length ?? 0;
    }
  }

  #onDetach(message: ClientMessage): void {
    const name = message.channel;
    if (typeof name !== "string") return;
    if (this.#attached.delete(name)) this.#channels.get(name).detach(this);
    this.#awaitingReattach.delete(name);
    this.#sendMessage({ action: Action.DETACHED, channel: name });
  }

  #onSyncRequest(message: ClientMessage): void {
    const name = message.channel;
    if (typeof name !== "string" || !this.#attached.has(name)) return;
    for (const frame of this.#channels.get(name).syncFrames()) this.send(frame);
  }

  /**
   * Runs a MESSAGE or PRESENCE once per msgSerial and answers ACK or NACK. A
   * msgSerial already seen (the SDK resends unacknowledged ones after a resume,
   * RTN19a) gets the same answer again without being delivered twice.
   */
  #acknowledge(message: ClientMessage, run: (msgSerial: number) => Outcome): void {
    const msgSerial = message.msgSerial;
    if (typeof msgSerial !== "number" || !Number.isInteger(msgSerial) || msgSerial < 0) {
      this.#fail(errorInfo(AblyCode.BAD_REQUEST, 400, "MESSAGE or PRESENCE without a msgSerial"));
      return;
    }
    let outcome: Outcome;
    if (msgSerial <= this.#lastMsgSerial) {
      outcome = this.#outcomes.get(msgSerial) ?? { ok: true };
    } else {
      outcome = run(msgSerial);
      this.#lastMsgSerial = msgSerial;
      this.#outcomes.set(msgSerial, outcome);
      this.#outcomes.delete(msgSerial - REMEMBERED_OUTCOMES);
    }
    if (outcome.ok) {
      const ack: OutboundMessage = { action: Action.ACK, msgSerial, count: 1 };
      const version = this.#transport?.version ?? FIRST_VERSION_WITH_ACK_RES;
      if (outcome.serials !== undefined && version >= FIRST_VERSION_WITH_ACK_RES) {
        ack.res = [{ serials: outcome.serials }];
      }
      if (this.#sendMessage(ack)) this.#host.stats.acks += 1;
    } else {
      const nack = { action: Action.NACK, msgSerial, count: 1, error: outcome.error };
      if (this.#sendMessage(nack)) this.#host.stats.nacks += 1;
    }
  }

  /** A publish (reference §7): checks in the order the service reports them, then fan-out. */
  #publish(message: ClientMessage, msgSerial: number): Outcome {
    const name = message.channel;
    const problem = channelNameProblem(name);
    if (problem !== undefined) {
      return refused(AblyCode.INVALID_CHANNEL_NAME, 400, `Invalid channel name: ${problem}`);
    }
    const channelName = name as string;
    if (!allowedOps(this.#credentials.capability, channelName).has("publish")) {
      return { ok: false, error: capabilityRefusal(channelName, "publish") };
    }
    const rejection = this.#host.publishRejection();
    if (rejection !== undefined) return { ok: false, error: rejection };
    const parsed = parseMessages(
      message.messages,
      this.clientId,
      this.#host.settings.maxMessageSize,
    );
    if (!Array.isArray(parsed)) return { ok: false, error: parsed };
    const timestamp = Date.now();
    const serials = this.#channels.get(channelName).publish(
      parsed.map((entry, index) => {
        const id = entry.id ?? `${this.connectionId}:${msgSerial}:${index}`;
        return {
          ...entry.payload,
          id,
          isIdempotent: entry.id !== undefined,
          name: entry.name,
          clientId: entry.clientId,
          connectionId: this.connectionId,
          timestamp,
          extras: entry.extras,
        };
      }),
      { id: `${this.connectionId}:${msgSerial}`, connectionId: this.connectionId, timestamp },
      this,
    );
    this.#host.stats.published += parsed.length;
    return { ok: true, serials };
  }

  /** Presence (reference §9): the channel must be attached and every entry needs a clientId. */
  #presence(message: ClientMessage, msgSerial: number): Outcome {
    const name = message.channel;
    if (typeof name !== "string" || !this.#attached.has(name)) {
      return refused(
        AblyCode.PRESENCE_NOT_ATTACHED,
        400,
        "Unable to enter presence channel (channel not attached)",
      );
    }
    if (!allowedOps(this.#credentials.capability, name).has("presence")) {
      return { ok: false, error: capabilityRefusal(name, "presence") };
    }
    if (!Array.isArray(message.presence) || message.presence.length === 0) {
      return refused(AblyCode.INVALID_MESSAGE, 400, "PRESENCE without presence messages");
    }
    const timestamp = Date.now();
    const requests = [];
    for (const [index, raw] of message.presence.entries()) {
      if (raw === null || typeof raw !== "object") {
        return refused(AblyCode.INVALID_MESSAGE, 400, "Presence message is not an object");
      }
      const entry = raw as Record<string, unknown>;
      const action = entry.action;
      if (
        action !== PresenceAction.ENTER &&
        action !== PresenceAction.LEAVE &&
        action !== PresenceAction.UPDATE &&
        action !== PresenceAction.PRESENT
      ) {
        return refused(AblyCode.INVALID_MESSAGE, 400, `Invalid presence action ${String(action)}`);
      }
      const clientId = resolveClientId(entry.clientId, this.clientId);
      if (typeof clientId === "object") return { ok: false, error: clientId };
      if (clientId === undefined) {
        return refused(
          AblyCode.PRESENCE_NO_CLIENT_ID,
          400,
          "Unable to enter presence channel (no clientId)",
        );
      }
      const payload = payloadFromWire(entry.data, entry.encoding);
      if ("code" in payload) return { ok: false, error: payload };
      requests.push({
        ...payload,
        id: typeof entry.id === "string" ? entry.id : `${this.connectionId}:${msgSerial}:${index}`,
        action: action === PresenceAction.PRESENT ? PresenceAction.ENTER : action,
        clientId,
        timestamp,
        extras: entry.extras ?? undefined,
      });
    }
    this.#channels.get(name).enterPresence(this, requests, {
      id: `${this.connectionId}:${msgSerial}`,
      connectionId: this.connectionId,
      timestamp,
    });
    this.#host.stats.presence += requests.length;
    return { ok: true };
  }
}

/** Channel params as the service echoes them: strings only, without the SDK's `agent`. */
function acceptedParams(raw: unknown): Record<string, string> {
  const params: Record<string, string> = {};
  if (raw === null || typeof raw !== "object") return params;
  for (const [key, value] of Object.entries(raw)) {
    if (key !== "agent" && typeof value === "string") params[key] = value;
  }
  return params;
}

function refused(code: number, statusCode: number, message: string): Outcome {
  return { ok: false, error: errorInfo(code, statusCode, message) };
}

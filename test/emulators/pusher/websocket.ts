/**
 * The WebSocket half of the emulator: handshake checks and one
 * `PusherConnection` per socket speaking protocol v7 (reference §1–§5).
 */
import type { WebSocket } from "ws";
import type { AppChannels, PresenceMember, Subscriber } from "./app-channels.js";
import {
  channelKind,
  encodeFrame,
  errorFrame,
  isValidChannelName,
  Limits,
  PROTOCOL_VERSION,
  PusherCode,
  utf8Length,
} from "./protocol.js";
import { channelAuthString, checkChannelAuth } from "./signature.js";

/** An app as the WebSocket side needs it. */
export interface WsApp {
  id: string;
  key: string;
  secret: string;
  clientEvents: boolean;
}

/** Timing and limits of a connection. */
export interface ConnectionSettings {
  /** Seconds of client silence before the server pings; sent in the handshake. */
  activityTimeout: number;
  /** Seconds the server waits for any message after its ping before closing with 4201. */
  pongTimeout: number;
  /** Client events accepted per connection per second; excess gets 4301. */
  clientEventRateLimit: number;
}

/** Counters the connection bumps, owned by the emulator. */
export interface ConnectionCounters {
  clientEvents: number;
}

/** Outcome of checking the upgrade URL: the app, or the code to refuse with. */
export type HandshakeResult =
  | { ok: true; app: WsApp }
  | { ok: false; code: number; message: string };

const APP_PATH = /^\/app\/([^/]+)$/;

/**
 * Checks `/app/{key}?protocol=7&…` (reference §1, §5): an unknown path is 4005,
 * an unknown key 4001, a missing `protocol` 4008, a non-numeric one 4006 and
 * any version but 7 is 4007.
 */
export function checkHandshake(
  url: string | undefined,
  findAppByKey: (key: string) => WsApp | undefined,
): HandshakeResult {
  const parsed = new URL(url ?? "/", "http://emulator.invalid");
  const match = APP_PATH.exec(parsed.pathname);
  if (match === null) return { ok: false, code: PusherCode.PATH_NOT_FOUND, message: "Not found" };
  const key = decodeURIComponent(match[1]!);
  const app = findAppByKey(key);
  if (app === undefined) {
    return {
      ok: false,
      code: PusherCode.APP_NOT_FOUND,
      message: `App key ${key} not in this cluster. Did you forget to specify the cluster?`,
    };
  }
  const protocol = parsed.searchParams.get("protocol");
  if (protocol === null || protocol === "") {
    return { ok: false, code: PusherCode.NO_PROTOCOL, message: "No protocol version supplied" };
  }
  if (!/^\d+$/.test(protocol)) {
    return {
      ok: false,
      code: PusherCode.INVALID_VERSION,
      message: "Invalid version string format",
    };
  }
  if (Number(protocol) !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: PusherCode.UNSUPPORTED_PROTOCOL,
      message: `Unsupported protocol version ${protocol}`,
    };
  }
  return { ok: true, app };
}

/**
 * Refuses a handshake the way protocol ≥6 servers do: an optional
 * `pusher:error` frame with the code, then the close code itself (reference §5).
 */
export function refuseSocket(socket: WebSocket, code: number, message: string): void {
  socket.send(errorFrame(code, message));
  socket.close(code, message);
}

/** Client → server frame after JSON parsing; `data` is an object for `pusher:*` events. */
interface ClientFrame {
  event?: unknown;
  channel?: unknown;
  data?: unknown;
}

/**
 * One client connection. Sends `pusher:connection_established` at once, then
 * handles subscribe/unsubscribe/ping/client events until the socket closes,
 * when it leaves every channel.
 */
export class PusherConnection implements Subscriber {
  readonly socketId: string;
  #socket: WebSocket;
  #app: WsApp;
  #channels: AppChannels;
  #settings: ConnectionSettings;
  #counters: ConnectionCounters;
  #activityTimer: NodeJS.Timeout | undefined;
  #pongTimer: NodeJS.Timeout | undefined;
  #rateWindowStart = 0;
  #rateWindowCount = 0;

  constructor(
    socket: WebSocket,
    socketId: string,
    app: WsApp,
    channels: AppChannels,
    settings: ConnectionSettings,
    counters: ConnectionCounters,
  ) {
    this.socketId = socketId;
    this.#socket = socket;
    this.#app = app;
    this.#channels = channels;
    this.#settings = settings;
    this.#counters = counters;
    socket.on("message", (raw, isBinary) => this.#onMessage(raw.toString(), isBinary));
    socket.on("close", () => this.#onClose());
    // ws reports protocol violations (e.g. a frame over maxPayload) here and then closes; the close handler cleans up.
    socket.on("error", () => {});
    // Handshake `data` is a JSON string, and activity_timeout is mandatory for pusher-js (reference §1).
    this.send(
      encodeFrame({
        event: "pusher:connection_established",
        data: JSON.stringify({
          socket_id: socketId,
          activity_timeout: settings.activityTimeout,
        }),
      }),
    );
    this.#scheduleActivityCheck();
  }

  /** The app this connection belongs to. */
  get appId(): string {
    return this.#app.id;
  }

  /** Sends one encoded frame if the socket is still open; otherwise drops it. */
  send(text: string): void {
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(text);
  }

  /**
   * Closes with `code` and resolves once the socket is closed. A peer that does
   * not finish the closing handshake within `graceMs` is cut off.
   */
  close(code: number, reason: string, graceMs = 1000): Promise<void> {
    const socket = this.#socket;
    if (socket.readyState === socket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const cutOff = setTimeout(() => socket.terminate(), graceMs);
      socket.once("close", () => {
        clearTimeout(cutOff);
        resolve();
      });
      if (socket.readyState === socket.OPEN) socket.close(code, reason);
    });
  }

  #onMessage(text: string, isBinary: boolean): void {
    // Any received message counts as activity (reference §1).
    this.#scheduleActivityCheck();
    // The protocol is text frames only (reference §1); binary frames carry nothing we understand.
    if (isBinary) return;
    let frame: ClientFrame;
    try {
      frame = JSON.parse(text) as ClientFrame;
    } catch {
      this.send(errorFrame(null, "Invalid JSON"));
      return;
    }
    if (frame === null || typeof frame !== "object" || typeof frame.event !== "string") {
      this.send(errorFrame(null, "Invalid message: no event name"));
      return;
    }
    const data = (
      typeof frame.data === "object" && frame.data !== null ? frame.data : {}
    ) as Record<string, unknown>;
    switch (frame.event) {
      case "pusher:ping":
        this.send(encodeFrame({ event: "pusher:pong", data: "{}" }));
        return;
      case "pusher:pong":
        return;
      case "pusher:subscribe":
        this.#onSubscribe(data);
        return;
      case "pusher:unsubscribe":
        if (typeof data.channel === "string") this.#channels.unsubscribe(data.channel, this);
        return;
      case "pusher:signin":
        this.send(errorFrame(null, "pusher:signin is not supported by this emulator"));
        return;
    }
    if (frame.event.startsWith("client-")) this.#onClientEvent(frame.event, frame);
  }

  #onSubscribe(data: Record<string, unknown>): void {
    const channel = data.channel;
    if (!isValidChannelName(channel)) {
      this.send(errorFrame(null, `Invalid channel name '${String(channel)}'`));
      return;
    }
    const kind = channelKind(channel);
    let member: PresenceMember | undefined;
    if (kind !== "public") {
      const channelData = kind === "presence" ? data.channel_data : undefined;
      if (kind === "presence" && typeof channelData !== "string") {
        this.send(errorFrame(null, `channel_data required for presence channel ${channel}`));
        return;
      }
      const signed = channelAuthString(this.socketId, channel, channelData as string | undefined);
      const { ok, given } = checkChannelAuth(this.#app, data.auth, signed);
      if (!ok) {
        // Hosted Pusher: channel-less pusher:error with a null code, socket kept (reference §3, §13.6).
        this.send(
          errorFrame(
            null,
            `Invalid signature: Expected HMAC SHA256 hex digest of ${signed}, but got ${given}`,
          ),
        );
        return;
      }
      if (kind === "presence") {
        const parsed = parsePresenceMember(channelData as string);
        if (typeof parsed === "string") {
          this.send(errorFrame(null, parsed));
          return;
        }
        member = parsed;
      }
    }
    const presence = this.#channels.subscribe(channel, this, member);
    // Hosted Pusher sends "{}" rather than omitting data (reference §3).
    const payload = presence === undefined ? "{}" : JSON.stringify({ presence });
    this.send(
      encodeFrame({ event: "pusher_internal:subscription_succeeded", channel, data: payload }),
    );
  }

  #onClientEvent(event: string, frame: ClientFrame): void {
    // Rate first: every attempt counts towards the 10/s budget (reference §4, §10).
    if (!this.#takeClientEventToken()) {
      this.send(
        errorFrame(
          PusherCode.CLIENT_EVENT_RATE_LIMIT,
          `Client event rejected - rate limit of ${this.#settings.clientEventRateLimit} per second exceeded`,
        ),
      );
      return;
    }
    if (!this.#app.clientEvents) {
      this.send(
        errorFrame(
          null,
          "To send client events, you must enable this feature in the Settings page of your dashboard.",
        ),
      );
      return;
    }
    const channel = frame.channel;
    if (typeof channel !== "string" || !isValidChannelName(channel)) {
      this.send(errorFrame(null, "Client event rejected - invalid channel"));
      return;
    }
    const kind = channelKind(channel);
    if (kind !== "private" && kind !== "presence") {
      this.send(
        errorFrame(null, "Client event rejected - only supported on private and presence channels"),
      );
      return;
    }
    if (!this.#channels.isSubscribed(channel, this)) {
      this.send(errorFrame(null, `Client event rejected - not subscribed to ${channel}`));
      return;
    }
    if (event.length > Limits.eventNameChars) {
      this.send(errorFrame(null, "Client event rejected - event name too long"));
      return;
    }
    const dataText =
      typeof frame.data === "string" ? frame.data : (JSON.stringify(frame.data) ?? "");
    if (utf8Length(dataText) > Limits.dataBytes) {
      this.send(
        errorFrame(null, `Client event rejected - data larger than ${Limits.dataBytes} bytes`),
      );
      return;
    }
    // The data is relayed as the client sent it; presence adds the trusted user_id (reference §2, §4).
    const userId = kind === "presence" ? this.#channels.userIdOf(channel, this) : undefined;
    this.#channels.deliver(
      userId === undefined
        ? { event, channel, data: frame.data }
        : { event, channel, data: frame.data, user_id: userId },
      this,
    );
    this.#counters.clientEvents += 1;
  }

  /** Fixed one-second windows: simple, and exact enough for a 10/s budget. */
  #takeClientEventToken(): boolean {
    const now = Date.now();
    if (now - this.#rateWindowStart >= 1000) {
      this.#rateWindowStart = now;
      this.#rateWindowCount = 0;
    }
    this.#rateWindowCount += 1;
    return this.#rateWindowCount <= this.#settings.clientEventRateLimit;
  }

  #scheduleActivityCheck(): void {
    clearTimeout(this.#activityTimer);
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
    this.#activityTimer = setTimeout(
      () => this.#onInactive(),
      this.#settings.activityTimeout * 1000,
    );
  }

  #onInactive(): void {
    this.send(encodeFrame({ event: "pusher:ping", data: "{}" }));
    // Any message (the pong or anything else) reschedules and clears this timer (reference §1).
    this.#pongTimer = setTimeout(() => {
      this.send(errorFrame(PusherCode.PONG_NOT_RECEIVED, "Pong reply not received"));
      this.#socket.close(PusherCode.PONG_NOT_RECEIVED, "Pong reply not received");
    }, this.#settings.pongTimeout * 1000);
  }

  #onClose(): void {
    clearTimeout(this.#activityTimer);
    clearTimeout(this.#pongTimer);
    this.#channels.removeEverywhere(this);
  }
}

/**
 * Reads `user_id` (string or number, at most 128 characters, reference §6) and
 * `user_info` out of presence `channel_data`.
 */
function parsePresenceMember(channelData: string): PresenceMember | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(channelData);
  } catch {
    return "Invalid channel_data: not JSON";
  }
  if (parsed === null || typeof parsed !== "object") return "Invalid channel_data: not an object";
  const { user_id: rawId, user_info: userInfo } = parsed as Record<string, unknown>;
  const userId = typeof rawId === "number" ? String(rawId) : rawId;
  if (typeof userId !== "string" || userId === "") {
    return "Invalid channel_data: user_id required";
  }
  if (userId.length > Limits.presenceUserIdChars) {
    return `Invalid channel_data: user_id longer than ${Limits.presenceUserIdChars} characters`;
  }
  return { userId, userInfo };
}

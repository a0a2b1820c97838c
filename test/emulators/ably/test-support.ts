/**
 * Helpers for tests on the Ably emulator: start one and close it after the test,
 * real `ably` Realtime and Rest clients pointed at it in either format, waits on
 * their events, and a raw WebSocket client for what the SDK hides.
 */
import * as Ably from "ably";
import { WebSocket } from "ws";
import type { Cleanup } from "../../helpers/cleanup.js";
import { AblyEmulator, type AblyEmulatorOptions, type AblyKeyConfig } from "./ably-emulator.js";
import { decodeFrame, encodeFrame, type Format } from "./protocol.js";

/** The app every test uses unless it says otherwise. */
export const APP_ID = "testapp";

/** The app's default key, allowed everything. */
export const KEY_CONFIG: AblyKeyConfig = { id: "main", secret: "main-secret" };

/** The full API key of `KEY_CONFIG`, as an SDK takes it. */
export const KEY = `${APP_ID}.${KEY_CONFIG.id}:${KEY_CONFIG.secret}`;

/** Both wire formats, for `describe.each`: json text frames and msgpack binary frames. */
export const FORMATS = ["json", "msgpack"] as const satisfies readonly Format[];

/** Deadline for a wait; a failure names what was awaited instead of timing the test out. */
export const WAIT_MS = 5000;

/** The full key of another key config of `APP_ID`. */
export function keyOf(config: AblyKeyConfig): string {
  return `${APP_ID}.${config.id}:${config.secret}`;
}

/** Starts an emulator serving `APP_ID` with `KEY_CONFIG` plus `extraKeys`; closed after the test. */
export async function startEmulator(
  cleanup: Cleanup,
  options: Partial<AblyEmulatorOptions> & { extraKeys?: AblyKeyConfig[] } = {},
): Promise<AblyEmulator> {
  const { extraKeys = [], ...rest } = options;
  const emulator = await AblyEmulator.start({
    apps: [{ id: APP_ID, keys: [KEY_CONFIG, ...extraKeys] }],
    ...rest,
  });
  cleanup.add(() => emulator.close());
  return emulator;
}

/**
 * Client options for the emulator (reference §0): its host and port as the
 * endpoint, no TLS, the connectivity checks on the emulator, and
 * `useBinaryProtocol` per `format` (msgpack is the SDK's Node default).
 */
export function clientOptions(
  emulator: AblyEmulator,
  format: Format,
  options: Ably.ClientOptions = {},
): Ably.ClientOptions {
  return {
    key: KEY,
    endpoint: emulator.host,
    port: emulator.port,
    tls: false,
    useBinaryProtocol: format === "msgpack",
    ...emulator.connectivityCheckOptions,
    // The SDK logs refusals the tests provoke on purpose; assertions read the errors instead.
    logLevel: 0,
    ...options,
  };
}

/** A Realtime client, closed after the test; resolves once it is `connected`. */
export async function connectRealtime(
  emulator: AblyEmulator,
  cleanup: Cleanup,
  format: Format,
  options: Ably.ClientOptions = {},
): Promise<Ably.Realtime> {
  const client = new Ably.Realtime(clientOptions(emulator, format, options));
  cleanup.add(() => closeRealtime(client));
  await waitForConnection(client, "connected");
  return client;
}

/** A Realtime client that is not waited for (to watch it fail). Closed after the test. */
export function newRealtime(
  emulator: AblyEmulator,
  cleanup: Cleanup,
  format: Format,
  options: Ably.ClientOptions = {},
): Ably.Realtime {
  const client = new Ably.Realtime(clientOptions(emulator, format, options));
  cleanup.add(() => closeRealtime(client));
  return client;
}

/** A Rest client for the emulator. */
export function restClient(
  emulator: AblyEmulator,
  format: Format,
  options: Ably.ClientOptions = {},
): Ably.Rest {
  return new Ably.Rest(clientOptions(emulator, format, options));
}

/** Closes a Realtime client and waits until it is closed (or was never able to connect). */
async function closeRealtime(client: Ably.Realtime): Promise<void> {
  const { state } = client.connection;
  if (state === "closed" || state === "failed") return;
  const done = new Promise<void>((resolve) => {
    client.connection.on((change) => {
      if (change.current === "closed" || change.current === "failed") resolve();
    });
  });
  client.close();
  await done;
}

/** Resolves with the state change into `state` (at once if the connection is there already). */
export function waitForConnection(
  client: Ably.Realtime,
  state: Ably.ConnectionState,
): Promise<Ably.ConnectionStateChange | undefined> {
  if (client.connection.state === state) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.connection.off(listener);
      reject(new Error(`connection never reached '${state}' (at '${client.connection.state}')`));
    }, WAIT_MS);
    const listener = (change: Ably.ConnectionStateChange) => {
      if (change.current !== state) return;
      clearTimeout(timer);
      client.connection.off(listener);
      resolve(change);
    };
    client.connection.on(listener);
  });
}

/** Resolves with the next state change of `channel` into `state`. */
export function waitForChannel(
  channel: Ably.RealtimeChannel,
  state: Ably.ChannelState,
): Promise<Ably.ChannelStateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.off(listener);
      reject(new Error(`channel ${channel.name} never reached '${state}' (at '${channel.state}')`));
    }, WAIT_MS);
    const listener = (change: Ably.ChannelStateChange) => {
      if (change.current !== state) return;
      clearTimeout(timer);
      channel.off(listener);
      resolve(change);
    };
    channel.on(listener);
  });
}

/**
 * Collects the messages `channel` delivers from now on; `next(n)` resolves once
 * `n` have arrived in total, so none is missed between awaits.
 */
export class Inbox {
  readonly messages: Ably.InboundMessage[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  private constructor() {}

  /** Subscribes (attaching the channel) and resolves once the subscription is in place. */
  static async of(channel: Ably.RealtimeChannel, event?: string): Promise<Inbox> {
    const inbox = new Inbox();
    const listener = (message: Ably.InboundMessage) => inbox.#push(message);
    if (event === undefined) await channel.subscribe(listener);
    else await channel.subscribe(event, listener);
    return inbox;
  }

  /** Resolves with the first `count` messages once that many have arrived. */
  async next(count = this.messages.length + 1): Promise<Ably.InboundMessage[]> {
    if (this.messages.length < count) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`only ${this.messages.length} of ${count} messages within ${WAIT_MS} ms`),
            ),
          WAIT_MS,
        );
        this.#waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    }
    return this.messages.slice(0, count);
  }

  #push(message: Ably.InboundMessage): void {
    this.messages.push(message);
    const ready = this.#waiters.filter((waiter) => this.messages.length >= waiter.count);
    this.#waiters = this.#waiters.filter((waiter) => this.messages.length < waiter.count);
    for (const waiter of ready) waiter.resolve();
  }
}

/** Resolves with the next presence event of `action` (any when omitted) on `channel`. */
export function nextPresence(
  channel: Ably.RealtimeChannel,
  action?: Ably.PresenceAction,
  matches: (message: Ably.PresenceMessage) => boolean = () => true,
): Promise<Ably.PresenceMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      channel.presence.unsubscribe(listener);
      reject(new Error(`no presence ${action ?? "event"} on ${channel.name} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (message: Ably.PresenceMessage) => {
      if ((action !== undefined && message.action !== action) || !matches(message)) return;
      clearTimeout(timer);
      channel.presence.unsubscribe(listener);
      resolve(message);
    };
    void channel.presence.subscribe(listener);
  });
}

/**
 * Resolves once `condition` holds, checking every 10 ms: for server-side state no
 * event announces (a connection's state expiring). Fails after `WAIT_MS`.
 */
export async function waitUntil(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A raw protocol message as a test reads or writes it. */
export type RawMessage = Record<string, unknown> & { action: number };

/**
 * A bare `ws` client speaking the Ably protocol by hand, in either format, for
 * what ably-js hides (handshake refusals, heartbeats, malformed data). Frames
 * are queued so none is lost between waits.
 */
export class RawAblySocket {
  readonly socket: WebSocket;
  readonly format: Format;
  #queue: RawMessage[] = [];
  #waiters: ((message: RawMessage) => void)[] = [];
  /** Binary frames arrived as such, text ones as text: what the format promised. */
  readonly frameKinds: ("text" | "binary")[] = [];
  /** Resolves when the socket is closed. */
  readonly closed: Promise<void>;

  constructor(emulator: AblyEmulator, query: string, format: Format = "json") {
    this.format = format;
    this.socket = new WebSocket(`ws://${emulator.host}:${emulator.port}/?${query}`);
    this.socket.on("message", (raw: Buffer, isBinary) => {
      this.frameKinds.push(isBinary ? "binary" : "text");
      const message = decodeFrame(raw, format) as RawMessage;
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#queue.push(message);
      else waiter(message);
    });
    this.socket.on("error", () => {});
    this.closed = new Promise((resolve) => this.socket.on("close", () => resolve()));
  }

  /** Opens a connection with `KEY`, `v=6` and `format`, plus `extra` query parameters. */
  static open(emulator: AblyEmulator, format: Format = "json", extra = ""): RawAblySocket {
    const query = `key=${encodeURIComponent(KEY)}&format=${format}&heartbeats=false&v=6${extra}`;
    return new RawAblySocket(emulator, query, format);
  }

  /** The next protocol message from the server. */
  next(): Promise<RawMessage> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${WAIT_MS} ms`)), WAIT_MS);
      this.#waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }

  /** The next message with `action`, skipping others (heartbeats, …). */
  async nextOf(action: number): Promise<RawMessage> {
    for (;;) {
      const message = await this.next();
      if (message.action === action) return message;
    }
  }

  /** Sends one protocol message in the socket's format. */
  send(message: RawMessage): void {
    this.socket.send(encodeFrame(message, this.format));
  }

  /** Sends raw bytes, e.g. a malformed frame. */
  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  /** Drops the TCP connection at once. */
  close(): void {
    this.socket.terminate();
  }
}

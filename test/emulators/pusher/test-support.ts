/**
 * Helpers shared by the emulator's own tests: real pusher-js and `pusher`
 * clients pointed at an emulator, and promise-based waits on their events.
 */
import PusherRest from "pusher";
import PusherJs from "pusher-js";
import { afterEach } from "vitest";
import { WebSocket } from "ws";
import { PusherEmulator, type PusherEmulatorOptions } from "./pusher-emulator.js";

/**
 * pusher-js ships CommonJS with ESM-style typings: under NodeNext the default
 * import is typed as the module (class under `.default`), while at run time
 * it is the class itself, as `import Pusher from "pusher-js"` promises.
 */
export const Pusher = PusherJs as unknown as typeof PusherJs.default;
export type Pusher = PusherJs.default;
type Channel = PusherJs.Channel;

/** The app every test uses unless it says otherwise. */
export const APP = { id: "1", key: "test-key", secret: "test-secret" } as const;

/** Deadline for a wait; a failure names what was awaited instead of timing the test out. */
export const WAIT_MS = 5000;

/** Things to close after each test, closed in reverse order (clients before servers). */
export function useCleanup(): (task: () => unknown) => void {
  const tasks: (() => unknown)[] = [];
  afterEach(async () => {
    const pending = tasks.splice(0).reverse();
    for (const task of pending) await task();
  });
  return (task) => tasks.push(task);
}

/** Starts an emulator with `APP` (plus `options`) and closes it after the test. */
export async function startEmulator(
  onCleanup: (task: () => unknown) => void,
  options: Partial<PusherEmulatorOptions> = {},
): Promise<PusherEmulator> {
  const emulator = await PusherEmulator.start({ apps: [{ ...APP }], ...options });
  onCleanup(() => emulator.close());
  return emulator;
}

/** A `pusher` REST client for `APP`, optionally with a wrong secret. */
export function restClient(emulator: PusherEmulator, secret: string = APP.secret): PusherRest {
  return new PusherRest({
    appId: APP.id,
    key: APP.key,
    secret,
    host: emulator.host,
    port: String(emulator.port),
    useTLS: false,
  });
}

/** What a pusher-js client presents on presence channels. */
export interface ClientIdentity {
  userId: string;
  userInfo?: Record<string, unknown>;
}

/**
 * A connected pusher-js client. Channel authorization signs locally with the
 * REST SDK's `authorizeChannel`; `forgeAuth` replaces the signature with
 * garbage to test refusals.
 */
export async function connectClient(
  emulator: PusherEmulator,
  onCleanup: (task: () => unknown) => void,
  options: { identity?: ClientIdentity; forgeAuth?: boolean } = {},
): Promise<Pusher> {
  const signer = restClient(emulator);
  const client = new Pusher(APP.key, {
    cluster: "mt1",
    wsHost: emulator.host,
    wsPort: emulator.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const presence =
          options.identity === undefined
            ? undefined
            : { user_id: options.identity.userId, user_info: options.identity.userInfo ?? {} };
        const signed = channelName.startsWith("presence-")
          ? signer.authorizeChannel(socketId, channelName, presence)
          : signer.authorizeChannel(socketId, channelName);
        if (options.forgeAuth === true) signed.auth = `${APP.key}:${"0".repeat(64)}`;
        callback(null, signed);
      },
    },
  });
  onCleanup(() => client.disconnect());
  await waitForState(client, "connected");
  return client;
}

/** Resolves when the client's connection reaches `state` (at once if it is there). */
export function waitForState(client: Pusher, state: string): Promise<void> {
  if (client.connection.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.connection.unbind("state_change", onChange);
      reject(new Error(`connection never reached '${state}' (at '${client.connection.state}')`));
    }, WAIT_MS);
    const onChange = ({ current }: { current: string }) => {
      if (current !== state) return;
      clearTimeout(timer);
      client.connection.unbind("state_change", onChange);
      resolve();
    };
    client.connection.bind("state_change", onChange);
  });
}

/** Anything with pusher-js's `bind`/`unbind`. */
interface Bindable {
  // biome-ignore lint/complexity/noBannedTypes: pusher-js types its callbacks as Function.
  bind(event: string, callback: Function): unknown;
  // biome-ignore lint/complexity/noBannedTypes: as above.
  unbind(event: string, callback: Function): unknown;
}

/** Resolves with the arguments of the next `event` on a pusher-js channel, client or connection. */
export function nextEvent<T extends unknown[] = unknown[]>(
  target: Bindable,
  event: string,
  matches: (...args: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.unbind(event, listener);
      reject(new Error(`no '${event}' within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (...args: T) => {
      if (!matches(...args)) return;
      clearTimeout(timer);
      target.unbind(event, listener);
      resolve(args);
    };
    target.bind(event, listener);
  });
}

/** Subscribes and resolves with the channel once `pusher:subscription_succeeded` arrives. */
export async function subscribe(client: Pusher, name: string): Promise<Channel> {
  const channel = client.subscribe(name);
  await nextEvent(channel, "pusher:subscription_succeeded");
  return channel;
}

/** A raw protocol frame as a test reads it. */
export interface RawFrame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

/**
 * A bare `ws` client speaking the Pusher protocol by hand, for what pusher-js
 * hides (server pings, handshake refusals, raw frames). Frames are queued so
 * none is lost between waits.
 */
export class RawPusherSocket {
  readonly socket: WebSocket;
  #queue: RawFrame[] = [];
  #waiters: ((frame: RawFrame) => void)[] = [];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.socket.on("message", (raw) => {
      const frame = JSON.parse(raw.toString()) as RawFrame;
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#queue.push(frame);
      else waiter(frame);
    });
    this.closed = new Promise((resolve) => {
      this.socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  /** Opens `/app/{key}?protocol=…` on the emulator; `query` defaults to a pusher-js-like one. */
  static open(
    emulator: PusherEmulator,
    key: string = APP.key,
    query = "protocol=7&client=js&version=8.6.0&flash=false",
  ): RawPusherSocket {
    return new RawPusherSocket(`ws://${emulator.host}:${emulator.port}/app/${key}?${query}`);
  }

  /** The next frame from the server. */
  next(): Promise<RawFrame> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${WAIT_MS} ms`)), WAIT_MS);
      this.#waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  /** Sends one frame. */
  send(frame: RawFrame): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Reads the handshake and returns the socket id. */
  async handshake(): Promise<string> {
    const frame = await this.next();
    if (frame.event !== "pusher:connection_established") {
      throw new Error(`expected connection_established, got ${JSON.stringify(frame)}`);
    }
    return (JSON.parse(frame.data as string) as { socket_id: string }).socket_id;
  }

  /** Drops the TCP connection at once; cleanup does not wait for a closing handshake. */
  close(): void {
    this.socket.terminate();
  }
}

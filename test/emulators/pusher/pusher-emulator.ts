/**
 * A Pusher Channels emulator for tests: the WebSocket protocol v7 and the
 * signed REST API on one local HTTP server, following the hosted service's
 * documented behaviour (see /work/shared/reference/pusher-protocol.md, cited
 * as "reference §N"). Switchyard's own code never imports it.
 */
import { randomInt } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import {
  AppChannels,
  type ChannelSnapshot,
  type Delivery,
  type DeliveryFault,
} from "./app-channels.js";
import { PusherCode } from "./protocol.js";
import { handleRestRequest } from "./rest-api.js";
import { checkHandshake, PusherConnection, refuseSocket, type WsApp } from "./websocket.js";

export type { ChannelSnapshot, Delivery, DeliveryFault } from "./app-channels.js";

/** One emulated app. */
export interface PusherAppConfig {
  id: string;
  key: string;
  secret: string;
  /**
   * Whether `client-*` events are accepted. Hosted apps have them off until
   * enabled in the dashboard (reference §4); the emulator defaults to true
   * because tests that use client events would otherwise all flip it.
   */
  clientEvents?: boolean;
}

/** Options of `PusherEmulator.start`. */
export interface PusherEmulatorOptions {
  apps: PusherAppConfig[];
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /**
   * Seconds, sent as `activity_timeout` in the handshake and used as the
   * server's own silence limit before it sends `pusher:ping`. Default 120,
   * the hosted value (reference §1).
   */
  activityTimeout?: number;
  /** Seconds to wait for any message after a server ping before closing with 4201. Default 30. */
  pongTimeout?: number;
  /** Client events per second per connection; excess gets `pusher:error` 4301. Default 10 (reference §10). */
  clientEventRateLimit?: number;
}

/** Counters for assertions; they only grow, and survive `restart()`. */
export interface PusherEmulatorStats {
  /** WebSocket connections accepted (handshake sent). */
  connections: number;
  /** (event, channel) pairs accepted by the REST API. */
  published: number;
  /** Client events relayed. */
  clientEvents: number;
}

/**
 * A running emulator. Create with `PusherEmulator.start`, always `close()`.
 *
 * @example
 * const emu = await PusherEmulator.start({ apps: [{ id: "1", key: "k", secret: "s" }] });
 * // pusher-js: { wsHost: emu.host, wsPort: emu.port, forceTLS: false, enabledTransports: ["ws"], cluster: "mt1" }
 * // pusher:    { appId: "1", key: "k", secret: "s", host: emu.host, port: String(emu.port), useTLS: false }
 * await emu.close();
 *
 * Fault controls: `holdRest()` (REST requests wait), `restart()` (every
 * connection closed with 4200), and `setDeliveryFault(hook)`: per channel
 * event per connection, the hook gets `{ socketId, channel, event, data }` and
 * answers deliver (undefined), `"drop"`, `"duplicate"`, `{ delayMs }`,
 * `{ until }` or `{ alter: (data) => newData }` (verdicts shared with the Ably
 * emulator, ../delivery-fault.ts).
 *
 * Not emulated: TLS, user sign-in (`pusher:signin`, `#server-to-user-*`,
 * terminate_connections), watchlists, cache channels, encrypted-channel
 * payload checks, webhooks, the presence 100-member and 1 KB user-object
 * caps, and the
 * `subscription_count` channel event.
 */
export class PusherEmulator {
  /** The interface the emulator listens on. */
  readonly host = "127.0.0.1";
  #port: number;
  #apps: Map<string, Required<PusherAppConfig>>;
  #appsByKey: Map<string, WsApp>;
  #channels = new Map<string, AppChannels>();
  #connections = new Set<PusherConnection>();
  #settings: { activityTimeout: number; pongTimeout: number; clientEventRateLimit: number };
  #stats: PusherEmulatorStats = { connections: 0, published: 0, clientEvents: 0 };
  #server: Server;
  #wss: WebSocketServer;
  #socketCounter = 0;
  #socketPrefix = randomInt(1, 2 ** 31);
  /** While set, REST requests wait for it (see {@link holdRest}). */
  #restGate: Promise<void> | undefined;
  #deliveryFault: ((delivery: Delivery) => DeliveryFault) | undefined;

  private constructor(options: PusherEmulatorOptions) {
    this.#port = options.port ?? 0;
    this.#apps = new Map(
      options.apps.map((app) => [app.id, { ...app, clientEvents: app.clientEvents ?? true }]),
    );
    this.#appsByKey = new Map([...this.#apps.values()].map((app) => [app.key, app]));
    for (const app of this.#apps.values()) {
      this.#channels.set(app.id, new AppChannels(() => this.#deliveryFault));
    }
    this.#settings = {
      activityTimeout: options.activityTimeout ?? 120,
      pongTimeout: options.pongTimeout ?? 30,
      clientEventRateLimit: options.clientEventRateLimit ?? 10,
    };
    // Client frames are small JSON; 1 MiB leaves room for a 10 KB event many times over.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
    this.#server = this.#createServer();
  }

  /** Starts an emulator listening on `127.0.0.1:{port}` (port 0 by default). */
  static async start(options: PusherEmulatorOptions): Promise<PusherEmulator> {
    const emulator = new PusherEmulator(options);
    await emulator.#listen();
    return emulator;
  }

  /** The TCP port, fixed for the emulator's life (also across `restart()`). */
  get port(): number {
    return this.#port;
  }

  /** A snapshot of the counters. */
  get stats(): PusherEmulatorStats {
    return { ...this.#stats };
  }

  /** Occupied channels of `appId` with their counts (userCount on presence channels). */
  channels(appId: string): Record<string, ChannelSnapshot> {
    const channels = this.#channelsOf(appId);
    return Object.fromEntries(channels.names().map((name) => [name, channels.info(name)]));
  }

  /** Socket ids of the open connections of `appId`. */
  socketIds(appId: string): string[] {
    return [...this.#connections]
      .filter((connection) => connection.appId === appId)
      .map((connection) => connection.socketId);
  }

  /**
   * Restarts on the same port: stops accepting on the old listener, listens
   * again, then closes every existing connection with 4200 so pusher-js
   * reconnects at once (reference §5, §13.4). Listening comes back before the
   * close because pusher-js, after one refused attempt, waits out its 15 s
   * connection timeout before trying again. Resolves when every old connection
   * is closed; their subscriptions are gone, so clients must resubscribe (as
   * pusher-js does on its own).
   */
  async restart(): Promise<void> {
    const oldServer = this.#server;
    const oldConnections = [...this.#connections];
    const oldServerClosed = this.#stopListening(oldServer);
    this.#server = this.#createServer();
    await this.#listen();
    await Promise.all(
      oldConnections.map((connection) =>
        connection.close(PusherCode.RECONNECT, "Server restarting"),
      ),
    );
    await oldServerClosed;
  }

  /** Closes every connection (4200) and the listener. Idempotent. */
  async close(): Promise<void> {
    this.#deliveryFault = undefined;
    await this.#shutDown();
    this.#wss.close();
  }

  /**
   * Fault control (delay): REST requests wait, unanswered, until the returned function is
   * called, as a slow or overloaded service would make them. Requests already being
   * handled are not affected.
   */
  holdRest(): () => void {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#restGate = gate;
    return () => {
      if (this.#restGate === gate) this.#restGate = undefined;
      release();
    };
  }

  /**
   * Fault control (per delivery): `hook` decides, for each channel event (a REST
   * trigger or a client event) to each connection, to deliver it (undefined),
   * `"drop"` it, send it twice (`"duplicate"`), send it after `{ delayMs }` or once
   * `{ until }` settles (both may reorder it), or send it now with its data
   * replaced by `{ alter }`'s result (always as a string: pusher-js parses JSON
   * text as it would the original). It is told the socket id, channel, event and
   * data as sent. Protocol frames (`pusher:*`, `pusher_internal:*`) are not
   * subject to it. `undefined` removes the hook.
   */
  setDeliveryFault(hook: ((delivery: Delivery) => DeliveryFault) | undefined): void {
    this.#deliveryFault = hook;
  }

  #createServer(): Server {
    const server = createServer(async (req, res) => {
      await this.#restGate;
      void handleRestRequest(
        {
          findApp: (id) => this.#apps.get(id),
          channelsOf: (id) => this.#channelsOf(id),
          onPublished: () => {
            this.#stats.published += 1;
          },
        },
        req,
        res,
      );
    });
    server.on("upgrade", (req, socket, head) => {
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        const handshake = checkHandshake(req.url, (key) => this.#appsByKey.get(key));
        if (!handshake.ok) {
          refuseSocket(ws, handshake.code, handshake.message);
          return;
        }
        const { app } = handshake;
        const connection = new PusherConnection(
          ws,
          `${this.#socketPrefix}.${++this.#socketCounter}`,
          app,
          this.#channelsOf(app.id),
          this.#settings,
          this.#stats,
        );
        this.#stats.connections += 1;
        this.#connections.add(connection);
        ws.on("close", () => this.#connections.delete(connection));
      });
    });
    return server;
  }

  #channelsOf(appId: string): AppChannels {
    const channels = this.#channels.get(appId);
    if (channels === undefined) throw new Error(`PusherEmulator: unknown app id ${appId}`);
    return channels;
  }

  #listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#port, this.host, () => {
        this.#server.off("error", reject);
        this.#port = (this.#server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  async #shutDown(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = this.#stopListening(this.#server);
    await Promise.all(
      [...this.#connections].map((connection) =>
        connection.close(PusherCode.RECONNECT, "Server restarting"),
      ),
    );
    await closed;
  }

  /** Stops accepting at once; resolves when the server's last socket has ended. */
  #stopListening(server: Server): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    return closed;
  }
}

/**
 * An Ably emulator for tests: the realtime protocol (v2–v6 over WebSocket, json
 * and msgpack) and the REST endpoints ably-js uses, on one local HTTP server,
 * following /work/shared/reference/ably-protocol.md (cited as "reference §N";
 * README.md beside this file lists what differs from hosted Ably). Switchyard's
 * own code never imports it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { AppChannels, type Delivery, type DeliveryFault } from "./app-channels.js";
import { AblyConnection, type ConnectionSettings } from "./connection.js";
import { checkHandshake, type HandshakeParams, type ResolvedKey } from "./handshake.js";
import {
  AblyCode,
  Action,
  type Capability,
  type ErrorInfo,
  encodeFrame,
  errorInfo,
  randomId,
  type StoredPresence,
} from "./protocol.js";
import { handleRestRequest } from "./rest-api.js";

export type {
  AlterData,
  DeliveredMessage,
  Delivery,
  DeliveryFault,
} from "./app-channels.js";
export type { Capability, ErrorInfo } from "./protocol.js";

/** One API key of an app: the full key is `{appId}.{id}:{secret}`. */
export interface AblyKeyConfig {
  id: string;
  secret: string;
  /** What the key may do, per channel pattern. Default `{"*": ["*"]}`: everything. */
  capability?: Capability;
}

/** One emulated app. */
export interface AblyAppConfig {
  id: string;
  keys: AblyKeyConfig[];
}

/** Options of `AblyEmulator.start`. */
export interface AblyEmulatorOptions {
  apps: AblyAppConfig[];
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Bytes one publish may carry; larger ones are NACKed (REST: 400) with 40009. Default 65536. */
  maxMessageSize?: number;
  /**
   * The maxMessageSize sent in connectionDetails; default `maxMessageSize`. A test
   * advertises more than it enforces to get an oversize publish past the SDK's own
   * check and see the server's NACK (reference §7).
   */
  advertisedMaxMessageSize?: number;
  /** ms; sent as maxIdleInterval, and the server sends a frame or ping at least this often. Default 15000. */
  maxIdleInterval?: number;
  /** ms a dropped connection stays resumable. Default 120000 (reference §4). */
  connectionStateTtl?: number;
  /** ms presence members of a dropped connection remain before leaving. Default 15000 (reference §9). */
  remainPresentFor?: number;
  /** Messages kept per channel for resume, rewind and history. Default 10000. */
  retainedMessages?: number;
  /** Presence members per SYNC frame. Default 100. */
  syncPageSize?: number;
}

/** Counters for assertions; they only grow, and survive `restart()`. */
export interface AblyEmulatorStats {
  /** CONNECTED sent: new connections and resumed ones. */
  connections: number;
  /** Connections resumed or recovered with their id kept. */
  resumes: number;
  /** Upgrades refused with an ERROR (bad key, version, format). */
  refused: number;
  /** Messages accepted, realtime (ACKed) and REST (201); idempotent repeats count too. */
  published: number;
  /** Messages handed to subscribers, live and replayed, one per message per connection. */
  delivered: number;
  /** Presence messages accepted. */
  presence: number;
  /** ACK frames sent (one lost with a cut transport is not counted). */
  acks: number;
  /** NACK frames sent. */
  nacks: number;
}

/**
 * A running emulator. Create with `AblyEmulator.start`, always `close()`.
 *
 * @example
 * const emu = await AblyEmulator.start({ apps: [{ id: "app", keys: [{ id: "k", secret: "s" }] }] });
 * // ably: { key: "app.k:s", endpoint: emu.host, port: emu.port, tls: false, ...emu.connectivityCheckOptions }
 * await emu.close();
 */
export class AblyEmulator {
  /** The interface the emulator listens on. */
  readonly host = "127.0.0.1";
  #port: number;
  #keys: Map<string, ResolvedKey>;
  #apps: Map<string, AppChannels> = new Map();
  #connections = new Map<string, AblyConnection>();
  #byKey = new Map<string, AblyConnection>();
  #settings: ConnectionSettings;
  #channelSettings: { retainedMessages: number; syncPageSize: number };
  #stats: AblyEmulatorStats = {
    connections: 0,
    resumes: 0,
    refused: 0,
    published: 0,
    delivered: 0,
    presence: 0,
    acks: 0,
    nacks: 0,
  };
  #server: Server;
  #wss: WebSocketServer;
  #serverId = `emu-${randomId(4)}`;
  /** While set, REST requests wait for it (see {@link holdRest}). */
  #restGate: Promise<void> | undefined;
  /** While set, realtime upgrades wait for it (see {@link holdConnections}). */
  #upgradeGate: Promise<void> | undefined;
  /** Upgrade requests waiting at the gate; a kill cuts them too. */
  #heldUpgrades = new Set<Duplex>();
  #publishRejection: ErrorInfo | undefined;
  #deliveryFault: ((delivery: Delivery) => DeliveryFault) | undefined;

  private constructor(options: AblyEmulatorOptions) {
    this.#port = options.port ?? 0;
    this.#keys = new Map();
    for (const app of options.apps) {
      for (const key of app.keys) {
        const keyName = `${app.id}.${key.id}`;
        this.#keys.set(keyName, {
          appId: app.id,
          keyName,
          secret: key.secret,
          capability: key.capability ?? { "*": ["*"] },
        });
      }
    }
    const maxMessageSize = options.maxMessageSize ?? 65_536;
    this.#settings = {
      maxMessageSize,
      advertisedMaxMessageSize: options.advertisedMaxMessageSize ?? maxMessageSize,
      maxInboundRate: 50,
      maxFrameSize: 524_288,
      maxIdleInterval: options.maxIdleInterval ?? 15_000,
      connectionStateTtl: options.connectionStateTtl ?? 120_000,
      remainPresentFor: options.remainPresentFor ?? 15_000,
    };
    this.#channelSettings = {
      retainedMessages: options.retainedMessages ?? 10_000,
      syncPageSize: options.syncPageSize ?? 100,
    };
    this.#resetApps(options.apps.map((app) => app.id));
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#settings.maxFrameSize,
    });
    this.#server = this.#createServer();
  }

  /** Starts an emulator listening on `127.0.0.1:{port}` (port 0 by default). */
  static async start(options: AblyEmulatorOptions): Promise<AblyEmulator> {
    const emulator = new AblyEmulator(options);
    await emulator.#listen();
    return emulator;
  }

  /** The TCP port, fixed for the emulator's life (also across `restart()` and `revive()`). */
  get port(): number {
    return this.#port;
  }

  /**
   * The client options that keep ably-js's connectivity checks on this emulator
   * (reference §15): without them a slow handshake makes the SDK probe ably.com hosts.
   */
  get connectivityCheckOptions(): { connectivityCheckUrl: string; wsConnectivityCheckUrl: string } {
    return {
      connectivityCheckUrl: `http://${this.host}:${this.#port}/is-the-internet-up.txt`,
      wsConnectivityCheckUrl: `ws://${this.host}:${this.#port}/ws-up`,
    };
  }

  /** A snapshot of the counters. */
  get stats(): AblyEmulatorStats {
    return { ...this.#stats };
  }

  /** Ids of the connections whose state exists (live, or dropped and still resumable). */
  connectionIds(appId: string): string[] {
    return [...this.#connections.values()]
      .filter((connection) => connection.appId === appId)
      .map((connection) => connection.connectionId);
  }

  /** Connection ids attached to `channel`, in attach (delivery) order. */
  attachedConnectionIds(appId: string, channel: string): string[] {
    return this.#channelsOf(appId).peek(channel)?.attachedConnectionIds() ?? [];
  }

  /** Presence members of `channel`, in the order they entered. */
  presenceMembers(appId: string, channel: string): StoredPresence[] {
    return this.#channelsOf(appId).peek(channel)?.members() ?? [];
  }

  /**
   * Fault control (drop): ends the transport of one connection, or of all. By
   * default the TCP connection is cut; with `disconnected`, a DISCONNECTED frame
   * carrying that error goes first. Connection state is kept, so the SDK resumes
   * with its connection id, and messages published meanwhile are replayed when it
   * re-attaches (reference §10). Resolves when the sockets are closed.
   */
  async dropConnections(
    options: { connectionId?: string; disconnected?: ErrorInfo } = {},
  ): Promise<void> {
    const targets = [...this.#connections.values()].filter(
      (connection) =>
        options.connectionId === undefined || connection.connectionId === options.connectionId,
    );
    await Promise.all(targets.map((connection) => connection.drop(options.disconnected)));
  }

  /**
   * Restarts on the same port as a fresh process: every connection, channel,
   * presence member and log is forgotten. Listening comes back before the old
   * connections get DISCONNECTED, so ably-js reconnects at once; its resume then
   * fails with 80008 and it re-attaches on a new connection (reference §10, §11).
   */
  async restart(): Promise<void> {
    const oldServer = this.#server;
    const oldConnections = [...this.#connections.values()];
    const oldServerClosed = this.#stopListening(oldServer);
    this.#forgetState();
    this.#server = this.#createServer();
    await this.#listen();
    await Promise.all(
      oldConnections.map((connection) =>
        connection
          .drop(errorInfo(AblyCode.DISCONNECTED, 503, "Server restarting"))
          .then(() => connection.discard()),
      ),
    );
    await oldServerClosed;
  }

  /**
   * Fault control (outage): stops listening and cuts every connection, as a killed
   * process would; all state is lost. Clients see refused connections until
   * `revive()`. Resolves when every socket is closed.
   */
  async kill(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = this.#stopListening(this.#server);
    for (const connection of this.#connections.values()) connection.discard();
    this.#forgetState();
    // Refused handshakes and connectivity probes are not connections but hold sockets too.
    for (const socket of this.#wss.clients) socket.terminate();
    for (const socket of this.#heldUpgrades) socket.destroy();
    this.#server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port after `kill()`, with no state. */
  async revive(): Promise<void> {
    if (this.#server.listening) return;
    this.#server = this.#createServer();
    await this.#listen();
  }

  /** Cuts every connection and closes the listener. Idempotent. */
  async close(): Promise<void> {
    this.#deliveryFault = undefined;
    await this.kill();
    this.#wss.close();
  }

  /**
   * Fault control (delay): REST requests wait, unanswered, until the returned
   * function is called, as a slow or overloaded service would make them. Requests
   * already being handled are not affected.
   */
  holdRest(): () => void {
    const { gate, release } = newGate();
    this.#restGate = gate;
    return () => {
      if (this.#restGate === gate) this.#restGate = undefined;
      release();
    };
  }

  /**
   * Fault control (delay): realtime connection attempts (WebSocket upgrades on `/`)
   * wait, unanswered, until the returned function is called. With it a test holds a
   * dropped client away for as long as it needs, e.g. to publish while it is gone.
   * The SDK's own handshake timeout (realtimeRequestTimeout, 10 s) still applies.
   */
  holdConnections(): () => void {
    const { gate, release } = newGate();
    this.#upgradeGate = gate;
    return () => {
      if (this.#upgradeGate === gate) this.#upgradeGate = undefined;
      release();
    };
  }

  /**
   * Fault control (refusal): every publish, realtime (NACK) and REST (error
   * reply), is refused with `error` until the returned function is called; e.g.
   * `{ code: 42911, statusCode: 429, message: "Rate limit exceeded" }`. Presence is
   * not affected.
   */
  rejectPublishes(error: { code: number; statusCode: number; message: string }): () => void {
    const rejection = errorInfo(error.code, error.statusCode, error.message);
    this.#publishRejection = rejection;
    return () => {
      if (this.#publishRejection === rejection) this.#publishRejection = undefined;
    };
  }

  /**
   * Fault control (per frame): `hook` decides, for each MESSAGE or PRESENCE frame
   * to each connection, to deliver it (undefined), `"drop"` it, send it twice
   * (`"duplicate"`), send it after `{ delayMs }` or once `{ until }` settles
   * (both may reorder it), or send it now with each message's data replaced by
   * `{ alter }` (see {@link AlterData}; the log, history and replays keep the
   * original). The hook is told the connection, the channel and each message's
   * id, name and data. Replays on re-attach are not subject to it.
   * `undefined` removes the hook.
   */
  setDeliveryFault(hook: ((delivery: Delivery) => DeliveryFault) | undefined): void {
    this.#deliveryFault = hook;
  }

  #resetApps(appIds: string[]): void {
    this.#apps = new Map(
      appIds.map((appId) => [
        appId,
        new AppChannels({
          ...this.#channelSettings,
          onDelivered: (count) => {
            this.#stats.delivered += count;
          },
          deliveryFault: () => this.#deliveryFault,
        }),
      ]),
    );
  }

  #forgetState(): void {
    this.#connections.clear();
    this.#byKey.clear();
    this.#resetApps([...this.#apps.keys()]);
  }

  #channelsOf(appId: string): AppChannels {
    const channels = this.#apps.get(appId);
    if (channels === undefined) throw new Error(`AblyEmulator: unknown app id ${appId}`);
    return channels;
  }

  #createServer(): Server {
    const server = createServer(async (req, res) => {
      await this.#restGate;
      void handleRestRequest(
        {
          findKey: (keyName) => this.#keys.get(keyName),
          channelsOf: (appId) => this.#channelsOf(appId),
          maxMessageSize: this.#settings.maxMessageSize,
          publishRejection: () => this.#publishRejection,
          onPublished: (count) => {
            this.#stats.published += count;
          },
        },
        req,
        res,
      );
    });
    server.on("upgrade", async (req, socket: Duplex, head) => {
      const path = new URL(req.url ?? "/", "http://emulator.invalid").pathname;
      if (path === "/" && this.#upgradeGate !== undefined) {
        this.#heldUpgrades.add(socket);
        await this.#upgradeGate;
        this.#heldUpgrades.delete(socket);
        if (socket.destroyed) return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        if (path !== "/") {
          // The SDK's WebSocket connectivity check only needs the upgrade to succeed (reference §15).
          ws.on("error", () => {});
          return;
        }
        this.#onRealtimeSocket(ws, req.url);
      });
    });
    return server;
  }

  #onRealtimeSocket(ws: WebSocket, url: string | undefined): void {
    const handshake = checkHandshake(url, (keyName) => this.#keys.get(keyName));
    if (!handshake.ok) {
      // A connection-level ERROR fails the SDK's connection for good (reference §4, §11).
      this.#stats.refused += 1;
      ws.on("error", () => {});
      ws.send(encodeFrame({ action: Action.ERROR, error: handshake.error }, handshake.format));
      ws.close();
      return;
    }
    const { params } = handshake;
    this.#stats.connections += 1;
    if (params.resumeKey !== undefined) {
      const existing = this.#byKey.get(params.resumeKey);
      if (existing !== undefined && existing.appId === params.key.appId) {
        this.#stats.resumes += 1;
        existing.resume(ws, params);
        return;
      }
      this.#openConnection(
        ws,
        params,
        errorInfo(
          AblyCode.CONNECTION_EXPIRED,
          400,
          "Unable to recover connection (connection expired)",
        ),
      );
      return;
    }
    this.#openConnection(ws, params);
  }

  #openConnection(ws: WebSocket, params: HandshakeParams, error?: ErrorInfo): void {
    const connection = new AblyConnection(params, {
      settings: this.#settings,
      stats: this.#stats,
      serverId: this.#serverId,
      channelsOf: (appId) => this.#channelsOf(appId),
      publishRejection: () => this.#publishRejection,
      onKeyChanged: (changed, previousKey) => {
        this.#byKey.delete(previousKey);
        this.#byKey.set(changed.key, changed);
      },
      onGone: (gone) => {
        if (this.#connections.get(gone.connectionId) !== gone) return;
        this.#connections.delete(gone.connectionId);
        this.#byKey.delete(gone.key);
      },
    });
    this.#connections.set(connection.connectionId, connection);
    this.#byKey.set(connection.key, connection);
    connection.open(ws, params, error);
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

  /** Stops accepting at once; resolves when the server's last socket has ended. */
  #stopListening(server: Server): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    return closed;
  }
}

function newGate(): { gate: Promise<void>; release: () => void } {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { gate, release };
}

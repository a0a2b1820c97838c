/**
 * A real SocketCluster server (the `socketcluster-server` package) on 127.0.0.1 for the
 * websocket kind's tests, with test-only fault controls: refuse some subscriptions, send
 * raw frames, kick sockets out of a channel, kill and revive on the same port.
 *
 * A subscription it never answers is not among them: socketcluster-server handles a
 * socket's frames one after another, so an unanswered one would stall the socket's
 * every later frame too (test/buses/phoenix-bus.ts has that fault).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import * as socketClusterServer from "socketcluster-server";

/** The server's path, as socketcluster-client uses by default. */
export const SOCKETCLUSTER_PATH = "/socketcluster/";

export interface SocketClusterBusOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** The server's ping interval, ms (socketcluster-server's default 8000). */
  readonly pingInterval?: number;
}

export class SocketClusterBus {
  readonly host = "127.0.0.1";
  #port: number;
  readonly #options: SocketClusterBusOptions;
  #http!: Server;
  #server!: socketClusterServer.AGServer;
  readonly #sockets = new Set<Socket>();
  /** Subscriptions refused with this reason, by predicate. */
  #refuse: (channel: string) => string | undefined = () => undefined;
  /** Subscriptions allowed so far, by channel. */
  readonly subscribes = new Map<string, number>();

  private constructor(options: SocketClusterBusOptions) {
    this.#options = options;
    this.#port = options.port ?? 0;
  }

  static async start(options: SocketClusterBusOptions = {}): Promise<SocketClusterBus> {
    const bus = new SocketClusterBus(options);
    await bus.#listen();
    return bus;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `ws://${this.host}:${this.#port}${SOCKETCLUSTER_PATH}`;
  }

  /** Connected sockets (the bridge's and any socketcluster-client's). */
  get clientsCount(): number {
    return this.#server.clientsCount;
  }

  /** Refuses subscriptions to channels `reason` returns a text for, with that text. */
  refuseSubscriptions(reason: (channel: string) => string | undefined): void {
    this.#refuse = reason;
  }

  /** Publishes from the server side, as an app server would. */
  publish(channel: string, data: unknown): Promise<void> {
    return this.#server.exchange.invokePublish(channel, data);
  }

  /** Sends raw text to every connected socket, outside the protocol. */
  sendRaw(text: string): void {
    for (const socket of Object.values(this.#server.clients)) socket.send(text);
  }

  /** Removes every socket from `channel`, as the server's `kickOut` does. */
  async kickOut(channel: string): Promise<void> {
    await Promise.all(
      Object.values(this.#server.clients).map((socket) => socket.kickOut(channel, "kicked")),
    );
  }

  /** Stops listening and cuts every connection, as a killed process would: all state is lost. */
  async kill(): Promise<void> {
    if (!this.#http.listening) return;
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    void this.#server.close(true);
    for (const socket of this.#sockets) socket.destroy();
    this.#http.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port after {@link kill}, with no state. */
  async revive(): Promise<void> {
    if (this.#http.listening) return;
    await this.#listen();
  }

  async close(): Promise<void> {
    await this.kill();
  }

  async #listen(): Promise<void> {
    this.#http = createServer();
    this.#http.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    this.#server = socketClusterServer.attach(this.#http, {
      path: SOCKETCLUSTER_PATH,
      ...(this.#options.pingInterval === undefined
        ? {}
        : { pingInterval: this.#options.pingInterval }),
    });
    const server = this.#server;
    server.setMiddleware(server.MIDDLEWARE_INBOUND, async (stream) => {
      for await (const action of stream) {
        if (action.type !== action.SUBSCRIBE || action.channel === undefined) {
          action.allow();
          continue;
        }
        const channel = action.channel;
        const reason = this.#refuse(channel);
        if (reason !== undefined) {
          const error = new Error(reason);
          error.name = "ForbiddenError";
          action.block(error);
          continue;
        }
        this.subscribes.set(channel, (this.subscribes.get(channel) ?? 0) + 1);
        action.allow();
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.#http.once("error", reject);
      this.#http.listen(this.#port, this.host, () => {
        this.#http.off("error", reject);
        resolve();
      });
    });
    this.#port = (this.#http.address() as AddressInfo).port;
  }
}

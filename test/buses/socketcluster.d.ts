/**
 * The parts of socketcluster-server 20 and socketcluster-client 20 the tests and the
 * example use. The packages ship no types.
 */
declare module "socketcluster-server" {
  import type { Server } from "node:http";

  interface AGAction {
    readonly type: string;
    readonly SUBSCRIBE: string;
    readonly PUBLISH_IN: string;
    readonly channel?: string;
    readonly data?: unknown;
    allow(packet?: unknown): void;
    block(error?: Error): void;
  }

  interface AGServerSocket {
    readonly id: string;
    readonly state: string;
    /** Sends raw text on the socket, outside the protocol. */
    send(data: string): void;
    disconnect(code?: number, reason?: string): void;
    kickOut(channel?: string, message?: string): Promise<void>;
  }

  interface AGExchange {
    invokePublish(channel: string, data: unknown): Promise<void>;
  }

  interface AGServer {
    readonly MIDDLEWARE_INBOUND: string;
    readonly clients: Readonly<Record<string, AGServerSocket>>;
    readonly clientsCount: number;
    readonly exchange: AGExchange;
    setMiddleware(
      type: string,
      middleware: (stream: AsyncIterable<AGAction>) => Promise<void>,
    ): void;
    close(keepSocketsOpen?: boolean): Promise<void>;
  }

  interface AttachOptions {
    path?: string;
    pingInterval?: number;
    pingTimeout?: number;
    allowClientPublish?: boolean;
  }

  export function attach(server: Server, options?: AttachOptions): AGServer;
}

declare module "socketcluster-client" {
  interface AGChannel<T = unknown> extends AsyncIterable<T> {
    readonly name: string;
    readonly state: string;
    listener(event: "subscribe" | "subscribeFail" | "unsubscribe"): { once(): Promise<unknown> };
    unsubscribe(): void;
    close(): void;
  }

  interface AGClientSocket {
    readonly id: string | null;
    readonly state: string;
    subscribe<T = unknown>(channel: string): AGChannel<T>;
    transmitPublish(channel: string, data: unknown): Promise<void>;
    invokePublish(channel: string, data: unknown): Promise<unknown>;
    listener(event: "connect" | "close" | "error"): { once(): Promise<unknown> };
    disconnect(code?: number): void;
  }

  interface CreateOptions {
    hostname: string;
    port: number;
    path?: string;
    secure?: boolean;
    autoReconnect?: boolean;
  }

  export function create(options: CreateOptions): AGClientSocket;
}

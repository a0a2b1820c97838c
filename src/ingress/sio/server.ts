import type { IncomingMessage } from "node:http";
import type { SwitchyardError } from "../../errors.js";
import type { EngineOptions } from "../engine/options.js";
import { EngineServer } from "../engine/server.js";
import type { Session } from "../engine/session.js";
import { Client } from "./client.js";
import { Namespace, type RoomObserver, type SocketObserver } from "./namespace.js";
import { ConnectionRecovery, type RecoveryOptions } from "./recovery.js";
import type { AckCallback, DisconnectReason, Socket } from "./socket.js";

/**
 * What the ingress asks of the layer above it (the router, or the conformance
 * handler). The ingress knows nothing of rooms' backends or of the mapping.
 */
export interface SocketHandler {
  /**
   * A client asks to connect to a namespace. Return (or resolve) to accept; throw
   * (or reject with) a `ConnectRefusal` to answer CONNECT_ERROR `{message, data}`.
   */
  onConnect(socket: Socket, auth: Readonly<Record<string, unknown>>): undefined | Promise<void>;
  /** The CONNECT reply has been queued; the socket may now be sent events. */
  onConnected?(socket: Socket): void;
  /** An event from the client; `ack` is set when the client asked for one. */
  onEvent(socket: Socket, event: string, args: unknown[], ack: AckCallback | undefined): void;
  /**
   * An event the ingress refused before decoding its arguments (they nest deeper than
   * `maxDepth`): tell the sender `error`. Without this method the session is closed.
   */
  onEventRefused?(
    socket: Socket,
    event: string,
    error: SwitchyardError,
    ack: AckCallback | undefined,
  ): void;
  /**
   * A kept socket comes back with `skipMiddlewares` (docs/recovery.md): its state is
   * restored; throw a `ConnectRefusal` to refuse it (a token that expired meanwhile).
   * Without this method it is accepted.
   */
  onRecover?(socket: Socket): void;
  /** The socket left its namespace; it is no longer in any room. */
  onDisconnect(socket: Socket, reason: DisconnectReason): void;
  /** A handler threw or rejected unexpectedly; the client got an internal error or nothing. */
  onError?(error: unknown): void;
}

export interface SioOptions extends EngineOptions {
  /** ms a new session has to connect to a namespace. */
  readonly connectTimeout: number;
  /** Largest number of binary attachments in one packet. */
  readonly maxAttachments: number;
  /** How deep the data of a client's packet may nest (src/json-depth.ts). */
  readonly maxDepth: number;
  /** Connection state recovery (docs/recovery.md); absent: off. */
  readonly recovery?: RecoveryOptions;
}

/** The Socket.IO v5 server: namespaces over an {@link EngineServer}. */
export class SioServer {
  readonly options: SioOptions;
  readonly engine: EngineServer;
  readonly handler: SocketHandler;
  readonly #namespaces = new Map<string, Namespace>();
  /** Kept sockets and logged broadcasts, when recovery is on. */
  readonly recovery: ConnectionRecovery | undefined;

  readonly #observer: RoomObserver | undefined;
  /** Namespaces outside the mapping, each with its own handler: {@link addNamespace}. */
  readonly #own = new Set<string>();
  #socketObserver: SocketObserver | undefined;

  constructor(
    options: SioOptions,
    namespaces: Iterable<string>,
    handler: SocketHandler,
    observer?: RoomObserver,
  ) {
    this.options = options;
    this.handler = handler;
    this.#observer = observer;
    this.recovery =
      options.recovery &&
      new ConnectionRecovery(
        options.recovery,
        (kept) => this.namespace(kept.nsp)?.releaseRooms(kept.rooms),
        options.log,
      );
    this.setNamespaces(namespaces);
    this.engine = new EngineServer(options, (session, req) => this.#onSession(session, req));
  }

  namespace(name: string): Namespace | undefined {
    return this.#namespaces.get(name);
  }

  /** A namespace of the mapping: not one opened with {@link addNamespace} (the Admin UI's). */
  mappedNamespace(name: string): Namespace | undefined {
    return this.#own.has(name) ? undefined : this.#namespaces.get(name);
  }

  /**
   * Makes `names` the namespaces clients may connect to: new ones open at once; the
   * sockets of removed ones are disconnected (`server namespace disconnect`) and
   * later CONNECTs to them are refused. Kept ones are untouched.
   */
  setNamespaces(names: Iterable<string>): void {
    const wanted = new Set(names);
    for (const [name, namespace] of this.#namespaces) {
      if (wanted.has(name) || this.#own.has(name)) continue;
      this.#namespaces.delete(name);
      for (const socket of [...namespace.sockets.values()]) socket.disconnect();
    }
    const onDisconnect = (socket: Socket, reason: DisconnectReason): void =>
      this.handler.onDisconnect(socket, reason);
    for (const name of wanted) {
      if (this.#namespaces.has(name)) continue;
      const namespace = new Namespace(name, onDisconnect, this.#observer, this.recovery);
      namespace.socketObserver = this.#socketObserver;
      this.#namespaces.set(name, namespace);
    }
  }

  /**
   * Opens a namespace outside the mapping, served by `handler` rather than the server's
   * (the Admin UI's): no room observer, no recovery, no socket observer, and
   * {@link setNamespaces} keeps it.
   *
   * @throws Error when a namespace of that name exists (a programming error: the
   *   caller checks the mapping first).
   */
  addNamespace(name: string, handler: SocketHandler): Namespace {
    if (this.#namespaces.has(name)) throw new Error(`namespace ${name} exists already`);
    const namespace = new Namespace(name, (socket, reason) => handler.onDisconnect(socket, reason));
    namespace.handler = handler;
    this.#own.add(name);
    this.#namespaces.set(name, namespace);
    return namespace;
  }

  /**
   * Tells `observer` of every socket of the mapping's namespaces, present and future
   * (undefined: nobody). Namespaces of {@link addNamespace} are not observed.
   */
  observe(observer: SocketObserver | undefined): void {
    this.#socketObserver = observer;
    for (const [name, namespace] of this.#namespaces) {
      if (!this.#own.has(name)) namespace.socketObserver = observer;
    }
  }

  /** The mapping's namespaces: not those opened with {@link addNamespace} (the Admin UI's). */
  *namespaces(): IterableIterator<Namespace> {
    for (const [name, namespace] of this.#namespaces) if (!this.#own.has(name)) yield namespace;
  }

  close(): void {
    this.engine.close();
    this.recovery?.close();
  }

  #onSession(session: Session, req: IncomingMessage): void {
    const url = req.url ?? "";
    const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
    session.listener = new Client(this, session, req.socket.remoteAddress ?? "", query);
  }
}

import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type { CloseReason } from "../engine/options.js";
import { Outbound } from "../engine/outbound.js";
import { randomId } from "../engine/random-id.js";
import type { Session, SessionListener } from "../engine/session.js";
import type { Namespace } from "./namespace.js";
import {
  decodeText,
  encode,
  type PartialPacket,
  reconstruct,
  SioDecodeError,
  SioType,
} from "./parser.js";
import type { Restored, Taken } from "./recovery.js";
import type { SioServer } from "./server.js";
import { type AckCallback, Socket } from "./socket.js";

/** Counted once per packet: tallies, not prom-client calls (src/metrics.ts). */
const packetsIn = metrics.packetsIn.tally();
const bytesIn = metrics.bytesIn.tally();

/**
 * One Engine.IO session seen from Socket.IO: decodes packets (reassembling binary
 * attachments), multiplexes namespaces, and closes the session on any packet the
 * protocol forbids.
 */
export class Client implements SessionListener {
  readonly session: Session;
  /** The peer's address, for logs and forwarded context. */
  readonly address: string;
  /** When the session was accepted, in ms since the epoch. */
  readonly issued = Date.now();
  readonly #server: SioServer;
  readonly #sockets = new Map<string, Socket>();
  /** Namespaces whose CONNECT waits for the shared session store (recovery across nodes). */
  readonly #restoring = new Set<string>();
  #partial: PartialPacket | undefined;
  #buffers: Buffer[] = [];
  #connectTimer: NodeJS.Timeout | undefined;

  /**
   * @param query The handshake's query string. Socket.IO protocol v4 (socket.io 2.x)
   *   clients are connected to `/` at once, with the query's own parameters as auth.
   */
  constructor(server: SioServer, session: Session, address: string, query: URLSearchParams) {
    this.#server = server;
    this.session = session;
    this.address = address;
    this.#connectTimer = setTimeout(closeUnconnected, server.options.connectTimeout, this);
    // Only when `/` exists: a 2.x client reports an error on `/` to all its sockets.
    if (session.protocol === 3 && server.namespace("/") !== undefined) {
      this.#connect("/", authOf(query, ENGINE_PARAMS));
    }
  }

  /** @internal The connect timer fired. */
  onConnectTimeout(): void {
    this.#connectTimer = undefined;
    if (this.#sockets.size > 0) return;
    metrics.errors.inc({ code: "SWY_SESSION_CONNECT_TIMEOUT" });
    this.session.close("forced close");
  }

  onMessage(data: string | Buffer): void {
    try {
      if (typeof data === "string") this.#onText(data);
      else this.#onBinary(data);
    } catch (error) {
      if (error instanceof SioDecodeError) {
        this.session.close("parse error", error.code);
        return;
      }
      this.#onHandlerError(error);
    }
  }

  /** A bug in a handler must not take the process (and every other client) down. */
  #onHandlerError(error: unknown): void {
    metrics.errors.inc({ code: "SWY_INTERNAL" });
    this.#server.handler.onError?.(error);
  }

  onUpgrade(): void {
    for (const socket of this.#sockets.values()) socket.nsp.socketObserver?.onUpgraded(socket);
  }

  onClose(reason: CloseReason): void {
    this.#clearConnectTimer();
    for (const socket of [...this.#sockets.values()]) socket.onClose(reason);
  }

  /** @internal */
  onSocketClosed(socket: Socket): void {
    if (this.#sockets.get(socket.nsp.name) === socket) this.#sockets.delete(socket.nsp.name);
    // A session that left every namespace gets connectTimeout to join one again, as a
    // new session does, rather than holding a connection open for nothing.
    if (this.#sockets.size === 0 && !this.session.isClosed && this.#connectTimer === undefined) {
      this.#connectTimer = setTimeout(closeUnconnected, this.#server.options.connectTimeout, this);
    }
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer === undefined) return;
    clearTimeout(this.#connectTimer);
    // Dropped, not just cleared: an idle connection should not keep a dead timer.
    this.#connectTimer = undefined;
  }

  #onText(text: string): void {
    if (this.#partial !== undefined)
      throw new SioDecodeError("text while attachments were expected");
    packetsIn.add();
    bytesIn.add(text.length);
    const packet = decodeText(text, this.#server.options);
    if (packet.attachments > 0) {
      this.#partial = packet;
      this.#buffers = [];
      return;
    }
    this.#onPacket(packet);
  }

  #onBinary(buffer: Buffer): void {
    const partial = this.#partial;
    if (partial === undefined) throw new SioDecodeError("binary data without a binary packet");
    bytesIn.add(buffer.length);
    this.#buffers.push(buffer);
    if (this.#buffers.length < partial.attachments) return;
    const buffers = this.#buffers;
    this.#partial = undefined;
    this.#buffers = [];
    this.#onPacket(reconstruct(partial, buffers));
  }

  #onPacket(packet: PartialPacket): void {
    if (packet.tooDeep !== undefined) {
      this.#onTooDeep(packet, packet.tooDeep.event);
      return;
    }
    if (packet.type === SioType.CONNECT) {
      if (this.session.protocol === 3) {
        // Protocol v4 clients put their auth in the namespace's query: `/admin?token=abc`.
        // The name is kept as written (no URL normalisation), as socket.io does.
        const mark = packet.nsp.indexOf("?");
        const name = mark === -1 ? packet.nsp : packet.nsp.slice(0, mark);
        const query = new URLSearchParams(mark === -1 ? "" : packet.nsp.slice(mark + 1));
        this.#connect(name, authOf(query));
      } else {
        this.#connect(packet.nsp, (packet.data as Record<string, unknown> | undefined) ?? NO_AUTH);
      }
      return;
    }
    const socket = this.#sockets.get(packet.nsp);
    if (socket === undefined || !socket.isConnected) {
      throw new SioDecodeError(`packet for namespace ${packet.nsp}, which is not connected`);
    }
    switch (packet.type) {
      case SioType.EVENT:
      case SioType.BINARY_EVENT: {
        const [event, ...args] = packet.data as [string | number, ...unknown[]];
        const ack = packet.id === undefined ? undefined : this.#ackFor(socket, packet.id);
        socket.nsp.socketObserver?.onEventReceived(socket, String(event), args);
        (socket.nsp.handler ?? this.#server.handler).onEvent(socket, String(event), args, ack);
        return;
      }
      case SioType.ACK:
      case SioType.BINARY_ACK:
        socket.onAck(packet.id!, packet.data as unknown[]);
        return;
      case SioType.DISCONNECT:
        socket.onClose("client namespace disconnect");
        return;
      default:
        throw new SioDecodeError("a client may not send CONNECT_ERROR");
    }
  }

  /**
   * Refuses a packet whose payload nests deeper than `maxDepth` (it was never parsed):
   * a CONNECT gets CONNECT_ERROR, an event goes to the handler as refused, so its
   * sender learns SWY_PAYLOAD_TOO_DEEP the way it learns every other refusal.
   */
  #onTooDeep(packet: PartialPacket, event: string | undefined): void {
    const error = new SwitchyardError("SWY_PAYLOAD_TOO_DEEP", [this.#server.options.maxDepth]);
    if (packet.type === SioType.CONNECT) {
      if (this.#sockets.has(packet.nsp))
        throw new SioDecodeError(`second CONNECT to ${packet.nsp}`);
      metrics.errors.inc({ code: error.code });
      this.#sendConnectError(packet.nsp, { message: error.message, data: { code: error.code } });
      return;
    }
    const socket = this.#sockets.get(packet.nsp);
    const handler = socket?.nsp.handler ?? this.#server.handler;
    if (socket === undefined || !socket.isConnected || handler.onEventRefused === undefined) {
      throw new SioDecodeError("payload nested too deep", "SWY_PAYLOAD_TOO_DEEP");
    }
    const ack = packet.id === undefined ? undefined : this.#ackFor(socket, packet.id);
    handler.onEventRefused(socket, event ?? "", error, ack);
  }

  #ackFor(socket: Socket, id: number): AckCallback {
    let isSent = false;
    return (...args: unknown[]) => {
      if (isSent || !socket.isConnected) return;
      isSent = true;
      socket.sendPacket({ type: SioType.ACK, nsp: socket.nsp.name, id, data: args });
    };
  }

  #connect(name: string, auth: Readonly<Record<string, unknown>>): void {
    const legacy = this.session.protocol === 3;
    if (this.#restoring.has(name)) throw new SioDecodeError(`second CONNECT to ${name}`);
    const existing = this.#sockets.get(name);
    if (existing !== undefined) {
      // socket.io 2.x clients may repeat a CONNECT; they get the same answer again.
      if (!legacy) throw new SioDecodeError(`second CONNECT to ${name}`);
      if (existing.isConnected) existing.sendPacket({ type: SioType.CONNECT, nsp: name });
      return;
    }
    const nsp = this.#server.namespace(name);
    if (nsp === undefined) {
      metrics.errors.inc({ code: "SWY_NAMESPACE_INVALID" });
      this.#sendConnectError(name, { message: "Invalid namespace" });
      return;
    }
    // A client coming back with its private id and last offset gets its socket again:
    // at once when this node kept it, after asking the shared store otherwise.
    const recovery = legacy ? undefined : this.#server.recovery;
    const taken = recovery && this.#restore(name, auth);
    if (taken instanceof Promise) {
      // Until the store answers, the namespace counts as asked: a second CONNECT to it
      // is the same protocol error as one after the answer.
      this.#restoring.add(name);
      taken
        .then((restored) => {
          this.#restoring.delete(name);
          if (this.session.isClosed || this.#server.namespace(name) !== nsp) {
            if (restored?.heldRooms === true) nsp.releaseRooms(restored.kept.rooms);
            return;
          }
          // An id connected here already (the store's word against this node's) is not
          // taken twice.
          const isTaken = restored !== undefined && nsp.sockets.has(restored.kept.id);
          this.#open(nsp, auth, isTaken ? undefined : restored);
        })
        .catch((error: unknown) => this.#onHandlerError(error));
      return;
    }
    this.#open(nsp, auth, taken);
  }

  /** Opens a socket on `nsp`: a new one, or a kept one `restored` with what it missed. */
  #open(
    nsp: Namespace,
    auth: Readonly<Record<string, unknown>>,
    restored: Restored | undefined,
  ): void {
    const name = nsp.name;
    const legacy = this.session.protocol === 3;
    const recovery = legacy ? undefined : this.#server.recovery;
    // Every socket gets a fresh id that does not reveal its session's. socket.io derives
    // a 2.x client's id from the engine id (`/` gets the engine id itself), but a socket
    // id is handed to other clients (templates, the API) and the engine id drives the
    // transport: whoever holds it can upgrade the session to a WebSocket of their own.
    // A 2.x client therefore reads its own `socket.id` as the engine id, which the
    // server never uses (docs/legacy.md).
    const id = restored?.kept.id ?? randomId();
    const socket = new Socket(id, nsp, this, auth);
    // A namespace outside the mapping (the Admin UI's) has a handler of its own.
    const handler = nsp.handler ?? this.#server.handler;
    if (recovery !== undefined) socket.pid = restored?.kept.pid ?? recovery.newPid();
    if (restored !== undefined) {
      socket.recovered = true;
      socket.data = restored.kept.data;
    }
    this.#sockets.set(name, socket);
    const accept = (): void => {
      if (this.session.isClosed || this.#sockets.get(name) !== socket) {
        if (restored?.heldRooms === true) nsp.releaseRooms(restored.kept.rooms);
        return;
      }
      this.#clearConnectTimer();
      socket.onConnected();
      nsp.onSocketConnected(socket);
      if (restored !== undefined) {
        for (const room of restored.kept.rooms) socket.join(room);
        if (restored.heldRooms) nsp.releaseRooms(restored.kept.rooms);
      }
      socket.sendPacket({
        type: SioType.CONNECT,
        nsp: name,
        data: legacy ? undefined : { sid: socket.id, ...(socket.pid ? { pid: socket.pid } : {}) },
      });
      // In the same turn as the joins: what was logged before is replayed, what comes
      // after is delivered live, and nothing falls between.
      if (restored !== undefined) {
        const missed = restored.missed();
        for (const packet of missed) this.session.send(packet);
        metrics.recoveries.inc({ outcome: "recovered" });
        metrics.recoveryReplayed.inc(missed.length);
      }
      handler.onConnected?.(socket);
    };
    const refuse = (error: unknown): void => {
      if (restored?.heldRooms === true) nsp.releaseRooms(restored.kept.rooms);
      if (this.#sockets.get(name) === socket) this.#sockets.delete(name);
      if (this.session.isClosed) return;
      const refusal =
        error instanceof ConnectRefusal
          ? error
          : new ConnectRefusal("Internal error while connecting", { code: "SWY_INTERNAL" });
      if (!(error instanceof ConnectRefusal)) handler.onError?.(error);
      metrics.errors.inc({ code: refusal.code ?? "SWY_CONNECT_REFUSED" });
      // Protocol v4's ERROR packet carries the error's data, or else its message.
      this.#sendConnectError(
        name,
        legacy ? (refusal.data ?? refusal.message) : refusal.toPayload(),
      );
    };
    try {
      // A socket kept by a socket.io node runs auth again whatever `skipMiddlewares` says.
      const pending =
        restored?.trusted === true && recovery!.options.skipMiddlewares
          ? handler.onRecover?.(socket)
          : handler.onConnect(socket, auth);
      if (pending === undefined) accept();
      // A throw in accept or refuse (a bug) is reported, never left unhandled.
      else pending.then(accept, refuse).catch((error: unknown) => this.#onHandlerError(error));
    } catch (error) {
      refuse(error);
    }
  }

  /**
   * The kept socket a CONNECT's `{pid, offset}` names, with what it missed; undefined
   * (a new socket) when the CONNECT has none, or the socket cannot be restored (counted
   * by reason).
   */
  #restore(
    nsp: string,
    auth: Readonly<Record<string, unknown>>,
  ): Restored | undefined | Promise<Restored | undefined> {
    if (typeof auth.pid !== "string" || typeof auth.offset !== "string") return undefined;
    const taken = this.#server.recovery!.take(nsp, auth);
    return taken instanceof Promise ? taken.then(restoredOf) : restoredOf(taken);
  }

  #sendConnectError(nsp: string, payload: unknown): void {
    const [text] = encode({ type: SioType.CONNECT_ERROR, nsp, data: payload });
    this.session.send(Outbound.message(text));
  }
}

/** The socket a recovery gave back, or undefined: a new socket (the miss was counted). */
function restoredOf(taken: Taken): Restored | undefined {
  return "miss" in taken ? undefined : taken;
}

/** Handshake parameters of Engine.IO itself, which are not the client's auth. */
const ENGINE_PARAMS = new Set(["EIO", "transport", "t", "sid", "b64", "j"]);

/** A query string as an auth object; `skip` names parameters that are not auth. */
function authOf(
  query: URLSearchParams,
  skip?: ReadonlySet<string>,
): Readonly<Record<string, unknown>> {
  let auth: Record<string, unknown> | undefined;
  for (const [key, value] of query) {
    if (skip?.has(key)) continue;
    auth ??= {};
    auth[key] = value;
  }
  return auth ?? NO_AUTH;
}

function closeUnconnected(client: Client): void {
  client.onConnectTimeout();
}

/** The auth of a CONNECT without payload, shared rather than allocated per socket. */
const NO_AUTH: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Thrown (or rejected) by a connect handler to refuse a namespace connection. The
 * client receives CONNECT_ERROR `{ message, data }`.
 */
export class ConnectRefusal extends Error {
  override readonly name = "ConnectRefusal";
  readonly data: unknown;

  constructor(message: string, data?: unknown) {
    super(message);
    this.data = data;
  }

  /** The `code` in `data`, when it has one. */
  get code(): string | undefined {
    const code = (this.data as { code?: unknown } | undefined)?.code;
    return typeof code === "string" ? code : undefined;
  }

  toPayload(): { message: string; data?: unknown } {
    return this.data === undefined
      ? { message: this.message }
      : { message: this.message, data: this.data };
  }
}

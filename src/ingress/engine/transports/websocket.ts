import type { Duplex } from "node:stream";
import { WebSocket } from "ws";
import { type Flushable, flushQueue } from "../../../flush-queue.js";
import type { Outbound } from "../outbound.js";

/** What a WebSocket transport reports to the session that owns it. */
export interface WebSocketOwner {
  onFrame(transport: WebSocketTransport, data: string | Buffer): void;
  onTransportClose(
    transport: WebSocketTransport,
    reason: "transport close" | "transport error",
  ): void;
  /** The kernel left more than `maxQueuedBytes` unsent: the peer is not reading. */
  onOverflow(transport: WebSocketTransport): void;
  /**
   * The peer sent a message over `maxHttpBufferSize`: `ws` stopped reading and closed
   * with 1009; the transport is closed. `size` is the length the message announced
   * (for a fragmented one, its frames' so far), when known.
   */
  onMessageTooLarge(transport: WebSocketTransport, size: number | undefined): void;
}

/**
 * The WebSocket transport: one Engine.IO packet per frame.
 *
 * Outgoing frames are written to the raw TCP socket ourselves rather than through
 * `ws.send`, so that a broadcast frames its bytes once for every recipient and
 * every frame queued during one event-loop turn leaves in a single write (see
 * {@link flushQueue}). `ws` still parses incoming frames and handles control frames
 * and the closing handshake.
 */
const TRANSPORT = Symbol("switchyard.transport");

const V4_FRAME = (out: Outbound): Buffer => out.wsFrame();
const V3_FRAME = (out: Outbound): Buffer => out.wsFrameV3();
const V3_BASE64_FRAME = (out: Outbound): Buffer => out.wsFrameV3Base64();

interface OwnedWebSocket extends WebSocket {
  [TRANSPORT]: WebSocketTransport;
}

// Listeners are shared functions that find their transport on the socket: closures
// would cost every connection three more objects and a context.
function onMessage(this: OwnedWebSocket, data: Buffer, isBinary: boolean): void {
  this[TRANSPORT].onMessage(data, isBinary);
}

function onClose(this: OwnedWebSocket): void {
  this[TRANSPORT].onClose("transport close");
}

/** The errors of `ws`'s receiver for a message over `maxPayload`; it closes with 1009. */
const TOO_LARGE = new Set([
  "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
  "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH",
]);

function onError(this: OwnedWebSocket, error: Error & { code?: string }): void {
  if (error.code !== undefined && TOO_LARGE.has(error.code)) this[TRANSPORT].onTooLarge(this);
  else this[TRANSPORT].onClose("transport error");
}

/**
 * The length an oversize message announced. `ws` keeps it only in its receiver's
 * private state, read here in this one place; undefined if a `ws` version moves it
 * (test/hostile/oversize-message.test.ts checks the size logged).
 */
function announcedSize(ws: WebSocket): number | undefined {
  const receiver = (ws as unknown as { _receiver?: { _totalPayloadLength?: unknown } })._receiver;
  const size = receiver?._totalPayloadLength;
  return typeof size === "number" && size > 0 ? size : undefined;
}

/**
 * The `WebSocket` class for `WebSocketServer`'s `WebSocket` option: `ws` closes with 1009
 * and no reason when a message is over `maxPayload`; this one gives `reason`, so the
 * client can tell why (a close reason is at most 123 bytes).
 */
export function webSocketClass(reason: string): typeof WebSocket {
  return class extends WebSocket {
    override close(code?: number, data?: string | Buffer): void {
      super.close(code, code === 1009 && data === undefined ? reason : data);
    }
  };
}

export class WebSocketTransport implements Flushable {
  readonly name = "websocket";
  isFlushScheduled = false;
  readonly #ws: WebSocket;
  readonly #socket: Duplex;
  readonly #owner: WebSocketOwner;
  readonly #maxQueuedBytes: number;
  /** How this client's frames are made: v4, v3, or v3 with binary as base64 text. */
  readonly #frameOf: (out: Outbound) => Buffer;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #isClosed = false;

  /**
   * @param maxQueuedBytes Bytes the kernel may leave unsent after a flush before the
   *   peer counts as a slow consumer. What one event-loop turn queues is not counted
   *   until it is flushed, so a burst to a client that keeps up is never cut off.
   */
  constructor(
    ws: WebSocket,
    socket: Duplex,
    owner: WebSocketOwner,
    maxQueuedBytes: number,
    protocol: 3 | 4,
    supportsBinary: boolean,
  ) {
    this.#frameOf = protocol === 4 ? V4_FRAME : supportsBinary ? V3_FRAME : V3_BASE64_FRAME;
    this.#ws = ws;
    this.#socket = socket;
    this.#owner = owner;
    this.#maxQueuedBytes = maxQueuedBytes;
    const owned = ws as OwnedWebSocket;
    owned[TRANSPORT] = this;
    owned.on("message", onMessage as (this: WebSocket, data: Buffer, isBinary: boolean) => void);
    owned.on("close", onClose as (this: WebSocket) => void);
    owned.on("error", onError as (this: WebSocket, error: Error) => void);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.#bytes + this.#socket.writableLength;
  }

  /** Queues a packet; it leaves at the end of this event-loop turn. */
  send(out: Outbound): void {
    if (this.#isClosed) return;
    const frame = this.#frameOf(out);
    this.#chunks.push(frame);
    this.#bytes += frame.length;
    flushQueue.schedule(this);
  }

  flush(): void {
    if (this.#isClosed || this.#bytes === 0) return;
    const chunks = this.#chunks;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#bytes);
    this.#chunks = [];
    this.#bytes = 0;
    this.#socket.write(data);
    // A new session's socket is corked from the handshake on (EngineServer.handleUpgrade).
    if (this.#socket.writableCorked > 0) this.#socket.uncork();
    if (this.#socket.writableLength > this.#maxQueuedBytes) this.#owner.onOverflow(this);
  }

  /** Sends what is queued, then closes with the closing handshake. */
  close(code = 1000): void {
    if (this.#isClosed) return;
    this.flush();
    this.#isClosed = true;
    this.#ws.close(code);
  }

  /** Drops the connection at once, without flushing (for slow consumers and shutdown). */
  terminate(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#chunks = [];
    this.#bytes = 0;
    this.#ws.terminate();
  }

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#isClosed) return;
    this.#owner.onFrame(this, isBinary ? data : data.toString());
  }

  /** @internal */
  onTooLarge(ws: WebSocket): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#chunks = [];
    this.#bytes = 0;
    this.#owner.onMessageTooLarge(this, announcedSize(ws));
  }

  /** @internal */
  onClose(reason: "transport close" | "transport error"): void {
    if (this.#isClosed) {
      return;
    }
    this.#isClosed = true;
    this.#chunks = [];
    this.#bytes = 0;
    this.#owner.onTransportClose(this, reason);
  }
}

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { ErrorCode } from "../../errors.js";
import type { CloseReason, EngineOptions } from "./options.js";
import { CLOSE, NOOP, Outbound, PING, PONG } from "./outbound.js";
import { decodeText, type Packet, PacketType } from "./parser.js";
import { decodeBinaryFrameV3, decodeTextV3 } from "./parser-v3.js";
import { type TimerWheel, WheelTimer } from "./timer-wheel.js";
import { type PollingOwner, PollingTransport } from "./transports/polling.js";
import { V4_CODEC, v3Codec } from "./transports/polling-codec.js";
import { type WebSocketOwner, WebSocketTransport } from "./transports/websocket.js";

/** What the layer above (Socket.IO) receives from one session. */
export interface SessionListener {
  onMessage(data: string | Buffer): void;
  onClose(reason: CloseReason): void;
  /** The session moved from polling to its WebSocket. */
  onUpgrade?(): void;
}

/** The server's side of a session: told once when the session is gone. */
export interface SessionHost {
  readonly options: EngineOptions;
  /** Where every session's heartbeat deadlines live (one interval timer for all of them). */
  readonly heartbeats: TimerWheel;
  /** `code` names the error behind the close, when it was one. */
  onSessionClosed(session: Session, reason: CloseReason, code?: ErrorCode): void;
  /**
   * The client sent a message over `maxHttpBufferSize` on `transport` (`size` bytes, when
   * known): a WebSocket is closed (1009), a polling POST answered 413.
   */
  onPayloadTooLarge(session: Session, transport: "polling" | "websocket", size?: number): void;
  /** The session moved from polling to its WebSocket. */
  onSessionUpgraded?(session: Session): void;
}

const PROBE = "probe";
const PROBE_PONG = new Outbound({ type: PacketType.PONG, data: PROBE });

/** Decodes a WebSocket frame: v4 binary frames are messages; v3 ones lead with their type. */
function decodeFrame(data: string | Buffer, protocol: 3 | 4): Packet | undefined {
  if (typeof data === "string") return protocol === 4 ? decodeText(data) : decodeTextV3(data);
  return protocol === 4 ? { type: PacketType.MESSAGE, data } : decodeBinaryFrameV3(data);
}

/**
 * A session's heartbeat deadline: the next ping (v4, not awaiting a pong), or the close for a
 * missing pong (v4) or ping (v3). One per session, reused for every deadline; a class rather
 * than a closure per session.
 */
class Heartbeat extends WheelTimer {
  readonly session: Session;
  /** v4: a ping was sent and its pong has not come. */
  isAwaitingPong = false;

  constructor(session: Session) {
    super(onHeartbeat);
    this.session = session;
  }
}

function onHeartbeat(timer: WheelTimer): void {
  const heartbeat = timer as Heartbeat;
  if (heartbeat.session.protocol === 4 && !heartbeat.isAwaitingPong) heartbeat.session.ping();
  else heartbeat.session.close("ping timeout");
}

/**
 * One Engine.IO connection (v4, or v3 for socket.io 2.x clients), whatever its transport: the heartbeat, the upgrade
 * from polling to WebSocket, and the packets in both directions.
 *
 * Outgoing packets are delivered at most once and in order; a session whose
 * transport queues more than `maxQueuedBytes` is closed as a slow consumer.
 */
export class Session implements PollingOwner, WebSocketOwner {
  readonly id: string;
  /** Engine.IO protocol revision the client speaks: 3 (socket.io 2.x) or 4. */
  readonly protocol: 3 | 4;
  /** The layer above; set right after the handshake. */
  listener: SessionListener | undefined;
  /** The handshake's `X-Request-Id`, for the logs of this session and its sockets. */
  requestId: string | undefined;
  readonly #host: SessionHost;
  #transport: PollingTransport | WebSocketTransport;
  /** A WebSocket between `2probe` and `5`. */
  #probe: WebSocketTransport | undefined;
  #upgradeTimer: NodeJS.Timeout | undefined;
  readonly #heartbeat = new Heartbeat(this);
  #isClosed = false;

  /**
   * @param transport `polling` (with, for v3, whether the client takes binary
   *   payloads), or the WebSocket of a WebSocket handshake.
   */
  constructor(
    id: string,
    host: SessionHost,
    protocol: 3 | 4,
    transport:
      | { polling: { supportsBinary: boolean } }
      | { ws: WebSocket; socket: Duplex; supportsBinary: boolean },
  ) {
    this.id = id;
    this.#host = host;
    this.protocol = protocol;
    this.#transport =
      "polling" in transport
        ? new PollingTransport(
            this,
            host.options.maxHttpBufferSize,
            protocol === 3 ? v3Codec(transport.polling.supportsBinary) : V4_CODEC,
          )
        : this.#webSocket(transport.ws, transport.socket, transport.supportsBinary);
  }

  #webSocket(ws: WebSocket, socket: Duplex, supportsBinary: boolean): WebSocketTransport {
    const { maxQueuedBytes } = this.#host.options;
    return new WebSocketTransport(ws, socket, this, maxQueuedBytes, this.protocol, supportsBinary);
  }

  get transportName(): "polling" | "websocket" {
    return this.#transport.name;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Closed while polling, with packets kept for the client's next GET. */
  get isLingering(): boolean {
    const transport = this.#transport;
    return transport instanceof PollingTransport && transport.isLingering;
  }

  get isUpgrading(): boolean {
    return this.#probe !== undefined;
  }

  /**
   * Sends the open packet and starts the heartbeat: in v4 the server pings; in v3
   * the client pings and the server only watches for silence.
   */
  open(): void {
    const { pingInterval, pingTimeout, maxHttpBufferSize } = this.#host.options;
    const upgrades = this.#transport.name === "polling" && this.#canUpgrade() ? ["websocket"] : [];
    const handshake = JSON.stringify({
      sid: this.id,
      upgrades,
      pingInterval,
      pingTimeout,
      maxPayload: maxHttpBufferSize,
    });
    this.#transport.send(new Outbound({ type: PacketType.OPEN, data: handshake }));
    this.#schedulePing();
  }

  /** Queues a packet. Dropped silently once the session is closed (at-most-once). */
  send(out: Outbound): void {
    if (this.#isClosed) return;
    const transport = this.#transport;
    transport.send(out);
    // A WebSocket measures its backlog when it flushes (onOverflow); a polling
    // client's backlog is everything waiting for its next GET.
    if (
      transport instanceof PollingTransport &&
      transport.queuedBytes > this.#host.options.maxQueuedBytes
    ) {
      this.close("slow consumer");
    }
  }

  /**
   * Closes the session. On a graceful close (`forced close`, `server shutting down`)
   * packets already queued still go out first; on errors and for slow consumers
   * they are dropped.
   */
  close(reason: CloseReason, code?: ErrorCode): void {
    if (this.#isClosed) return;
    const isGraceful = reason === "forced close" || reason === "server shutting down";
    const transport = this.#transport;
    if (transport instanceof WebSocketTransport) {
      // A peer that stopped reading or answering gets no closing handshake.
      if (reason === "slow consumer" || reason === "ping timeout") transport.terminate();
      else transport.close();
    } else {
      transport.close(CLOSE, { keepQueue: isGraceful, linger: isGraceful });
    }
    this.#finish(reason, code);
  }

  // --- HTTP long-polling -------------------------------------------------------

  onPollingRequest(
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string>,
  ): void {
    const transport = this.#transport;
    if (!(transport instanceof PollingTransport)) return;
    if (this.#isClosed) {
      transport.onGet(res, headers);
      return;
    }
    if (req.method === "GET") {
      if (this.#probe !== undefined) {
        // Tells the client to stop polling while the WebSocket probe completes.
        transport.onGet(res, headers);
        transport.answerPendingGet(NOOP);
      } else {
        transport.onGet(res, headers);
      }
    } else {
      transport.onPost(req, res, headers);
    }
  }

  onPackets(packets: readonly Packet[]): void {
    for (const packet of packets) {
      if (this.#isClosed) return;
      this.#onPacket(packet);
    }
  }

  onPollingError(reason: "transport close" | "transport error" | "parse error"): void {
    this.close(reason);
  }

  onPostTooLarge(size: number): void {
    this.#host.onPayloadTooLarge(this, "polling", size);
  }

  // --- WebSocket ---------------------------------------------------------------

  /** A WebSocket arrived for this sid: the start of an upgrade. */
  onUpgradeRequest(ws: WebSocket, socket: Duplex, supportsBinary: boolean): void {
    if (this.#isClosed || this.#probe !== undefined || this.#transport.name !== "polling") {
      ws.close();
      return;
    }
    this.#probe = this.#webSocket(ws, socket, supportsBinary);
    this.#upgradeTimer = setTimeout(() => this.#abandonProbe(), this.#host.options.upgradeTimeout);
  }

  onFrame(transport: WebSocketTransport, data: string | Buffer): void {
    if (transport === this.#probe) {
      this.#onProbeFrame(transport, data);
      return;
    }
    const packet = decodeFrame(data, this.protocol);
    if (packet === undefined) {
      this.close("parse error");
      return;
    }
    this.#onPacket(packet);
  }

  onTransportClose(
    transport: WebSocketTransport,
    reason: "transport close" | "transport error",
  ): void {
    if (transport === this.#probe) {
      this.#abandonProbe();
      return;
    }
    if (this.#isClosed) return;
    this.#finish(reason);
  }

  onMessageTooLarge(transport: WebSocketTransport, size: number | undefined): void {
    this.#host.onPayloadTooLarge(this, "websocket", size);
    if (transport === this.#probe) {
      this.#abandonProbe();
      return;
    }
    if (this.#isClosed) return;
    this.#finish("transport error", "SWY_EIO_PAYLOAD_TOO_LARGE");
  }

  onOverflow(transport: WebSocketTransport): void {
    if (transport === this.#probe) this.#abandonProbe();
    else this.close("slow consumer");
  }

  #onProbeFrame(probe: WebSocketTransport, data: string | Buffer): void {
    if (data === `${PacketType.PING}${PROBE}`) {
      probe.send(PROBE_PONG);
      const polling = this.#transport as PollingTransport;
      polling.answerPendingGet(NOOP);
      return;
    }
    if (data === String(PacketType.UPGRADE)) {
      this.#completeUpgrade(probe);
      return;
    }
    this.#abandonProbe();
  }

  #completeUpgrade(probe: WebSocketTransport): void {
    clearTimeout(this.#upgradeTimer);
    this.#probe = undefined;
    const polling = this.#transport as PollingTransport;
    const queued = polling.drain();
    polling.close(NOOP, { keepQueue: false, linger: false });
    this.#transport = probe;
    for (const out of queued) probe.send(out);
    this.#host.onSessionUpgraded?.(this);
    this.listener?.onUpgrade?.();
  }

  #abandonProbe(): void {
    clearTimeout(this.#upgradeTimer);
    const probe = this.#probe;
    this.#probe = undefined;
    probe?.terminate();
  }

  #canUpgrade(): boolean {
    return this.#host.options.transports.includes("websocket");
  }

  // --- Packets and heartbeat ------------------------------------------------------

  #onPacket(packet: Packet): void {
    switch (packet.type) {
      case PacketType.MESSAGE:
        this.listener?.onMessage(packet.data ?? "");
        return;
      case PacketType.PING:
        if (this.protocol === 4) break;
        this.send(PONG);
        this.#schedulePing();
        return;
      case PacketType.PONG:
        if (this.protocol === 3) break;
        this.#schedulePing();
        return;
      case PacketType.CLOSE:
        this.#closeByClient();
        return;
      case PacketType.NOOP:
        return;
    }
    // OPEN, UPGRADE outside a probe, or a heartbeat in the wrong direction.
    this.close("parse error");
  }

  #closeByClient(): void {
    const transport = this.#transport;
    if (transport instanceof WebSocketTransport) transport.close();
    // A GET racing the client's close (sent on another connection) still gets a
    // clean noop rather than an unknown-sid error.
    else transport.close(NOOP, { keepQueue: false, linger: true });
    this.#finish("transport close");
  }

  #schedulePing(): void {
    const { pingInterval, pingTimeout } = this.#host.options;
    this.#heartbeat.isAwaitingPong = false;
    this.#host.heartbeats.schedule(
      this.#heartbeat,
      this.protocol === 4 ? pingInterval : pingInterval + pingTimeout,
    );
  }

  /** @internal Called by the heartbeat timer. */
  ping(): void {
    this.send(PING);
    if (this.#isClosed) return;
    this.#heartbeat.isAwaitingPong = true;
    this.#host.heartbeats.schedule(this.#heartbeat, this.#host.options.pingTimeout);
  }

  #finish(reason: CloseReason, code?: ErrorCode): void {
    this.#isClosed = true;
    this.#host.heartbeats.cancel(this.#heartbeat);
    this.#abandonProbe();
    this.#host.onSessionClosed(this, reason, code);
    this.listener?.onClose(reason);
  }
}

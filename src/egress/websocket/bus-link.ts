import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import type { SubscribeCause } from "../managed/channel-subscriptions.js";
import { type FrameTemplate, type FrameValues, renderFrame } from "./frame-template.js";
import { classify, readExtract, readFrame } from "./inbound-rules.js";
import type { WebsocketSettings } from "./websocket-settings.js";

/** Levels a bus's frame may add around a message's data (SocketCluster: 2, Phoenix: 1). */
export const FRAME_DEPTH = 8;

/** Bytes written to the bus and not yet sent past which the bus counts as not reading. */
export function unsentBound(maxFrameBytes: number): number {
  return Math.max(4 * 1024 * 1024, 4 * maxFrameBytes);
}

/** Why a frame from the bus reached no member (`too_large`: past `maxFrameBytes`, 1009). */
export type FrameDrop = "unmatched" | "malformed" | "too_deep" | "binary" | "too_large";

/** What the link reports; the backend wires it to its supervisor and subscriptions. */
export interface BusLinkListener {
  /** The socket is open and the open frames were answered as the settings ask. */
  connected(): void;
  /** The connection was up and is gone. */
  lost(reason: string): void;
  /** An attempt ended before the connection was up. */
  attemptFailed(reason: string): void;
  /** The bus refused the bridge for good (HTTP 401/403, a refused open frame). */
  refused(reason: string): void;
  subscribed(channel: string): void;
  /** `refused`: the bus said no; `dropped`: it ended a subscription it had confirmed. */
  subscribeFailed(channel: string, reason: "refused" | "dropped", detail: string): void;
  /** A message for `channel`'s members; `data` bounded in depth by the frame's bound. */
  message(channel: string, event: string, data: unknown): void;
  dropped(reason: FrameDrop, detail: string): void;
  /** Whether the backend still wants `channel` (messages of others are ignored). */
  isWanted(channel: string): boolean;
}

/** A publication's frame as the backend hands it over. */
export interface OutgoingFrame {
  readonly channel: string;
  readonly values: FrameValues;
  /** Stamp `{origin}` with another value than the link's (a read-back publication). */
  readonly origin?: string;
}

/**
 * What became of one outgoing frame: `accepted` (answered, or written when the bus
 * answers none), `rejected` (the bus's error text), `lost` (written, then the connection
 * went before the answer: the bus may have taken it), `unsent` (not written: no
 * connection).
 */
export type FrameOutcome =
  | { readonly kind: "accepted" }
  | { readonly kind: "rejected"; readonly detail: string }
  | { readonly kind: "lost"; readonly detail: string }
  | { readonly kind: "unsent" };

interface Pending {
  settle(outcome: FrameOutcome): void;
  readonly timer: NodeJS.Timeout;
}

type LinkState = "idle" | "connecting" | "opening" | "connected" | "closed";

/**
 * The `websocket` kind's one connection to its bus, on the `ws` client, speaking the
 * frame language of its settings (docs/backends/websocket.md):
 *
 * - connect: the WebSocket handshake (headers, query, subprotocols; frames larger than
 *   `maxFrameBytes` close it with 1009), then the open frames, then, as the settings
 *   say, the reply to the last one or a frame matching a rule; only then is the link
 *   connected. HTTP 401 or 403, or a refused open frame, is a refusal for good.
 * - subscribe and publish: frames rendered from their templates, each with a fresh
 *   `{ref}`; a frame that sends a `{ref}` is settled by the bus's reply to it when the
 *   inbound rules read replies, otherwise by being written (or, for subscriptions, by
 *   a `subscribed` rule). Replies to refs nobody waits for any more are ignored.
 * - inbound: every frame goes through the inbound rules; nothing a bus sends can throw
 *   out of the link. Frames nested deeper than the data bound plus {@link FRAME_DEPTH}
 *   are not parsed.
 * - heartbeat: every `every` ms a heartbeat (the settings' frame, or a WebSocket
 *   ping) must be answered within `timeout`, or the connection counts as dead.
 *
 * The link makes one attempt per `connect()`; the backend's supervisor decides when.
 */
export class BusLink {
  readonly #settings: WebsocketSettings;
  readonly #listener: BusLinkListener;
  /** How deep a frame may nest before it is parsed. */
  readonly #maxFrameDepth: number;
  /** Stamped into frames that read `{origin}`; read back for `echo: { origin }`. */
  readonly origin = randomBytes(9).toString("base64url");
  #ws: WebSocket | undefined;
  #state: LinkState = "idle";
  #ref = 0;
  readonly #pending = new Map<string, Pending>();
  /** The ref of each channel's current subscribe frame (Phoenix's join_ref). */
  readonly #subscribeRefs = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | undefined;
  #heartbeatDeadline: NodeJS.Timeout | undefined;
  /** A heartbeat frame with no reply of its own is answered by the next frame of any kind. */
  #isAnyFrameAnswer = false;

  constructor(settings: WebsocketSettings, maxDepth: number, listener: BusLinkListener) {
    this.#settings = settings;
    this.#listener = listener;
    this.#maxFrameDepth = maxDepth + FRAME_DEPTH;
  }

  get state(): string {
    return this.#state;
  }

  get isConnected(): boolean {
    return this.#state === "connected";
  }

  /** Starts a fresh attempt, abandoning the current connection or attempt. */
  connect(): void {
    if (this.#state === "closed") return;
    this.#teardown("a new attempt replaced the connection");
    const settings = this.#settings;
    const ws = new WebSocket(settings.url, [...settings.protocols], {
      headers: { ...settings.headers },
      maxPayload: settings.maxFrameBytes,
      handshakeTimeout: settings.connectTimeout,
      perMessageDeflate: false,
    });
    this.#ws = ws;
    this.#state = "connecting";
    const isCurrent = () => this.#ws === ws;
    ws.on("unexpected-response", (request, response) => {
      if (!isCurrent()) return;
      const status = response.statusCode ?? 0;
      request.destroy();
      this.#abandon();
      const reason = `HTTP ${status} on the WebSocket handshake`;
      if (status === 401 || status === 403) this.#listener.refused(reason);
      else this.#listener.attemptFailed(reason);
    });
    ws.on("open", () => {
      if (isCurrent()) this.#onOpen(ws);
    });
    ws.on("message", (data, isBinary) => {
      if (isCurrent()) this.#onFrame(data, isBinary);
    });
    ws.on("pong", () => {
      if (isCurrent() && this.#settings.heartbeat !== false && !this.#settings.heartbeat.send) {
        this.#beatAnswered();
      }
    });
    ws.on("error", (error: Error & { code?: string }) => {
      // Always followed by `close`, which reports; the reason is taken there. A frame
      // past maxPayload (closed with 1009) is also a frame that reached no member.
      if (isCurrent() && error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        this.#listener.dropped("too_large", `a frame over ${settings.maxFrameBytes} bytes`);
      }
    });
    ws.on("close", (code, reasonBuffer) => {
      if (!isCurrent()) return;
      const reason = `closed (${code}${reasonBuffer.length > 0 ? ` ${reasonBuffer.toString().slice(0, 120)}` : ""})`;
      const wasConnected = this.#state === "connected";
      this.#abandon();
      if (wasConnected) this.#listener.lost(reason);
      else this.#listener.attemptFailed(reason);
    });
  }

  /** Stops: closes the connection, reports nothing about it. */
  disconnect(): void {
    if (this.#state === "closed") return;
    this.#teardown("disconnected");
    this.#state = "idle";
  }

  /** Ends the link for good. */
  close(): void {
    this.#teardown("the backend closed");
    this.#state = "closed";
  }

  /** Sends the subscribe frame of `channel`; the answer comes back to the listener. */
  subscribe(channel: string, _cause: SubscribeCause): void {
    if (!this.isConnected) return;
    const frames = this.#settings.frames;
    const ref = this.#nextRef();
    this.#subscribeRefs.set(channel, ref);
    const template = frames.subscribe;
    const text = renderFrame(template, { channel, ref, origin: this.origin });
    const byReply = template.reads.has("ref") && frames.hasReplies;
    if (byReply) {
      this.#await(String(ref), this.#settings.subscribeTimeout, (outcome) => {
        // A retry sent a newer subscribe: its answer decides.
        if (this.#subscribeRefs.get(channel) !== ref) return;
        if (outcome.kind === "accepted") this.#listener.subscribed(channel);
        else if (outcome.kind === "rejected") {
          this.#listener.subscribeFailed(channel, "refused", outcome.detail);
        }
      });
    }
    this.#write(text, (error) => {
      if (error !== undefined || byReply || frames.hasSubscribedRule) return;
      if (this.#subscribeRefs.get(channel) === ref) this.#listener.subscribed(channel);
    });
  }

  /** Sends the unsubscribe frame of `channel`, if the settings have one and the link is up. */
  unsubscribe(channel: string): void {
    const subscribeRef = this.#subscribeRefs.get(channel);
    this.#subscribeRefs.delete(channel);
    const template = this.#settings.frames.unsubscribe;
    if (template === undefined || !this.isConnected) return;
    this.#write(
      renderFrame(template, {
        channel,
        ref: this.#nextRef(),
        subscribeRef: subscribeRef ?? null,
        origin: this.origin,
      }),
    );
  }

  /**
   * Publishes: one frame each, in order. Resolves with each frame's outcome once all
   * are settled; `timeoutMs` bounds the wait for a reply.
   */
  publish(frames: readonly OutgoingFrame[], timeoutMs: number): Promise<FrameOutcome[]> {
    if (!this.isConnected) return Promise.resolve(frames.map(() => ({ kind: "unsent" }) as const));
    const template = this.#settings.frames.publish;
    const byReply = template.reads.has("ref") && this.#settings.frames.hasReplies;
    return Promise.all(
      frames.map(
        (frame) =>
          new Promise<FrameOutcome>((resolve) => {
            const ref = this.#nextRef();
            const text = renderFrame(template, {
              ...frame.values,
              channel: frame.channel,
              ref,
              subscribeRef: this.#subscribeRefs.get(frame.channel) ?? null,
              origin: frame.origin ?? this.origin,
            });
            if (byReply) this.#await(String(ref), timeoutMs, resolve);
            this.#write(text, (error) => {
              if (error !== undefined) {
                this.#pending.get(String(ref))?.settle({ kind: "lost", detail: error.message });
                if (!byReply) resolve({ kind: "lost", detail: error.message });
              } else if (!byReply) {
                resolve({ kind: "accepted" });
              }
            });
          }),
      ),
    );
  }

  /** The size of a publication's frame, for the backend's check against `maxFrameBytes`. */
  publishSize(frame: OutgoingFrame): number {
    const text = renderFrame(this.#settings.frames.publish, {
      ...frame.values,
      channel: frame.channel,
      ref: this.#ref + 1,
      subscribeRef: this.#subscribeRefs.get(frame.channel) ?? 0,
      origin: this.origin,
    });
    return Buffer.byteLength(text, "utf8");
  }

  // --- Connection ------------------------------------------------------------------

  #onOpen(ws: WebSocket): void {
    this.#state = "opening";
    const { frames } = this.#settings;
    let lastRef = 0;
    for (const template of frames.open) {
      lastRef = this.#nextRef();
      this.#write(renderFrame(template, { ref: lastRef, origin: this.origin }));
    }
    if (frames.openAwait.kind === "reply") {
      this.#await(String(lastRef), this.#settings.connectTimeout, (outcome) => {
        if (this.#ws !== ws || this.#state !== "opening") return;
        if (outcome.kind === "accepted") this.#becomeConnected();
        else if (outcome.kind === "rejected") {
          this.#abandon();
          this.#listener.refused(`the bus refused the open frames: ${outcome.detail}`);
        }
      });
    } else if (frames.openAwait.kind === "none") {
      this.#becomeConnected();
    }
    // `match`: #onFrame connects when a frame matches.
  }

  #becomeConnected(): void {
    this.#state = "connected";
    this.#startHeartbeat();
    this.#listener.connected();
  }

  /** Forgets the current socket (terminated) and everything waiting on it; reports nothing. */
  #abandon(): void {
    this.#teardown("the connection ended");
    this.#state = "idle";
  }

  #teardown(reason: string): void {
    this.#stopHeartbeat();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws !== undefined) {
      ws.removeAllListeners("message");
      ws.on("error", () => {});
      ws.terminate();
    }
    this.#subscribeRefs.clear();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.settle({ kind: "lost", detail: reason });
    }
  }

  // --- Frames ----------------------------------------------------------------------

  #nextRef(): number {
    this.#ref += 1;
    return this.#ref;
  }

  #write(text: string, done?: (error: Error | undefined) => void): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) {
      done?.(new Error("not connected"));
      return;
    }
    // Publications are bounded by the queue's inflight batches; frames the bus calls for
    // (answers to its pings) are not. A bus that sends them but reads nothing would make
    // this buffer grow without end: past the bound the connection is dead to us.
    const unsent = ws.bufferedAmount;
    if (unsent > unsentBound(this.#settings.maxFrameBytes)) {
      done?.(new Error("the bus stopped reading"));
      const wasConnected = this.#state === "connected";
      this.#abandon();
      const reason = `the bus stopped reading (${unsent} bytes unsent)`;
      if (wasConnected) this.#listener.lost(reason);
      else this.#listener.attemptFailed(reason);
      return;
    }
    ws.send(text, (error) => done?.(error ?? undefined));
  }

  #await(ref: string, timeoutMs: number, settle: (outcome: FrameOutcome) => void): void {
    const timer = setTimeout(() => {
      if (this.#pending.get(ref)?.timer !== timer) return;
      this.#pending.delete(ref);
      settle({ kind: "lost", detail: `no reply within ${timeoutMs} ms` });
    }, timeoutMs);
    timer.unref();
    this.#pending.set(ref, {
      timer,
      settle: (outcome) => {
        this.#pending.delete(ref);
        clearTimeout(timer);
        settle(outcome);
      },
    });
  }

  #onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#isAnyFrameAnswer) {
      this.#isAnyFrameAnswer = false;
      this.#beatAnswered();
    }
    if (isBinary) {
      this.#listener.dropped("binary", "a binary frame");
      return;
    }
    const text = Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Buffer.concat(data as Buffer[]).toString("utf8");
    const read = readFrame(text, this.#maxFrameDepth);
    if (read === "too_deep") {
      this.#listener.dropped("too_deep", `nested deeper than ${this.#maxFrameDepth} levels`);
      return;
    }
    const frame = read.value;
    const { frames } = this.#settings;
    if (this.#state === "opening" && frames.openAwait.kind === "match") {
      if (classify([frames.openAwait.rule], frame, this.#maxFrameDepth).kind === "ignore") {
        this.#becomeConnected();
        return;
      }
    }
    const inbound = classify(frames.inbound, frame, this.#maxFrameDepth);
    switch (inbound.kind) {
      case "reply":
        this.#pending
          .get(inbound.ref)
          ?.settle(
            inbound.error === undefined
              ? { kind: "accepted" }
              : { kind: "rejected", detail: inbound.error },
          );
        return;
      case "message": {
        if (!this.#listener.isWanted(inbound.channel)) return;
        const echo = this.#settings.echo;
        if (echo.mode === "origin") {
          if (readExtract(echo.origin, frame, this.#maxFrameDepth) === this.origin) return;
        }
        this.#listener.message(inbound.channel, inbound.event, inbound.data);
        return;
      }
      case "subscribed":
        if (this.#subscribeRefs.has(inbound.channel)) this.#listener.subscribed(inbound.channel);
        return;
      case "refused":
        if (this.#subscribeRefs.has(inbound.channel)) {
          this.#listener.subscribeFailed(inbound.channel, "refused", inbound.reason);
        }
        return;
      case "unsubscribed": {
        // A late end of an earlier subscription of the channel: the current one stands.
        const current = this.#subscribeRefs.get(inbound.channel);
        if (inbound.ref !== undefined && String(current) !== inbound.ref) return;
        // The bus ended it: the channel is requested again while it is wanted.
        if (this.#subscribeRefs.delete(inbound.channel)) {
          this.#listener.subscribeFailed(
            inbound.channel,
            "dropped",
            "the bus ended the subscription",
          );
        }
        return;
      }
      case "respond":
        this.#write(renderFrame(inbound.frame, { ref: this.#nextRef(), origin: this.origin }));
        return;
      case "ignore":
        return;
      case "unmatched":
        this.#listener.dropped("unmatched", text.length > 120 ? `${text.slice(0, 120)}…` : text);
        return;
      case "malformed":
        this.#listener.dropped("malformed", inbound.reason);
        return;
      case "too_deep":
        this.#listener.dropped("too_deep", "a json step nested too deep");
        return;
    }
  }

  // --- Heartbeat -------------------------------------------------------------------

  #startHeartbeat(): void {
    const heartbeat = this.#settings.heartbeat;
    if (heartbeat === false) return;
    this.#heartbeat = setInterval(() => this.#beat(), heartbeat.every);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    this.#isAnyFrameAnswer = false;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#heartbeatDeadline);
    this.#heartbeat = undefined;
    this.#heartbeatDeadline = undefined;
  }

  #beat(): void {
    const heartbeat = this.#settings.heartbeat;
    const ws = this.#ws;
    if (heartbeat === false || ws === undefined || this.#heartbeatDeadline !== undefined) return;
    this.#heartbeatDeadline = setTimeout(() => {
      if (this.#ws !== ws) return;
      this.#abandon();
      this.#listener.lost(`no heartbeat answer within ${heartbeat.timeout} ms`);
    }, heartbeat.timeout);
    this.#heartbeatDeadline.unref();
    if (heartbeat.send === undefined) {
      ws.ping();
      return;
    }
    const ref = this.#nextRef();
    if (heartbeat.send.reads.has("ref") && this.#settings.frames.hasReplies) {
      this.#await(String(ref), heartbeat.timeout, (outcome) => {
        if (outcome.kind !== "lost") this.#beatAnswered();
      });
    } else {
      this.#isAnyFrameAnswer = true;
    }
    this.#write(renderFrame(heartbeat.send as FrameTemplate, { ref, origin: this.origin }));
  }

  #beatAnswered(): void {
    clearTimeout(this.#heartbeatDeadline);
    this.#heartbeatDeadline = undefined;
  }
}

import type { IncomingMessage, ServerResponse } from "node:http";
import { SwitchyardError } from "../../../errors.js";
import { type Flushable, flushQueue } from "../../../flush-queue.js";
import { metrics } from "../../../metrics.js";
import type { Outbound } from "../outbound.js";
import type { Packet } from "../parser.js";
import { type PollingCodec, V4_CODEC } from "./polling-codec.js";

/** What a polling transport reports to the session that owns it. */
export interface PollingOwner {
  /** Packets of a POST body, in order. */
  onPackets(packets: readonly Packet[]): void;
  /** The transport failed (overlapping requests, aborted GET, undecodable body). */
  onPollingError(reason: "transport close" | "transport error" | "parse error"): void;
  /**
   * A POST was refused 413: its body is over `maxHttpBufferSize`. `size` is its declared
   * length, or (for a body without one) the bytes read before it was refused.
   */
  onPostTooLarge(size: number): void;
}

/**
 * HTTP long-polling: the client keeps one GET open to receive and sends with POST.
 * At most one GET and one POST are in flight per session; an overlapping request
 * is a protocol error that closes the session.
 */
export class PollingTransport implements Flushable {
  readonly name = "polling";
  isFlushScheduled = false;
  readonly #owner: PollingOwner;
  readonly #maxBufferSize: number;
  readonly #codec: PollingCodec;
  #queue: Outbound[] = [];
  #queuedBytes = 0;
  #pendingGet: ServerResponse | undefined;
  #isPostActive = false;
  #isClosed = false;
  /** After a close: the packet still owed to the client, in a response of its own. */
  #final: Outbound | undefined;

  constructor(owner: PollingOwner, maxBufferSize: number, codec: PollingCodec = V4_CODEC) {
    this.#owner = owner;
    this.#maxBufferSize = maxBufferSize;
    this.#codec = codec;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get hasPendingGet(): boolean {
    return this.#pendingGet !== undefined;
  }

  /** Queues a packet for the current or next GET. */
  send(out: Outbound): void {
    this.#queue.push(out);
    this.#queuedBytes += this.#codec.size(out);
    if (this.#pendingGet !== undefined) flushQueue.schedule(this);
  }

  /** Takes the queued packets away (to resend them on the WebSocket after an upgrade). */
  drain(): Outbound[] {
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    return queue;
  }

  flush(): void {
    const res = this.#pendingGet;
    if (res === undefined) return;
    if (this.#queue.length > 0) {
      this.#pendingGet = undefined;
      this.#answer(res, this.drain());
    } else if (this.#final !== undefined) {
      // The close goes alone, after what was queued: socket.io-client acts on a close
      // packet at once, before the messages that shared its response.
      const final = this.#final;
      this.#final = undefined;
      this.answerPendingGet(final);
    }
  }

  /** Answers the pending GET, if any, with exactly this packet. */
  answerPendingGet(out: Outbound): void {
    const res = this.#pendingGet;
    if (res === undefined) return;
    this.#pendingGet = undefined;
    this.#answer(res, [out]);
  }

  #answer(res: ServerResponse, outs: readonly Outbound[]): void {
    const { body, contentType } = this.#codec.encode(outs);
    respond(res, 200, { "Content-Type": contentType, "Cache-Control": "no-store" }, body);
  }

  /** Handles a GET: answers at once when packets are queued, otherwise holds it. */
  onGet(res: ServerResponse, headers: Record<string, string>): void {
    if (this.#pendingGet !== undefined) {
      rejectOverlap(res, headers);
      this.#owner.onPollingError("transport error");
      return;
    }
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    this.#pendingGet = res;
    res.on("close", () => {
      // A GET that ends before we answered it was aborted by the client.
      if (this.#pendingGet === res) {
        this.#pendingGet = undefined;
        if (!this.#isClosed) this.#owner.onPollingError("transport close");
      }
    });
    if (this.#queue.length > 0 || this.#final !== undefined) this.flush();
  }

  /** Handles a POST: reads the body within the size limit and hands its packets over. */
  onPost(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void {
    if (this.#isPostActive) {
      rejectOverlap(res, headers);
      this.#owner.onPollingError("transport error");
      return;
    }
    const declared = Number(req.headers["content-length"]);
    if (declared > this.#maxBufferSize) {
      this.#refuseTooLarge(res, headers, declared);
      return;
    }
    this.#isPostActive = true;
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > this.#maxBufferSize) {
        req.off("data", onData);
        req.off("end", onEnd);
        this.#isPostActive = false;
        this.#refuseTooLarge(res, headers, size);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      this.#isPostActive = false;
      // Engine.IO v4 bodies are text only (binary travels base64-encoded), so the v4
      // codec refuses an application/octet-stream body; v3 XHR2 clients send binary.
      const packets = this.#codec.decode(Buffer.concat(chunks, size), req.headers["content-type"]);
      if (packets === undefined) {
        sendError(res, headers, new SwitchyardError("SWY_EIO_BAD_REQUEST"));
        this.#owner.onPollingError("parse error");
        return;
      }
      respond(res, 200, { ...headers, "Content-Type": "text/html; charset=UTF-8" }, "ok");
      this.#owner.onPackets(packets);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", () => {
      this.#isPostActive = false;
    });
  }

  #refuseTooLarge(res: ServerResponse, headers: Record<string, string>, size: number): void {
    const error = new SwitchyardError("SWY_EIO_PAYLOAD_TOO_LARGE", [this.#maxBufferSize]);
    // The rest of the body is not read, so the connection is not kept alive.
    sendError(res, headers, error, true);
    this.#owner.onPostTooLarge(size);
  }

  /**
   * Stops the transport; the client is owed `final` (a close or a noop).
   *
   * @param keepQueue Deliver what is queued first (a graceful close); otherwise drop it.
   * @param linger When no GET is pending, keep what is owed for the client's next
   *   GETs (see {@link isLingering}); otherwise it is dropped.
   */
  close(final: Outbound, { keepQueue, linger }: { keepQueue: boolean; linger: boolean }): void {
    this.#isClosed = true;
    if (!keepQueue) this.drain();
    if (!linger && this.#pendingGet === undefined) {
      this.drain();
      return;
    }
    this.#final = final;
    this.flush();
  }

  /** Closed, with packets still owed to the client's next GETs. */
  get isLingering(): boolean {
    return this.#isClosed && (this.#queue.length > 0 || this.#final !== undefined);
  }
}

function rejectOverlap(res: ServerResponse, headers: Record<string, string>): void {
  metrics.errors.inc({ code: "SWY_SESSION_CONCURRENT_POLL" });
  sendError(res, headers, new SwitchyardError("SWY_EIO_BAD_REQUEST"));
}

/** Answers an Engine.IO request error: the status and `{code, message}` of the catalogue. */
export function sendError(
  res: ServerResponse,
  headers: Record<string, string>,
  error: SwitchyardError,
  closeConnection = false,
): void {
  metrics.errors.inc({ code: error.code });
  const spec = error.spec;
  const body = JSON.stringify({ code: spec.eioCode ?? error.code, message: error.message });
  if (closeConnection) res.shouldKeepAlive = false;
  respond(res, spec.status ?? 400, { ...headers, "Content-Type": "application/json" }, body);
}

/**
 * Writes a whole response with its Content-Length: without one Node falls back to
 * chunked encoding, which some HTTP clients will not keep alive.
 */
function respond(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  res
    .writeHead(status, { ...headers, "Content-Length": String(Buffer.byteLength(body)) })
    .end(body);
}

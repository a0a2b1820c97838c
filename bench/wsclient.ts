/**
 * Two interchangeable WebSocket client transports for the load generator.
 *
 * - `raw` (default): a minimal RFC 6455 client on `node:net`. Server frames are parsed in place
 *   (no per-frame allocation, no UTF-8 decoding, no EventEmitter per message), which keeps the
 *   generator far cheaper per delivered message than any of the servers under test.
 * - `ws`: the `ws` package client (perMessageDeflate off, UTF-8 validation skipped), kept as a
 *   cross-check that the raw client does not flatter or penalise any server.
 *
 * Both hand every complete text frame to `onText(buf, start, end, nowMs)`; the caller looks at
 * the bytes itself. Only what the benchmark needs is implemented: text frames, ping/pong, close.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

export type ClientKind = "raw" | "ws";

export interface ConnHandlers {
  /** The WebSocket handshake completed. */
  onOpen(): void;
  /** A complete text frame: payload is `buf[start, end)`; `nowMs` is performance.now() at read. */
  onText(buf: Buffer, start: number, end: number, nowMs: number): void;
  /** The connection ended (error is set when it did not end cleanly). */
  onClose(error?: Error): void;
}

export interface Conn {
  send(text: string): void;
  /** Destroy the connection without a closing handshake. */
  destroy(): void;
}

export interface ConnTarget {
  host: string;
  port: number;
  /** Request path and query, e.g. `/socket.io/?EIO=4&transport=websocket`. */
  path: string;
  /**
   * Source address (e.g. `127.0.0.2`; every 127.0.0.x is loopback on Linux): one address has
   * about 28k ephemeral ports (ip_local_port_range), so larger fleets spread over several.
   */
  localAddress?: string;
}

export function openConn(kind: ClientKind, target: ConnTarget, handlers: ConnHandlers): Conn {
  return kind === "ws" ? new WsPackageConn(target, handlers) : new RawWsConn(target, handlers);
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
/** One read buffer for all raw connections: reads are handled synchronously, one at a time. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

class RawWsConn implements Conn {
  private readonly sock: Socket;
  private readonly handlers: ConnHandlers;
  /** Masking key, random per connection (RFC 6455 wants it unpredictable; loopback does not care). */
  private readonly mask = randomBytes(4);
  private pending: Buffer | null = null;
  private upgraded = false;
  private fragments: Buffer[] | null = null;
  private closed = false;
  private reported = false;

  constructor(target: ConnTarget, handlers: ConnHandlers) {
    this.handlers = handlers;
    const key = randomBytes(16).toString("base64");
    // `onread` hands every read to us in one shared buffer, bypassing the Readable stream
    // machinery (no per-read allocation, no 'data' event): the frames are parsed synchronously.
    this.sock = connect({
      host: target.host,
      port: target.port,
      ...(target.localAddress !== undefined ? { localAddress: target.localAddress } : {}),
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread: number, buf: Uint8Array) => {
          this.onData(buf as Buffer, nread);
          return true;
        },
      },
    });
    this.sock.on("connect", () => {
      this.sock.write(
        `GET ${target.path} HTTP/1.1\r\n` +
          `Host: ${target.host}:${target.port}\r\n` +
          "Upgrade: websocket\r\n" +
          "Connection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${key}\r\n` +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    this.sock.on("error", (err) => this.finish(err));
    this.sock.on("close", () => this.finish(this.upgraded ? undefined : new Error("closed early")));
  }

  send(text: string): void {
    if (this.closed) return;
    this.sock.write(this.frame(OP_TEXT, Buffer.from(text, "utf8")));
  }

  destroy(): void {
    this.closed = true;
    this.reported = true;
    // A reset rather than a FIN: the port is free at once, not held in TIME_WAIT for a minute
    // (a fleet of 19k leaves 19k of them, and the next run's connects crawl around them).
    if (this.sock.readyState === "open") this.sock.resetAndDestroy();
    else this.sock.destroy();
  }

  private frame(opcode: number, payload: Buffer): Buffer {
    const len = payload.length;
    const h = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const f = Buffer.allocUnsafe(h + len);
    f[0] = 0x80 | opcode;
    if (len < 126) {
      f[1] = 0x80 | len;
    } else if (len < 65536) {
      f[1] = 0x80 | 126;
      f.writeUInt16BE(len, 2);
    } else {
      f[1] = 0x80 | 127;
      f.writeUInt32BE(0, 2);
      f.writeUInt32BE(len, 6);
    }
    const m = this.mask;
    m.copy(f, h - 4);
    const m0 = m[0]!;
    const m1 = m[1]!;
    const m2 = m[2]!;
    const m3 = m[3]!;
    let i = 0;
    for (; i + 3 < len; i += 4) {
      f[h + i] = payload[i]! ^ m0;
      f[h + i + 1] = payload[i + 1]! ^ m1;
      f[h + i + 2] = payload[i + 2]! ^ m2;
      f[h + i + 3] = payload[i + 3]! ^ m3;
    }
    for (; i < len; i++) f[h + i] = payload[i]! ^ m[i & 3]!;
    return f;
  }

  private finish(error?: Error): void {
    this.closed = true;
    if (!this.sock.destroyed) this.sock.destroy();
    if (this.reported) return;
    this.reported = true;
    this.handlers.onClose(error);
  }

  /** `shared[0, nread)` was just read; `shared` is reused for the next read of any connection. */
  private onData(shared: Buffer, nread: number): void {
    const now = performance.now();
    let buf = shared;
    let n = nread;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, shared.subarray(0, nread)]);
      n = buf.length;
      this.pending = null;
    }
    let off = 0;
    if (!this.upgraded) {
      const end = buf.subarray(0, n).indexOf(CRLFCRLF);
      if (end < 0) {
        if (n > 16384) this.finish(new Error("oversized handshake response"));
        else this.pending = Buffer.from(buf.subarray(0, n));
        return;
      }
      const head = buf.toString("latin1", 0, end);
      if (!head.startsWith("HTTP/1.1 101")) {
        this.finish(new Error(`handshake refused: ${head.split("\r\n", 1)[0]}`));
        return;
      }
      this.upgraded = true;
      off = end + 4;
      this.handlers.onOpen();
    }
    while (n - off >= 2) {
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      if ((b1 & 0x80) !== 0) {
        this.finish(new Error("masked server frame"));
        return;
      }
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = buf.readUInt32BE(off + 2) * 4294967296 + buf.readUInt32BE(off + 6);
        h = 10;
      }
      if (n - off < h + len) break;
      const start = off + h;
      const end = start + len;
      off = end;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === OP_TEXT || opcode === OP_BINARY) {
        if (fin) this.handlers.onText(buf, start, end, now);
        else this.fragments = [Buffer.from(buf.subarray(start, end))];
      } else if (opcode === OP_CONT) {
        if (this.fragments === null) {
          this.finish(new Error("unexpected continuation frame"));
          return;
        }
        this.fragments.push(Buffer.from(buf.subarray(start, end)));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.handlers.onText(whole, 0, whole.length, now);
        }
      } else if (opcode === OP_PING) {
        if (!this.closed) this.sock.write(this.frame(0xa, Buffer.from(buf.subarray(start, end))));
      } else if (opcode === OP_CLOSE) {
        const code = len >= 2 ? buf.readUInt16BE(start) : 1005;
        this.finish(new Error(`server closed the WebSocket (code ${code})`));
        return;
      }
      if (this.closed) return;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off, n));
  }
}

class WsPackageConn implements Conn {
  private readonly ws: WebSocket;
  private done = false;

  constructor(target: ConnTarget, handlers: ConnHandlers) {
    const ws = new WebSocket(`ws://${target.host}:${target.port}${target.path}`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      ...(target.localAddress !== undefined ? { localAddress: target.localAddress } : {}),
    });
    this.ws = ws;
    ws.on("open", () => {
      (ws as unknown as { _socket?: Socket })._socket?.setNoDelay(true);
      handlers.onOpen();
    });
    ws.on("message", (data: Buffer) => handlers.onText(data, 0, data.length, performance.now()));
    const end = (error?: Error) => {
      if (this.done) return;
      this.done = true;
      handlers.onClose(error);
    };
    ws.on("error", (err) => end(err));
    ws.on("close", (code) => end(code === 1000 ? undefined : new Error(`closed (code ${code})`)));
  }

  send(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  destroy(): void {
    this.done = true;
    this.ws.terminate();
  }
}

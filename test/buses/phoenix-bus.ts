/**
 * A Phoenix Channels-style server for the websocket kind's tests: the JSON serializer
 * V2 (`vsn=2.0.0`, frames `[join_ref, ref, topic, event, payload]`) on `ws`, with the
 * behaviour of a Phoenix app whose channels broadcast every pushed event to the topic
 * (`broadcast!`, the sender included) and reply `ok`:
 *
 * - `phx_join` → `phx_reply` ok (or error `{reason}` for a refused topic); the socket
 *   is then a member of the topic under that join_ref;
 * - `phx_leave` → `phx_reply` ok, then `phx_close`;
 * - any other event on a joined topic → broadcast `[null, null, topic, event, payload]`
 *   to the topic's members, then `phx_reply` ok; on a topic not joined → error
 *   `{reason: "unmatched topic"}`;
 * - `heartbeat` on topic `phoenix` → `phx_reply` ok.
 *
 * Test-only faults: refuse or never answer joins, crash a topic's channels
 * (`phx_error`), send raw frames, kill and revive on the same port.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

type Frame = [string | null, string | null, string, string, unknown];

interface Member {
  readonly ws: WebSocket;
  readonly joinRef: string;
}

export interface PhoenixBusOptions {
  readonly port?: number;
}

export class PhoenixBus {
  readonly host = "127.0.0.1";
  readonly path = "/socket/websocket";
  #port: number;
  #http!: Server;
  #wss!: WebSocketServer;
  readonly #sockets = new Set<Socket>();
  /** topic → socket → its membership. */
  readonly #topics = new Map<string, Map<WebSocket, Member>>();
  #refuse: (topic: string) => string | undefined = () => undefined;
  #silent: (topic: string) => boolean = () => false;
  /** Every frame received, by event, for assertions. */
  readonly received = new Map<string, number>();
  /** Frames that were not V2 arrays; the server answers none of them. */
  unreadable = 0;

  private constructor(options: PhoenixBusOptions) {
    this.#port = options.port ?? 0;
  }

  static async start(options: PhoenixBusOptions = {}): Promise<PhoenixBus> {
    const bus = new PhoenixBus(options);
    await bus.#listen();
    return bus;
  }

  get port(): number {
    return this.#port;
  }

  /** The socket's URL, without `vsn` (the preset adds it). */
  get url(): string {
    return `ws://${this.host}:${this.#port}${this.path}`;
  }

  /** Sockets currently joined to `topic`. */
  members(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  refuseJoins(reason: (topic: string) => string | undefined): void {
    this.#refuse = reason;
  }

  silenceJoins(isSilent: (topic: string) => boolean): void {
    this.#silent = isSilent;
  }

  /** Broadcasts from the server side, as an app's `Endpoint.broadcast` would. */
  broadcast(topic: string, event: string, payload: unknown): void {
    this.#broadcast(topic, event, payload);
  }

  /** The topic's channel processes crash: members get `phx_error` and are removed. */
  crash(topic: string): void {
    const members = this.#topics.get(topic);
    if (members === undefined) return;
    this.#topics.delete(topic);
    for (const { ws, joinRef } of members.values()) {
      send(ws, [joinRef, joinRef, topic, "phx_error", {}]);
    }
  }

  sendRaw(text: string): void {
    for (const ws of this.#wss.clients) ws.send(text);
  }

  async kill(): Promise<void> {
    if (!this.#http.listening) return;
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const ws of this.#wss.clients) ws.terminate();
    for (const socket of this.#sockets) socket.destroy();
    this.#http.closeAllConnections();
    this.#topics.clear();
    await closed;
  }

  async revive(): Promise<void> {
    if (this.#http.listening) return;
    await this.#listen();
  }

  async close(): Promise<void> {
    await this.kill();
  }

  async #listen(): Promise<void> {
    this.#http = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    this.#http.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    this.#wss = new WebSocketServer({ noServer: true });
    this.#http.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== this.path || url.searchParams.get("vsn") !== "2.0.0") {
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
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

  #onSocket(ws: WebSocket): void {
    ws.on("message", (data) => this.#onFrame(ws, data.toString()));
    ws.on("close", () => {
      for (const members of this.#topics.values()) members.delete(ws);
    });
  }

  #onFrame(ws: WebSocket, text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      this.unreadable += 1;
      return;
    }
    if (!Array.isArray(frame) || frame.length !== 5 || typeof frame[2] !== "string") {
      this.unreadable += 1;
      return;
    }
    const [joinRef, ref, topic, event, payload] = frame as Frame;
    this.received.set(event, (this.received.get(event) ?? 0) + 1);
    const reply = (status: "ok" | "error", response: unknown = {}) =>
      send(ws, [joinRef, ref, topic, "phx_reply", { status, response }]);
    if (topic === "phoenix" && event === "heartbeat") {
      reply("ok");
      return;
    }
    if (event === "phx_join") {
      if (this.#silent(topic)) return;
      const reason = this.#refuse(topic);
      if (reason !== undefined) {
        reply("error", { reason });
        return;
      }
      let members = this.#topics.get(topic);
      if (members === undefined) {
        members = new Map();
        this.#topics.set(topic, members);
      }
      members.set(ws, { ws, joinRef: String(joinRef) });
      reply("ok");
      return;
    }
    const member = this.#topics.get(topic)?.get(ws);
    if (member === undefined || member.joinRef !== joinRef) {
      reply("error", { reason: "unmatched topic" });
      return;
    }
    if (event === "phx_leave") {
      this.#topics.get(topic)?.delete(ws);
      reply("ok");
      send(ws, [joinRef, joinRef, topic, "phx_close", {}]);
      return;
    }
    this.#broadcast(topic, event, payload);
    reply("ok");
  }

  #broadcast(topic: string, event: string, payload: unknown): void {
    const text = JSON.stringify([null, null, topic, event, payload]);
    for (const { ws } of this.#topics.get(topic)?.values() ?? []) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    }
  }
}

function send(ws: WebSocket, frame: Frame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

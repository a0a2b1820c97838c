import { randomInt } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { parseCookie, stringifySetCookie } from "cookie";
import httpProxy from "http-proxy";
import type { Logger } from "pino";
import type { OwnerOf } from "../cluster/session-relay.js";
import { SwitchyardError } from "../errors.js";
import { isResponse, pathOf, type Relay, sessionIdOf } from "../http-host.js";
import { rolloutBucket } from "../mapping/route-table.js";
import type { PassthroughConfig, PassthroughKey } from "../mapping/types.js";
import { metrics } from "../metrics.js";

/** Which side serves a request: the legacy server behind, or this node (and its cluster). */
export type Side = "legacy" | "switchyard";

export interface PassthroughRelayOptions {
  /** The current `passthrough:` (a reload may change it); absent: nothing is relayed. */
  readonly config: () => PassthroughConfig | undefined;
  /** Whether this node's Engine.IO server has the session. */
  readonly isLocalSession: (sid: string) => boolean;
  /** This node's Engine.IO sessions, for the connections gauge. */
  readonly localSessions?: () => number;
  /** The cluster's owner of a session id (cluster nodes only). */
  readonly ownerOf?: OwnerOf;
  /** What serves this node's side: the cluster's session relay; absent: `local`. */
  readonly next?: Relay;
  readonly log: Logger;
}

/**
 * Switchyard in front of the legacy Socket.IO server (docs/passthrough.md): each
 * Engine.IO request either goes on to this node (or its cluster), or is relayed to the
 * legacy server untouched by http-proxy, which adds `X-Forwarded-*`.
 *
 * - A request without a session (a handshake, or a WebSocket-only client's upgrade)
 *   picks its side: the key's value, hashed like rollout, below `percent`; random
 *   without a key.
 * - A request with a session goes where the session is: this node's, another node's of
 *   the cluster (the session relay takes it), and any other to the legacy server, which
 *   made it or answers it as unknown. So a legacy session needs no record here, and
 *   every node of a cluster relays it alike.
 * - A failed relay answers the client as a dead server's clients would see it (a 502
 *   with a coded body, or a closed socket), is counted, and makes `/readyz` unready until
 *   a relayed request succeeds again.
 */
export class PassthroughRelay implements Relay {
  readonly #options: PassthroughRelayOptions;
  #proxy: httpProxy | undefined;
  /** Why the target failed last, until a relayed request succeeds again. */
  #failure: string | undefined;
  /** Relayed WebSocket connections, open. */
  readonly #sockets = new Set<Duplex>();
  /** Each relayed WebSocket's connection to the target, once it is up. */
  readonly #upstream = new Map<Duplex, Duplex>();
  /** Relayed polling sessions: sid → when a request of it was last relayed (ms). */
  readonly #polling = new Map<string, number>();
  /** Polling sessions a drain ended: their next request is told the session is gone. */
  readonly #drained = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Handshakes whose answer sets the sticky cookie. */
  readonly #cookies = new WeakMap<IncomingMessage, string>();

  constructor(options: PassthroughRelayOptions) {
    this.#options = options;
    metrics.passthroughConnectionSources.add(this.#connections);
  }

  /** Connections by side, for `switchyard_passthrough_connections`; none without a passthrough. */
  readonly #connections = () =>
    this.#options.config() === undefined
      ? undefined
      : {
          legacy: this.#sockets.size + this.#polling.size,
          switchyard: this.#options.localSessions?.() ?? 0,
        };

  web(req: IncomingMessage, res: ServerResponse, local: () => void): void {
    this.#route(
      req,
      (config, sid) => {
        if (sid !== undefined && this.#drained.delete(sid)) {
          // What Engine.IO answers for a session it no longer has: the client reconnects.
          this.#polling.delete(sid);
          metrics.passthroughDrained.inc({ transport: "polling" });
          answerUnknownSession(res);
          return;
        }
        if (sid !== undefined) this.#seen(sid, config);
        metrics.passthroughRequests.inc({ side: "legacy", transport: "polling" });
        this.#proxyOf().web(req, res, this.#targetOf(config), (error) => this.#failed(error, res));
      },
      () => {
        metrics.passthroughRequests.inc({ side: "switchyard", transport: "polling" });
        const cookie = this.#cookies.get(req);
        if (cookie !== undefined) appendSetCookie(res, cookie);
        if (this.#options.next === undefined) local();
        else this.#options.next.web(req, res, local);
      },
    );
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void): void {
    this.#route(
      req,
      (config, sid) => {
        metrics.passthroughRequests.inc({ side: "legacy", transport: "websocket" });
        // Upgraded: its polling requests are over.
        if (sid !== undefined) this.#polling.delete(sid);
        this.#sockets.add(socket);
        socket.once("close", () => {
          this.#sockets.delete(socket);
          // A client gone without a close frame: its connection to the target goes too.
          this.#upstream.get(socket)?.destroy();
          this.#upstream.delete(socket);
        });
        this.#proxyOf().ws(req, socket, head, this.#targetOf(config), (error) =>
          this.#failed(error, socket),
        );
      },
      () => {
        metrics.passthroughRequests.inc({ side: "switchyard", transport: "websocket" });
        if (this.#options.next === undefined) local();
        else this.#options.next.upgrade(req, socket, head, local);
      },
    );
  }

  /** The legacy server's paths other than `server.path`: all their requests are relayed. */
  claims(path: string): boolean {
    return this.#isLegacyPath(path, this.#options.config());
  }

  #isLegacyPath(path: string, config: PassthroughConfig | undefined): boolean {
    const paths = config?.legacyPaths ?? [];
    return paths.includes(path) || paths.includes(`${path}/`);
  }

  /** Readiness: the target answered the last relayed request (or none was relayed). */
  health(): { isReady: boolean; reason?: string } {
    if (this.#options.config() === undefined || this.#failure === undefined)
      return { isReady: true };
    return { isReady: false, reason: `passthrough target failing: ${this.#failure}` };
  }

  /** What is relayed now: the passthrough's settings and its open connections. */
  status(): PassthroughStatus | undefined {
    const config = this.#options.config();
    if (config === undefined) return undefined;
    this.#forgetIdle(config);
    return {
      target: config.target,
      percent: config.threshold / 100,
      key: config.key === undefined ? "random" : keyName(config.key),
      relayed: { websocket: this.#sockets.size, polling: this.#polling.size },
      failing: this.#failure ?? null,
    };
  }

  /**
   * Ends `percent` of the relayed connections, each at a random moment within
   * `spreadMs`, so that they reconnect and take the side the current percentage gives
   * them, not all at once: a WebSocket is closed, a polling session's next request is
   * answered as an unknown session. Returns how many it will end.
   */
  drain(percent: number, spreadMs: number): number {
    const config = this.#options.config();
    if (config === undefined) return 0;
    this.#forgetIdle(config);
    const candidates: (() => void)[] = [
      ...[...this.#sockets].map((socket) => () => {
        metrics.passthroughDrained.inc({ transport: "websocket" });
        socket.destroy();
      }),
      ...[...this.#polling.keys()].map((sid) => () => this.#drained.add(sid)),
    ];
    shuffle(candidates);
    const chosen = candidates.slice(0, Math.round((candidates.length * percent) / 100));
    for (const end of chosen) {
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          end();
        },
        randomInt(Math.max(1, spreadMs)),
      );
      this.#timers.add(timer);
    }
    this.#options.log.info(
      { percent, spreadMs, connections: chosen.length },
      "passthrough drain: relayed connections end and reconnect",
    );
    return chosen.length;
  }

  close(): void {
    metrics.passthroughConnectionSources.delete(this.#connections);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#proxy?.close();
  }

  /** A relayed polling session's request. */
  #seen(sid: string, config: PassthroughConfig): void {
    this.#polling.delete(sid);
    this.#polling.set(sid, Date.now());
    // Bounded: past it, the sessions idle longest are forgotten first.
    if (this.#polling.size > MAX_TRACKED) this.#forgetIdle(config);
  }

  /** Forgets polling sessions with no request for twice the target's timeout, or past the bound. */
  #forgetIdle(config: PassthroughConfig): void {
    const before = Date.now() - 2 * config.timeout;
    for (const [sid, at] of this.#polling) {
      if (at > before && this.#polling.size <= MAX_TRACKED) break;
      this.#polling.delete(sid);
      this.#drained.delete(sid);
    }
  }

  /** The side of `req`, then `legacy(config, sid)` or `switchyard()`. */
  #route(
    req: IncomingMessage,
    legacy: (config: PassthroughConfig, sid: string | undefined) => void,
    switchyard: () => void,
  ): void {
    const config = this.#options.config();
    if (config === undefined) {
      switchyard();
      return;
    }
    const sid = sessionIdOf(req.url ?? "");
    // No server here for the legacy server's other paths: every request of them is its.
    if (this.#isLegacyPath(pathOf(req.url), config)) {
      legacy(config, sid);
      return;
    }
    if (sid === undefined) {
      const { side, setCookie } = sideOf(req, config);
      if (setCookie !== undefined) this.#cookies.set(req, setCookie);
      if (side === "legacy") legacy(config, undefined);
      else switchyard();
      return;
    }
    if (this.#options.isLocalSession(sid)) {
      switchyard();
      return;
    }
    const owner = this.#options.ownerOf?.(sid);
    if (owner === undefined) legacy(config, sid);
    else if (typeof owner === "string") switchyard();
    // A tag this node has not seen yet: one Redis lookup decides.
    else owner.then((url) => (url === undefined ? legacy(config, sid) : switchyard()));
  }

  #targetOf(config: PassthroughConfig): httpProxy.ServerOptions {
    return { target: config.target, proxyTimeout: config.timeout };
  }

  #proxyOf(): httpProxy {
    if (this.#proxy === undefined) {
      const proxy = httpProxy.createProxyServer({ xfwd: true, ws: true });
      proxy.on("proxyRes", (proxyRes, req) => {
        const cookie = this.#cookies.get(req);
        if (cookie !== undefined) {
          const given = proxyRes.headers["set-cookie"] ?? [];
          proxyRes.headers["set-cookie"] = [...given, cookie];
        }
        if (this.#failure === undefined) return;
        this.#failure = undefined;
        this.#options.log.info("passthrough target answers again");
      });
      proxy.on("open", () => {
        this.#failure = undefined;
      });
      proxy.on("proxyReq", (proxyReq) => {
        const started = performance.now();
        proxyReq.once("finish", () => {
          metrics.passthroughForward.observe((performance.now() - started) / 1000);
        });
      });
      proxy.on("proxyReqWs", (proxyReq, _req, socket) => {
        proxyReq.once("upgrade", (_res, upstream: Duplex) => {
          if (this.#sockets.has(socket)) this.#upstream.set(socket, upstream);
          else upstream.destroy();
        });
      });
      this.#proxy = proxy;
    }
    return this.#proxy;
  }

  /** A relay that failed: counted, logged, answered as a dead server would be. */
  #failed(error: Error & { code?: string }, target: ServerResponse | Duplex): void {
    const kind = failureKind(error);
    metrics.passthroughErrors.inc({ kind });
    // Once the target answered (headers sent, or a WebSocket up), an error is this one
    // connection ending (one side closed while the other still wrote), not the target
    // failing: it is counted, and /readyz keeps its word.
    const isEstablished = isResponse(target)
      ? target.headersSent
      : this.#upstream.has(target as Duplex);
    if (isEstablished) {
      this.#options.log.debug({ err: error, kind }, "relayed connection ended with an error");
      target.destroy();
      return;
    }
    const reason = `${kind}${error.code === undefined ? "" : ` (${error.code})`}`;
    if (this.#failure === undefined) {
      this.#options.log.warn({ err: error, kind }, "passthrough relay failed");
    }
    this.#failure = reason;
    if (isResponse(target)) {
      const failure = new SwitchyardError("SWY_PASSTHROUGH_UNAVAILABLE", [kind]);
      const body = JSON.stringify(failure.toJSON());
      target
        .writeHead(failure.spec.status ?? 502, {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
        })
        .end(body);
    } else {
      target.destroy();
    }
  }
}

/** What `GET /api/v1/passthrough` answers (docs/passthrough.md). */
export interface PassthroughStatus {
  readonly target: string;
  readonly percent: number;
  readonly key: string;
  /** Relayed connections open now, on this node. */
  readonly relayed: { readonly websocket: number; readonly polling: number };
  /** Why the target fails, while it does; else null. */
  readonly failing: string | null;
}

/** Relayed polling sessions remembered at most (the oldest are forgotten first). */
const MAX_TRACKED = 100_000;

function keyName(key: PassthroughKey): string {
  return key.kind === "address" ? "address" : `${key.kind}:${key.name}`;
}

/**
 * Adds `cookie` to what `res` sends in `Set-Cookie`, whatever the handler later passes to
 * `writeHead` (Engine.IO's own cookie, when `server.cookie` is on, included).
 */
function appendSetCookie(res: ServerResponse, cookie: string): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const headers = args.find((arg) => typeof arg === "object" && arg !== null) as
      | Record<string, string | string[]>
      | undefined;
    const key = headers && Object.keys(headers).find((name) => name.toLowerCase() === "set-cookie");
    if (headers !== undefined && key !== undefined) {
      const given = headers[key]!;
      headers[key] = [...(Array.isArray(given) ? given : [given]), cookie];
    } else {
      this.setHeader("Set-Cookie", cookie);
    }
    return writeHead.apply(this, args as Parameters<typeof writeHead>);
  } as typeof res.writeHead;
}

/** Engine.IO's answer to a request for a session it does not have (400, code 1). */
function answerUnknownSession(res: ServerResponse): void {
  const body = JSON.stringify({ code: 1, message: "Session ID unknown" });
  res
    .writeHead(400, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    })
    .end(body);
}

function shuffle<T>(list: T[]): void {
  for (let i = list.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
}

/** The side a new connection takes: by its key's bucket, or at random. */
export function sideOf(
  req: IncomingMessage,
  config: PassthroughConfig,
): { side: Side; setCookie?: string } {
  const value = config.key === undefined ? undefined : keyValue(req, config.key);
  let bucket = value === undefined ? undefined : rolloutBucket(value);
  let setCookie: string | undefined;
  const sticky = config.stickyCookie;
  if (bucket === undefined && sticky !== undefined) {
    bucket = stickyBucket(req, sticky.name);
    if (bucket === undefined) {
      bucket = randomInt(10_000);
      setCookie = stringifySetCookie(sticky.name, String(bucket), {
        maxAge: sticky.maxAge,
        path: "/",
        httpOnly: true,
        sameSite: "lax",
      });
    }
  }
  bucket ??= randomInt(10_000);
  const side = bucket < config.threshold ? "legacy" : "switchyard";
  return setCookie === undefined ? { side } : { side, setCookie };
}

/** The bucket a sticky cookie holds, when it holds a valid one. */
function stickyBucket(req: IncomingMessage, name: string): number | undefined {
  const header = req.headers.cookie;
  const text = header === undefined ? undefined : parseCookie(header)[name];
  if (text === undefined || !/^\d{1,4}$/.test(text)) return undefined;
  return Number(text);
}

/** The key's value in `req`, or `undefined` when the request does not carry it. */
export function keyValue(req: IncomingMessage, key: PassthroughKey): string | undefined {
  switch (key.kind) {
    case "address":
      return req.socket.remoteAddress;
    case "header": {
      const value = req.headers[key.name];
      return Array.isArray(value) ? value[0] : value;
    }
    case "cookie": {
      const header = req.headers.cookie;
      return header === undefined ? undefined : parseCookie(header)[key.name];
    }
    case "query":
      return new URLSearchParams(queryOf(req.url ?? "")).get(key.name) ?? undefined;
  }
}

function failureKind(error: Error & { code?: string }): string {
  if (error.code === "ECONNREFUSED") return "refused";
  if (error.code === "ECONNRESET" || error.code === "EPIPE") return "reset";
  if (
    error.code === "ETIMEDOUT" ||
    error.code === "ESOCKETTIMEDOUT" ||
    /timeout/i.test(error.message)
  ) {
    return "timeout";
  }
  return "error";
}

function queryOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? "" : url.slice(at + 1);
}

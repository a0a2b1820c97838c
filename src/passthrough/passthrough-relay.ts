import { randomInt } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { parseCookie } from "cookie";
import httpProxy from "http-proxy";
import type { Logger } from "pino";
import type { OwnerOf } from "../cluster/session-relay.js";
import { SwitchyardError } from "../errors.js";
import type { Relay } from "../http-host.js";
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

  constructor(options: PassthroughRelayOptions) {
    this.#options = options;
  }

  web(req: IncomingMessage, res: ServerResponse, local: () => void): void {
    this.#route(
      req,
      (config) => {
        metrics.passthroughRequests.inc({ side: "legacy", transport: "polling" });
        this.#proxyOf().web(req, res, this.#targetOf(config), (error) => this.#failed(error, res));
      },
      () => {
        metrics.passthroughRequests.inc({ side: "switchyard", transport: "polling" });
        if (this.#options.next === undefined) local();
        else this.#options.next.web(req, res, local);
      },
    );
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void): void {
    this.#route(
      req,
      (config) => {
        metrics.passthroughRequests.inc({ side: "legacy", transport: "websocket" });
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

  /** Readiness: the target answered the last relayed request (or none was relayed). */
  health(): { isReady: boolean; reason?: string } {
    if (this.#options.config() === undefined || this.#failure === undefined)
      return { isReady: true };
    return { isReady: false, reason: `passthrough target failing: ${this.#failure}` };
  }

  close(): void {
    this.#proxy?.close();
  }

  /** The side of `req`, then `legacy(config)` or `switchyard()`. */
  #route(
    req: IncomingMessage,
    legacy: (config: PassthroughConfig) => void,
    switchyard: () => void,
  ): void {
    const config = this.#options.config();
    if (config === undefined) {
      switchyard();
      return;
    }
    const sid = sessionIdOf(req.url ?? "");
    if (sid === undefined) {
      if (sideOf(req, config) === "legacy") legacy(config);
      else switchyard();
      return;
    }
    if (this.#options.isLocalSession(sid)) {
      switchyard();
      return;
    }
    const owner = this.#options.ownerOf?.(sid);
    if (owner === undefined) legacy(config);
    else if (typeof owner === "string") switchyard();
    // A tag this node has not seen yet: one Redis lookup decides.
    else owner.then((url) => (url === undefined ? legacy(config) : switchyard()));
  }

  #targetOf(config: PassthroughConfig): httpProxy.ServerOptions {
    return { target: config.target, proxyTimeout: config.timeout };
  }

  #proxyOf(): httpProxy {
    if (this.#proxy === undefined) {
      const proxy = httpProxy.createProxyServer({ xfwd: true, ws: true });
      proxy.on("proxyRes", () => {
        if (this.#failure === undefined) return;
        this.#failure = undefined;
        this.#options.log.info("passthrough target answers again");
      });
      proxy.on("open", () => {
        this.#failure = undefined;
      });
      this.#proxy = proxy;
    }
    return this.#proxy;
  }

  /** A relay that failed: counted, logged, answered as a dead server would be. */
  #failed(error: Error & { code?: string }, target: ServerResponse | Duplex): void {
    const kind = failureKind(error);
    metrics.passthroughErrors.inc({ kind });
    const reason = `${kind}${error.code === undefined ? "" : ` (${error.code})`}`;
    if (this.#failure === undefined) {
      this.#options.log.warn({ err: error, kind }, "passthrough relay failed");
    }
    this.#failure = reason;
    if (isResponse(target)) {
      if (target.headersSent) {
        target.destroy();
        return;
      }
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

/** The side a new connection takes: by its key's bucket, or at random. */
export function sideOf(req: IncomingMessage, config: PassthroughConfig): Side {
  const value = config.key === undefined ? undefined : keyValue(req, config.key);
  const bucket = value === undefined ? randomInt(10_000) : rolloutBucket(value);
  return bucket < config.threshold ? "legacy" : "switchyard";
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

function sessionIdOf(url: string): string | undefined {
  const sid = new URLSearchParams(queryOf(url)).get("sid");
  return sid === null || sid === "" ? undefined : sid;
}

function queryOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? "" : url.slice(at + 1);
}

function isResponse(target: ServerResponse | Duplex): target is ServerResponse {
  return "writeHead" in target;
}

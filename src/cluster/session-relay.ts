import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import httpProxy from "http-proxy";
import type { Logger } from "pino";
import { SwitchyardError } from "../errors.js";
import { isResponse, sessionIdOf } from "../http-host.js";
import { metrics } from "../metrics.js";

/** Marks a request one node relayed to another, so it is never relayed again. */
const RELAYED = "x-switchyard-relayed";

/**
 * Sends a polling request or WebSocket upgrade of a session this node does not own
 * to the node that does (http-proxy), so a plain round-robin load balancer works
 * without sticky sessions. The owner is the node whose tag starts the session id.
 *
 * A request for a session whose owner is unknown (it left the cluster) is not
 * relayed: the local Engine.IO server answers it as an unknown session (HTTP 400,
 * code 1), and the client reconnects, here or elsewhere.
 */
/** Whose session an id is: see NodeRegistry.ownerOf. */
export type OwnerOf = (
  sessionId: string,
) => "local" | string | undefined | Promise<string | undefined>;

export class SessionRelay {
  readonly #ownerOf: OwnerOf;
  readonly #proxy: httpProxy;
  readonly #log: Logger;

  constructor(ownerOf: OwnerOf, log: Logger) {
    this.#ownerOf = ownerOf;
    this.#log = log;
    this.#proxy = httpProxy.createProxyServer({ xfwd: true, ws: true });
    // A failed relay answers the client itself; nothing is thrown into the server.
    this.#proxy.on("error", (error, _req, target) => {
      metrics.relayErrors.inc();
      this.#log.warn({ err: error }, "session relay failed");
      if (isResponse(target)) {
        const failure = new SwitchyardError("SWY_RELAY_FAILED");
        if (!target.headersSent) {
          target.writeHead(failure.spec.status ?? 502, { "content-type": "application/json" });
        }
        target.end(JSON.stringify(failure.toJSON()));
      } else {
        target?.destroy();
      }
    });
  }

  /**
   * Relays an HTTP request to the node that owns its session, or hands it to
   * `local` (this node's sessions, requests without a session, unknown owners).
   */
  web(req: IncomingMessage, res: ServerResponse, local: () => void): void {
    this.#route(req, local, (target) => {
      metrics.relayed.inc({ transport: "polling" });
      this.#proxy.web(req, res, { target, headers: { [RELAYED]: "1" } });
    });
  }

  /** {@link web} for a WebSocket upgrade. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, local: () => void): void {
    this.#route(req, local, (target) => {
      metrics.relayed.inc({ transport: "websocket" });
      this.#proxy.ws(req, socket, head, { target, headers: { [RELAYED]: "1" } });
    });
  }

  close(): void {
    this.#proxy.close();
  }

  #route(req: IncomingMessage, local: () => void, relay: (target: string) => void): void {
    const sid = req.headers[RELAYED] === undefined ? sessionIdOf(req.url ?? "") : undefined;
    const owner = sid === undefined ? "local" : this.#ownerOf(sid);
    if (typeof owner === "string" && owner !== "local") relay(owner);
    else if (owner === "local" || owner === undefined) local();
    // A node that joined since the last registry read: the request waits one Redis lookup.
    else owner.then((url) => (url === undefined ? local() : relay(url)));
  }
}

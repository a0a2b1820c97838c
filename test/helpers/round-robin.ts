import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import httpProxy from "http-proxy";

/**
 * A plain round-robin load balancer on 127.0.0.1, port 0: every HTTP request and
 * every WebSocket upgrade goes to the next target in turn, with no affinity at all.
 * `upgrades` gives WebSocket upgrades a pool of their own, as balancers that route
 * WebSockets separately do.
 */
export class RoundRobin {
  readonly #server: Server;
  readonly #proxy = httpProxy.createProxyServer({ ws: true });
  readonly #targets: readonly string[];
  readonly #upgradeTargets: readonly string[];
  #next = 0;
  #nextUpgrade = 0;
  /** HTTP requests sent to each target, by index. */
  readonly counts: number[];

  private constructor(targets: readonly string[], upgrades: readonly string[]) {
    this.#targets = targets;
    this.#upgradeTargets = upgrades;
    this.counts = targets.map(() => 0);
    this.#proxy.on("error", (_error, _req, res) => {
      if ("writeHead" in res && typeof res.writeHead === "function") {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      } else {
        res.destroy();
      }
    });
    this.#server = createServer((req, res) => this.#proxy.web(req, res, { target: this.#pick() }));
    this.#server.on("upgrade", (req, socket, head) => {
      const target = this.#upgradeTargets[this.#nextUpgrade++ % this.#upgradeTargets.length]!;
      this.#proxy.ws(req, socket, head, { target });
    });
  }

  static async start(
    targets: readonly string[],
    options: { upgrades?: readonly string[] } = {},
  ): Promise<RoundRobin> {
    const balancer = new RoundRobin(targets, options.upgrades ?? targets);
    await new Promise<void>((resolve) => balancer.#server.listen(0, "127.0.0.1", resolve));
    return balancer;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#proxy.close();
  }

  #pick(): string {
    const index = this.#next++ % this.#targets.length;
    this.counts[index]! += 1;
    return this.#targets[index]!;
  }
}

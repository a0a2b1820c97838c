import type { BackendHealth } from "../egress/backend.js";
import type { ClusterView } from "../egress/cluster.js";
import type { SioServer } from "../ingress/sio/server.js";
import type { RouteRule, SwitchyardConfig } from "../mapping/types.js";
import type { ManagedMetrics, Metrics } from "../metrics.js";
import type { PassthroughStatus } from "../passthrough/passthrough-relay.js";
import type { ShadowReport, ShadowRouteReport } from "../router/shadow/report.js";
import { VERSION } from "../version.js";
import type { ConsoleHistory } from "./console-history.js";
import {
  type ByProtocol,
  type ConsoleBackend,
  type ConsoleRoom,
  type ConsoleRoute,
  type ConsoleShadowRoute,
  type ConsoleSnapshot,
  MAX_ROOMS_SHOWN,
} from "./console-types.js";

/** The views of the running node a snapshot reads: the same the HTTP API reads. */
export interface ConsoleSources {
  readonly sio: Pick<SioServer, "namespaces" | "engine">;
  /** The configuration in force. */
  config(): SwitchyardConfig;
  health(): Map<string, BackendHealth>;
  readonly rooms: {
    placement(nsp: string, room: string): { backend: string; channel?: string } | undefined;
    shadowReport(): ShadowReport;
    cluster(): ClusterView | undefined;
  };
  passthrough(): PassthroughStatus | undefined;
  /** This node's cluster tag, with a `cluster` block. */
  readonly nodeTag?: string;
  /** The cluster's live nodes, tag → URL (src/cluster/node-registry.ts), with a `cluster` block. */
  readonly clusterNodes?: () => ReadonlyMap<string, string>;
}

/** How long a count of the cluster's nodes is reused before it is asked again, ms. */
const NODES_TTL_MS = 5000;
/** How long a snapshot waits for that count, ms. */
const NODES_WAIT_MS = 250;

/**
 * Builds the migration console's snapshots of this node (docs/operations.md, "Migration
 * console") from the views the HTTP API reads and the console's {@link ConsoleHistory}.
 * A snapshot walks this node's sockets and rooms once (to count them by protocol and to
 * pick the rooms with the most members), so streams share one per tick.
 */
export class ConsoleSnapshots {
  readonly #sources: ConsoleSources;
  readonly #history: ConsoleHistory;
  readonly #metrics: Metrics;
  readonly #startedAt = Date.now();
  #nodes: { count: number | null; at: number; asking?: Promise<number | null> } = {
    count: null,
    at: 0,
  };

  constructor(sources: ConsoleSources, history: ConsoleHistory, metrics: Metrics) {
    this.#sources = sources;
    this.#history = history;
    this.#metrics = metrics;
  }

  /** A snapshot of now; with `history`, the charts' samples too. */
  async build(options: { readonly history?: boolean } = {}): Promise<ConsoleSnapshot> {
    const config = this.#sources.config();
    const [loadedAt, backends, nodes] = await Promise.all([
      this.#metrics.configLoadedAt.get().then(({ values }) => (values[0]?.value ?? 0) * 1000),
      this.#backends(config),
      this.#clusterNodes(),
    ]);
    const history = this.#history;
    const status = this.#sources.passthrough();
    return {
      at: Date.now(),
      node: {
        version: VERSION,
        startedAt: this.#startedAt,
        tag: this.#sources.nodeTag ?? null,
        nodes,
        registry:
          this.#sources.clusterNodes === undefined
            ? null
            : [...this.#sources.clusterNodes()].map(([tag, url]) => ({ tag, url })),
      },
      config: {
        source: config.source,
        loadedAt: Math.round(loadedAt),
        revision: 1 + history.appliedReloads,
        lastReload: history.lastReload,
      },
      ...this.#sockets(config),
      routes: routesOf(config),
      backends,
      passthrough:
        status === undefined
          ? null
          : {
              target: status.target,
              percent: status.percent,
              legacy: status.relayed.websocket + status.relayed.polling,
              switchyard: this.#sources.sio.engine.size,
              failing: status.failing,
            },
      shadow: shadowOf(this.#sources.rooms.shadowReport()),
      errors: history.errors,
      errorTotals: history.errorTotals,
      ...(options.history === true ? { history: history.samples } : {}),
      sample: history.latest,
    };
  }

  /** Connections, namespaces and rooms: one walk over this node's sockets and rooms. */
  #sockets(
    config: SwitchyardConfig,
  ): Pick<ConsoleSnapshot, "connections" | "namespaces" | "rooms" | "roomsTotal"> {
    const sessions = new Set<object>();
    const total = { v3: 0, v4: 0 };
    const namespaces: ConsoleSnapshot["namespaces"][number][] = [];
    const top = new TopRooms(MAX_ROOMS_SHOWN);
    let roomsTotal = 0;
    for (const namespace of this.#sources.sio.namespaces()) {
      const sockets: ByProtocol & { v3: number; v4: number } = { v3: 0, v4: 0 };
      for (const socket of namespace.sockets.values()) {
        const { session } = socket.client;
        const version = session.protocol === 3 ? "v3" : "v4";
        sockets[version]++;
        if (!sessions.has(session)) {
          sessions.add(session);
          total[version]++;
        }
      }
      namespaces.push({
        namespace: namespace.name,
        sockets: namespace.sockets.size,
        rooms: namespace.roomCount,
        ...sockets,
      });
      for (const room of namespace.roomNames()) {
        roomsTotal++;
        top.offer({ nsp: namespace.name, room, members: namespace.members(room)?.size ?? 0 });
      }
    }
    const rooms = top.sorted();
    return {
      // Sessions in no namespace yet (between handshake and CONNECT) count in the total only.
      connections: { total: this.#sources.sio.engine.size, ...total },
      namespaces,
      rooms: rooms.slice(0, MAX_ROOMS_SHOWN).map(({ nsp, room, members }) => {
        const placement = this.#sources.rooms.placement(nsp, room);
        const table = config.namespaces.get(nsp)?.routes;
        const found = table?.ruleOf(room);
        const binding = table?.resolve(room);
        const shown: ConsoleRoom = {
          namespace: nsp,
          room,
          members,
          backend: placement?.backend ?? "native",
          ...(placement?.channel === undefined ? {} : { channel: placement.channel }),
          ...(found === undefined ? {} : { route: found.rule.room }),
          isRollout: found?.isRollout ?? false,
          ...(binding?.ok === true && binding.shadow !== undefined
            ? { shadow: { backend: binding.shadow.backend, channel: binding.shadow.channel } }
            : {}),
        };
        return shown;
      }),
      roomsTotal,
    };
  }

  async #backends(config: SwitchyardConfig): Promise<ConsoleBackend[]> {
    const health = this.#sources.health();
    const backends: ConsoleBackend[] = [];
    for (const [name, backend] of config.backends) {
      const h = health.get(name);
      const managed = this.#managed(backend.kind);
      backends.push({
        name,
        kind: backend.kind,
        isReady: h?.isReady ?? false,
        reason: h === undefined ? "not started" : h.isReady ? null : (h.reason ?? "not ready"),
        subscriptions: managed === undefined ? null : await subscriptionsOf(managed, name),
        publishRate: this.#history.publishRate(name),
        refused: this.#history.refused(name),
        errors: managed === undefined ? {} : await failuresOf(managed, name),
      });
    }
    return backends;
  }

  /** The metrics of a managed kind; undefined for the native core (and kinds without them). */
  #managed(kind: string): ManagedMetrics | undefined {
    const m = this.#metrics;
    return kind === "pusher"
      ? m.pusher
      : kind === "ably"
        ? m.ably
        : kind === "websocket"
          ? m.websocket
          : undefined;
  }

  /**
   * The cluster's node count, asked of the native core at most every
   * {@link NODES_TTL_MS}; a snapshot waits for its answer at most {@link NODES_WAIT_MS}
   * and shows the last one meanwhile: a slow Redis never holds a snapshot back.
   */
  async #clusterNodes(): Promise<number | null> {
    const view = this.#sources.rooms.cluster();
    if (view === undefined) return this.#sources.nodeTag === undefined ? 1 : null;
    const nodes = this.#nodes;
    if (Date.now() - nodes.at <= NODES_TTL_MS) return nodes.count;
    nodes.asking ??= view.serverCount("/").then(
      (count) => {
        this.#nodes = { count, at: Date.now() };
        return count;
      },
      () => {
        this.#nodes = { count: null, at: Date.now() };
        return null;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number | null>((resolve) => {
      timer = setTimeout(() => resolve(nodes.count), NODES_WAIT_MS);
    });
    return Promise.race([nodes.asking, late]).finally(() => clearTimeout(timer));
  }
}

async function subscriptionsOf(
  managed: ManagedMetrics,
  backend: string,
): Promise<{ confirmed: number; pending: number }> {
  const counts = { confirmed: 0, pending: 0 };
  for (const { labels, value } of (await managed.subscriptions.get()).values) {
    if (labels.backend !== backend) continue;
    if (labels.state === "confirmed") counts.confirmed += value;
    else if (labels.state === "pending") counts.pending += value;
  }
  return counts;
}

async function failuresOf(
  managed: ManagedMetrics,
  backend: string,
): Promise<Record<string, number>> {
  const errors: Record<string, number> = {};
  const add = async (what: string, counter: ManagedMetrics["publishFailures"]) => {
    for (const { labels, value } of (await counter.get()).values) {
      if (labels.backend !== backend || value === 0) continue;
      const key = `${what}:${String(labels.reason)}`;
      errors[key] = (errors[key] ?? 0) + value;
    }
  };
  await add("publish", managed.publishFailures);
  await add("connection", managed.connectionErrors);
  await add("subscribe", managed.subscribeFailures);
  return errors;
}

function routesOf(config: SwitchyardConfig): ConsoleRoute[] {
  const routes: ConsoleRoute[] = [];
  for (const [nsp, namespace] of config.namespaces) {
    for (const rule of namespace.routes.rules) routes.push({ namespace: nsp, ...copyRule(rule) });
  }
  return routes;
}

function copyRule(rule: RouteRule): Omit<ConsoleRoute, "namespace"> {
  return JSON.parse(JSON.stringify(rule)) as Omit<ConsoleRoute, "namespace">;
}

function shadowOf(report: ShadowReport): ConsoleSnapshot["shadow"] {
  return { since: report.since, routes: report.routes.map(shadowRoute) };
}

function shadowRoute(route: ShadowRouteReport): ConsoleShadowRoute {
  return {
    id: shadowRouteId(route),
    namespace: route.namespace,
    room: route.room,
    primary: route.primary,
    shadow: route.shadow,
    counts: { ...route.counts },
    latencyGap: { ...route.latencyGap },
    verdict: route.verdict,
    reasons: [...route.reasons],
  };
}

/** A shadowed route's name in the console: its room pattern and both backends. */
export function shadowRouteId(route: {
  readonly namespace: string;
  readonly room: string;
  readonly primary: string;
  readonly shadow: string;
}): string {
  return `${route.namespace} ${route.room}: ${route.primary} → ${route.shadow}`;
}

interface RoomCount {
  readonly nsp: string;
  readonly room: string;
  readonly members: number;
}

/**
 * The `max` rooms with the most members, found in one pass without sorting them all:
 * a room is kept only when it has more members than the fewest kept (on a tie the one
 * met first stays), so a node of many small rooms mostly compares one number per room.
 */
class TopRooms {
  readonly #max: number;
  /** Kept rooms, fewest members first. */
  readonly #kept: RoomCount[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  offer(room: RoomCount): void {
    const kept = this.#kept;
    if (kept.length === this.#max) {
      if (room.members <= kept[0]!.members) return;
      kept.shift();
    }
    let at = kept.length;
    while (at > 0 && kept[at - 1]!.members > room.members) at--;
    kept.splice(at, 0, room);
  }

  /** Most members first, then by namespace and room. */
  sorted(): RoomCount[] {
    return [...this.#kept].sort(
      (a, b) => b.members - a.members || compare(a.nsp, b.nsp) || compare(a.room, b.room),
    );
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

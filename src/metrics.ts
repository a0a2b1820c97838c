import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type LabelValues,
  Registry,
} from "prom-client";
import { VERSION } from "./version.js";

/** Latency buckets in seconds, from an in-process hop (0.1 ms) to a slow service (10 s). */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Buckets for calls that leave the host (an app's endpoint, a subscribe confirmed by a service), in seconds. */
const REMOTE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A count kept on a hot path (once per packet, per publication): {@link add} bumps a plain
 * number, and the {@link TalliedCounter} that made it takes the sum whenever the counter is read
 * (a scrape, `get()`). Why not prom-client's `inc()` there: each call builds the label string,
 * looks it up, validates the labels and returns a new object, which was 3-4 % of a publishing
 * node's CPU and part of its garbage with two nodes on Redis (docs/benchmarks.md).
 */
export class Tally {
  #count = 0;

  add(n = 1): void {
    this.#count += n;
  }

  /** The count since the last take; it starts again from 0. */
  take(): number {
    const count = this.#count;
    this.#count = 0;
    return count;
  }
}

/**
 * A prom-client counter that also hands out {@link Tally}s, one per set of label values: what
 * they counted is added to the counter each time it is read, so a scrape sees every count.
 */
export class TalliedCounter<L extends string = string> extends Counter<L> {
  readonly #tallies = new Map<string, { readonly tally: Tally; readonly labels: LabelValues<L> }>();
  readonly #labelNames: readonly L[];

  constructor(config: CounterConfiguration<L>) {
    super({
      ...config,
      collect(this: Counter<L>) {
        (this as TalliedCounter<L>).#fold();
      },
    });
    this.#labelNames = config.labelNames ?? [];
  }

  /** The tally of these label values (the same one for the same values). */
  tally(labels: LabelValues<L> = {}): Tally {
    const key = JSON.stringify(this.#labelNames.map((name) => labels[name]));
    let entry = this.#tallies.get(key);
    if (entry === undefined) {
      entry = { tally: new Tally(), labels };
      this.#tallies.set(key, entry);
    }
    return entry.tally;
  }

  #fold(): void {
    for (const { tally, labels } of this.#tallies.values()) {
      const count = tally.take();
      if (count > 0) this.inc(labels, count);
    }
  }
}

/**
 * The metrics every managed backend kind keeps (src/egress/managed/managed-backend.ts),
 * each by `backend`: named `switchyard_<kind>_<metric>`, with the same labels and
 * meaning for every kind.
 */
export interface ManagedMetrics {
  /** `connected{backend}`: 1 while the connection is up, else 0. */
  readonly connected: Gauge<"backend">;
  /** `connection_errors_total{backend, reason}`: `attempt_failed`, `refused`, the kind's own. */
  readonly connectionErrors: Counter<"backend" | "reason">;
  /** `subscriptions{backend, state}`: wanted channels, `confirmed` or `pending`. */
  readonly subscriptions: Gauge<"backend" | "state">;
  /** `subscribe_failures_total{backend, reason}`: requests that failed and are retried. */
  readonly subscribeFailures: Counter<"backend" | "reason">;
  /** `published_total{backend}`: publications the service accepted. */
  readonly published: Counter<"backend">;
  /** `publish_failures_total{backend, reason}`: publications refused or not sent. */
  readonly publishFailures: Counter<"backend" | "reason">;
  /** `publish_queue{backend}`: publications waiting or in flight. */
  readonly publishQueue: Gauge<"backend">;
  /** `receive_errors_total{backend, reason}`: received messages not handed to members. */
  readonly receiveErrors: Counter<"backend" | "reason">;
}

/** The help text of each of a kind's {@link ManagedMetrics}, in the kind's words. */
export type ManagedMetricsHelp = { readonly [K in keyof ManagedMetrics]: string };

/**
 * Registers `kind`'s {@link ManagedMetrics} in `registry`: `switchyard_<kind>_connected`,
 * `…_connection_errors_total`, `…_subscriptions`, `…_subscribe_failures_total`,
 * `…_published_total`, `…_publish_failures_total`, `…_publish_queue`,
 * `…_receive_errors_total`.
 */
export function managedMetrics(
  registry: Registry,
  kind: string,
  help: ManagedMetricsHelp,
): ManagedMetrics {
  const options = <L extends string>(metric: keyof ManagedMetrics, name: string, labels: L[]) => ({
    name: `switchyard_${kind}_${name}`,
    help: help[metric],
    labelNames: labels,
    registers: [registry],
  });
  const byBackend: "backend"[] = ["backend"];
  const byReason: ("backend" | "reason")[] = ["backend", "reason"];
  return {
    connected: new Gauge(options("connected", "connected", byBackend)),
    connectionErrors: new Counter(options("connectionErrors", "connection_errors_total", byReason)),
    subscriptions: new Gauge(options("subscriptions", "subscriptions", ["backend", "state"])),
    subscribeFailures: new Counter(
      options("subscribeFailures", "subscribe_failures_total", byReason),
    ),
    published: new Counter(options("published", "published_total", byBackend)),
    publishFailures: new Counter(options("publishFailures", "publish_failures_total", byReason)),
    publishQueue: new Gauge(options("publishQueue", "publish_queue", byBackend)),
    receiveErrors: new Counter(options("receiveErrors", "receive_errors_total", byReason)),
  };
}

/** What one process's connection state recovery reports to its gauges (docs/recovery.md). */
export interface RecoverySize {
  readonly kept: number;
  readonly packets: number;
  readonly bytes: number;
  readonly historyReads: { readonly running: number; readonly waiting: number };
}

/** The sum over the recoveries of this process of what `pick` reads from each. */
function summed(
  sources: ReadonlySet<() => RecoverySize>,
  pick: (recovery: RecoverySize) => number,
): number {
  let sum = 0;
  for (const source of sources) sum += pick(source());
  return sum;
}

/**
 * A labelled recovery gauge's collect: each value of `label` set to the {@link summed}
 * of its pick.
 */
function summedBy<L extends string>(
  sources: ReadonlySet<() => RecoverySize>,
  label: L,
  picks: Readonly<Record<string, (recovery: RecoverySize) => number>>,
): (this: Gauge<L>) => void {
  return function (this: Gauge<L>) {
    for (const [value, pick] of Object.entries(picks)) {
      this.set({ [label]: value } as LabelValues<L>, summed(sources, pick));
    }
  };
}

/**
 * Switchyard's Prometheus metrics, served on `/metrics` and listed in docs/metrics.md.
 * One registry per process. Switchyard's own names are prefixed `switchyard_`; the
 * default process metrics keep prom-client's standard names (`process_*`, `nodejs_*`),
 * which stock Node.js dashboards read. Histograms are in seconds; their labels are
 * names from the configuration and fixed outcomes, never rooms, channels or ids.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly buildInfo = new Gauge({
    name: "switchyard_build_info",
    help: "Always 1; its labels name the Switchyard version and the Node.js version running it.",
    labelNames: ["version", "node"],
    registers: [this.registry],
  });
  readonly ackLatency = new Histogram({
    name: "switchyard_ack_latency_seconds",
    help: "Time from a client's event that asked for an ack to the ack sent back, by the event rule's action (join, leave, broadcast, forward; none: no rule) and outcome (ok; error: the ack carries ok: false).",
    labelNames: ["action", "outcome"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly forwardLatency = new Histogram({
    name: "switchyard_forward_seconds",
    help: "Round trip of a forward rule's HTTP call to the app, request sent to answer read, by event and outcome (ok: 2xx; rejected: another status; timeout; unavailable; too_large: the answer was over the limit).",
    labelNames: ["event", "outcome"],
    buckets: REMOTE_BUCKETS,
    registers: [this.registry],
  });
  readonly backendPublishLatency = new Histogram({
    name: "switchyard_backend_publish_seconds",
    help: "Time from handing a publication to a backend to the backend accepting or refusing it, by backend, kind and outcome (accepted, refused).",
    labelNames: ["backend", "kind", "outcome"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly joinSubscribeLatency = new Histogram({
    name: "switchyard_join_subscribe_seconds",
    help: "Time from a socket joining a room to its channel being subscribed on the room's backend (0 when it already was), by backend, kind and outcome (subscribed; failed: refused or not confirmed within server.joinTimeout).",
    labelNames: ["backend", "kind", "outcome"],
    buckets: REMOTE_BUCKETS,
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: "switchyard_connections",
    help: "Open Engine.IO sessions.",
    registers: [this.registry],
  });
  readonly sessionsOpened = new Counter({
    name: "switchyard_sessions_opened_total",
    help: "Engine.IO sessions opened, by the transport of their handshake.",
    labelNames: ["transport"],
    registers: [this.registry],
  });
  readonly sessionsClosed = new Counter({
    name: "switchyard_sessions_closed_total",
    help: "Engine.IO sessions closed, by reason.",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly draining = new Gauge({
    name: "switchyard_draining",
    help: "1 from SIGTERM or SIGINT until the process exits (a graceful drain), else 0.",
    registers: [this.registry],
  });
  readonly drainClosedSessions = new Counter({
    name: "switchyard_drain_sessions_closed_total",
    help: "Engine.IO sessions a graceful drain closed in its batches.",
    registers: [this.registry],
  });
  readonly sockets = new Gauge({
    name: "switchyard_sockets",
    help: "Connected Socket.IO sockets, by namespace.",
    labelNames: ["namespace"],
    registers: [this.registry],
  });
  readonly rooms = new Gauge({
    name: "switchyard_rooms",
    help: "Rooms with at least one local member, by namespace.",
    labelNames: ["namespace"],
    registers: [this.registry],
  });
  readonly packetsIn = new TalliedCounter({
    name: "switchyard_packets_in_total",
    help: "Socket.IO packets received from clients.",
    registers: [this.registry],
  });
  readonly packetsOut = new TalliedCounter({
    name: "switchyard_packets_out_total",
    help: "Socket.IO packets sent to clients (a broadcast counts once per recipient).",
    registers: [this.registry],
  });
  readonly bytesIn = new TalliedCounter({
    name: "switchyard_bytes_in_total",
    help: "Bytes of Socket.IO packets received from clients.",
    registers: [this.registry],
  });
  readonly bytesOut = new TalliedCounter({
    name: "switchyard_bytes_out_total",
    help: "Bytes of Socket.IO packets sent to clients (per recipient).",
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "switchyard_errors_total",
    help: "Errors answered to clients or operators, by SWY_* code.",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly internalErrors = new Counter({
    name: "switchyard_internal_errors_total",
    help: "Unexpected errors (bugs) caught before they could take the process down, by where they were caught; each is logged with its stack.",
    labelNames: ["where"],
    registers: [this.registry],
  });
  readonly limitRefusals = new Counter({
    name: "switchyard_limit_refusals_total",
    help: "Work refused because a budget of server.limits was spent, by limit (docs/security.md).",
    labelNames: ["limit"],
    registers: [this.registry],
  });

  readonly consoleStreams = new Gauge({
    name: "switchyard_console_streams",
    help: "Live streams of the migration console (GET /api/v1/console/stream) open on this node.",
    registers: [this.registry],
  });

  readonly relayed = new Counter({
    name: "switchyard_relayed_requests_total",
    help: "Polling requests and WebSocket upgrades relayed to the node that owns their session.",
    labelNames: ["transport"],
    registers: [this.registry],
  });
  readonly relayErrors = new Counter({
    name: "switchyard_relay_errors_total",
    help: "Relays that failed (the owner node could not be reached); the client got 502 or a closed socket.",
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: "switchyard_config_reloads_total",
    help: "Configuration reloads, by result: applied, invalid (the file has errors) or failed (a backend would not start).",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly configLoadedAt = new Gauge({
    name: "switchyard_config_loaded_timestamp_seconds",
    help: "When the configuration in force was loaded, in Unix seconds.",
    registers: [this.registry],
  });

  readonly pusher = managedMetrics(this.registry, "pusher", {
    connected: "1 while a pusher backend's pusher-js connection is connected, else 0, by backend.",
    connectionErrors:
      "pusher:error frames and connection failures of a pusher backend, by backend and reason.",
    subscriptions:
      "Channels a pusher backend is subscribed to, by backend and state (confirmed, pending).",
    subscribeFailures:
      "Channel subscriptions of a pusher backend that failed and will be retried, by backend and reason (timeout, refused, auth, invalid_channel).",
    published: "Events a pusher backend's REST calls got accepted, by backend.",
    publishFailures:
      "Publications a pusher backend refused or could not send, by backend and reason (too_large, invalid_channel, invalid_event, rejected, unavailable, queue_full, sender_busy, closed).",
    publishQueue: "Publications of a pusher backend waiting or in flight, by backend.",
    receiveErrors:
      "Events a pusher backend received but could not hand over, by backend and reason.",
  });
  readonly pusherReconnects = new Counter({
    name: "switchyard_pusher_reconnects_total",
    help: "Times a pusher backend's connection came back after being lost, by backend.",
    labelNames: ["backend"],
    registers: [this.registry],
  });
  readonly pusherRequests = new Counter({
    name: "switchyard_pusher_requests_total",
    help: "REST calls a pusher backend made, by backend and endpoint (events, batch_events).",
    labelNames: ["backend", "endpoint"],
    registers: [this.registry],
  });
  // Members of the set above under the flat names the REST publisher and tests read.
  readonly pusherPublished = this.pusher.published;
  readonly pusherReceiveErrors = this.pusher.receiveErrors;

  readonly ably = managedMetrics(this.registry, "ably", {
    connected: "1 while an ably backend's realtime connection is connected, else 0, by backend.",
    connectionErrors:
      "Failed connection attempts and refusals of an ably backend, by backend and reason (attempt_failed, refused).",
    subscriptions:
      "Channels an ably backend holds, by backend and state (confirmed: attached; pending).",
    subscribeFailures:
      "Channel attaches of an ably backend that failed and will be retried, by backend and reason (timeout, refused, invalid_channel).",
    published: "Messages an ably backend's REST calls got accepted, by backend.",
    publishFailures:
      "Publications an ably backend refused or could not send, by backend and reason (too_large, invalid_channel, rejected, throttled, unavailable, queue_full, sender_busy, closed).",
    publishQueue: "Publications of an ably backend waiting or in flight, by backend.",
    receiveErrors:
      "Messages an ably backend received but did not hand over, by backend and reason (too_deep, malformed, deliver).",
  });
  readonly ablyReconnects = new Counter({
    name: "switchyard_ably_reconnects_total",
    help: "Times an ably backend's connection came back after being lost, by backend and whether Ably resumed it (resumed: nothing missed; new: a new connection).",
    labelNames: ["backend", "outcome"],
    registers: [this.registry],
  });
  readonly ablyContinuityLosses = new Counter({
    name: "switchyard_ably_continuity_losses_total",
    help: "Channels an ably backend re-attached without Ably resuming them (messages of the gap may be missing), by backend.",
    labelNames: ["backend"],
    registers: [this.registry],
  });
  readonly ablyRequests = new Counter({
    name: "switchyard_ably_requests_total",
    help: "REST publish calls an ably backend made, by backend.",
    labelNames: ["backend"],
    registers: [this.registry],
  });
  // Members of the set above under the flat names the REST publisher and tests read.
  readonly ablyPublished = this.ably.published;
  readonly ablyPublishFailures = this.ably.publishFailures;
  readonly ablyReceiveErrors = this.ably.receiveErrors;

  readonly websocket = managedMetrics(this.registry, "websocket", {
    connected:
      "1 while a websocket backend's connection to its bus is up (open frames answered), else 0, by backend.",
    connectionErrors:
      "Failed connection attempts and refusals of a websocket backend, by backend and reason (attempt_failed, refused).",
    subscriptions:
      "Channels a websocket backend holds on its bus, by backend and state (confirmed, pending).",
    subscribeFailures:
      "Channel subscriptions of a websocket backend that failed and will be retried, by backend and reason (timeout, refused, dropped, invalid_channel).",
    published:
      "Publications a websocket backend's bus took (answered, or written when it answers none), by backend.",
    publishFailures:
      "Publications a websocket backend refused or could not send, by backend and reason (too_large, invalid_channel, rejected, unavailable, queue_full, sender_busy, closed).",
    publishQueue:
      "Publications of a websocket backend waiting for the connection or for the bus's reply, by backend.",
    receiveErrors:
      "Frames or messages from a websocket backend's bus that reached no member, by backend and reason (unmatched, malformed, binary, too_deep, too_large, deliver).",
  });

  readonly nativeRedisConnected = new Gauge({
    name: "switchyard_native_redis_connected",
    help: "1 while a native backend's Redis connection is ready, else 0, by backend and connection (publisher, subscriber, and reader in streams mode).",
    labelNames: ["backend", "connection"],
    registers: [this.registry],
  });
  readonly nativeRedisReconnects = new Counter({
    name: "switchyard_native_redis_reconnects_total",
    help: "Times a native backend's Redis connection came back after being lost, by backend and connection.",
    labelNames: ["backend", "connection"],
    registers: [this.registry],
  });
  readonly nativeRedisPublished = new TalliedCounter({
    name: "switchyard_native_redis_published_total",
    help: "Publications a native backend got Redis to accept, by backend.",
    labelNames: ["backend"],
    registers: [this.registry],
  });
  readonly nativeRedisPublishCommands = new TalliedCounter({
    name: "switchyard_native_redis_publish_commands_total",
    help: "Commands that carried a native backend's publications to Redis in classic mode, by backend and command (eval: one turn's publications in one script call; publish: one PUBLISH).",
    labelNames: ["backend", "command"],
    registers: [this.registry],
  });
  readonly nativeRedisPublishFailures = new Counter({
    name: "switchyard_native_redis_publish_failures_total",
    help: "Publications and replies a native backend could not send to Redis, by backend and reason (unavailable, encode, closed, reply).",
    labelNames: ["backend", "reason"],
    registers: [this.registry],
  });
  readonly nativeRedisReceived = new TalliedCounter({
    name: "switchyard_native_redis_received_total",
    help: "Messages from other nodes a native backend acted on, by backend and type (broadcast, join, fetch-sockets, reply, ...).",
    labelNames: ["backend", "type"],
    registers: [this.registry],
  });
  readonly nativeRedisReceiveErrors = new Counter({
    name: "switchyard_native_redis_receive_errors_total",
    help: "Messages from Redis a native backend dropped, by backend and reason (malformed, sink).",
    labelNames: ["backend", "reason"],
    registers: [this.registry],
  });
  readonly nativeRedisRequestFailures = new Counter({
    name: "switchyard_native_redis_request_failures_total",
    help: "Cluster requests of a native backend (all_rooms, fetch_sockets, server_count) that failed, by backend, request and reason (timeout, unavailable).",
    labelNames: ["backend", "request", "reason"],
    registers: [this.registry],
  });
  readonly nativeRedisStreamIgnored = new Counter({
    name: "switchyard_native_redis_stream_ignored_total",
    help: "Stream entries from other nodes a native backend in streams mode read and left alone, by backend and reason (other_namespace: a namespace this node does not serve).",
    labelNames: ["backend", "reason"],
    registers: [this.registry],
  });
  readonly nativeRedisStreamReadFailures = new Counter({
    name: "switchyard_native_redis_stream_read_failures_total",
    help: "XREADs of a native backend in streams mode that Redis refused while the connection was up (a stream key of another type, say); each is retried after a pause.",
    labelNames: ["backend"],
    registers: [this.registry],
  });

  readonly passthroughRequests = new Counter({
    name: "switchyard_passthrough_requests_total",
    help: "Engine.IO requests and upgrades of a passthrough, by side (legacy: relayed to the target; switchyard: served here) and transport (polling, websocket).",
    labelNames: ["side", "transport"],
    registers: [this.registry],
  });
  /** What {@link passthroughConnections} reads when scraped: connections by side. */
  readonly passthroughConnectionSources = new Set<
    () => { legacy: number; switchyard: number } | undefined
  >();
  readonly passthroughConnections = new Gauge({
    name: "switchyard_passthrough_connections",
    help: "Open connections of a passthrough node by side: legacy (relayed WebSockets and polling sessions with a request within twice the timeout) and switchyard (Engine.IO sessions served here).",
    labelNames: ["side"],
    registers: [this.registry],
    collect: ((sources) =>
      function (this: Gauge<"side">) {
        let legacy = 0;
        let switchyard = 0;
        let relaying = false;
        for (const source of sources) {
          const counts = source();
          if (counts === undefined) continue;
          relaying = true;
          legacy += counts.legacy;
          switchyard += counts.switchyard;
        }
        if (!relaying) return;
        this.set({ side: "legacy" }, legacy);
        this.set({ side: "switchyard" }, switchyard);
      })(this.passthroughConnectionSources),
  });
  readonly passthroughForward = new Histogram({
    name: "switchyard_passthrough_forward_seconds",
    help: "Time from a relayed polling request's arrival to its last byte written to the target: the relay's own share of the latency.",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly passthroughDrained = new Counter({
    name: "switchyard_passthrough_drained_total",
    help: "Relayed connections a passthrough drain ended, by transport (websocket: closed; polling: its next request told the session is gone).",
    labelNames: ["transport"],
    registers: [this.registry],
  });
  readonly passthroughErrors = new Counter({
    name: "switchyard_passthrough_errors_total",
    help: "Requests the passthrough could not relay to its target, by kind (refused, reset, timeout, error).",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly shadowMessages = new Counter({
    name: "switchyard_shadow_messages_total",
    help: "Messages of shadowed rooms this node compared, by route and outcome (matched, missing, extra, duplicates, reordered, mismatched, shadowDropped, shadowErrors).",
    labelNames: ["route", "outcome"],
    registers: [this.registry],
  });
  readonly shadowLatencyGap = new Histogram({
    name: "switchyard_shadow_latency_gap_seconds",
    help: "A matched message's delivery time on the shadow minus on the primary, by route (negative: the shadow was first).",
    labelNames: ["route"],
    buckets: [
      -0.1, -0.01, -0.001, 0, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ],
    registers: [this.registry],
  });
  /** What {@link shadowPending} sums when scraped: each running comparator's count. */
  readonly shadowPendingSources = new Set<() => number>();
  readonly shadowPending = new Gauge({
    name: "switchyard_shadow_pending",
    help: "Messages of shadowed rooms waiting for a decision (their copy, or their window's end), on this node.",
    registers: [this.registry],
    collect: ((sources) =>
      function (this: Gauge) {
        let pending = 0;
        for (const source of sources) pending += source();
        this.set(pending);
      })(this.shadowPendingSources),
  });
  readonly shadowShed = new Counter({
    name: "switchyard_shadow_shed_total",
    help: "Messages of shadowed rooms not compared because the comparator held its most, by route.",
    labelNames: ["route"],
    registers: [this.registry],
  });
  readonly recoveries = new Counter({
    name: "switchyard_recovery_total",
    help: "Connection state recovery by outcome: a client came back and was recovered, or was not (unknown_session, expired, offset_gone, too_many_missed, other_namespace, auth_changed, not_in_stream, store_unavailable, history_unavailable); or a kept socket was forgotten, its window over or maxSessions reached (forgotten); persist_failed and incomplete as docs/recovery.md says.",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly recoveryReplayed = new Counter({
    name: "switchyard_recovery_replayed_total",
    help: "Packets replayed to recovered sockets: the broadcasts they missed while away.",
    registers: [this.registry],
  });
  /** What the recovery gauges read when scraped: this process's recovery, when on. */
  readonly recoverySources = new Set<() => RecoverySize>();
  readonly recoveryKept = new Gauge({
    name: "switchyard_recovery_kept_sockets",
    help: "Disconnected sockets kept for their clients to recover them, on this node.",
    registers: [this.registry],
    collect: ((sources) =>
      function (this: Gauge) {
        this.set(summed(sources, (recovery) => recovery.kept));
      })(this.recoverySources),
  });
  readonly recoveryHistoryReads = new Gauge({
    name: "switchyard_recovery_history_reads",
    help: "Channel history reads for restores from other nodes on this node: running, or waiting for one of the 16 at once (state).",
    labelNames: ["state"],
    registers: [this.registry],
    collect: summedBy(this.recoverySources, "state", {
      running: (recovery) => recovery.historyReads.running,
      waiting: (recovery) => recovery.historyReads.waiting,
    }),
  });
  readonly recoveryLog = new Gauge({
    name: "switchyard_recovery_log",
    help: "Broadcasts logged for recovery on this node, as packets and encoded bytes (unit).",
    labelNames: ["unit"],
    registers: [this.registry],
    collect: summedBy(this.recoverySources, "unit", {
      packets: (recovery) => recovery.packets,
      bytes: (recovery) => recovery.bytes,
    }),
  });

  constructor() {
    // Unprefixed, as every Node.js exporter names them (0.1.0 named them
    // `switchyard_process_*` and `switchyard_nodejs_*`; docs/metrics.md).
    // The event-loop lag is sampled once a second: prom-client's default, every 10 ms,
    // cost 0.6 % of a core with no client at all (a fifth of the heartbeat of 19,000 idle
    // connections); the lag a scrape reads is still that of the last second.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 });
    this.buildInfo.set({ version: VERSION, node: process.versions.node }, 1);
  }
}

/** The process-wide metrics. */
export const metrics = new Metrics();

import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/**
 * Switchyard's Prometheus metrics, served on `/metrics`. One registry per process;
 * names are prefixed `switchyard_`.
 */
export class Metrics {
  readonly registry = new Registry();
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
  readonly packetsIn = new Counter({
    name: "switchyard_packets_in_total",
    help: "Socket.IO packets received from clients.",
    registers: [this.registry],
  });
  readonly packetsOut = new Counter({
    name: "switchyard_packets_out_total",
    help: "Socket.IO packets sent to clients (a broadcast counts once per recipient).",
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({
    name: "switchyard_bytes_in_total",
    help: "Bytes of Socket.IO packets received from clients.",
    registers: [this.registry],
  });
  readonly bytesOut = new Counter({
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "switchyard_" });
  }
}

/** The process-wide metrics. */
export const metrics = new Metrics();

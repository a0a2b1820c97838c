/**
 * The lean load generator: N WebSocket clients that speak Engine.IO v4 / Socket.IO v5 text frames
 * by hand (or, with `clientProtocol: 3`, Engine.IO v3 / Socket.IO v4 as socket.io-client 2.x does),
 * join rooms, publish, and count what they receive.
 *
 * Layout of one size (N connections, R rooms, N/R members per room):
 * - client i joins room i % R; clients 0..R-1 are the publishers (one per room by default);
 * - the last R clients are the probes, one per room, connected and joined after everybody else so
 *   that they come last in every server's fan-out order: a probe receiving a message means the
 *   broadcast went through. The probes drive the closed loop and the drain;
 * - every delivery on every client is counted, and its latency (receive time minus the timestamp
 *   carried at the front of the payload) goes into one histogram. Parsing stays minimal: a 5-byte
 *   prefix check and the leading digits of the payload.
 *
 * The two client protocols differ only outside the hot path:
 * - v4: the client sends `40` after the open packet; the server pings (`2`), the client answers `3`;
 * - v3: the server connects the session to `/` by itself (`40` right after the open packet, the
 *   client sends nothing), and the CLIENT pings (`2`) every pingInterval, the server answers `3`.
 *   One shared timer pings for the whole fleet, spread over the interval in slices (a fleet of
 *   real clients does not ping all at once either, and a burst of 10k pongs would land in a
 *   measurement window).
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Histogram, type HistogramSnapshot } from "./stats.js";
import { type ClientKind, type Conn, type ConnTarget, openConn } from "./wsclient.js";

/** Engine.IO protocol revision of the generator's clients: 4 (socket.io 3+/4) or 3 (2.x). */
export type ClientProtocol = 3 | 4;

/** Query string of the WebSocket handshake for a client protocol. */
export function eioQuery(protocol: ClientProtocol): string {
  return `EIO=${protocol}&transport=websocket`;
}

/**
 * Connections per source address: client i connects from address block i / CONNS_PER_ADDRESS of
 * its fleet (127.0.x.y: every 127.x.y.z is loopback on Linux). One address has ~28k ephemeral
 * ports (32768–60999 by default), and the kernel's search for a free one slows down well before
 * they run out; ports in TIME_WAIT are still taken too. From 127.0.0.1 alone, 19,000 clients
 * took 16–40 s to connect (500–1,400/s) after a run of the same size, against 10–13 s on fresh
 * addresses: so each fleet gets fresh addresses, a third of their ports each at most.
 */
export const CONNS_PER_ADDRESS = 10_000;

/**
 * Address blocks handed out so far: block b is 127.0.x.y with x.y = b + 1 (block 1: 127.0.0.2).
 * Each harness starts at a random block, so that two runs a minute apart do not share addresses.
 */
let addressBlocks = Math.floor(Math.random() * 60_000);

/** The first source-address block of a fleet of `conns`: fresh addresses for every fleet. */
export function takeAddressBlocks(conns: number): number {
  const needed = Math.max(1, Math.ceil(conns / CONNS_PER_ADDRESS));
  if (addressBlocks + needed > 65_000) addressBlocks = 0;
  const first = addressBlocks + 1;
  addressBlocks += needed;
  return first;
}

/**
 * The source address of client `index` of a fleet whose blocks start at `firstBlock`; undefined
 * (the kernel's choice, 127.0.0.1) when `firstBlock` is 0.
 */
export function sourceAddress(index: number, firstBlock: number): string | undefined {
  if (firstBlock === 0) return undefined;
  const b = firstBlock + 1 + Math.floor(index / CONNS_PER_ADDRESS);
  return `127.0.${(b >> 8) & 255}.${b & 255}`;
}

/** Ticks of the shared v3 heartbeat timer per pingInterval: each pings 1/PING_SLICES of the fleet. */
const PING_SLICES = 100;

/** `42["message","` — the payload string starts right after it. */
const MESSAGE_PREFIX_LEN = 14;

enum State {
  Connecting = 0,
  WsOpen = 1,
  EioOpen = 2,
  SioConnected = 3,
  Joined = 4,
}

interface Client {
  index: number;
  room: number;
  probe: boolean;
  conn: Conn | null;
  state: State;
  settle: ((error?: Error) => void) | null;
}

/**
 * Another generator process holding part of the fleet (bench/gen-helper.ts, started by
 * bench/gen-helpers.ts): passive members only, which it connects, counts and times like this
 * process does its own.
 */
export interface FleetHelper {
  /** The helper's process id (its CPU counts as the generator's, not as other load). */
  readonly pid: number | undefined;
  connect(indices: readonly number[]): Promise<void>;
  /** Starts (true) or stops recording latencies; the answer is what it has counted so far. */
  record(on: boolean): Promise<HelperCounts>;
  counts(): Promise<HelperCounts>;
  close(): void;
}

export interface HelperCounts {
  delivered: number;
  /** CPU time the helper process has used, seconds. */
  cpuSec: number;
  /** The histogram of the recording that `record(false)` ended; empty otherwise. */
  hist: HistogramSnapshot | null;
  errors: FleetErrors;
}

export interface FleetOptions {
  target: ConnTarget;
  client: ClientKind;
  /** 4 (default): Engine.IO v4 / Socket.IO v5; 3: Engine.IO v3 / Socket.IO v4 (client pings). */
  clientProtocol?: ClientProtocol;
  conns: number;
  rooms: number;
  payloadBytes: number;
  publishersPerRoom: number;
  /**
   * `performance.timeOrigin` of the process whose publishers stamp the payloads: a helper's
   * `performance.now()` counts from its own start, so it adds the difference before taking a
   * latency. Default: this process's (no correction).
   */
  clockOriginMs?: number;
  /** From takeAddressBlocks: where clients past CONNS_PER_ADDRESS connect from. */
  firstAddressBlock?: number;
  /** Connections opened concurrently per batch (per process, with helpers). */
  batch: number;
  connectTimeoutMs: number;
  /**
   * Other processes that hold the passive members (not the publishers, not the probes): client i
   * goes to helper (i mod (helpers + 1)) − 1, or stays here when that is −1. None by default.
   */
  helpers?: readonly FleetHelper[];
}

/** What the phases read about the machine while they measure. */
export interface Meter {
  /** CPU time of the server process (all threads), seconds. */
  serverCpuSec(): number;
  /** CPU time of every other process on the machine, seconds, by pid. */
  othersCpuSec(): Map<number, number>;
  /** Write system calls the server has made so far (/proc/PID/io `syscw`), when readable. */
  serverWrites?(): number;
}

/** Closed loop: how the window grows until the server (or the generator) is busy. */
export interface RampOptions {
  /** Largest window (messages in flight per room) to try. */
  maxWindow: number;
  /** Stop growing once the server uses this much CPU (% of one core) ... */
  srvBusyPct: number;
  /** ... or the generator does. */
  genBusyPct: number;
  /** Length of one ramp step's measurement. */
  stepMs: number;
}

export interface RampStep {
  window: number;
  deliveredPerSec: number;
  srvCpuPct: number;
  genCpuPct: number;
}

export interface PhaseStats {
  kind: "closed-loop" | "open-loop";
  /** Closed loop: the window tried before settling on `window`. */
  ramp?: RampStep[];
  /** Closed loop: messages in flight per room (published, not yet seen by the room's probe). */
  window?: number;
  /** Open loop: offered deliveries per second. */
  offeredPerSec?: number;
  measureSec: number;
  deliveredPerSec: number;
  publishesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  samples: number;
  /** Generator process CPU over the measurement window, % of one core. */
  genCpuPct: number;
  /** Server process CPU over the measurement window, % of one core (all threads). */
  srvCpuPct: number;
  /** CPU used by every other process on the machine over the window, % of one core. */
  otherCpuPct: number;
  /**
   * Server write system calls per delivery over the window (NaN when not readable): one per
   * delivery writes every message on its own; a server that coalesces goes under 1.
   */
  srvWritesPerDelivery: number;
  /** Server CPU time per delivery over the window, µs. */
  srvCpuUsPerDelivery: number;
  /** Every probe saw every message it was owed before the drain deadline. */
  drained: boolean;
  /** Deliveries owed for the whole phase (publishes × (members − 1)) minus deliveries seen. */
  missing: number;
}

export interface FleetErrors {
  disconnects: number;
  malformed: number;
  unexpected: number;
  unexpectedSamples: string[];
  /** v4: server pings answered. */
  pingsAnswered: number;
  /** v3: pings the clients sent, and pongs they received. */
  pingsSent: number;
  pongs: number;
}

export class Fleet {
  readonly opts: FleetOptions;
  readonly membersPerRoom: number;
  /** Deliveries per publish: every member of the room but the sender. */
  readonly fanout: number;
  private readonly clients: Client[] = [];
  private readonly publishers: Client[][] = [];
  private readonly sent: number[];
  private readonly probeSeen: number[];
  private readonly prefixes: string[];
  private readonly padding: string;
  private delivered = 0;
  private recording = false;
  private readonly hist = new Histogram();
  /** performance.now() here plus this is performance.now() in the publishers' process, ms. */
  private readonly clockOffsetMs: number;
  private mode: "idle" | "closed" = "idle";
  private window = 1;
  private closing = false;
  readonly protocol: ClientProtocol;
  private readonly query: string;
  /** v3: pingInterval from the first open packet, and the shared heartbeat timer. */
  private pingIntervalMs = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  readonly errors: FleetErrors = {
    disconnects: 0,
    malformed: 0,
    unexpected: 0,
    unexpectedSamples: [],
    pingsAnswered: 0,
    pingsSent: 0,
    pongs: 0,
  };

  constructor(opts: FleetOptions) {
    const { conns, rooms } = opts;
    if (conns % rooms !== 0)
      throw new Error(`${conns} connections do not split into ${rooms} rooms`);
    this.membersPerRoom = conns / rooms;
    if (this.membersPerRoom < opts.publishersPerRoom + 1) {
      throw new Error(`a room needs more than ${opts.publishersPerRoom} publisher(s) and a probe`);
    }
    this.opts = opts;
    this.clockOffsetMs = performance.timeOrigin - (opts.clockOriginMs ?? performance.timeOrigin);
    this.protocol = opts.clientProtocol ?? 4;
    this.query = eioQuery(this.protocol);
    this.fanout = this.membersPerRoom - 1;
    this.sent = new Array<number>(rooms).fill(0);
    this.probeSeen = new Array<number>(rooms).fill(0);
    this.prefixes = [];
    for (let r = 0; r < rooms; r++) {
      this.publishers.push([]);
      this.prefixes.push(`42["publish",{"room":"${roomName(r)}","payload":"`);
    }
    this.padding = "x".repeat(opts.payloadBytes);
    for (let i = 0; i < conns; i++) {
      const client: Client = {
        index: i,
        room: i % rooms,
        probe: i >= conns - rooms,
        conn: null,
        state: State.Connecting,
        settle: null,
      };
      this.clients.push(client);
      if (i < rooms * opts.publishersPerRoom) this.publishers[client.room]!.push(client);
    }
  }

  /** Index of the first probe: connect [0, probeStart) first, then [probeStart, conns). */
  get probeStart(): number {
    return this.opts.conns - this.opts.rooms;
  }

  private get helpers(): readonly FleetHelper[] {
    return this.opts.helpers ?? [];
  }

  /** The helper that holds client i, or -1 for this process (publishers and probes stay here). */
  private ownerOf(i: number): number {
    const n = this.helpers.length;
    if (n === 0 || i < this.opts.rooms * this.opts.publishersPerRoom || i >= this.probeStart) {
      return -1;
    }
    return (i % (n + 1)) - 1;
  }

  /**
   * Connect, SIO-connect and join clients [from, to), `batch` at a time in each process (this one
   * and every helper, at once).
   */
  async connectRange(from: number, to: number): Promise<void> {
    const local: number[] = [];
    const remote: number[][] = this.helpers.map(() => []);
    for (let i = from; i < to; i++) {
      const owner = this.ownerOf(i);
      if (owner === -1) local.push(i);
      else remote[owner]!.push(i);
    }
    await Promise.all([
      this.connectIndices(local),
      ...this.helpers.map((h, k) =>
        remote[k]!.length > 0 ? h.connect(remote[k]!) : Promise.resolve(),
      ),
    ]);
  }

  /** Connect clients `indices` of this process, `batch` at a time. */
  async connectIndices(indices: readonly number[]): Promise<void> {
    for (let b = 0; b < indices.length; b += this.opts.batch) {
      const batch: Promise<void>[] = [];
      for (const i of indices.slice(b, b + this.opts.batch)) {
        batch.push(this.connectWithRetry(this.clients[i]!));
      }
      await Promise.all(batch);
    }
  }

  /** Helper side: what this process has counted (and its histogram, when a recording ends). */
  helperCounts(record?: boolean): HelperCounts {
    let hist: HistogramSnapshot | null = null;
    if (record === true) {
      this.hist.reset();
      this.recording = true;
    } else if (record === false) {
      this.recording = false;
      hist = this.hist.snapshot();
    }
    const cpu = process.cpuUsage();
    return {
      delivered: this.delivered,
      cpuSec: (cpu.user + cpu.system) / 1e6,
      hist,
      errors: this.errors,
    };
  }

  /** Deliveries counted by this process and every helper. */
  private async totalDelivered(): Promise<number> {
    const counts = await Promise.all(this.helpers.map((h) => h.counts()));
    return counts.reduce((sum, c) => sum + c.delivered, this.delivered);
  }

  /** This process's errors and counters with every helper's added. */
  async totalErrors(): Promise<FleetErrors> {
    const all = [
      this.errors,
      ...(await Promise.all(this.helpers.map((h) => h.counts()))).map((c) => c.errors),
    ];
    return {
      disconnects: all.reduce((x, e) => x + e.disconnects, 0),
      malformed: all.reduce((x, e) => x + e.malformed, 0),
      unexpected: all.reduce((x, e) => x + e.unexpected, 0),
      unexpectedSamples: all.flatMap((e) => e.unexpectedSamples).slice(0, 5),
      pingsAnswered: all.reduce((x, e) => x + e.pingsAnswered, 0),
      pingsSent: all.reduce((x, e) => x + e.pingsSent, 0),
      pongs: all.reduce((x, e) => x + e.pongs, 0),
    };
  }

  private async connectWithRetry(client: Client): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connectOne(client);
        return;
      } catch (err) {
        if (attempt >= 3 || this.closing) {
          throw new Error(
            `client ${client.index}: ${(err as Error).message} (${attempt} attempts)`,
          );
        }
        await sleep(100 * attempt);
      }
    }
  }

  private connectOne(client: Client): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      client.state = State.Connecting;
      const timer = setTimeout(() => {
        client.settle?.(new Error(`handshake timed out in state ${client.state}`));
      }, this.opts.connectTimeoutMs);
      client.settle = (error?: Error) => {
        client.settle = null;
        clearTimeout(timer);
        if (error) {
          client.conn?.destroy();
          client.conn = null;
          reject(error);
        } else {
          resolve();
        }
      };
      const localAddress = sourceAddress(client.index, this.opts.firstAddressBlock ?? 0);
      client.conn = openConn(
        this.opts.client,
        {
          ...this.opts.target,
          path: `${this.opts.target.path}?${this.query}`,
          ...(localAddress !== undefined ? { localAddress } : {}),
        },
        {
          onOpen: () => {
            client.state = State.WsOpen;
          },
          onText: (buf, start, end, nowMs) => this.onText(client, buf, start, end, nowMs),
          onClose: (error) => this.onClose(client, error),
        },
      );
    });
  }

  private onClose(client: Client, error?: Error): void {
    if (client.settle !== null) {
      client.settle(error ?? new Error("connection closed during handshake"));
      return;
    }
    client.conn = null;
    if (!this.closing) this.errors.disconnects++;
  }

  /** The hot path: one call per text frame received by any client. */
  private onText(client: Client, buf: Buffer, s: number, e: number, nowMs: number): void {
    if (
      e - s > MESSAGE_PREFIX_LEN &&
      buf[s] === 0x34 && // 4
      buf[s + 1] === 0x32 && // 2
      buf[s + 2] === 0x5b && // [
      buf[s + 3] === 0x22 && // "
      buf[s + 4] === 0x6d // m
    ) {
      this.delivered++;
      if (this.recording) {
        let i = s + MESSAGE_PREFIX_LEN;
        let ts = 0;
        while (i < e) {
          const c = buf[i]!;
          if (c < 48 || c > 57) break;
          ts = ts * 10 + (c - 48);
          i++;
        }
        if (i === s + MESSAGE_PREFIX_LEN || buf[s + MESSAGE_PREFIX_LEN - 1] !== 0x22) {
          this.errors.malformed++;
        } else {
          this.hist.record((nowMs + this.clockOffsetMs) * 1000 - ts);
        }
      }
      if (client.probe) this.onProbe(client.room);
      return;
    }
    const len = e - s;
    const c0 = buf[s];
    if (len === 1 && c0 === 0x32) {
      // Engine.IO ping → pong (v4; a v3 server never pings, but answering costs nothing).
      client.conn?.send("3");
      this.errors.pingsAnswered++;
      return;
    }
    if (len === 1 && c0 === 0x33) {
      // v3: the pong to one of our pings.
      this.errors.pongs++;
      return;
    }
    const c1 = len > 1 ? buf[s + 1] : -1;
    if (c0 === 0x30 && c1 === 0x7b && client.state <= State.WsOpen) {
      client.state = State.EioOpen;
      if (this.protocol === 4) {
        // `0{...}` Engine.IO open → Socket.IO connect to the main namespace.
        client.conn?.send("40");
      } else if (this.pingTimer === null) {
        // v3: the server connects us to `/` by itself; we owe it a ping every pingInterval.
        this.startHeartbeat(buf.toString("utf8", s + 1, e));
      }
      return;
    }
    if (c0 === 0x34 && c1 === 0x30 && client.state === State.EioOpen) {
      // `40{"sid":...}` (v4) or `40` (v3) → join the room, ack id 0.
      client.state = State.SioConnected;
      client.conn?.send(`420["join",{"room":"${roomName(client.room)}"}]`);
      return;
    }
    if (c0 === 0x34 && c1 === 0x33 && client.state === State.SioConnected) {
      // `430[...]`: the join ack.
      client.state = State.Joined;
      client.settle?.();
      return;
    }
    const text = buf.toString("utf8", s, Math.min(e, s + 120));
    if (client.settle !== null && (c0 === 0x31 || (c0 === 0x34 && (c1 === 0x34 || c1 === 0x31)))) {
      client.settle(new Error(`server refused: ${text}`));
      return;
    }
    this.errors.unexpected++;
    if (this.errors.unexpectedSamples.length < 5) this.errors.unexpectedSamples.push(text);
  }

  /**
   * v3 heartbeat: one timer for the fleet. The interval is cut into PING_SLICES slots; client i
   * pings in slot i % PING_SLICES, so every client pings once per pingInterval and the fleet's
   * pings are spread evenly. A late tick catches up the slots it missed.
   */
  private startHeartbeat(openJson: string): void {
    let interval = Number.NaN;
    try {
      interval = Number((JSON.parse(openJson) as { pingInterval?: unknown }).pingInterval);
    } catch {}
    if (!(interval > 0)) {
      this.errors.malformed++;
      return; // the next open packet tries again
    }
    this.pingIntervalMs = interval;
    const slices = Math.max(1, Math.min(PING_SLICES, Math.floor(interval / 10)));
    const slotMs = interval / slices;
    const t0 = performance.now();
    let done = 0; // slots pinged so far
    const tick = () => {
      const due = Math.floor((performance.now() - t0) / slotMs);
      for (; done < due; done++) {
        const slice = done % slices;
        for (let i = slice; i < this.clients.length; i += slices) {
          const c = this.clients[i]!;
          if (c.conn !== null && c.state >= State.EioOpen) {
            c.conn.send("2");
            this.errors.pingsSent++;
          }
        }
      }
    };
    this.pingTimer = setInterval(tick, slotMs);
    this.pingTimer.unref();
  }

  /** v3: the pingInterval the clients ping at (0 before the first open packet, or with v4). */
  get clientPingIntervalMs(): number {
    return this.pingIntervalMs;
  }

  private onProbe(room: number): void {
    this.probeSeen[room]!++;
    if (this.mode === "closed") this.pump(room);
  }

  private pump(room: number): void {
    const sent = this.sent;
    while (sent[room]! - this.probeSeen[room]! < this.window) {
      this.publish(room, performance.now());
    }
  }

  private publish(room: number, stampMs: number): void {
    const n = this.sent[room]!;
    const pubs = this.publishers[room]!;
    const publisher = pubs[n % pubs.length]!;
    const head = `${Math.round(stampMs * 1000)}:${room}:${n}:`;
    const pad = this.opts.payloadBytes - head.length;
    const payload = pad > 0 ? head + this.padding.slice(0, pad) : head;
    publisher.conn?.send(`${this.prefixes[room]}${payload}"}]`);
    this.sent[room] = n + 1;
  }

  /** Messages published since the fleet connected, every phase and room. */
  get published(): number {
    return this.totalSent();
  }

  private totalSent(): number {
    let t = 0;
    for (const n of this.sent) t += n;
    return t;
  }

  private allDrained(): boolean {
    for (let r = 0; r < this.opts.rooms; r++) if (this.sent[r] !== this.probeSeen[r]) return false;
    return true;
  }

  /**
   * Closed loop at saturation: each room keeps `window` messages in flight (published, not yet
   * seen by its probe). With `ramp`, the window doubles while neither the server nor the
   * generator is busy (a server that batches writes needs more in flight to saturate), and
   * falls back one step when doubling stopped paying (< 5 % more throughput).
   */
  async closedLoop(
    window: number,
    ramp: RampOptions | null,
    warmupMs: number,
    measureMs: number,
    drainMs: number,
    meter: Meter,
  ): Promise<PhaseStats> {
    const phase = await this.beginPhase();
    this.window = window;
    this.mode = "closed";
    const pumpAll = () => {
      for (let r = 0; r < this.opts.rooms; r++) this.pump(r);
    };
    pumpAll();
    const steps: RampStep[] = [];
    if (ramp !== null) {
      for (;;) {
        await sleep(250);
        const m = await this.beginMeasure(meter, false);
        await sleep(ramp.stepMs);
        const s = await this.endMeasure(m, meter);
        const step = {
          window: this.window,
          deliveredPerSec: s.deliveredPerSec,
          srvCpuPct: s.srvCpuPct,
          genCpuPct: s.genCpuPct,
        };
        steps.push(step);
        const prev = steps.at(-2);
        if (prev !== undefined && step.deliveredPerSec < 1.05 * prev.deliveredPerSec) {
          this.window = prev.window;
          break;
        }
        if (
          step.srvCpuPct >= ramp.srvBusyPct ||
          step.genCpuPct >= ramp.genBusyPct ||
          this.window * 2 > ramp.maxWindow
        ) {
          break;
        }
        this.window *= 2;
        pumpAll();
      }
    }
    await sleep(warmupMs);
    const m = await this.beginMeasure(meter);
    await sleep(measureMs);
    const stats = await this.endMeasure(m, meter);
    this.mode = "idle";
    const { drained, missing } = await this.drain(phase, drainMs);
    return {
      kind: "closed-loop",
      window: this.window,
      ...(steps.length > 0 ? { ramp: steps } : {}),
      ...stats,
      drained,
      missing,
    };
  }

  /**
   * Open loop at a fixed offered load: publishes are paced on a schedule (round robin over the
   * rooms) whatever the server does, and stamped with their scheduled time, so a server that falls
   * behind is charged for the wait (no coordinated omission).
   */
  async openLoop(
    deliveriesPerSec: number,
    warmupMs: number,
    measureMs: number,
    drainMs: number,
    meter: Meter,
  ): Promise<PhaseStats> {
    const phase = await this.beginPhase();
    const intervalMs = (1000 * this.fanout) / deliveriesPerSec;
    const start = performance.now();
    let k = 0;
    let timer: NodeJS.Timeout | undefined;
    const rooms = this.opts.rooms;
    const tick = () => {
      const now = performance.now();
      let due = start + k * intervalMs;
      while (due <= now) {
        this.publish(k % rooms, due);
        k++;
        due = start + k * intervalMs;
      }
      timer = setTimeout(tick, Math.max(0, Math.min(1, due - performance.now())));
    };
    tick();
    try {
      await sleep(warmupMs);
      const m = await this.beginMeasure(meter);
      await sleep(measureMs);
      const stats = await this.endMeasure(m, meter);
      clearTimeout(timer);
      const { drained, missing } = await this.drain(phase, drainMs);
      return { kind: "open-loop", offeredPerSec: deliveriesPerSec, ...stats, drained, missing };
    } finally {
      clearTimeout(timer);
    }
  }

  private async beginPhase() {
    return { sent: this.totalSent(), delivered: await this.totalDelivered() };
  }

  private async drain(phase: { sent: number; delivered: number }, drainMs: number) {
    const deadline = performance.now() + drainMs;
    while (!this.allDrained() && performance.now() < deadline) await sleep(10);
    const drained = this.allDrained();
    // Probes come last in the fan-out, but the generator may read their sockets a little before
    // the others': give stragglers a moment before counting.
    await sleep(drained ? 200 : 0);
    const owed = (this.totalSent() - phase.sent) * this.fanout;
    return { drained, missing: owed - ((await this.totalDelivered()) - phase.delivered) };
  }

  private async beginMeasure(meter: Meter, withOthers = true) {
    const helpers = await Promise.all(this.helpers.map((h) => h.record(true)));
    this.hist.reset();
    this.recording = true;
    return {
      t: performance.now(),
      delivered: helpers.reduce((sum, c) => sum + c.delivered, this.delivered),
      helperCpuSec: helpers.map((c) => c.cpuSec),
      sent: this.totalSent(),
      cpu: process.cpuUsage(),
      srv: meter.serverCpuSec(),
      writes: meter.serverWrites?.() ?? Number.NaN,
      others: withOthers ? meter.othersCpuSec() : null,
    };
  }

  private async endMeasure(m: Awaited<ReturnType<Fleet["beginMeasure"]>>, meter: Meter) {
    this.recording = false;
    const sec = (performance.now() - m.t) / 1000;
    const localDelivered = this.delivered;
    const sent = this.totalSent();
    const cpu = process.cpuUsage(m.cpu);
    const srv = meter.serverCpuSec() - m.srv;
    const writes = (meter.serverWrites?.() ?? Number.NaN) - m.writes;
    let others = Number.NaN;
    if (m.others !== null) {
      others = 0;
      for (const [pid, t] of meter.othersCpuSec())
        others += Math.max(0, t - (m.others.get(pid) ?? 0));
    }
    // Helpers stop a round trip later: their counts cover a few ms more than `sec`.
    let helperDelivered = 0;
    let helperCpuSec = 0;
    const helpers = await Promise.all(this.helpers.map((h) => h.record(false)));
    helpers.forEach((c, k) => {
      helperDelivered += c.delivered;
      helperCpuSec += c.cpuSec - m.helperCpuSec[k]!;
      if (c.hist !== null) this.hist.merge(c.hist);
    });
    const q = (p: number) => this.hist.quantileUs(p) / 1000;
    const delivered = localDelivered + helperDelivered - m.delivered;
    return {
      measureSec: sec,
      deliveredPerSec: delivered / sec,
      publishesPerSec: (sent - m.sent) / sec,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      p999Ms: q(0.999),
      maxMs: this.hist.maxUs / 1000,
      meanMs: this.hist.count > 0 ? this.hist.sumUs / this.hist.count / 1000 : Number.NaN,
      samples: this.hist.count,
      genCpuPct: ((cpu.user + cpu.system) / 1e6 / sec + helperCpuSec / sec) * 100,
      srvCpuPct: (srv / sec) * 100,
      otherCpuPct: (others / sec) * 100,
      srvWritesPerDelivery: writes / delivered,
      srvCpuUsPerDelivery: (srv * 1e6) / delivered,
    };
  }

  destroyAll(): void {
    this.closing = true;
    this.mode = "idle";
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    for (const h of this.helpers) h.close();
    for (const c of this.clients) {
      c.settle?.(new Error("fleet closed"));
      c.conn?.destroy();
      c.conn = null;
    }
  }
}

/** The generator's room names: room:1 … room:N (examples/bench allows `room:{id}`). */
export function roomName(room: number): string {
  return `room:${room + 1}`;
}

/**
 * One Socket.IO handshake (`0{` open, `40` → `40{`; v3: `0{` open then the server's own `40`)
 * used as the readiness probe for a server. Resolves true when the server answered like a
 * Socket.IO server within `timeoutMs`.
 */
export function sioProbe(
  target: ConnTarget,
  kind: ClientKind,
  timeoutMs: number,
  protocol: ClientProtocol = 4,
): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    let conn: Conn | null = null;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn?.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    conn = openConn(
      kind,
      { ...target, path: `${target.path}?${eioQuery(protocol)}` },
      {
        onOpen: () => {},
        onText: (buf, s, e) => {
          const text = buf.toString("utf8", s, e);
          if (text.startsWith("0{")) {
            if (protocol === 4) conn?.send("40");
          } else if (text.startsWith("40")) finish(true);
          else if (text.startsWith("44") || text.startsWith("1")) finish(false);
        },
        onClose: () => finish(false),
      },
    );
  });
}

/**
 * The servers under test (Switchyard, also with its rooms shadowed or with connection state
 * recovery on; socket.io, also behind a Switchyard relaying every connection to it; the ws
 * floor), started as child processes (pinned with taskset, fd limit raised through bash), plus
 * what the harness reads about them from /proc.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { resolve as resolvePath } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ClientProtocol, sioProbe } from "./generator.js";
import type { ClientKind } from "./wsclient.js";

export type ServerId =
  | "switchyard"
  | "switchyard-shadow"
  | "switchyard-recovery"
  | "socketio"
  | "socketio-via-passthrough"
  | "floor";

/** The variable the passthrough config's `target` reads: the URL of the server behind. */
export const PASSTHROUGH_TARGET_ENV = "SWITCHYARD_BENCH_PASSTHROUGH_TARGET";

export interface ServerSpec {
  id: ServerId;
  label: string;
  /** Why it cannot run at all (missing files), or null. */
  unavailable(): string | null;
  command(port: number): string[];
  /**
   * A server this one stands in front of (socketio-via-passthrough: the socket.io server),
   * started first on a port of its own; `env` tells this one where it is.
   */
  behind?: ServerSpec;
  env?(behindPort: number): Record<string, string>;
}

/**
 * `clientProtocol` 3 starts socket.io and the floor with Engine.IO v3 allowed (`--allow-eio3`);
 * Switchyard gets it from its config (`server: { allowEIO3: true }`), which the caller picks.
 * `switchyard-shadow` is Switchyard serving `shadowConfig` (the same config with its rooms
 * shadowed, bench/run.ts), or unavailable without one; `switchyard-recovery` likewise serves
 * `recoveryConfig` (the same config with `server.connectionStateRecovery: {}`, the defaults).
 * `socketio-via-passthrough` is the `socketio` server with Switchyard in front serving
 * `passthroughConfig` (the same config with
 * `passthrough: { target: ${PASSTHROUGH_TARGET_ENV}, percent: 100 }`), or unavailable without one.
 */
export function serverSpecs(
  root: string,
  switchyardConfig: string,
  clientProtocol: ClientProtocol = 4,
  shadowConfig?: string,
  passthroughConfig?: string,
  recoveryConfig?: string,
  nodeArgs: readonly string[] = [],
): ServerSpec[] {
  // `--node-args` (e.g. `--cpu-prof --cpu-prof-dir DIR`, `--trace-gc`) go to every server's node.
  const node = [process.execPath, ...nodeArgs];
  const eio3 = clientProtocol === 3 ? ["--allow-eio3"] : [];
  const switchyard = (id: ServerId, label: string, config: string | undefined): ServerSpec => ({
    id,
    label,
    unavailable: () => {
      if (!existsSync(`${root}/bin/switchyard.js`)) return "bin/switchyard.js not found";
      if (config === undefined) {
        const which =
          id === "switchyard-shadow"
            ? "shadow"
            : id === "switchyard-recovery"
              ? "recovery"
              : "passthrough";
        return `no ${which} config`;
      }
      if (!existsSync(resolvePath(root, config))) return `${config} not found`;
      return null;
    },
    command: (port) => [
      ...node,
      "bin/switchyard.js",
      "start",
      "--config",
      config ?? "",
      "--port",
      String(port),
    ],
  });
  const socketio: ServerSpec = {
    id: "socketio",
    label: "socket.io",
    unavailable: () => null,
    command: (port) => [
      ...node,
      "--import",
      "tsx",
      "bench/socketio-server.ts",
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      ...eio3,
    ],
  };
  return [
    switchyard("switchyard", "switchyard", switchyardConfig),
    switchyard("switchyard-shadow", "switchyard+shadow", shadowConfig),
    switchyard("switchyard-recovery", "switchyard+recovery", recoveryConfig),
    socketio,
    {
      ...switchyard("socketio-via-passthrough", "socket.io via switchyard", passthroughConfig),
      behind: socketio,
      env: (behindPort) => ({ [PASSTHROUGH_TARGET_ENV]: `http://127.0.0.1:${behindPort}` }),
    },
    {
      id: "floor",
      label: "ws floor",
      unavailable: () => null,
      command: (port) => [
        ...node,
        "--import",
        "tsx",
        "bench/ws-floor-server.ts",
        "--port",
        String(port),
        "--host",
        "127.0.0.1",
        ...eio3,
      ],
    },
  ];
}

/** Children still alive, killed synchronously on any exit path of the harness. */
const live = new Set<ChildProcess>();

export function killAllChildrenSync(): void {
  for (const child of live) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

/**
 * `ulimit -n` as high as allowed (1,048,576, enough for 100k connections and their peers; else the
 * hard limit: raising it past the hard limit needs CAP_SYS_RESOURCE), then exec the command.
 */
export const RAISE_NOFILE = 'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"';

export function bashWithLimits(cmd: readonly string[], cpu: number | null): string[] {
  const pin = cpu === null ? "" : `taskset -c ${cpu} `;
  return ["-c", `${RAISE_NOFILE}; exec ${pin}"$@"`, "bash", ...cmd];
}

/** Whether `taskset -c <cpu>` works here (the binary exists and the CPU is in our cpuset). */
export function tasksetWorks(cpu: number): boolean {
  try {
    execFileSync("taskset", ["-c", String(cpu), "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface RunningServer {
  spec: ServerSpec;
  /** The front process (the one the clients connect to). */
  pid: number;
  /** `spec.behind`, running. */
  behind?: RunningServer;
  port: number;
  logPath: string;
  child: ChildProcess;
  exit: { code: number | null; signal: string | null } | null;
  exited: Promise<void>;
}

export class ServerStartError extends Error {}

/**
 * Starts `spec` on `opts.port` and waits for a Socket.IO handshake through it. A spec with
 * `behind` first starts that server (on a free port, CPU `opts.behindCpu`, its log next to this
 * one's with `.behind` before `.log`), then this one with `spec.env(behindPort)`.
 */
export async function startServer(
  spec: ServerSpec,
  opts: {
    root: string;
    port: number;
    cpu: number | null;
    /** CPU of `spec.behind` (default: `cpu`). */
    behindCpu?: number | null;
    logPath: string;
    client: ClientKind;
    clientProtocol?: ClientProtocol;
    path: string;
    readyTimeoutMs: number;
  },
): Promise<RunningServer> {
  let behind: RunningServer | undefined;
  if (spec.behind !== undefined) {
    behind = await startServer(spec.behind, {
      ...opts,
      port: await freePort(),
      cpu: opts.behindCpu === undefined ? opts.cpu : opts.behindCpu,
      logPath: opts.logPath.replace(/(\.log)?$/, ".behind$1"),
    });
  }
  try {
    return await startOne(spec, opts, behind);
  } catch (err) {
    if (behind !== undefined) await stopServer(behind);
    throw err;
  }
}

async function startOne(
  spec: ServerSpec,
  opts: Parameters<typeof startServer>[1],
  behind: RunningServer | undefined,
): Promise<RunningServer> {
  const logFd = openSync(opts.logPath, "a");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    ...(behind !== undefined ? spec.env?.(behind.port) : {}),
  };
  // Never let the harness's own loader flags leak into the servers.
  if (env.NODE_OPTIONS?.includes("tsx")) delete env.NODE_OPTIONS;
  let child: ChildProcess;
  try {
    child = spawn("bash", bashWithLimits(spec.command(opts.port), opts.cpu), {
      cwd: opts.root,
      env,
      stdio: ["pipe", logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  child.stdin?.on("error", () => {});
  live.add(child);
  const server: RunningServer = {
    spec,
    pid: child.pid ?? -1,
    ...(behind !== undefined ? { behind } : {}),
    port: opts.port,
    logPath: opts.logPath,
    child,
    exit: null,
    exited: new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        server.exit = { code, signal };
        resolve();
      });
    }),
  };
  child.once("error", () => {});
  const deadline = Date.now() + opts.readyTimeoutMs;
  const target = { host: "127.0.0.1", port: opts.port, path: opts.path };
  while (Date.now() < deadline) {
    if (server.exit !== null) break;
    if (await sioProbe(target, opts.client, 1000, opts.clientProtocol ?? 4)) return server;
    await sleep(150);
  }
  const why =
    server.exit !== null
      ? `exited (code ${server.exit.code}, signal ${server.exit.signal}) before answering`
      : `did not complete a Socket.IO handshake (EIO=${opts.clientProtocol ?? 4}) on 127.0.0.1:${opts.port}${opts.path} within ${opts.readyTimeoutMs} ms`;
  await stopOne(server);
  throw new ServerStartError(`${spec.label} ${why}; log tail:\n${logTail(opts.logPath, 15)}`);
}

/** Stops the server, then the one behind it, if any. */
export async function stopServer(server: RunningServer): Promise<void> {
  await stopOne(server);
  if (server.behind !== undefined) await stopOne(server.behind);
}

/** Every process of a running server: the front one first. */
export function serverPids(server: RunningServer): number[] {
  return server.behind === undefined ? [server.pid] : [server.pid, ...serverPids(server.behind)];
}

async function stopOne(server: RunningServer): Promise<void> {
  if (server.exit !== null) return;
  server.child.stdin?.end();
  server.child.kill("SIGTERM");
  // Switchyard drains on SIGTERM (up to server.drainTimeout while it notices the clients gone)
  // and exits at once on a second one; then 10 s, since a server started with
  // `--node-args=--cpu-prof` writes its profile on the way out.
  const exited = () => server.exited.then(() => true);
  if (!(await Promise.race([exited(), sleep(1000).then(() => false)]))) {
    server.child.kill("SIGTERM");
  }
  const killed = await Promise.race([exited(), sleep(10_000).then(() => false)]);
  if (!killed) {
    console.warn(`  ${server.spec.label} did not exit within 10 s of SIGTERM: killed`);
    server.child.kill("SIGKILL");
    await Promise.race([server.exited, sleep(3000)]);
  }
  live.delete(server.child);
}

export function logTail(path: string, lines: number): string {
  try {
    const text = readFileSync(path, "utf8").trimEnd();
    return (
      text
        .split("\n")
        .slice(-lines)
        .map((l) => `    | ${l}`)
        .join("\n") || "    | (empty)"
    );
  } catch {
    return "    | (no log)";
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process, KiB (NaN when unreadable). */
export function readRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export function readCpusAllowed(pid: number | "self"): string {
  try {
    const m = /^Cpus_allowed_list:\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m?.[1] ?? "?";
  } catch {
    return "?";
  }
}

let clockTicks = 0;

/**
 * Context switches of a process's main thread, the event loop's (`voluntary_ctxt_switches`
 * plus `nonvoluntary_ctxt_switches` of /proc/PID/status): it waited for I/O, or the scheduler
 * gave its core to another process. NaN when unreadable.
 */
export function readContextSwitches(pid: number | string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+)$`, "m").exec(status)?.[1]);
    return field("voluntary_ctxt_switches") + field("nonvoluntary_ctxt_switches");
  } catch {
    return Number.NaN;
  }
}

/**
 * Connections the kernel refused into a full listen queue since boot, machine-wide
 * (`TcpExt: ListenOverflows` of /proc/net/netstat); NaN where it cannot be read. Each one
 * costs its client a SYN retransmitted after 1 s or more, so a connect phase that overflows
 * measures the retransmission timer, not the server.
 */
export function readListenOverflows(): number {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
    const names = lines.find((l) => l.startsWith("TcpExt:"))?.split(/\s+/) ?? [];
    const values = lines.filter((l) => l.startsWith("TcpExt:"))[1]?.split(/\s+/) ?? [];
    return Number(values[names.indexOf("ListenOverflows")]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Read and write system calls a process has made (`syscr`, `syscw` of /proc/PID/io: every
 * read/write/readv/writev/send/recv, sockets included); NaN each when unreadable.
 */
export function readSyscalls(pid: number | string): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(io)?.[1]);
    return { reads: field("syscr"), writes: field("syscw") };
  } catch {
    return { reads: Number.NaN, writes: Number.NaN };
  }
}

/** utime + stime of a process (all threads), seconds (NaN when unreadable). */
export function readCpuSec(pid: number | string): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU time of every process but `exclude`, seconds by pid: whatever else runs on the machine
 * (a build, a test suite) competes with the benchmark, and the harness says so.
 */
export function othersCpuSec(exclude: ReadonlySet<number>): Map<number, number> {
  const out = new Map<number, number>();
  let names: string[] = [];
  try {
    names = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (exclude.has(pid)) continue;
    const t = readCpuSec(pid);
    if (Number.isFinite(t)) out.set(pid, t);
  }
  return out;
}

const SPIN = `const t0 = process.hrtime.bigint(), c0 = process.cpuUsage(); let x = 0;
while (process.hrtime.bigint() - t0 < BigInt(MS) * 1000000n) x += Math.sqrt(x + 1);
const c = process.cpuUsage(c0), wall = Number(process.hrtime.bigint() - t0) / 1000;
process.stdout.write(String((c.user + c.system) / wall));`;

/**
 * CPU availability: spin one thread on each CPU at the same time and report the share of wall
 * time it actually ran (1.0 on an idle machine; a VM whose host steals time gets less, and the
 * steal does not always show in /proc/stat).
 */
export async function cpuAvailability(cpus: readonly number[], ms = 1000): Promise<number[]> {
  const runs = cpus.map(
    (cpu) =>
      new Promise<number>((resolve) => {
        const child = spawn(
          "taskset",
          ["-c", String(cpu), process.execPath, "-e", SPIN.replace("MS", String(ms))],
          { stdio: ["ignore", "pipe", "ignore"] },
        );
        live.add(child);
        let out = "";
        child.stdout?.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.on("error", () => resolve(Number.NaN));
        child.on("exit", () => {
          live.delete(child);
          resolve(Number(out));
        });
      }),
  );
  return Promise.all(runs);
}

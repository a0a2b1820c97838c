import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { io } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { startSwitchyard } from "../../src/switchyard.js";
import { startEmulator } from "../emulators/pusher/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { within } from "../helpers/wait-for.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = "bin/switchyard.js";
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
).version;

/** A port something else listens on, on 127.0.0.1. */
async function busyPort(cleanup: Cleanup): Promise<number> {
  const squatter: Server = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
  cleanup.add(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  return (squatter.address() as { port: number }).port;
}

/** A port nothing listens on: bound once to learn a free one, then closed. */
async function closedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `yaml` as a file of its own, removed after the test. */
function configFile(cleanup: Cleanup, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-start-"));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "switchyard.yaml");
  writeFileSync(file, yaml);
  return file;
}

/** A Pusher backend on a port nothing listens on, logging at `warn` as the examples do. */
function pusherDownYaml(port: number, connectTimeout: number): string {
  return `log: { level: warn }
backends:
  pusher:
    kind: pusher
    settings:
      appId: "1"
      key: key
      secret: a-secret-long-enough-for-the-check
      host: 127.0.0.1
      port: ${port}
      useTLS: false
      connectTimeout: ${connectTimeout}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: pusher, channel: "room-{id}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;
}

/** `switchyard …` as a child process: its output so far, and its exit. */
class Cli {
  readonly #child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], cleanup: Cleanup, env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    this.#child = child;
    child.stdout.on("data", (chunk) => {
      this.stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => child.once("close", (code) => resolve(code)));
    cleanup.add(() => this.stop());
  }

  /** The JSON lines it logged on stdout. */
  get lines(): Record<string, unknown>[] {
    return this.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Resolves with the first logged line whose `msg` is `msg`. */
  line(msg: string): Promise<Record<string, unknown>> {
    return within(
      new Promise((resolve) => {
        const check = (): void => {
          const found = this.lines.find((line) => line.msg === msg);
          if (found === undefined) return;
          this.#child.stdout?.off("data", check);
          resolve(found);
        };
        this.#child.stdout?.on("data", check);
        check();
      }),
      `the line "${msg}"; stdout: ${this.stdout}; stderr: ${this.stderr}`,
      10_000,
    );
  }

  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill("SIGTERM");
    }
    return this.exited;
  }
}

describe("switchyard start, from the command line", () => {
  const cleanup = useCleanup();

  it("logs where it listens even when the file logs at warn: version, host, port, source, backends, path", async () => {
    const file = configFile(cleanup, "log: { level: warn }\nnamespaces: { /: {} }\n");
    const cli = new Cli(["start", "-c", file, "--port", "0", "--host", "127.0.0.1"], cleanup);

    const listening = await cli.line("switchyard listening");
    expect(listening).toMatchObject({
      level: 30,
      version: VERSION,
      host: "127.0.0.1",
      path: "/socket.io/",
      source: file,
      backends: { native: "native" },
    });
    expect(listening.port).toBeGreaterThan(0);
    expect(await cli.line("backends started")).toMatchObject({ backends: { native: "ready" } });
    expect(await cli.stop()).toBe(0);
  });

  it("exits 1 with one SWY_LISTEN_IN_USE line naming the address and --port when the port is taken", async () => {
    const port = await busyPort(cleanup);
    const cli = new Cli(
      ["start", "-c", "config/switchyard.yaml", "--port", String(port), "--host", "127.0.0.1"],
      cleanup,
    );

    expect(await cli.exited).toBe(1);
    expect(cli.stderr).toBe(
      `SWY_LISTEN_IN_USE Cannot listen on 127.0.0.1:${port}: the port is in use by another process (use --port)\n`,
    );
    expect(cli.lines.map((line) => line.msg)).not.toContain("switchyard listening");
  });

  it("names --admin-port when the admin port is the one taken", async () => {
    const port = await busyPort(cleanup);
    const file = configFile(cleanup, "admin: { port: 0 }\nnamespaces: { /: {} }\n");
    const args = ["start", "-c", file, "--port", "0", "--host", "127.0.0.1"];
    const cli = new Cli([...args, "--admin-port", String(port)], cleanup);

    expect(await cli.exited).toBe(1);
    expect(cli.stderr).toBe(
      `SWY_LISTEN_IN_USE Cannot listen on 127.0.0.1:${port}: the port is in use by another process (use --admin-port)\n`,
    );
  });

  it("exits 1 with SWY_LISTEN_ADDRESS for a host that is not an address of this machine", async () => {
    // 192.0.2.0/24 is TEST-NET-1: never a local address.
    const cli = new Cli(["start", "--port", "0", "--host", "192.0.2.1"], cleanup);

    expect(await cli.exited).toBe(1);
    expect(cli.stderr).toBe(
      "SWY_LISTEN_ADDRESS Cannot listen on 192.0.2.1:0: not an address of this machine, or a name that does not resolve (use --host)\n",
    );
  });

  it("prints its version with --version", async () => {
    const cli = new Cli(["--version"], cleanup);

    expect(await cli.exited).toBe(0);
    expect(cli.stdout).toBe(`${VERSION}\n`);
  });

  it("warns, naming the refused address, that a backend is not up; --log-level error silences it", async () => {
    const port = await closedPort();
    const file = configFile(cleanup, pusherDownYaml(port, 300));
    const args = ["start", "-c", file, "--port", "0", "--host", "127.0.0.1"];
    const atWarn = new Cli(args, cleanup);
    const atError = new Cli([...args, "--log-level", "error"], cleanup);

    const started = await atWarn.line("backends started");
    expect(started).toMatchObject({
      backends: { pusher: `pusher connection connecting (connect ECONNREFUSED 127.0.0.1:${port})` },
    });
    const warning = atWarn.lines.find((line) => line.level === 40);
    expect(warning).toMatchObject({
      backend: "pusher",
      reason: `connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    expect(warning?.msg).toContain(`ECONNREFUSED 127.0.0.1:${port}`);

    await atError.line("backends started");
    expect(atError.lines.filter((line) => line.level === 40)).toEqual([]);
  });

  it("exits 1 with the backend's code when its service refuses the connection for good, having listened meanwhile", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const file = configFile(cleanup, `${pusherBackendYaml()}namespaces: { /: {} }\n`);
    const env = { ...pusherEnv(emulator), PUSHER_KEY: "no-such-key" };
    const cli = new Cli(["start", "-c", file, "--port", "0", "--host", "127.0.0.1"], cleanup, env);

    expect(await cli.exited).toBe(1);
    expect(cli.lines.map((line) => line.msg)).toContain("switchyard listening");
    expect(cli.stderr).toMatch(/^SWY_PUSHER_CONNECT_REFUSED Pusher refused the connection .*\n$/);
  });
});

describe("startSwitchyard with a backend that cannot connect", () => {
  const cleanup = useCleanup();

  it("listens before its backends are up: /healthz answers 200 and /readyz 503 while one still connects", async () => {
    // Accepts and never answers: the backend's connection stays where it is.
    const accepted = new Set<{ destroy(): void }>();
    const silent: Server = createServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    // Its connections never end on their own (it answers nothing): cut them, then close.
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          silent.close(() => resolve());
          for (const socket of accepted) socket.destroy();
        }),
    );
    const { port } = silent.address() as { port: number };
    const { config } = loadConfigFromString(pusherDownYaml(port, 60_000), "t.yaml", {});
    const log = pino({ level: "silent" });
    const server = await startSwitchyard(config!, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => server.close());
    let isReady = false;
    void server.ready.then(() => {
      isReady = true;
    });
    const url = `http://127.0.0.1:${server.port}`;

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(503);
    const { checks } = (await readyz.json()) as { checks: { pusher: string } };
    expect(checks.pusher).toMatch(/^(starting|pusher connection connecting)/);
    expect(isReady).toBe(false);
  });

  it("names the refused address in /readyz and the log, and refuses joins on that backend with its code", async () => {
    const port = await closedPort();
    const { config } = loadConfigFromString(pusherDownYaml(port, 300), "t.yaml", {});
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const server = await startSwitchyard(config!, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => server.close());
    await server.ready;
    const url = `http://127.0.0.1:${server.port}`;

    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({
      checks: { pusher: `pusher connection connecting (connect ECONNREFUSED 127.0.0.1:${port})` },
    });
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ msg: "switchyard listening", version: VERSION }),
        expect.objectContaining({
          level: 40,
          backend: "pusher",
          reason: `connect ECONNREFUSED 127.0.0.1:${port}`,
        }),
        expect.objectContaining({ msg: "backends started" }),
      ]),
    );

    const client = io(url, { forceNew: true, reconnection: false });
    cleanup.add(() => client.close());
    const ack = await client.emitWithAck("join", { room: "room:1" });
    expect(ack).toEqual({
      ok: false,
      error: {
        code: "SWY_SUBSCRIBE_FAILED",
        message:
          "Room 'room:1' could not be subscribed on backend 'pusher': SWY_PUSHER_UNAVAILABLE: " +
          "Pusher could not be reached: it has not connected since the backend started",
      },
    });
  });
});

describe("startSwitchyard's listen queue", () => {
  const cleanup = useCleanup();

  /** The listen queue of the socket listening on `port`: `ss` shows it as Send-Q. */
  function listenQueue(port: number): number {
    const out = execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" });
    return Number(out.trim().split(/\s+/)[2]);
  }

  it("listens with server.backlog as its queue, and Node's 511 without it", async () => {
    const log = pino({ level: "silent" });
    const sized = loadConfigFromString(
      "server: { backlog: 2048 }\nnamespaces: { /: {} }",
      "t.yaml",
      {},
    ).config!;
    const plain = loadConfigFromString("namespaces: { /: {} }", "t.yaml", {}).config!;
    const a = await startSwitchyard(sized, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => a.close());
    const b = await startSwitchyard(plain, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => b.close());
    // The kernel caps the queue at net.core.somaxconn.
    const cap = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    expect(listenQueue(a.port)).toBe(Math.min(2048, cap));
    expect(listenQueue(b.port)).toBe(Math.min(511, cap));
  });
});

describe("startSwitchyard with Redis down", () => {
  const cleanup = useCleanup();

  it("names the refused address in /readyz for a native backend on Redis", async () => {
    const port = await closedPort();
    const yaml = `backends:
  native:
    kind: native
    settings:
      redis: { url: "redis://127.0.0.1:${port}", requestsTimeout: 1000 }
namespaces: { /: {} }
`;
    const { config } = loadConfigFromString(yaml, "t.yaml", {});
    const log = pino({ level: "silent" });
    const server = await startSwitchyard(config!, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => server.close());
    await server.ready;

    const readyz = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(readyz.status).toBe(503);
    const { checks } = (await readyz.json()) as { checks: { native: string } };
    expect(checks.native).toMatch(
      new RegExp(
        `^redis publisher connection is \\w+ \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)$`,
      ),
    );
  });
});

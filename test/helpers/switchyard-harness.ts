import pino, { type Logger } from "pino";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { expect } from "vitest";
import type { BackendRegistry } from "../../src/egress/registry.js";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import type { Env } from "../../src/mapping/load.js";
import { type RunningSwitchyard, startSwitchyard } from "../../src/switchyard.js";

/** A Switchyard started from YAML text, with the clients a test opened, closed together. */
export class Harness {
  readonly server: RunningSwitchyard;
  readonly #clients: Socket[] = [];

  private constructor(server: RunningSwitchyard) {
    this.server = server;
  }

  /**
   * Starts a Switchyard from `yaml`; `${VAR}` reads `env` (never process.env). `kinds`
   * replaces the built-in backend kinds; `log` is its logger (default silent). Resolves
   * once its backends have started.
   */
  static async start(
    yaml: string,
    env: Env = {},
    kinds?: BackendRegistry,
    log: Logger = pino({ level: "silent" }),
  ): Promise<Harness> {
    const { config, diagnostics } = loadConfigFromString(yaml, "test.yaml", env, kinds);
    if (config === undefined) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
    const options = { port: 0, host: "127.0.0.1", log, ...(kinds ? { kinds } : {}) };
    const server = await startSwitchyard(config, options);
    try {
      await server.ready;
    } catch (error) {
      await server.close();
      throw error;
    }
    return new Harness(server);
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /**
   * The value of the first /metrics line `line` matches (its group 1 is the value);
   * 0 when none does (a counter not incremented yet is absent).
   */
  async metric(line: RegExp): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    return Number(line.exec(text)?.[1] ?? 0);
  }

  /** A connected socket.io-client; `nsp` defaults to `/`. */
  async connect(options: Partial<ManagerOptions & SocketOptions> = {}, nsp = "/"): Promise<Socket> {
    const socket = io(`${this.url}${nsp}`, { forceNew: true, reconnection: false, ...options });
    this.#clients.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    return socket;
  }

  /** Connects with `options` and resolves with the connect_error the server answers. */
  async refusal(
    options: Partial<ManagerOptions & SocketOptions> = {},
    nsp = "/",
  ): Promise<{ message: string; data: unknown }> {
    const socket = io(`${this.url}${nsp}`, { forceNew: true, reconnection: false, ...options });
    try {
      return await new Promise((resolve, reject) => {
        socket.once("connect", () => reject(new Error("connected, expected a refusal")));
        socket.once("connect_error", (error: Error & { data?: unknown }) =>
          resolve({ message: error.message, data: error.data }),
        );
      });
    } finally {
      socket.close();
    }
  }

  async close(): Promise<void> {
    for (const client of this.#clients) client.close();
    await this.server.close();
  }
}

/** Resolves with the arguments of the next `event` on `socket`. */
export function next(socket: Socket, event: string): Promise<unknown[]> {
  return new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args)));
}

/** Resolves once `socket` receives a `message` whose one argument is `payload` (`===`). */
export function receives(socket: Socket, payload: unknown): Promise<void> {
  return new Promise((resolve) => {
    const listener = (got: unknown): void => {
      if (got !== payload) return;
      socket.off("message", listener);
      resolve();
    };
    socket.on("message", listener);
  });
}

/** Joins `room` through the examples' `join` rule, which acks `{ok: true}`. */
export async function joinRoom(socket: Socket, room: string): Promise<void> {
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
}

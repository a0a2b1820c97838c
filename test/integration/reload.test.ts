import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { ConfigReloader, type ReloadResult } from "../../src/config-reloader.js";
import { NativeBackend } from "../../src/egress/native/native-backend.js";
import { nativeFactory } from "../../src/egress/native/native-factory.js";
import { BackendRegistry } from "../../src/egress/registry.js";
import { loadConfig } from "../../src/mapping/compile.js";
import { startSwitchyard } from "../../src/switchyard.js";
import { useCleanup } from "../helpers/cleanup.js";
import { within } from "../helpers/wait-for.js";

const TOKEN = "reload-test-token-0123456789abcdef";
const CLIENTS = 200;
const ROOMS = 20;

const RULES = `
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish: { action: broadcast, room: "{data.room}", emit: message, args: ["{data.payload}"] }`;

/** Rooms on the native core, with a second native backend ready to take some. */
const BEFORE = `
api: { token: "\${TOKEN}" }
backends:
  archive: { kind: native }
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: native }
${RULES}
`;

/** room:0 moves to archive, and half of the other rooms by the rollout hash. */
const AFTER = `
api: { token: "\${TOKEN}" }
backends:
  archive: { kind: native }
namespaces:
  /:
    routes:
      - { room: "room:0", backend: archive }
      - room: "room:{id}"
        backend: native
        rollout: { backend: archive, percent: 50 }
${RULES}
  /late: {}
`;

type Ack = { ok: boolean };

describe("hot reload", () => {
  const cleanup = useCleanup();

  async function start(yaml: string, kinds?: BackendRegistry) {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-reload-"));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "switchyard.yaml");
    writeFileSync(file, yaml);
    const env = { TOKEN };
    const { config, diagnostics } = loadConfig(file, env, kinds);
    expect(diagnostics).toEqual([]);
    const log = pino({ level: "silent" });
    const server = await startSwitchyard(config!, {
      port: 0,
      host: "127.0.0.1",
      log,
      ...(kinds ? { kinds } : {}),
    });
    cleanup.add(() => server.close());
    const results: ReloadResult[] = [];
    let waiting: ((result: ReloadResult) => void) | undefined;
    const reloader = new ConfigReloader(file, server, {
      log,
      env,
      watch: true,
      settleMs: 20,
      ...(kinds ? { kinds } : {}),
      onReload: (result) => {
        results.push(result);
        waiting?.(result);
      },
    });
    cleanup.add(() => reloader.close());
    /** Writes the file and resolves with the result of the reload the change causes. */
    const rewrite = (text: string) => {
      const done = new Promise<ReloadResult>((resolve) => {
        waiting = resolve;
      });
      writeFileSync(file, text);
      return within(done, "the reload");
    };
    return { server, reloader, rewrite, results, url: `http://127.0.0.1:${server.port}` };
  }

  async function roomsApi(url: string) {
    const res = await fetch(`${url}/api/v1/rooms`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await res.json()) as {
      rooms: { room: string; backend: string; members: number }[];
    };
    return new Map(body.rooms.map((r) => [r.room, r]));
  }

  /** One member of each room publishes; resolves once every other member received it exactly once. */
  async function everyRoomDelivers(clients: Socket[], tag: string): Promise<void> {
    const counts = new Map<Socket, number>();
    const expected: Promise<void>[] = [];
    for (const [i, client] of clients.entries()) {
      if (i < ROOMS) continue; // clients 0..ROOMS-1 are the publishers
      expected.push(
        new Promise<void>((resolve) => {
          const onMessage = (payload: { tag: string }) => {
            if (payload.tag !== tag) return;
            counts.set(client, (counts.get(client) ?? 0) + 1);
            resolve();
          };
          client.on("message", onMessage);
          cleanup.add(() => client.off("message", onMessage));
        }),
      );
    }
    const acks = await Promise.all(
      clients
        .slice(0, ROOMS)
        .map((client, i) => client.emitWithAck("publish", { room: `room:${i}`, payload: { tag } })),
    );
    expect(acks.every((ack: Ack) => ack.ok)).toBe(true);
    await within(Promise.all(expected), `${tag} at every member`);
    // A second round on the same connections: anything duplicated from the first would be here now.
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  }

  it(`moves rooms between backends under ${CLIENTS} connected clients without a disconnect`, async () => {
    const { rewrite, url } = await start(BEFORE);
    let disconnects = 0;
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const client = io(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
        cleanup.add(() => client.close());
        client.on("disconnect", () => {
          disconnects += 1;
        });
        await new Promise<void>((resolve, reject) => {
          client.once("connect", resolve);
          client.once("connect_error", reject);
        });
        const ack = (await client.emitWithAck("join", { room: `room:${i % ROOMS}` })) as Ack;
        expect(ack.ok).toBe(true);
        return client;
      }),
    );
    const before = await roomsApi(url);
    expect([...before.values()].every((r) => r.backend === "native")).toBe(true);
    await everyRoomDelivers(clients, "before");

    expect(await rewrite(AFTER)).toBe("applied");
    const after = await roomsApi(url);
    expect(after.size).toBe(ROOMS);
    expect(after.get("room:0")?.backend).toBe("archive");
    const moved = [...after.values()].filter((r) => r.backend === "archive").length;
    expect(moved).toBeGreaterThan(1);
    expect(moved).toBeLessThan(ROOMS);
    expect([...after.values()].every((r) => r.members === CLIENTS / ROOMS)).toBe(true);
    await everyRoomDelivers(clients, "after");

    // A namespace added by the reload accepts connections at once.
    const late = io(`${url}/late`, { forceNew: true, reconnection: false });
    cleanup.add(() => late.close());
    await within(
      new Promise((resolve) => late.once("connect", () => resolve(undefined))),
      "connect to /late",
    );

    expect(disconnects).toBe(0);
    expect(clients.every((client) => client.connected)).toBe(true);
  });

  it("keeps the last good configuration when the new file has errors", async () => {
    const { rewrite, url, server } = await start(BEFORE);
    const client = io(url, { forceNew: true, reconnection: false });
    cleanup.add(() => client.close());
    await new Promise<void>((resolve) => client.once("connect", () => resolve()));

    expect(await rewrite(AFTER.replace("backend: archive }", "backend: archiv }"))).toBe("invalid");
    expect(server.config.namespaces.get("/")!.routes.resolve("room:0").backend).toBe("native");
    expect(((await client.emitWithAck("join", { room: "room:0" })) as Ack).ok).toBe(true);
    expect(client.connected).toBe(true);

    // Fixing the file applies it.
    expect(await rewrite(AFTER)).toBe("applied");
    expect(server.config.namespaces.get("/")!.routes.resolve("room:0").backend).toBe("archive");
  });

  it("keeps the running configuration when a new backend fails to start", async () => {
    const kinds = new BackendRegistry().register(nativeFactory).register({
      kind: "broken",
      settingsSchema: { type: "object" },
      create: (name) =>
        Object.assign(new NativeBackend(name), {
          start: () => Promise.reject(new Error("cannot reach the service")),
        }),
    });
    const { rewrite, server } = await start(BEFORE, kinds);
    const broken = AFTER.replace("archive: { kind: native }", "archive: { kind: broken }");
    expect(await rewrite(broken)).toBe("failed");
    expect(server.config.namespaces.get("/")!.routes.resolve("room:0").backend).toBe("native");
    expect(server.config.namespaces.has("/late")).toBe(false);
  });

  it("reloads on demand with the same text (SIGHUP), and a watch event with the same text changes nothing", async () => {
    const { reloader, rewrite } = await start(BEFORE);
    expect(await reloader.reload("signal")).toBe("applied");
    expect(await reloader.reload("watch")).toBe("unchanged");
    expect(await rewrite(AFTER)).toBe("applied");
  });
});

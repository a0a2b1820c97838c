/**
 * The migration console's data over HTTP (docs/api.md, "GET /api/v1/console/snapshot"):
 * what the browser test does not drive. A reload through the config reloader shows as
 * the configuration's revision and last result; the passthrough split is the one
 * `GET /api/v1/passthrough` reports; Engine.IO 3 clients (socket.io 2.x) are counted
 * apart; a cluster on Redis counts its nodes; the stream sends snapshots about once a
 * second, the first with the history.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ConfigReloader } from "../../src/config-reloader.js";
import type { ConsoleSnapshot } from "../../src/console/console-types.js";
import { useCleanup } from "../helpers/cleanup.js";
import { itWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { connectV2Client } from "../helpers/sio-client-v2.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "console-api-token-0123456789abcdefgh";
const YAML = `
api: { token: "${TOKEN}" }
server: { allowEIO3: true }
passthrough: { target: "http://127.0.0.1:9", percent: 25 }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
  /chat: {}
`;

async function api<T>(harness: Harness, path: string): Promise<T> {
  const res = await fetch(`${harness.url}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

describe("the migration console's API", () => {
  const cleanup = useCleanup();

  it("shows an applied reload as the next revision, and an invalid one as the last result", async () => {
    const dir = mkdtempSync(join(tmpdir(), "swy-console-"));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "switchyard.yaml");
    writeFileSync(file, YAML);
    const harness = await Harness.start(YAML);
    cleanup.add(() => harness.close());
    const reloader = new ConfigReloader(file, harness.server, { log: pino({ level: "silent" }) });
    cleanup.add(() => reloader.close());
    const before = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
    expect(before.config).toMatchObject({ revision: 1, lastReload: null });

    expect(await reloader.reload("signal")).toBe("applied");
    let snapshot = before;
    await until(async () => {
      snapshot = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
      return snapshot.config.revision === 2;
    }, "revision 2");
    expect(snapshot.config.lastReload?.result).toBe("applied");
    expect(snapshot.config.source).toBe(file);

    writeFileSync(file, "namespaces: { /: { events: { x: { action: nope } } } }\n");
    expect(await reloader.reload("signal")).toBe("invalid");
    await until(async () => {
      snapshot = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
      return snapshot.config.lastReload?.result === "invalid";
    }, "the invalid reload");
    expect(snapshot.config.revision).toBe(2);
    expect(snapshot.config.source).toBe(file);
  });

  it("reports the passthrough split as the passthrough API does", async () => {
    const harness = await Harness.start(YAML);
    cleanup.add(() => harness.close());
    const status = await api<{ target: string; percent: number }>(harness, "/api/v1/passthrough");
    const snapshot = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
    expect(snapshot.passthrough).toEqual({
      target: status.target,
      percent: 25,
      legacy: 0,
      switchyard: 0,
      failing: null,
    });
    expect(status.percent).toBe(25);
  });

  it("counts socket.io 2.x clients (Engine.IO 3) apart, per namespace and in all", async () => {
    const harness = await Harness.start(YAML.replace(/^passthrough:.*$/m, ""));
    cleanup.add(() => harness.close());
    await harness.connect();
    await harness.connect({}, "/chat");
    await connectV2Client(cleanup, `${harness.url}/chat`, "websocket");
    const snapshot = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
    expect(snapshot.connections).toEqual({ total: 3, v3: 1, v4: 2 });
    // A 2.x client is connected to `/` too (socket.io 2.x always joins it).
    expect(snapshot.namespaces).toEqual([
      { namespace: "/", sockets: 2, rooms: 0, v3: 1, v4: 1 },
      { namespace: "/chat", sockets: 2, rooms: 0, v3: 1, v4: 1 },
    ]);
    const namespaces = await api<{ namespaces: { namespace: string; connections: number }[] }>(
      harness,
      "/api/v1/namespaces",
    );
    expect(namespaces.namespaces.map((ns) => ns.connections)).toEqual([2, 2]);
  });

  itWithRedis("counts and lists the nodes of a cluster, and each node's own rooms", async () => {
    const key = `swy-console-${randomBytes(4).toString("hex")}`;
    const yaml = `
api: { token: "${TOKEN}" }
cluster: { redis: "${REDIS_URL}", key: "${key}" }
backends:
  native: { kind: native, settings: { redis: { url: "${REDIS_URL}", key: "${key}" } } }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
`;
    const a = await Harness.start(yaml);
    cleanup.add(() => a.close());
    const b = await Harness.start(yaml);
    cleanup.add(() => b.close());
    const socket = await b.connect();
    expect(await socket.emitWithAck("join", { room: "on-b" })).toEqual({ ok: true });
    // A snapshot waits a moment for Redis's count, then shows the last one it had.
    const nodes = async (harness: Harness) =>
      (await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot")).node.nodes;
    await until(async () => (await nodes(a)) === 2, "node A counting 2 nodes");
    await until(async () => (await nodes(b)) === 2, "node B counting 2 nodes");
    // The node registry of `cluster:` lists both, each with its tag and address.
    const registry = async (harness: Harness) =>
      (await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot")).node.registry;
    await until(async () => (await registry(a))?.length === 2, "node A listing 2 nodes");
    const listed = (await registry(a)) ?? [];
    expect(listed.map((node) => node.url).sort()).toEqual([a.url, b.url].sort());
    expect((await api<ConsoleSnapshot>(a, "/api/v1/console/snapshot")).rooms).toEqual([]);
    const onB = await api<ConsoleSnapshot>(b, "/api/v1/console/snapshot");
    expect(onB.rooms.map((room) => room.room)).toEqual(["on-b"]);
  });

  it("streams a snapshot at once with its history, then about one a second without it", async () => {
    const harness = await Harness.start(YAML);
    cleanup.add(() => harness.close());
    const events: { snapshot: ConsoleSnapshot; at: number }[] = [];
    const req = request({
      host: "127.0.0.1",
      port: harness.server.port,
      path: "/api/v1/console/stream",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    cleanup.add(() => req.destroy());
    req.on("response", (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
        let end = text.indexOf("\n\n");
        while (end >= 0) {
          const line = text.slice(0, end);
          text = text.slice(end + 2);
          expect(line.startsWith("data: ")).toBe(true);
          events.push({ snapshot: JSON.parse(line.slice(6)), at: performance.now() });
          end = text.indexOf("\n\n");
        }
      });
    });
    req.end();
    await until(() => events.length >= 3, "three events", 5000);
    expect(events[0]!.snapshot.history).toBeDefined();
    expect(events[1]!.snapshot.history).toBeUndefined();
    expect(events[2]!.snapshot.sample).not.toBeNull();
    // Sent never two within 0.9 s; measured on arrival, where a loaded machine may
    // delay one event more than the next, so with a margin.
    expect(events[2]!.at - events[1]!.at).toBeGreaterThanOrEqual(600);
    expect(events[1]!.at - events[0]!.at).toBeGreaterThanOrEqual(600);
  });
});

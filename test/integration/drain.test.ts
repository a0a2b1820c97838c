import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import {
  connectClient as connectPusherJs,
  startEmulator,
  subscribe as subscribePusherJs,
} from "../emulators/pusher/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import {
  errorBody,
  fetchText,
  PollingSession,
  pollingUrl,
  SEPARATOR,
} from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { RoundRobin } from "../helpers/round-robin.js";
import { SwitchyardProcess } from "../helpers/switchyard-process.js";
import { startTestServer } from "../helpers/test-server.js";
import { until, within } from "../helpers/wait-for.js";

const TOKEN = "drain-test-token-0123456789";

type Ack = { ok: boolean; error?: { code: string } };

/** The event rules every node here has: join a room, and broadcast to it. */
const EVENTS = `    events:
      join: { action: join, room: "{data.room}" }
      publish:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        exceptSender: true
        requireMembership: false
`;

/**
 * `server:` for these tests: a drain of `drainTimeout` ms, and budgets a publisher
 * firing as fast as it can does not hit (a refusal would only blur what is measured).
 */
function serverYaml(drainTimeout: number): string {
  return `log: { level: info }
server:
  drainTimeout: ${drainTimeout}
  limits: { eventsPerSecond: 100000, eventBurst: 100000 }
api:
  token: "${TOKEN}"
`;
}

/** `yaml` as a file of its own, removed after the test. */
function configFile(cleanup: Cleanup, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-drain-"));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "switchyard.yaml");
  writeFileSync(file, yaml);
  return file;
}

async function startNode(
  cleanup: Cleanup,
  file: string,
  env: Record<string, string> = {},
): Promise<SwitchyardProcess> {
  const node = await SwitchyardProcess.start(file, env);
  // Killed, not stopped: a test that failed half-way must not wait for a drain.
  cleanup.add(() => node.kill());
  return node;
}

/**
 * Sends SIGTERM and resolves with the exit code, once exited; also resolves
 * `handled` once the node logged that it began draining (it handled the signal).
 */
function terminate(node: SwitchyardProcess): {
  exited: Promise<number | null>;
  handled: Promise<void>;
} {
  const exited = node.stop();
  const handled = until(
    () => node.output.includes('"msg":"shutting down: draining"'),
    "the node to log that it drains",
  );
  return { exited, handled };
}

/** A socket.io client that reconnects at once (no back-off to speak of), closed by `cleanup`. */
function client(cleanup: Cleanup, url: string, options: { reconnection: boolean }): Socket {
  const socket = io(url, {
    forceNew: true,
    transports: ["websocket"],
    reconnection: options.reconnection,
    reconnectionDelay: 20,
    reconnectionDelayMax: 100,
    randomizationFactor: 0,
  });
  cleanup.add(() => {
    socket.io.reconnection(false);
    socket.disconnect();
  });
  return socket;
}

function connected(socket: Socket): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    "the client to connect",
  );
}

/** The node a client's session is on: the 4-character tag of its Engine.IO id (cluster nodes). */
function nodeTagOf(socket: Socket): string {
  return socket.io.engine.id.slice(0, 4);
}

/** Every `message` payload a client receives. */
function inbox(socket: Socket): Set<string> {
  const got = new Set<string>();
  socket.on("message", (payload: string) => got.add(payload));
  return got;
}

/** Publications acknowledged (202 or an ok ack), by payload. */
interface Publisher {
  readonly accepted: Set<string>;
  /** Settles once the publisher stopped: its node stopped answering. */
  readonly done: Promise<void>;
}

/**
 * POSTs publications to `/api/v1/publish` one after another until the node stops
 * answering (refused or cut connection), recording each answered 202.
 */
function apiPublisher(url: string, room: string, tag: string): Publisher {
  const accepted = new Set<string>();
  const done = (async () => {
    for (let seq = 0; ; seq++) {
      const payload = `${tag}-${seq}`;
      try {
        const res = await fetch(`${url}/api/v1/publish`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ namespace: "/", room, event: "message", args: [payload] }),
        });
        await res.text();
        if (res.status === 202) accepted.add(payload);
      } catch {
        return;
      }
    }
  })();
  return { accepted, done };
}

/** Emits `publish` with an ack, one after another, while its socket is connected. */
function clientPublisher(socket: Socket, room: string, tag: string): Publisher {
  const accepted = new Set<string>();
  const done = (async () => {
    for (let seq = 0; socket.connected; seq++) {
      const payload = `${tag}-${seq}`;
      try {
        const ack = (await socket.timeout(5_000).emitWithAck("publish", { room, payload })) as Ack;
        if (ack.ok) accepted.add(payload);
      } catch {
        return;
      }
    }
  })();
  return { accepted, done };
}

/** Resolves once `inbox` holds every payload of `accepted`. */
function receivesAll(got: Set<string>, accepted: Set<string>, who: string): Promise<void> {
  return until(() => {
    for (const payload of accepted) if (!got.has(payload)) return false;
    return true;
  }, `${who} to receive all ${accepted.size} accepted publications`);
}

function accepted(publishers: readonly Publisher[]): Set<string> {
  return new Set(publishers.flatMap((publisher) => [...publisher.accepted]));
}

describeWithRedis("graceful drain: two nodes on Redis behind a round-robin balancer", () => {
  const cleanup = useCleanup();
  const DRAIN_MS = 2_000;

  it("SIGTERM turns /readyz 503 at once, refuses new sessions, moves every client to the other node over drainTimeout, loses no accepted publication and exits 0", async () => {
    const suffix = randomBytes(4).toString("hex");
    const file = configFile(
      cleanup,
      `${serverYaml(DRAIN_MS)}cluster:
  redis: "${REDIS_URL}"
  key: "swy-drain-nodes-${suffix}"
backends:
  native:
    kind: native
    settings:
      redis: { url: "${REDIS_URL}", key: "swy-drain-${suffix}" }
namespaces:
  /:
${EVENTS}`,
    );
    const [a, b] = await Promise.all([startNode(cleanup, file), startNode(cleanup, file)]);
    const balancer = await RoundRobin.start([a!.url, b!.url]);
    cleanup.add(() => balancer.close());
    const room = "room:drain";

    // One at a time, so that the balancer's turns alternate: A, B, A, B…
    const members: Socket[] = [];
    for (let i = 0; i < 12; i++) {
      const socket = client(cleanup, balancer.url, { reconnection: true });
      // The app joins its room on every connection, as apps do after a reconnection.
      socket.on("connect", () => socket.emit("join", { room }));
      await connected(socket);
      await socket.emitWithAck("join", { room });
      members.push(socket);
    }
    const tagA = nodeTagOf(members[0]!);
    const onA = members.filter((socket) => nodeTagOf(socket) === tagA);
    const onB = members.filter((socket) => nodeTagOf(socket) !== tagA);
    expect(onA).toHaveLength(6);
    const inboxes = onB.map((socket) => inbox(socket));

    // Each A client's disconnections (reason, when) and reconnections.
    const closes: { reason: string; at: number }[] = [];
    const movedBack = onA.map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.once("disconnect", (reason) => {
            closes.push({ reason, at: performance.now() });
            socket.once("connect", () => resolve());
          });
        }),
    );

    // Publishers on A firing right up to the signal, and after it until A stops answering.
    const publisherSocket = client(cleanup, a!.url, { reconnection: false });
    await connected(publisherSocket);
    const publishers = [
      apiPublisher(a!.url, room, "api1"),
      apiPublisher(a!.url, room, "api2"),
      clientPublisher(publisherSocket, room, "client"),
    ];
    await until(
      () => publishers.every((publisher) => publisher.accepted.size >= 20),
      "every publisher to have publications accepted",
    );

    const signalledAt = performance.now();
    const { exited, handled } = terminate(a!);
    await handled;
    const readyz = await fetchText(`${a!.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(JSON.parse(readyz.body).checks.draining).toMatch(/^shutting down/);
    // Liveness stays: an orchestrator must not kill a node that is draining.
    expect((await fetchText(`${a!.url}/healthz`)).status).toBe(200);
    const handshake = await fetchText(pollingUrl(a!.url, "/socket.io/"));
    expect(handshake.status).toBe(503);
    expect(errorBody(handshake).code).toBe("SWY_DRAINING");
    const upgrade = await RawWs.refusal(wsUrl(a!.url, "/socket.io/"));
    expect(upgrade.status).toBe(503);
    expect(JSON.parse(upgrade.body).code).toBe("SWY_DRAINING");

    expect(await within(exited, "A to exit", DRAIN_MS + 5_000)).toBe(0);
    const exitedAfter = performance.now() - signalledAt;
    expect(exitedAfter).toBeLessThan(DRAIN_MS + 5_000);

    // Every client of A saw a transport close (a reason it reconnects after) and is on B now.
    await within(Promise.all(movedBack), "A's clients to reconnect");
    expect(closes.map((close) => close.reason)).toEqual(onA.map(() => "transport close"));
    for (const socket of onA) expect(nodeTagOf(socket)).not.toBe(tagA);
    // In batches over drainTimeout, not all at once: with 6 sessions, ~100 ms to ~1700 ms.
    const times = closes.map((close) => close.at - signalledAt).sort((x, y) => x - y);
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(DRAIN_MS / 2);
    expect(times[0]!).toBeLessThan(DRAIN_MS / 2);
    expect(new Set(times.map((t) => Math.round(t / 100))).size).toBeGreaterThanOrEqual(4);

    // Every publication A acknowledged reached the members on B.
    await Promise.all(publishers.map((publisher) => publisher.done));
    const all = accepted(publishers);
    expect(all.size).toBeGreaterThan(60);
    await Promise.all(inboxes.map((got, i) => receivesAll(got, all, `B member ${i}`)));
    expect(a!.output).toContain('"msg":"drained: closing the backends"');
  });
});

describe("graceful drain: signals", () => {
  const cleanup = useCleanup();

  it("a second SIGTERM during the drain exits 1 at once", async () => {
    const file = configFile(cleanup, `${serverYaml(60_000)}namespaces:\n  /:\n${EVENTS}`);
    const node = await startNode(cleanup, file);
    // Three sessions: the drain closes the first at once and the others over a minute.
    for (let i = 0; i < 3; i++) await connected(client(cleanup, node.url, { reconnection: false }));
    const { exited, handled } = terminate(node);
    await handled;
    expect((await fetchText(`${node.url}/readyz`)).status).toBe(503);
    const secondAt = performance.now();
    void node.stop();
    expect(await within(exited, "the node to exit", 5_000)).toBe(1);
    expect(performance.now() - secondAt).toBeLessThan(5_000);
    expect(node.output).toContain('"msg":"second signal: exiting at once, the drain unfinished"');
  });

  it("a node without sessions drains at once and exits 0", async () => {
    const file = configFile(cleanup, `${serverYaml(60_000)}namespaces:\n  /:\n${EVENTS}`);
    const node = await startNode(cleanup, file);
    const { exited } = terminate(node);
    expect(await within(exited, "the node to exit", 5_000)).toBe(0);
  });
});

/** `switchyard_pusher_publish_queue{backend="pusher"}` as the node's /metrics says it now. */
async function pusherQueue(url: string): Promise<number> {
  const text = (await fetchText(`${url}/metrics`)).body;
  const line = /^switchyard_pusher_publish_queue\{backend="pusher"\} (\d+)$/m.exec(text);
  return Number(line?.[1] ?? 0);
}

describe("graceful drain: Pusher", () => {
  const cleanup = useCleanup();
  const DRAIN_MS = 1_000;

  async function startBridge(emulator: PusherEmulator): Promise<SwitchyardProcess> {
    const file = configFile(
      cleanup,
      `${serverYaml(DRAIN_MS)}${pusherBackendYaml()}namespaces:
  /:
    routes:
      - { room: "lobby:{id}", backend: pusher, channel: "lobby-{id}" }
${EVENTS}`,
    );
    return startNode(cleanup, file, pusherEnv(emulator));
  }

  it("every publication accepted before and during the drain reaches Pusher, those waiting for Pusher at the signal included", async () => {
    const emulator = await startEmulator((task) => cleanup.add(task));
    const node = await startBridge(emulator);
    const subscriber = await connectPusherJs(emulator, (task) => cleanup.add(task));
    const channel = await subscribePusherJs(subscriber, "lobby-1");
    const got = new Set<string>();
    channel.bind("message", (payload: string) => got.add(payload));

    const room = "lobby:1";
    const socket = client(cleanup, node.url, { reconnection: false });
    await connected(socket);
    const disconnected = new Promise<string>((resolve) => socket.once("disconnect", resolve));
    const publishers = [
      apiPublisher(node.url, room, "api1"),
      apiPublisher(node.url, room, "api2"),
      clientPublisher(socket, room, "client"),
    ];
    await until(
      () => publishers.every((publisher) => publisher.accepted.size >= 20),
      "every publisher to have publications accepted",
    );

    // Pusher stops answering: the publications of the moment wait in the backend, unanswered,
    // one of each publisher (each waits for its answer before the next).
    const release = emulator.holdRest();
    const held = apiPublisher(node.url, room, "held");
    await until(
      async () => (await pusherQueue(node.url)) >= 4,
      "a publication of each publisher to wait for Pusher",
    );
    const signalledAt = performance.now();
    const { exited, handled } = terminate(node);
    await handled;
    expect((await fetchText(`${node.url}/readyz`)).status).toBe(503);
    // Pusher answers again while the node drains: what waited is sent, and answered 202.
    release();

    expect(await within(exited, "the node to exit", DRAIN_MS + 5_000)).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(DRAIN_MS + 5_000);
    expect(await disconnected).toBe("transport close");
    await Promise.all([...publishers, held].map((publisher) => publisher.done));
    // It waited for Pusher at the signal: the drain flushed it rather than failing it.
    expect(held.accepted.has("held-0")).toBe(true);
    const all = accepted([...publishers, held]);
    await receivesAll(got, all, "the pusher-js subscriber");
  });
});

describe("graceful drain: the engine (in process)", () => {
  const cleanup = useCleanup();

  it("serves a session until its batch closes it, refuses its upgrade with 503, and closes the connections of polling responses", async () => {
    const server = await startTestServer(cleanup);
    const first = await PollingSession.open(server.url, "/socket.io/");
    await first.connectNamespace();
    const second = await PollingSession.open(server.url, "/socket.io/");
    await second.connectNamespace();
    // Over a minute, two sessions: the first batch (100 ms) closes the first, the second
    // waits for the 30th second, so the test has it open for as long as it needs.
    const drained = server.sio.engine.drain(60_000);
    const firstClose = await first.get();
    expect(firstClose.body.split(SEPARATOR).at(-1)).toBe("1");

    const post = await second.post('42["message","still here"]');
    expect(post.status).toBe(200);
    // The client's next request opens a new connection, which a balancer may place elsewhere.
    expect(post.headers.get("connection")).toBe("close");
    expect((await second.get()).body).toBe('42["message-back","still here"]');
    const upgrade = await RawWs.refusal(wsUrl(server.url, "/socket.io/", { sid: second.sid }));
    expect(upgrade.status).toBe(503);
    expect(JSON.parse(upgrade.body)).toEqual({
      code: "SWY_DRAINING",
      message: "This node is shutting down; connect to another node",
    });

    // Closing ends the drain at once: the rest is closed as by a shutdown.
    server.sio.close();
    await within(drained, "the drain to end");
    expect((await second.get()).body.split(SEPARATOR).at(-1)).toBe("1");
  });

  it("closes every session within the spread, in order, and resolves then", async () => {
    const server = await startTestServer(cleanup);
    const sessions: PollingSession[] = [];
    for (let i = 0; i < 5; i++) {
      const session = await PollingSession.open(server.url, "/socket.io/");
      await session.connectNamespace();
      sessions.push(session);
    }
    const started = performance.now();
    const closedAt: number[] = [];
    const closes = sessions.map(async (session, i) => {
      // A pending GET receives the close packet when its batch comes.
      expect((await session.get()).body.split(SEPARATOR).at(-1)).toBe("1");
      closedAt[i] = performance.now() - started;
    });
    await server.sio.engine.drain(1_000);
    const ended = performance.now() - started;
    await Promise.all(closes);
    expect(server.sio.engine.size).toBe(0);
    // Batches at about 100, 300, 500, 700 and 900 ms: in the order the sessions opened.
    expect(closedAt).toEqual([...closedAt].sort((x, y) => x - y));
    expect(closedAt[4]! - closedAt[0]!).toBeGreaterThan(500);
    expect(ended).toBeLessThan(1_000 + 500);
  });
});

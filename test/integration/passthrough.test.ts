/**
 * `passthrough:` end to end (docs/passthrough.md): Switchyard in front of a real
 * socket.io 4.8 server, with real socket.io-client 4 and 2 clients.
 *
 * - At 100 % every connection is the legacy server's, over polling, WebSocket and the
 *   upgrade between them, binary and a 1 MB message included; 2.x clients too.
 * - At 50 % the `uid` query parameter decides each client's side by its hash, the same
 *   side on every connection.
 * - The target down: relayed connections fail as against a dead server, `/readyz` says
 *   so, and clients Switchyard serves are not affected.
 */
import { once } from "node:events";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { rolloutBucket } from "../../src/mapping/route-table.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { connectV2Client, emitWithAckV2, V2_MODES } from "../helpers/sio-client-v2.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until, waitFor } from "../helpers/wait-for.js";

const ONE_MB = 1_000_000;

/** The legacy app: answers `whoami` with "legacy", echoes, and tells a payload's size. */
async function legacyServer(cleanup: Cleanup, port = 0) {
  const http: HttpServer = createServer();
  const ioServer = new Server(http, { allowEIO3: true, maxHttpBufferSize: 2 * ONE_MB });
  ioServer.on("connection", (socket) => {
    socket.on("whoami", (ack: (side: string) => void) => ack("legacy"));
    socket.on("echo", (value: unknown, ack: (value: unknown) => void) => ack(value));
    socket.on("size", (text: string, ack: (size: number) => void) => ack(text.length));
  });
  http.listen(port, "127.0.0.1");
  await once(http, "listening");
  const close = () =>
    new Promise<void>((resolve) => {
      ioServer.close(() => resolve());
    });
  cleanup.add(close);
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, ioServer, close };
}

function yaml(percent: number): string {
  return `
server: { limits: { maxHttpBufferSize: 2000000 }, allowEIO3: true }
passthrough: { target: "\${LEGACY_URL}", percent: ${percent}, key: { query: uid } }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
`;
}

async function bridge(cleanup: Cleanup, legacyUrl: string, percent: number): Promise<Harness> {
  const harness = await Harness.start(yaml(percent), { LEGACY_URL: legacyUrl });
  cleanup.add(() => harness.close());
  return harness;
}

/** Which side answered: the legacy app acks `whoami`; Switchyard refuses the unknown event. */
async function sideOf(socket: Socket): Promise<string> {
  const answer = (await socket.timeout(5000).emitWithAck("whoami")) as unknown;
  return answer === "legacy" ? "legacy" : "switchyard";
}

const TRANSPORTS: Record<string, { transports: ("polling" | "websocket")[] }> = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
};

describe("passthrough at 100 %: the legacy server serves every connection through Switchyard", () => {
  const cleanup = useCleanup();

  it.each(Object.keys(TRANSPORTS))(
    "socket.io-client 4 over %s: its events, binary and a 1 MB message reach the legacy app",
    async (mode) => {
      const legacy = await legacyServer(cleanup);
      const harness = await bridge(cleanup, legacy.url, 100);
      const socket = await harness.connect({ ...TRANSPORTS[mode] });
      if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
        await waitFor(socket.io.engine, "upgrade");
      }
      expect(await sideOf(socket)).toBe("legacy");
      const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
      expect(Buffer.from((await socket.emitWithAck("echo", bytes)) as Buffer)).toEqual(bytes);
      expect(await socket.emitWithAck("size", "x".repeat(ONE_MB))).toBe(ONE_MB);
      // Nothing of it is Switchyard's own: no session here.
      expect(harness.server.sio.engine.size).toBe(0);
    },
  );

  it.each(V2_MODES)(
    "socket.io-client 2 (Engine.IO v3) over %s reaches the legacy app",
    async (mode) => {
      const legacy = await legacyServer(cleanup);
      const harness = await bridge(cleanup, legacy.url, 100);
      const socket = await connectV2Client(cleanup, harness.url, mode);
      expect(await emitWithAckV2(socket, "whoami")).toEqual(["legacy"]);
      expect(harness.server.sio.engine.size).toBe(0);
    },
  );
});

describe("passthrough at 50 % keyed by the uid query parameter", () => {
  const cleanup = useCleanup();

  it("puts each of 40 uids on the side its hash chooses, on every connection", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, 50);
    const uids = Array.from({ length: 40 }, (_, n) => `user-${n}`);
    const expected = uids.map((uid) => (rolloutBucket(uid) < 5000 ? "legacy" : "switchyard"));
    expect(new Set(expected)).toEqual(new Set(["legacy", "switchyard"]));
    for (const round of [1, 2]) {
      const sides = [];
      for (const [i, uid] of uids.entries()) {
        const transports = i % 2 === 0 ? ["websocket"] : ["polling"];
        const socket = await harness.connect({ query: { uid }, transports });
        sides.push(await sideOf(socket));
        socket.close();
      }
      expect(sides, `connection round ${round}`).toEqual(expected);
    }
  });
});

describe("passthrough with its target down", () => {
  const cleanup = useCleanup();

  it("fails relayed connections as a dead server would, says so in /readyz, and serves its own clients", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, 50);
    const uids = Array.from({ length: 40 }, (_, n) => `user-${n}`);
    const relayed = uids.find((uid) => rolloutBucket(uid) < 5000)!;
    const served = uids.find((uid) => rolloutBucket(uid) >= 5000)!;
    await legacy.close();

    const refusal = io(harness.url, {
      forceNew: true,
      reconnection: false,
      query: { uid: relayed },
      transports: ["polling"],
    });
    cleanup.add(() => refusal.close());
    const error = await new Promise<Error>((resolve) => refusal.once("connect_error", resolve));
    expect(error.message).toBe("xhr poll error");
    const ready = await fetch(`${harness.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      checks: { passthrough: expect.stringMatching(/^passthrough target failing: refused/) },
    });
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(/^switchyard_passthrough_errors_total\{kind="refused"\} [1-9]/m);

    // A client whose uid Switchyard serves does not notice.
    const mine = await harness.connect({ query: { uid: served }, transports: ["websocket"] });
    expect(await sideOf(mine)).toBe("switchyard");
    expect(await mine.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });

    // The target back: the next relayed request succeeds and /readyz is ready again.
    const back = await legacyServer(cleanup, Number(new URL(legacy.url).port));
    const again = await harness.connect({ query: { uid: relayed }, transports: ["polling"] });
    expect(await sideOf(again)).toBe("legacy");
    expect(back.url).toBe(legacy.url);
    await until(async () => (await fetch(`${harness.url}/readyz`)).status === 200, "/readyz ready");
  });
});

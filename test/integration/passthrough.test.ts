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
import { attach as attachEngine, type Socket as EngineSocket } from "engine.io";
import { Socket as EngineClient } from "engine.io-client";
import { Server } from "socket.io";
import { io, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { rolloutBucket } from "../../src/mapping/route-table.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { connectV2Client, emitWithAckV2, V2_MODES } from "../helpers/sio-client-v2.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until, waitFor, within } from "../helpers/wait-for.js";

const ONE_MB = 1_000_000;

/** The legacy app: answers `whoami` with "legacy", echoes, and tells a payload's size. */
async function legacyServer(
  cleanup: Cleanup,
  port = 0,
  heartbeat: { pingInterval: number; pingTimeout: number } = {
    pingInterval: 25_000,
    pingTimeout: 20_000,
  },
) {
  const http: HttpServer = createServer();
  const ioServer = new Server(http, {
    allowEIO3: true,
    maxHttpBufferSize: 2 * ONE_MB,
    ...heartbeat,
  });
  ioServer.on("connection", (socket) => {
    socket.on("whoami", (ack: (side: string) => void) => ack("legacy"));
    socket.on("forwarded", (ack: (headers: unknown) => void) => {
      const { headers } = socket.handshake;
      ack({ for: headers["x-forwarded-for"], proto: headers["x-forwarded-proto"] });
    });
    socket.on("echo", (value: unknown, ack: (value: unknown) => void) => ack(value));
    socket.on("size", (text: string, ack: (size: number) => void) => ack(text.length));
  });
  http.listen(port, "127.0.0.1");
  await once(http, "listening");
  // Connections Switchyard's relay keeps alive to it are dropped too.
  const close = () =>
    new Promise<void>((resolve) => {
      ioServer.close(() => resolve());
      http.closeAllConnections();
    });
  cleanup.add(close);
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, ioServer, close };
}

const TOKEN = "passthrough-test-token-0123456789abcdef";

function yaml(percent: number): string {
  return `
server: { limits: { maxHttpBufferSize: 2000000 }, allowEIO3: true }
api: { token: "${TOKEN}" }
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

describe("passthrough and the legacy server's view", () => {
  const cleanup = useCleanup();

  it("tells the legacy app who the client is with X-Forwarded-For and -Proto", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, 100);
    for (const transports of [["polling"], ["websocket"]] as const) {
      const socket = await harness.connect({ transports: [...transports] });
      expect(await socket.emitWithAck("forwarded")).toEqual({
        for: "127.0.0.1",
        proto: transports[0] === "polling" ? "http" : "ws",
      });
    }
  });

  it("lets relayed clients reconnect through it when the legacy server restarts", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, 100);
    const socket = await harness.connect({
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 50,
      randomizationFactor: 0,
    });
    expect(await sideOf(socket)).toBe("legacy");
    const reconnected = waitFor(socket.io, "reconnect");
    await legacy.close();
    await legacyServer(cleanup, Number(new URL(legacy.url).port));
    await within(reconnected, "the client reconnecting to the restarted server");
    expect(await sideOf(socket)).toBe("legacy");
  });
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

describe("a drain of relayed connections", () => {
  const cleanup = useCleanup();

  it("ends the share asked for, and the clients reconnect to the side the new percentage gives", async () => {
    // Polls cycle quickly, so a drained polling session's next request comes soon; and
    // the sessions drained away end soon on the legacy server too (its own ping timeout).
    const legacy = await legacyServer(cleanup, 0, { pingInterval: 300, pingTimeout: 500 });
    const harness = await bridge(cleanup, legacy.url, 100);
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${harness.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      });
    const clients: Socket[] = [];
    for (let n = 0; n < 6; n++) {
      clients.push(
        await harness.connect({
          query: { uid: `user-${n}` },
          transports: n % 2 === 0 ? ["websocket"] : ["polling"],
          reconnection: true,
          reconnectionDelay: 50,
          randomizationFactor: 0,
        }),
      );
    }
    for (const client of clients) expect(await sideOf(client)).toBe("legacy");
    expect(await (await api("/api/v1/passthrough")).json()).toEqual({
      target: legacy.url,
      percent: 100,
      key: "query:uid",
      relayed: { websocket: 3, polling: 3 },
      failing: null,
    });
    const gauge = async () => {
      const text = await (await fetch(`${harness.url}/metrics`)).text();
      const side = (name: string) =>
        Number(
          new RegExp(`^switchyard_passthrough_connections\\{side="${name}"\\} (\\d+)$`, "m").exec(
            text,
          )?.[1],
        );
      return { legacy: side("legacy"), switchyard: side("switchyard") };
    };
    expect(await gauge()).toEqual({ legacy: 6, switchyard: 0 });

    // Every new connection now stays here; the drain moves the relayed ones.
    const { config } = loadConfigFromString(yaml(0), "test.yaml", { LEGACY_URL: legacy.url });
    await harness.server.reload(config!);
    // A new percentage applies to new connections: the open ones stay where they are.
    for (const client of clients) expect(await sideOf(client)).toBe("legacy");
    const reconnected = clients.map((client) => waitFor(client.io, "reconnect"));
    const drain = await api("/api/v1/passthrough/drain", {
      method: "POST",
      body: JSON.stringify({ percent: 100, spreadMs: 200 }),
    });
    expect(drain.status).toBe(202);
    expect(await drain.json()).toEqual({ ok: true, draining: 6, spreadMs: 200 });
    await Promise.all(reconnected.map((done) => within(done, "a drained client reconnecting")));
    for (const client of clients) expect(await sideOf(client)).toBe("switchyard");
    expect((await gauge()).switchyard).toBe(6);
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    // The relay's own share of the polling requests' latency was measured.
    expect(metrics).toMatch(/^switchyard_passthrough_forward_seconds_count [1-9]\d*$/m);
    expect(metrics).toMatch(/^switchyard_passthrough_drained_total\{transport="websocket"\} 3$/m);
    expect(metrics).toMatch(/^switchyard_passthrough_drained_total\{transport="polling"\} 3$/m);
    // The drained WebSockets' connections to the legacy server are gone with them.
    await until(() => legacy.ioServer.engine.clientsCount === 0, "the legacy sessions ended");
  });

  it("refuses a drain with a bad body, and answers 404 on a node without passthrough", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, 100);
    const post = (body: string) =>
      fetch(`${harness.url}/api/v1/passthrough/drain`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body,
      });
    for (const [body, code] of [
      ["{", "SWY_API_BAD_JSON"],
      ["{}", "SWY_API_FIELD_REQUIRED"],
      ['{"percent": 101}', "SWY_API_FIELD_INVALID"],
      ['{"percent": 10, "spreadMs": -1}', "SWY_API_FIELD_INVALID"],
      ['{"percent": 10, "all": true}', "SWY_API_FIELD_UNKNOWN"],
    ]) {
      const res = await post(body!);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({ code });
    }
    const plain = await Harness.start(`api: { token: "${TOKEN}" }\nnamespaces: { /: {} }`);
    cleanup.add(() => plain.close());
    const off = await fetch(`${plain.url}/api/v1/passthrough`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(off.status).toBe(404);
    expect(await off.json()).toMatchObject({ code: "SWY_API_PASSTHROUGH_OFF" });
  });
});

describe("a sticky cookie for browsers without a key", () => {
  const cleanup = useCleanup();

  it("holds the browser's bucket: the same side on every handshake, moved by the percentage", async () => {
    const legacy = await legacyServer(cleanup);
    const text = (percent: number) => `
passthrough: { target: "\${LEGACY_URL}", percent: ${percent}, stickyCookie: { name: swy } }
namespaces: { /: {} }
`;
    const harness = await Harness.start(text(50), { LEGACY_URL: legacy.url });
    cleanup.add(() => harness.close());
    /** A polling handshake: whether Switchyard holds the session, and the cookie set. */
    const handshake = async (cookie?: string) => {
      const res = await fetch(`${harness.url}/socket.io/?EIO=4&transport=polling`, {
        headers: cookie === undefined ? {} : { cookie },
      });
      expect(res.status).toBe(200);
      const { sid } = JSON.parse((await res.text()).slice(1)) as { sid: string };
      return {
        side: harness.server.sio.engine.hasSession(sid) ? "switchyard" : "legacy",
        setCookie: res.headers.get("set-cookie"),
      };
    };
    const first = await handshake();
    const match = /^swy=(\d{1,4}); Max-Age=2592000; Path=\/; HttpOnly; SameSite=Lax$/.exec(
      first.setCookie ?? "",
    );
    expect(match, first.setCookie ?? "no cookie").not.toBeNull();
    const bucket = Number(match![1]);
    expect(first.side).toBe(bucket < 5000 ? "legacy" : "switchyard");
    for (let n = 0; n < 5; n++) {
      expect(await handshake(`swy=${bucket}`)).toEqual({ side: first.side, setCookie: null });
    }
    expect((await handshake("swy=0")).side).toBe("legacy");
    expect((await handshake("swy=9999")).side).toBe("switchyard");
    // A new percentage moves the buckets it covers, as a key would.
    const reload = async (percent: number) => {
      const { config } = loadConfigFromString(text(percent), "test.yaml", {
        LEGACY_URL: legacy.url,
      });
      await harness.server.reload(config!);
    };
    await reload(0);
    expect((await handshake("swy=0")).side).toBe("switchyard");
    // The cookie is set whichever side answers the first handshake.
    for (const [percent, side] of [
      [0, "switchyard"],
      [100, "legacy"],
    ] as const) {
      await reload(percent);
      const fresh = await handshake();
      expect(fresh.side).toBe(side);
      expect(fresh.setCookie).toMatch(/^swy=\d{1,4}; /);
    }
  });
});

describe("passthrough of the legacy server's other Engine.IO paths", () => {
  const cleanup = useCleanup();

  /** A raw Engine.IO server on the legacy server's `/engine.io/`, echoing each message. */
  async function legacyEngine(): Promise<string> {
    const http: HttpServer = createServer();
    const engine = attachEngine(http, { path: "/engine.io/" });
    engine.on("connection", (socket: EngineSocket) => {
      socket.on("message", (data) => socket.send(`legacy:${String(data)}`));
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          engine.close();
          http.closeAllConnections();
          http.close(() => resolve());
        }),
    );
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }

  /** An engine.io-client on `path` of `url`: resolves with the answer to one message. */
  async function echoOver(url: string, transports: ("polling" | "websocket")[]): Promise<string> {
    const socket = new EngineClient(url, { path: "/engine.io/", transports });
    cleanup.add(() => socket.close());
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    socket.send("hello");
    return await new Promise<string>((resolve) =>
      socket.once("message", (data) => resolve(String(data))),
    );
  }

  it("relays every request of a listed path at any percentage, and the split stays on server.path", async () => {
    const url = await legacyEngine();
    const harness = await Harness.start(
      `
passthrough: { target: "\${LEGACY_URL}", percent: 0, path: [/socket.io/, engine.io] }
namespaces: { /: {} }
`,
      { LEGACY_URL: url },
    );
    cleanup.add(() => harness.close());

    // At 0 % Switchyard serves its own path, and relays the other one whole.
    expect(harness.server.config.passthrough?.legacyPaths).toEqual(["/engine.io/"]);
    for (const transports of [["polling"], ["websocket"], ["polling", "websocket"]] as const) {
      expect(await echoOver(harness.url, [...transports])).toBe("legacy:hello");
    }
    const mine = await harness.connect({ transports: ["websocket"] });
    expect(await sideOf(mine)).toBe("switchyard");
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(
      /^switchyard_passthrough_requests_total\{side="legacy",transport="websocket"\} [1-9]/m,
    );
  });

  it("answers a path it was not given 404, and a reload that lists it relays it", async () => {
    const url = await legacyEngine();
    const without = `
passthrough: { target: "\${LEGACY_URL}", percent: 100 }
namespaces: { /: {} }
`;
    const harness = await Harness.start(without, { LEGACY_URL: url });
    cleanup.add(() => harness.close());
    const before = await fetch(`${harness.url}/engine.io/?EIO=4&transport=polling`);
    expect(before.status).toBe(404);

    const { config } = loadConfigFromString(
      without.replace("percent: 100 }", "percent: 100, path: /engine.io/ }"),
      "reload.yaml",
      { LEGACY_URL: url },
    );
    await harness.server.reload(config!);
    expect(await echoOver(harness.url, ["polling", "websocket"])).toBe("legacy:hello");
  });

  it("refuses a path that is Switchyard's own, with the line", () => {
    const { config, diagnostics } = loadConfigFromString(
      `
passthrough:
  target: http://127.0.0.1:1
  path: [/engine.io/, /api/v1/]
namespaces: { /: {} }
`,
      "paths.yaml",
    );
    expect(config).toBeUndefined();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: "SWY_CFG_VALUE",
        line: 4,
        message: expect.stringContaining("passthrough.path /api/v1/ is Switchyard's own"),
      }),
    ]);
  });
});

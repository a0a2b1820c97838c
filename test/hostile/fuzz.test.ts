/**
 * Seeded fuzzing of every inbound path at once, against a configuration with echoing
 * acks, a forward rule, a Pusher route and an Ably route (with a presence mirror) on
 * their emulators: Socket.IO packets over WebSocket and polling (well formed, mutated,
 * truncated, deep, binary), HTTP API bodies, client events other users send on the
 * Pusher channels and messages they publish on the Ably ones. Throughout, bystanders
 * in a native, a Pusher and an Ably room must keep receiving, and at the end
 * the node must serve; the setup file fails the test on any internal error and
 * Vitest on any unhandled rejection.
 *
 * FUZZ_SEED picks another run (the seed is printed when a round fails).
 */
import { createHmac } from "node:crypto";
import * as Ably from "ably";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import {
  KEY as ABLY_KEY,
  clientOptions as ablyClientOptions,
  startEmulator as startAblyEmulator,
} from "../emulators/ably/test-support.js";
import { APP, RawPusherSocket, startEmulator } from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { startApp } from "../helpers/http-app.js";
import { pusherBackendYaml, pusherEnv } from "../helpers/pusher-bridge.js";
import { pollingUrl, SEPARATOR } from "../helpers/raw-polling.js";
import { wsUrl } from "../helpers/raw-ws.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { WAIT_LIMIT_MS } from "../helpers/wait-for.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_205);
/** How long the inputs are thrown, ms: the whole test stays well under 30 s. */
const FUZZ_MS = 8_000;
const TOKEN = "fuzz-test-api-token-0123456789abcdef";

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const STRINGS = [
  "",
  "room:1",
  "room:bystand",
  "p:1",
  "p:bystand",
  "__proto__",
  "constructor",
  "{data.room}",
  '"]}[{',
  "\\",
  "\u0000",
  "zoë😀",
  "a".repeat(300),
  "$switchyard",
  "_placeholder",
];
const EVENTS = ["join", "leave", "publish", "echo", "report", "nope", "connect", "disconnect"];

/** A JSON text: scalars, containers, nesting from shallow to thousands of levels. */
function json(rng: Rng, depth = 0): string {
  if (depth === 0 && rng.chance(0.05)) {
    const levels = rng.pick([17, 40, 500, 3000]);
    const [open, close] = rng.chance(0.5) ? ["[", "]"] : ['{"a":', "}"];
    return `${open.repeat(levels)}1${close.repeat(levels)}`;
  }
  const roll = rng.int(depth > 6 ? 5 : 8);
  switch (roll) {
    case 0:
      return String(rng.pick([0, -1, 1.5, 1e308, 2 ** 53 + 1]));
    case 1:
      return JSON.stringify(rng.pick(STRINGS));
    case 2:
      return rng.pick(["true", "false", "null"]);
    case 3:
      return JSON.stringify(rng.pick(STRINGS) + rng.int(1000));
    case 4:
      return `{"_placeholder":true,"num":${rng.pick(["0", "1", "-1", "9", '"x"'])}}`;
    case 5:
      return `[${Array.from({ length: rng.int(4) }, () => json(rng, depth + 1)).join(",")}]`;
    default: {
      const keys = ["room", "payload", "note", "room", "$switchyard", "args", "__proto__", "x"];
      const entries = Array.from(
        { length: rng.int(4) },
        () => `${JSON.stringify(rng.pick(keys))}:${json(rng, depth + 1)}`,
      );
      return `{${entries.join(",")}}`;
    }
  }
}

/** A Socket.IO packet as a client could send it: mostly plausible, sometimes broken. */
function packet(rng: Rng): { text: string; binaries: Buffer[] } {
  const nsp = rng.pick(["", "", "", "/chat,", "/nope,", "/,", "/chat"]);
  const id = rng.chance(0.5) ? String(rng.int(10_000)) : "";
  const event = JSON.stringify(rng.pick(EVENTS));
  const args = Array.from({ length: rng.int(3) }, () => json(rng)).join(",");
  const data = rng.chance(0.9) ? `[${event}${args ? `,${args}` : ""}]` : json(rng);
  const binaries: Buffer[] = [];
  let text: string;
  switch (rng.int(10)) {
    case 0:
      text = `0${nsp.replace(/,$/, "")}${rng.chance(0.5) ? json(rng) : ""}`;
      break;
    case 1:
      text = `1${nsp}`;
      break;
    case 2:
      text = `3${nsp}${id}${rng.chance(0.8) ? `[${args}]` : json(rng)}`;
      break;
    case 3: {
      const count = rng.int(4);
      text = `5${count}-${nsp}${id}[${event},{"_placeholder":true,"num":${rng.int(4)}}${args ? `,${args}` : ""}]`;
      for (let i = 0, n = rng.int(5); i < n; i++) binaries.push(Buffer.from([rng.int(256)]));
      break;
    }
    case 4:
      text = rng.pick(["4{}", "7", "", "2[", "2[]", '2["connect"]', "2{}", "9", "x"]);
      break;
    default:
      text = `2${nsp}${id}${data}`;
  }
  if (rng.chance(0.05)) text = text.slice(0, rng.int(text.length + 1));
  if (rng.chance(0.03)) {
    const at = rng.int(text.length + 1);
    text = text.slice(0, at) + String.fromCharCode(rng.int(0x10000)) + text.slice(at);
  }
  return { text, binaries };
}

function config(appUrl: string, ably: AblyEmulator): string {
  return `
server:
  connectTimeout: 2000
  limits: { maxDepth: 16, eventsPerSecond: 5000, eventBurst: 5000 }
api: { token: "${TOKEN}" }
${pusherBackendYaml()}  ably:
    kind: ably
    settings: { key: "${ABLY_KEY}", host: "${ably.host}", port: ${ably.port}, tls: false }
namespaces:
  /:
    routes:
      - { room: "p:{id}", backend: pusher, channel: "private-p-{id}", rename: { client-message: message } }
      - { room: "a:{id}", backend: ably, channel: "a:{id}", presence: { clientId: "{auth.user}" } }
    events:
      join:
        action: join
        room: "{data.room}"
        allow: ["room:{id}", "p:{id}", "a:{id}"]
        ack: { ok: true, room: "{room}", note: "{data.note}", all: "{args}" }
      leave: { action: leave, room: "{data.room}" }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}", "p:{id}", "a:{id}"]
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
        ack: { ok: true, echo: "{data}" }
      echo:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        exceptSender: false
        requireMembership: false
      report: { action: forward, url: "${appUrl}", timeout: 500 }
  /chat: {}
`;
}

/** A raw WebSocket attacker that reconnects whenever the server closes it. */
class WsAttacker {
  #ws: WebSocket | undefined;
  #url: string;

  constructor(url: string) {
    this.#url = url;
  }

  send(rng: Rng): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState > WebSocket.OPEN) {
      const fresh = new WebSocket(this.#url, { perMessageDeflate: false });
      fresh.on("error", () => {});
      // Connected to / at once, so most packets reach the rules.
      fresh.on("open", () => fresh.send("40"));
      this.#ws = fresh;
      return;
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    const { text, binaries } = packet(rng);
    if (rng.chance(0.02)) ws.send(Buffer.from([rng.int(256), rng.int(256)]));
    else ws.send(`4${text}`);
    for (const binary of binaries) ws.send(binary);
    if (rng.chance(0.01)) ws.send("1");
  }

  close(): void {
    this.#ws?.terminate();
  }
}

/** Resolves once `socket` receives a `message` carrying `mark`. */
function receives(socket: Socket, mark: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bystander ${socket.id} missed ${mark} (FUZZ_SEED=${SEED})`)),
      WAIT_LIMIT_MS,
    );
    const listener = (payload: unknown): void => {
      if ((payload as { mark?: unknown } | null)?.mark !== mark) return;
      clearTimeout(timer);
      socket.off("message", listener);
      resolve();
    };
    socket.on("message", listener);
  });
}

describe(`fuzzing every inbound path (seed ${SEED})`, () => {
  const cleanup = useCleanup();

  it("never takes the node down nor disturbs bystanders", { timeout: 30_000 }, async () => {
    const rng = prng(SEED);
    const app = await startApp(cleanup, () => {
      switch (rng.int(6)) {
        case 0:
          return { status: 500 };
        case 1:
          return { body: "not json" };
        case 2:
          return { body: json(rng) };
        case 3:
          return { body: `{"ack":${"[".repeat(3000)}${"]".repeat(3000)}}` };
        case 4:
          return { body: { ack: { ok: true }, join: ["room:9"], leave: ["room:bystand"] } };
        default:
          return { body: { emit: [{ room: "room:9", event: "message", args: [1] }] } };
      }
    });
    const emulator = await startEmulator((task) => cleanup.add(task), {
      clientEventRateLimit: 1_000_000,
    });
    const ably = await startAblyEmulator(cleanup);
    const harness = await Harness.start(config(app.url, ably), pusherEnv(emulator));
    cleanup.add(() => harness.close());

    // Bystanders: a native room, a Pusher room and an Ably room, two members each.
    const bystanders: Socket[] = [];
    for (const room of [
      "room:bystand",
      "room:bystand",
      "p:bystand",
      "p:bystand",
      "a:bystand",
      "a:bystand",
    ]) {
      const socket = await harness.connect({ auth: { user: room }, transports: ["websocket"] });
      expect(await socket.emitWithAck("join", { room })).toMatchObject({ ok: true });
      bystanders.push(socket);
    }
    const [nativeA, nativeB, pusherA, pusherB, ablyA, ablyB] = bystanders as [
      Socket,
      Socket,
      Socket,
      Socket,
      Socket,
      Socket,
    ];
    // Another user of the Ably app, publishing on the channels the routes use.
    const ablyUser = new Ably.Rest(ablyClientOptions(ably, "json"));
    const ablyChannels = ["a:1", "a:bystand"];

    // Another user of the Pusher app, subscribed to the channels the routes use.
    const pusherUser = RawPusherSocket.open(emulator);
    cleanup.add(() => pusherUser.close());
    const socketId = await pusherUser.handshake();
    const channels = ["private-p-1", "private-p-bystand"];
    for (const channel of channels) {
      const hmac = createHmac("sha256", APP.secret).update(`${socketId}:${channel}`).digest("hex");
      pusherUser.send({ event: "pusher:subscribe", data: { channel, auth: `${APP.key}:${hmac}` } });
      expect((await pusherUser.next()).event).toBe("pusher_internal:subscription_succeeded");
    }

    const attackers = Array.from(
      { length: 4 },
      () => new WsAttacker(wsUrl(harness.url, "/socket.io/")),
    );
    cleanup.add(() => {
      for (const attacker of attackers) attacker.close();
    });

    const deadline = Date.now() + FUZZ_MS;
    let round = 0;
    while (Date.now() < deadline) {
      round += 1;
      for (let i = 0; i < 50; i++) rng.pick(attackers).send(rng);

      // A polling session's POST: many packets in one body.
      const handshake = await fetch(pollingUrl(harness.url, "/socket.io/"));
      const open = await handshake.text();
      if (open.startsWith("0{")) {
        const { sid } = JSON.parse(open.slice(1)) as { sid: string };
        const body = ["40", ...Array.from({ length: 20 }, () => `4${packet(rng).text}`)].join(
          SEPARATOR,
        );
        await fetch(pollingUrl(harness.url, "/socket.io/", { sid }), { method: "POST", body });
      }

      // The HTTP API.
      const apiBody = rng.chance(0.5)
        ? `{"room":${JSON.stringify(rng.pick(STRINGS))},"event":${JSON.stringify(rng.pick(EVENTS))},"args":[${json(rng)}]}`
        : json(rng);
      await fetch(`${harness.url}/api/v1/publish`, {
        method: "POST",
        headers: rng.chance(0.9) ? { authorization: `Bearer ${TOKEN}` } : {},
        body: apiBody,
      });

      // Pusher client events, as another user of the app would send them.
      for (let i = 0; i < 5; i++) {
        const data = rng.chance(0.3)
          ? `{"$switchyard":1,"args":[${json(rng)}],"attachments":${rng.pick(['["AQ=="]', "[1]", '"x"', "[]"])}}`
          : json(rng);
        pusherUser.socket.send(
          JSON.stringify({ event: "client-message", channel: rng.pick(channels), data }),
        );
      }

      // Ably messages, as another user of the app would publish them (raw JSON, any depth).
      for (let i = 0; i < 3; i++) {
        const data = rng.chance(0.3)
          ? `{"$switchyard":1,"args":[${json(rng)}],"attachments":${rng.pick(['["AQ=="]', "[1]", '"x"', "[]"])}}`
          : json(rng);
        const channel = encodeURIComponent(rng.pick(ablyChannels));
        await fetch(`http://${ably.host}:${ably.port}/channels/${channel}/messages`, {
          method: "POST",
          headers: {
            authorization: `Basic ${Buffer.from(ABLY_KEY).toString("base64")}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ name: rng.pick(["message", "x", ""]), data, encoding: "json" }),
        });
      }
      if (rng.chance(0.2)) {
        await ablyUser.channels.get(rng.pick(ablyChannels)).publish("message", json(rng));
      }

      // The bystanders still hear each other, on every backend.
      const mark = `round-${round}`;
      const heard = [receives(nativeB, mark), receives(pusherB, mark), receives(ablyB, mark)];
      const acks = await Promise.all([
        nativeA.emitWithAck("publish", { room: "room:bystand", payload: { mark } }),
        pusherA.emitWithAck("publish", { room: "p:bystand", payload: { mark } }),
        ablyA.emitWithAck("publish", { room: "a:bystand", payload: { mark } }),
      ]);
      expect(acks, `round ${round} (FUZZ_SEED=${SEED})`).toMatchObject([
        { ok: true },
        { ok: true },
        { ok: true },
      ]);
      await Promise.all(heard);
    }

    expect(round).toBeGreaterThan(1);
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
    for (const socket of bystanders) expect(socket.connected).toBe(true);
  });
});

/**
 * examples/passthrough as shipped: Switchyard (switchyard.yaml) in front of the legacy
 * server examples/passthrough/legacy.ts starts (real socket.io on
 * @socket.io/redis-adapter), at 50 %, keyed by `uid`. Members of one room on both sides,
 * over WebSocket and polling, receive every broadcast exactly once, whichever side
 * published it, and so does a publication made with @socket.io/redis-emitter.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Emitter } from "@socket.io/redis-emitter";
import { Redis } from "ioredis";
import type { Socket } from "socket.io-client";
import { expect, it } from "vitest";
import { rolloutBucket } from "../../src/mapping/route-table.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { describeWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { within } from "../helpers/wait-for.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TOKEN = "example-passthrough-token-0123456789abcdef";

/** The example exactly as shipped; the environment points it at this run's servers. */
const EXAMPLE = readFileSync(
  new URL("../../examples/passthrough/switchyard.yaml", import.meta.url),
  "utf8",
);

/** Key spaces of this run's own on the shared Redis, so parallel files do not meet. */
function runEnv(): { SOCKET_IO_KEY: string; SWITCHYARD_CLUSTER_KEY: string } {
  const suffix = randomBytes(4).toString("hex");
  return {
    SOCKET_IO_KEY: `swy-passthrough-${suffix}`,
    SWITCHYARD_CLUSTER_KEY: `swy-passthrough-nodes-${suffix}`,
  };
}

/**
 * Runs examples/passthrough/legacy.ts as the README does (on a free port) and resolves
 * with the LEGACY_URL it prints.
 */
async function startLegacy(cleanup: Cleanup, socketIoKey: string): Promise<string> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "examples/passthrough/legacy.ts", "--port", "0"],
    {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL, SOCKET_IO_KEY: socketIoKey },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanup.add(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  let out = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  return within(
    new Promise<string>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /export LEGACY_URL=(\S+)/.exec(out);
        if (match !== null) resolve(match[1]!);
      });
      child.once("exit", (code) => reject(new Error(`legacy.ts exited with ${code}: ${out}`)));
    }),
    "legacy.ts printing LEGACY_URL",
    20_000,
  );
}

/** uids whose hash puts them on the legacy side at 50 %, and on Switchyard's. */
function uidsBySide(): { legacy: string[]; switchyard: string[] } {
  const uids = Array.from({ length: 40 }, (_, n) => `user-${n}`);
  return {
    legacy: uids.filter((uid) => rolloutBucket(uid) < 5000),
    switchyard: uids.filter((uid) => rolloutBucket(uid) >= 5000),
  };
}

async function join(socket: Socket, room: string): Promise<void> {
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
}

/** Every `message` a client receives, in order. */
function inbox(socket: Socket): unknown[] {
  const got: unknown[] = [];
  socket.on("message", (payload: unknown) => got.push(payload));
  return got;
}

/** Resolves once `socket` receives the `message` whose payload is `payload`. */
function receives(socket: Socket, payload: string, who: string): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const listener = (got: unknown): void => {
        if (got !== payload) return;
        socket.off("message", listener);
        resolve();
      };
      socket.on("message", listener);
    }),
    `${JSON.stringify(payload)} at ${who}`,
  );
}

describeWithRedis(
  "examples/passthrough/switchyard.yaml at 50 % in front of examples/passthrough/legacy.ts",
  () => {
    const cleanup = useCleanup();

    it("delivers every broadcast exactly once to the room's members on both sides, whichever side or the emitter published it", async () => {
      const keys = runEnv();
      const legacyUrl = await startLegacy(cleanup, keys.SOCKET_IO_KEY);
      const harness = await Harness.start(EXAMPLE, {
        ...keys,
        LEGACY_URL: legacyUrl,
        LEGACY_PERCENT: "50",
        REDIS_URL,
        SWITCHYARD_API_TOKEN: TOKEN,
      });
      cleanup.add(() => harness.close());

      const uids = uidsBySide();
      const room = `room:${randomBytes(3).toString("hex")}`;
      const other = `room:other-${randomBytes(3).toString("hex")}`;
      const specs = [
        { name: "served-ws", uid: uids.switchyard[0]!, transports: ["websocket"], room },
        { name: "served-polling", uid: uids.switchyard[1]!, transports: ["polling"], room },
        { name: "relayed-ws", uid: uids.legacy[0]!, transports: ["websocket"], room },
        { name: "relayed-polling", uid: uids.legacy[1]!, transports: ["polling"], room },
        { name: "served-other", uid: uids.switchyard[2]!, transports: ["websocket"], room: other },
        { name: "relayed-other", uid: uids.legacy[2]!, transports: ["websocket"], room: other },
      ];
      const clients = [];
      for (const spec of specs) {
        const socket = await harness.connect({
          query: { uid: spec.uid },
          transports: spec.transports,
        });
        await join(socket, spec.room);
        clients.push({ ...spec, socket, got: inbox(socket) });
      }

      // The side each one is on: Switchyard holds the sessions it serves, the relay counts
      // the others.
      const served = clients.map((c) =>
        harness.server.sio.engine.hasSession(c.socket.io.engine.id),
      );
      expect(served).toEqual(clients.map((c) => c.name.startsWith("served")));
      const status = await fetch(`${harness.url}/api/v1/passthrough`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(await status.json()).toEqual({
        target: legacyUrl,
        percent: 50,
        key: "query:uid",
        relayed: { websocket: 2, polling: 1 },
        failing: null,
      });

      // Each member of `room` publishes in turn; the next waits until the others have it.
      const members = clients.filter((c) => c.room === room);
      for (const sender of members) {
        const payload = `from ${sender.name}`;
        const arrivals = members
          .filter((c) => c !== sender)
          .map((c) => receives(c.socket, payload, c.name));
        sender.socket.emit("publish", { room, payload });
        await Promise.all(arrivals);
      }

      // The emitter, on the same Redis key space.
      const redis = new Redis(REDIS_URL);
      cleanup.add(() => redis.disconnect());
      const emitter = new Emitter(redis, { key: keys.SOCKET_IO_KEY });
      const fromEmitter = Promise.all(
        members.map((c) => receives(c.socket, "from the emitter", c.name)),
      );
      emitter.to(room).emit("message", "from the emitter");
      await fromEmitter;

      // A last message to both rooms: anything doubled, or leaked to the other room, would
      // have arrived before it.
      const last = Promise.all(clients.map((c) => receives(c.socket, "last", c.name)));
      emitter.to([room, other]).emit("message", "last");
      await last;

      for (const member of members) {
        const expected = [
          ...members.filter((c) => c !== member).map((c) => `from ${c.name}`),
          "from the emitter",
          "last",
        ];
        expect(member.got, member.name).toEqual(expected);
      }
      for (const client of clients.filter((c) => c.room === other)) {
        expect(client.got, client.name).toEqual(["last"]);
      }
    });
  },
);

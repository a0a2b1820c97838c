/**
 * The reference target of the official protocol suites (docs/conformance.md) on the real
 * socket.io 4.8 server, with @socket.io/redis-adapter, for running the suites through
 * Switchyard's passthrough relay (test/conformance/passthrough.yaml) and against the
 * target directly. Same behaviour as src/conformance.ts:
 *
 * - `/socket.io/`: socket.io, namespaces `/` and `/custom` (any other is refused by
 *   socket.io itself: `{"message":"Invalid namespace"}`); on connection emit `auth` with
 *   the CONNECT payload; `message` → `message-back` with the same arguments;
 *   `message-with-ack` → ack with the same arguments.
 * - `/engine.io/`: a raw Engine.IO server (the `engine.io` socket.io runs on) that echoes
 *   every message.
 *
 * Heartbeat 300/200 ms, connectTimeout 1000 ms, maxHttpBufferSize 1e6, CORS `*`. Rooms
 * go through Redis (REDIS_URL, default redis://127.0.0.1:6379) under a random key, so
 * that runs never share state.
 *
 * `--allow-eio3` turns on socket.io's `allowEIO3` (both paths), for the Engine.IO v3
 * suite. Off for the v4 suites: with it, engine.io takes a missing or unknown `EIO` for
 * 3 and opens a session, where the v4 suites expect 400.
 *
 *   npx tsx test/conformance/socketio-target.ts [--port 3000] [--host 127.0.0.1] [--allow-eio3]
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-adapter";
import { attach, type Socket as EngineSocket } from "engine.io";
import { Redis } from "ioredis";
import { type Namespace, Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    host: { type: "string", default: "127.0.0.1" },
    "allow-eio3": { type: "boolean", default: false },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port: expected 0-65535 (0: any free port), got ${values.port}`);
  process.exit(2);
}

/** What the suites check: heartbeat, payload limit, CORS, and EIO=3 for the v3 suite. */
const ENGINE_OPTIONS = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  allowEIO3: values["allow-eio3"],
  // Two Engine.IO servers share the HTTP server: neither may end the other's upgrades.
  destroyUpgrade: false,
};

const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const key = `switchyard-conformance-${randomUUID()}`;
const pub = new Redis(redisUrl);
const sub = pub.duplicate();

const http = createServer();
const io = new Server(http, { ...ENGINE_OPTIONS, path: "/socket.io/", connectTimeout: 1000 });
io.adapter(createAdapter(pub, sub, { key }));

function serve(namespace: Namespace): void {
  namespace.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args: unknown[]) => {
      socket.emit("message-back", ...args);
    });
    socket.on("message-with-ack", (...args: unknown[]) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
  });
}
serve(io.of("/"));
serve(io.of("/custom"));

const echo = attach(http, { ...ENGINE_OPTIONS, path: "/engine.io/" });
echo.on("connection", (socket: EngineSocket) => {
  socket.on("message", (data) => socket.send(data));
});

await sub.ping(); // the adapter's subscriptions are in place
const listening = await new Promise<number>((resolve, reject) => {
  http.once("error", reject);
  http.listen(port, values.host, () => resolve((http.address() as AddressInfo).port));
});
console.log(
  `socket.io conformance target on ${values.host}:${listening} (/socket.io/ and /engine.io/, ` +
    `allowEIO3 ${values["allow-eio3"]}), Redis adapter on ${redisUrl} under "${key}"`,
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    echo.close();
    io.close(() => {
      pub.disconnect();
      sub.disconnect();
      process.exit(0);
    });
  });
}

/**
 * Reference server for the benchmark: the real `socket.io` 4.8 server implementing the bench
 * contract (see docs/benchmarks.md):
 *
 * - `join` {room} with an ack: joins the room, acks `{ ok: true }`;
 * - `publish` {room, payload}: emits `message` with the payload to the room, except the sender.
 *
 * Default transports are kept (the generator connects straight with `transport=websocket`);
 * perMessageDeflate is off and pingInterval is 25 s. `--allow-eio3` sets `allowEIO3: true`, for
 * socket.io 2.x clients (Engine.IO v3: the client pings, the server connects it to `/` by itself).
 * `--redis-url URL` puts the server on `@socket.io/redis-adapter` (ioredis, one publisher and one
 * subscriber connection, key `--redis-key`, default `socket.io`) for the cluster benchmark
 * (bench/cluster.ts); without it the default in-memory adapter is used, as before.
 * Exits when its stdin closes, so it never outlives the harness.
 *
 *   node --import tsx bench/socketio-server.ts --port 3000 [--host 127.0.0.1] [--allow-eio3]
 *     [--redis-url redis://127.0.0.1:6379 [--redis-key KEY]]
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import type { Redis } from "ioredis";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    host: { type: "string", default: "127.0.0.1" },
    "allow-eio3": { type: "boolean", default: false },
    "redis-url": { type: "string" },
    "redis-key": { type: "string", default: "socket.io" },
  },
});

const httpServer = createServer();
const io = new Server(httpServer, {
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  pingInterval: 25_000,
  pingTimeout: 20_000,
  allowEIO3: values["allow-eio3"],
});

/** With `--redis-url`: the adapter's connections, closed on exit. */
const redis: Redis[] = [];
if (values["redis-url"] !== undefined) {
  // Loaded only here, so that the default server does not even import them.
  const { Redis: RedisClient } = await import("ioredis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = new RedisClient(values["redis-url"]);
  const sub = pub.duplicate();
  redis.push(pub, sub);
  io.adapter(createAdapter(pub, sub, { key: values["redis-key"] }));
  // The adapter (p)subscribes when it is created: listen once the subscriber has done so.
  await sub.ping();
  await pub.ping();
}

interface JoinArgs {
  room?: unknown;
}
interface PublishArgs {
  room?: unknown;
  payload?: unknown;
}

io.on("connection", (socket) => {
  socket.on("join", (args: JoinArgs, ack?: unknown) => {
    if (typeof args?.room === "string") socket.join(args.room);
    if (typeof ack === "function") ack({ ok: typeof args?.room === "string" });
  });
  socket.on("publish", (args: PublishArgs) => {
    if (typeof args?.room === "string") socket.to(args.room).emit("message", args.payload);
  });
});

// The listen queue of every benchmark server (examples/bench/switchyard.yaml's server.backlog).
httpServer.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  process.stdout.write(
    `socket.io bench server listening on ${values.host}:${values.port}` +
      `${values["allow-eio3"] ? " (allowEIO3)" : ""}` +
      `${values["redis-url"] !== undefined ? ` (redis adapter, key ${values["redis-key"]})` : ""}\n`,
  );
});

function quit(): never {
  for (const r of redis) r.disconnect();
  process.exit(0);
}
process.stdin.on("end", quit);
process.stdin.on("error", quit);
process.stdin.resume();
process.on("SIGTERM", quit);
process.on("SIGINT", quit);

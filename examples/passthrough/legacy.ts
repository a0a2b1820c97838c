/**
 * The "legacy" app examples/passthrough/switchyard.yaml sits in front of: a real
 * socket.io server on @socket.io/redis-adapter, with the benchmark contract
 * (examples/bench/switchyard.yaml) in ten lines of app code. Rooms are shared with
 * Switchyard's native core through Redis: REDIS_URL and SOCKET_IO_KEY (default
 * `socket.io`, the adapter's own default) must be the same for both. Prints what to
 * export; Ctrl-C stops it.
 *
 *   npx tsx examples/passthrough/legacy.ts [--port 3001]      (--port 0: any free port)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const { values } = parseArgs({ options: { port: { type: "string", default: "3001" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port: expected 0-65535 (0: any free port), got ${values.port}`);
  process.exit(2);
}
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const key = process.env.SOCKET_IO_KEY || "socket.io";

const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http);
io.adapter(createAdapter(pub, sub, { key }));

// The app, as it was before Switchyard: join a room, publish to the others in it.
io.on("connection", (socket) => {
  socket.on("join", async ({ room }: { room: string }, ack?: (answer: { ok: true }) => void) => {
    await socket.join(room);
    ack?.({ ok: true });
  });
  socket.on("publish", ({ room, payload }: { room: string; payload: unknown }) => {
    socket.to(room).emit("message", payload);
  });
});

await sub.ping(); // the adapter's subscriptions are in place
const listening = await new Promise<number>((resolve, reject) => {
  http.once("error", reject);
  http.listen(port, "127.0.0.1", () => resolve((http.address() as AddressInfo).port));
});
console.log(`legacy socket.io server on 127.0.0.1:${listening}, rooms on Redis under "${key}". In another shell
(with the same REDIS_URL, if you set one):

export LEGACY_URL=http://127.0.0.1:${listening}
export SOCKET_IO_KEY=${key}
export SWITCHYARD_API_TOKEN=$(openssl rand -hex 24)
npx switchyard start --config examples/passthrough/switchyard.yaml

Ctrl-C stops the server.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    io.close(() => {
      pub.disconnect();
      sub.disconnect();
      process.exit(0);
    });
  });
}

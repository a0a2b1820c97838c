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
 * Exits when its stdin closes, so it never outlives the harness.
 *
 *   node --import tsx bench/socketio-server.ts --port 3000 [--host 127.0.0.1] [--allow-eio3]
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    host: { type: "string", default: "127.0.0.1" },
    "allow-eio3": { type: "boolean", default: false },
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

httpServer.listen(Number(values.port), values.host, () => {
  process.stdout.write(
    `socket.io bench server listening on ${values.host}:${values.port}` +
      `${values["allow-eio3"] ? " (allowEIO3)" : ""}\n`,
  );
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

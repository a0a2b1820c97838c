/**
 * Users of the app for examples/passthrough/README.md: one socket.io-client per
 * `UID:ROOM`, connected to Switchyard with `query: { uid }` (the passthrough's key), which
 * joins its room on every (re)connection, as apps do, and prints what it receives. A line
 * `UID text` on stdin makes that user publish `text` to its room.
 *
 *   npx tsx examples/passthrough/client.ts [--url http://127.0.0.1:3000] alice:room:1 bob:room:1
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { io, type Socket } from "socket.io-client";

const { values, positionals } = parseArgs({
  options: { url: { type: "string", default: "http://127.0.0.1:3000" } },
  allowPositionals: true,
});
const users = new Map<string, { room: string; socket: Socket }>();
for (const spec of positionals) {
  const at = spec.indexOf(":");
  if (at < 1) {
    console.error(`expected UID:ROOM (e.g. alice:room:1), got ${spec}`);
    process.exit(2);
  }
  const uid = spec.slice(0, at);
  const room = spec.slice(at + 1);
  const socket = io(values.url, { query: { uid }, transports: ["websocket"] });
  socket.on("connect", async () => {
    await socket.emitWithAck("join", { room });
    console.log(`${uid} connected and joined ${room} (session ${socket.io.engine.id})`);
  });
  socket.on("disconnect", (reason) => console.log(`${uid} disconnected: ${reason}`));
  socket.on("message", (payload) => console.log(`${uid} got ${JSON.stringify(payload)}`));
  users.set(uid, { room, socket });
}

for await (const line of createInterface({ input: process.stdin })) {
  const [uid = "", ...words] = line.trim().split(/\s+/);
  const user = users.get(uid);
  if (user === undefined) console.log(`unknown user ${uid}: one of ${[...users.keys()]}`);
  else user.socket.emit("publish", { room: user.room, payload: words.join(" ") });
}
for (const { socket } of users.values()) socket.close();

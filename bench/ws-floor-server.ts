/**
 * The broadcast floor: a deliberately naive server on the `ws` package that speaks just enough
 * Engine.IO v4 / Socket.IO v5 (open packet, `40` connect, `2`/`3` heartbeat, events with acks)
 * for the same load generator to drive it. A publish encodes the `message` frame once, then does
 * one `ws.send` per member of the room (sender excluded): no batching, no corking, no shared
 * frame header — the cost every Socket.IO-speaking server pays at least.
 *
 * With `--allow-eio3` it also takes `EIO=3` connections the way a socket.io 2.x client expects:
 * `40` sent right after the open packet (implicit connect to `/`), no server pings (the client
 * pings, the floor answers `3`).
 *
 *   node --import tsx bench/ws-floor-server.ts --port 3000 [--host 127.0.0.1] [--allow-eio3]
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { type WebSocket, WebSocketServer } from "ws";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3000" },
    host: { type: "string", default: "127.0.0.1" },
    "allow-eio3": { type: "boolean", default: false },
  },
});
const allowEIO3 = values["allow-eio3"];

const PING_INTERVAL = 25_000;
const PING_TIMEOUT = 20_000;
const sidPrefix = randomBytes(6).toString("base64url");
let nextSid = 0;

interface Peer {
  ws: WebSocket;
  /** Engine.IO protocol of the connection: 3 (the client pings) or 4 (the server does). */
  eio: 3 | 4;
  sid: string;
  connected: boolean;
  rooms: Set<string>;
}

const rooms = new Map<string, Set<Peer>>();
const peers = new Set<Peer>();

const httpServer = createServer((_req, res) => {
  res.writeHead(400).end();
});
const wss = new WebSocketServer({
  server: httpServer,
  path: "/socket.io/",
  perMessageDeflate: false,
  clientTracking: false,
  // EIO=3 only with --allow-eio3 (400, like engine.io); anything else is taken as v4.
  verifyClient: (info, done) =>
    done(allowEIO3 || eioOf(info.req.url) !== 3, 400, "Unsupported protocol version"),
});

function eioOf(url: string | undefined): 3 | 4 {
  return /[?&]EIO=3(?:&|$)/.test(url ?? "") ? 3 : 4;
}

wss.on("connection", (ws, req) => {
  const peer: Peer = {
    ws,
    eio: eioOf(req.url),
    sid: `${sidPrefix}${(nextSid++).toString(36)}`,
    connected: false,
    rooms: new Set(),
  };
  peers.add(peer);
  ws.send(
    `0${JSON.stringify({ sid: peer.sid, upgrades: [], pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: 1_000_000 })}`,
  );
  if (peer.eio === 3) {
    // Socket.IO v4 protocol: the session is connected to `/` at once, CONNECT has no payload.
    peer.connected = true;
    ws.send("40");
  }
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) onPacket(peer, data.toString());
  });
  ws.on("close", () => {
    peers.delete(peer);
    for (const room of peer.rooms) {
      const members = rooms.get(room);
      members?.delete(peer);
      if (members?.size === 0) rooms.delete(room);
    }
  });
  ws.on("error", () => ws.terminate());
});

function onPacket(peer: Peer, text: string): void {
  switch (text[0]) {
    case "3": // pong
      return;
    case "2": // a client ping (EIO3 clients; not used by EIO4 clients, answered anyway)
      peer.ws.send("3");
      return;
    case "4":
      break;
    default:
      return;
  }
  const type = text[1];
  if (type === "0") {
    peer.connected = true;
    peer.ws.send(peer.eio === 3 ? "40" : `40${JSON.stringify({ sid: peer.sid })}`);
  } else if (type === "1") {
    peer.ws.close();
  } else if (type === "2" && peer.connected) {
    let i = 2;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const ackId = i > 2 ? text.slice(2, i) : null;
    let event: unknown;
    let args: { room?: unknown; payload?: unknown } | undefined;
    try {
      [event, args] = JSON.parse(text.slice(i)) as [unknown, typeof args];
    } catch {
      return;
    }
    if (event === "publish" && typeof args?.room === "string") {
      publish(peer, args.room, args.payload);
    } else if (event === "join" && typeof args?.room === "string") {
      join(peer, args.room);
      if (ackId !== null) peer.ws.send(`43${ackId}[{"ok":true}]`);
    }
  }
}

function join(peer: Peer, room: string): void {
  let members = rooms.get(room);
  if (members === undefined) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(peer);
  peer.rooms.add(room);
}

function publish(sender: Peer, room: string, payload: unknown): void {
  const members = rooms.get(room);
  if (members === undefined) return;
  const frame = Buffer.from(`42["message",${JSON.stringify(payload ?? null)}]`);
  for (const peer of members) {
    if (peer !== sender) peer.ws.send(frame, { binary: false });
  }
}

setInterval(() => {
  for (const peer of peers) if (peer.eio === 4) peer.ws.send("2");
}, PING_INTERVAL).unref();

// The listen queue of every benchmark server (examples/bench/switchyard.yaml's server.backlog).
httpServer.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  process.stdout.write(`ws floor server listening on ${values.host}:${values.port}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

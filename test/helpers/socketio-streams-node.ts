import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { Redis } from "ioredis";
import { Server, type ServerOptions, type Socket } from "socket.io";
import type { Cleanup } from "./cleanup.js";
import { until } from "./wait-for.js";

/**
 * A real socket.io 4.8 server on `@socket.io/redis-streams-adapter` 0.3 with `key` as its
 * stream name and channel prefix, each connection handed to `onConnection`. Resolves once
 * the adapter reads the stream (its reading connection, named after the key, sits in
 * XREAD: entries added from then on reach it) and is subscribed; closed by `cleanup`.
 */
export async function socketIoStreamsNode(
  cleanup: Cleanup,
  redisUrl: string,
  key: string,
  onConnection: (socket: Socket, io: Server) => void,
  options: Partial<ServerOptions> = {},
): Promise<{ io: Server; url: string }> {
  const name = `sio-${key}`;
  const redis = new Redis(redisUrl, { connectionName: name });
  const httpServer = createServer();
  const io = new Server(httpServer, options);
  io.adapter(createAdapter(redis, { streamName: key, channelPrefix: key }));
  io.on("connection", (socket) => onConnection(socket, io));
  httpServer.listen(0, "127.0.0.1");
  await once(httpServer, "listening");
  cleanup.add(async () => {
    await new Promise((resolve) => io.close(resolve));
    redis.disconnect();
  });
  await until(async () => {
    const clients = (await redis.client("LIST")) as string;
    const isReading = clients
      .split("\n")
      .some((line) => line.includes(` name=${name} `) && line.includes(" cmd=xread "));
    const [, subscribers] = (await redis.pubsub("NUMSUB", `${key}#/#`)) as [string, number];
    return isReading && Number(subscribers) >= 1;
  }, "the socket.io node to read the stream and subscribe");
  const { port } = httpServer.address() as AddressInfo;
  return { io, url: `http://127.0.0.1:${port}` };
}

/** socket.io's side of the `join` event of the tests' contract: join, ack `{ok: true}`. */
export function onJoin(socket: Socket): void {
  socket.on("join", async ({ room }: { room: string }, ack?: (a: unknown) => void) => {
    await socket.join(room);
    ack?.({ ok: true });
  });
}

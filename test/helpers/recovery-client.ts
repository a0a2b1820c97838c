import type { Redis } from "ioredis";
import { io, type Socket } from "socket.io-client";
import { expect } from "vitest";
import type { Cleanup } from "./cleanup.js";
import { until } from "./wait-for.js";

/** Resolves once `socket` is connected (at once when it is), rejects on connect_error. */
export async function connected(socket: Socket): Promise<void> {
  if (socket.connected) return;
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
}

/** Every `message` payload `socket` receives, in order (recovery's offset argument dropped). */
export function collect(socket: Socket): string[] {
  const got: string[] = [];
  socket.on("message", (text: string) => got.push(text));
  return got;
}

/**
 * The private id and the last offset socket.io-client keeps for recovery (what it sends
 * back in its next CONNECT), read from its private fields.
 */
export function secretsOf(socket: Socket): { pid: string; offset: string } {
  const inner = socket as unknown as { _pid: string; _lastOffset: string };
  return { pid: inner._pid, offset: inner._lastOffset };
}

/**
 * A client with recovery (socket.io-client's own) that reconnects only when the test
 * says so, closed after the test; `auth` goes out as it is (a forged `{pid, offset}` too).
 */
export async function recoveringClient(
  cleanup: Cleanup,
  url: string,
  auth: Record<string, unknown> = {},
): Promise<Socket> {
  const socket = io(url, { forceNew: true, transports: ["websocket"], reconnection: false, auth });
  cleanup.add(() => socket.close());
  await connected(socket);
  return socket;
}

/**
 * A member of `room:1` on the node at `url` that got one message (published through the
 * node's API with `token`), then cut off and persisted in Redis.
 */
export async function keptMember(
  cleanup: Cleanup,
  url: string,
  token: string,
  redis: Redis,
  auth: Record<string, unknown> = {},
): Promise<{ socket: Socket; id: string; pid: string; offset: string }> {
  const socket = await recoveringClient(cleanup, url, auth);
  expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
  const first = new Promise<void>((resolve) => socket.once("message", () => resolve()));
  await publishText(url, token, "room:1", "hi");
  await first;
  const { pid, offset } = secretsOf(socket);
  const id = socket.id!;
  await cutAndPersist(socket, redis);
  return { socket, id, pid, offset };
}

/**
 * Cuts the transport, as a phone losing signal, and waits until the node persisted the
 * socket in Redis (the session key socket.io's adapter uses).
 */
export async function cutAndPersist(client: Socket, redis: Redis): Promise<void> {
  const { pid } = secretsOf(client);
  expect(pid).toEqual(expect.any(String));
  client.io.engine.close();
  await until(() => !client.connected, "client disconnected");
  await until(async () => (await redis.exists(`sio:session:${pid}`)) === 1, "session persisted");
}

/**
 * Reconnects the client through another node, as a load balancer without stickiness
 * would send it: socket.io-client's manager opens its next transport to `uri`.
 */
export async function reconnectThrough(client: Socket, url: string): Promise<void> {
  (client.io as unknown as { uri: string }).uri = url;
  client.connect();
  await connected(client);
}

/** Publishes `("message", text)` to `room` through a node's HTTP API; expects 202. */
export async function publishText(
  url: string,
  token: string,
  room: string,
  text: string,
): Promise<void> {
  const res = await fetch(`${url}/api/v1/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ room, event: "message", args: [text] }),
  });
  expect(res.status).toBe(202);
}

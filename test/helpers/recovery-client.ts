import type { Socket } from "socket.io-client";

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

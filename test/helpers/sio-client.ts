import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import type { Cleanup } from "./cleanup.js";
import { waitFor } from "./wait-for.js";

/** How a socket.io-client reaches the server. */
export type TransportMode = "websocket" | "polling" | "upgrade";

export const TRANSPORT_MODES: readonly TransportMode[] = ["websocket", "polling", "upgrade"];

const TRANSPORTS: Record<TransportMode, ("polling" | "websocket")[]> = {
  websocket: ["websocket"],
  polling: ["polling"],
  upgrade: ["polling", "websocket"],
};

export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/**
 * Creates a socket.io-client socket on its own connection (`forceNew`), without
 * automatic reconnection unless asked, closed by `cleanup`. Does not wait.
 */
export function createClient(
  cleanup: Cleanup,
  url: string,
  mode: TransportMode,
  options: ClientOptions = {},
): Socket {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    transports: TRANSPORTS[mode],
    upgrade: mode === "upgrade",
    ...options,
  });
  cleanup.add(() => closeClient(socket));
  return socket;
}

/** Closes a client and its whole connection, stopping any reconnection. */
export function closeClient(socket: Socket): void {
  socket.io.reconnection(false);
  socket.disconnect();
  socket.io.engine?.close();
}

/**
 * Creates a client and waits until it is connected; in `upgrade` mode also until
 * both ends have switched to the WebSocket. The client reports the upgrade as soon
 * as it has sent `5`; a round trip on the new transport proves the server got it.
 * (Needs the test server's `message` → `message-back` behaviour.)
 */
export async function connectClient(
  cleanup: Cleanup,
  url: string,
  mode: TransportMode,
  options: ClientOptions = {},
): Promise<Socket> {
  const socket = createClient(cleanup, url, mode, options);
  await whenConnected(socket);
  if (mode === "upgrade") {
    await whenUpgraded(socket);
    await roundTrip(socket, "upgrade complete");
  }
  return socket;
}

/** Resolves on `connect`, rejects with the error of `connect_error`. */
export function whenConnected(socket: Socket): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onConnect = (): void => {
      socket.off("connect_error", onError);
      resolve();
    };
    const onError = (error: Error): void => {
      socket.off("connect", onConnect);
      reject(error);
    };
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
  });
}

/** Resolves once the connection of `socket` runs on the WebSocket. */
export async function whenUpgraded(socket: Socket): Promise<void> {
  const engine = socket.io.engine;
  // The transport switches to "websocket" in the same step that emits "upgrade".
  if (engine.transport.name !== "websocket") await waitFor(engine, "upgrade");
}

/** Emits `message` and resolves with the arguments of the `message-back` it causes. */
export async function roundTrip(socket: Socket, ...args: unknown[]): Promise<unknown[]> {
  const back = waitFor(socket, "message-back");
  socket.emit("message", ...args);
  return back;
}

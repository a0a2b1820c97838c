import type { Logger } from "pino";
import type { Delivery } from "../egress/backend.js";
import type {
  ClusterBroadcast,
  ClusterSink,
  ClusterSocket,
  SocketSelector,
} from "../egress/cluster.js";
import type { BroadcastTarget, Namespace } from "../ingress/sio/namespace.js";
import type { SioServer } from "../ingress/sio/server.js";
import type { Socket } from "../ingress/sio/socket.js";

/**
 * This node's sockets as a cluster backend sees them (src/egress/cluster.ts):
 * socket.io's broadcast and remote-operation semantics applied to the local
 * namespaces, for what other nodes of a Socket.IO cluster send. One per backend, so
 * channel deliveries still say which backend they came from.
 */
export class LocalNode implements ClusterSink {
  readonly #sio: () => SioServer | undefined;
  readonly #namespaces: () => readonly string[];
  readonly #onDelivery: (delivery: Delivery) => void;
  readonly #onBroadcast: ((broadcast: ClusterBroadcast) => void) | undefined;
  readonly #log: Logger;

  /**
   * @param options `onBroadcast`: told of each broadcast from another node, before it
   *   reaches the sockets (the shadow comparator counts them as the primary's).
   */
  constructor(options: {
    sio: () => SioServer | undefined;
    namespaces: () => readonly string[];
    onDelivery: (delivery: Delivery) => void;
    onBroadcast?: (broadcast: ClusterBroadcast) => void;
    log: Logger;
  }) {
    this.#sio = options.sio;
    this.#namespaces = options.namespaces;
    this.#onDelivery = options.onDelivery;
    this.#onBroadcast = options.onBroadcast;
    this.#log = options.log;
  }

  deliver(delivery: Delivery): void {
    this.#onDelivery(delivery);
  }

  namespaces(): readonly string[] {
    return this.#namespaces();
  }

  /**
   * Sends the event to the selected sockets, encoded once. `volatile` is delivered
   * like any broadcast: this node queues for every socket up to its
   * `limits.maxQueuedBytes`, so there is no not-writable moment to drop it in.
   */
  broadcast(broadcast: ClusterBroadcast): void {
    this.#onBroadcast?.(broadcast);
    this.#namespace(broadcast.nsp)?.broadcast(
      targetOf(broadcast),
      broadcast.event,
      broadcast.args,
      broadcast,
    );
  }

  broadcastWithAck(
    broadcast: ClusterBroadcast,
    timeoutMs: number,
    onCount: (count: number) => void,
    onAck: (arg: unknown) => void,
  ): void {
    const sockets = this.#select(broadcast);
    onCount(sockets.length);
    for (const socket of sockets) {
      socket.emitWithAck(broadcast.event, broadcast.args, timeoutMs).then(
        (args) => onAck(args[0]),
        // A socket that does not answer in time or leaves simply sends no ack, as in socket.io.
        () => {},
      );
    }
  }

  joinSockets(selector: SocketSelector, rooms: readonly string[]): void {
    for (const socket of this.#select(selector)) for (const room of rooms) socket.join(room);
  }

  leaveSockets(selector: SocketSelector, rooms: readonly string[]): void {
    for (const socket of this.#select(selector)) for (const room of rooms) socket.leave(room);
  }

  disconnectSockets(selector: SocketSelector, close: boolean): void {
    const sockets = this.#select(selector);
    if (sockets.length > 0) {
      this.#log.debug(
        { nsp: selector.nsp, count: sockets.length, close },
        "disconnected by the cluster",
      );
    }
    for (const socket of sockets) socket.disconnect(close);
  }

  fetchSockets(selector: SocketSelector): ClusterSocket[] {
    return this.#select(selector).map(describe);
  }

  rooms(nsp: string): string[] {
    const namespace = this.#namespace(nsp);
    if (namespace === undefined) return [];
    return [...namespace.sockets.keys(), ...namespace.roomNames()];
  }

  hasSocket(nsp: string, id: string): boolean {
    return this.#namespace(nsp)?.sockets.has(id) === true;
  }

  #namespace(nsp: string): Namespace | undefined {
    return this.#sio()?.namespace(nsp);
  }

  #select(selector: SocketSelector): Socket[] {
    return this.#namespace(selector.nsp)?.select(targetOf(selector)) ?? [];
  }
}

function targetOf(selector: SocketSelector): BroadcastTarget {
  return { rooms: selector.rooms, exceptRooms: selector.except };
}

/**
 * A socket in socket.io's `fetchSockets()` shape. This node does not keep handshake
 * headers or URLs per socket (memory); those fields are empty.
 */
function describe(socket: Socket): ClusterSocket {
  const issued = socket.client.issued;
  return {
    id: socket.id,
    handshake: {
      headers: {},
      time: new Date(issued).toString(),
      address: socket.client.address,
      xdomain: false,
      secure: false,
      issued,
      url: "",
      query: {},
      auth: socket.auth,
    },
    rooms: [socket.id, ...socket.rooms],
    // The router's per-socket state (token claims) stays on this node.
    data: {},
  };
}

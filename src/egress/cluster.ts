/**
 * What a backend that joins a Socket.IO cluster (the native core on Redis, speaking
 * the `@socket.io/redis-adapter` protocol) needs from this node beyond deliveries
 * on channels: socket.io's own broadcast and remote-operation semantics, which name
 * namespaces, rooms and sockets rather than channels.
 *
 * The router implements {@link ClusterSink}; a backend that receives one at `start`
 * (check with {@link isClusterSink}) may call it for what arrives from other nodes.
 * Every call acts on this node's sockets only.
 */

import type { DeliverySink, MissedFailure } from "./backend.js";

/**
 * Which of this node's sockets an operation targets, as socket.io's adapter names
 * them: sockets of `nsp` in any of `rooms` (every socket of `nsp` when empty) and in
 * none of `except`. A socket id is also a room holding just that socket.
 */
export interface SocketSelector {
  readonly nsp: string;
  readonly rooms: readonly string[];
  readonly except: readonly string[];
}

/** A broadcast from another node of the cluster. */
export interface ClusterBroadcast extends SocketSelector {
  readonly event: string;
  readonly args: readonly unknown[];
  /** `volatile`: may be dropped for a socket that cannot take it at once. */
  readonly volatile: boolean;
  /** the stream entry id of a broadcast read from a Redis stream (connection state recovery) */
  readonly offset?: string;
}

/** A local socket as other nodes see it (socket.io's `fetchSockets()` entry). */
export interface ClusterSocket {
  readonly id: string;
  /** socket.io's handshake shape; what this node does not keep is left empty. */
  readonly handshake: {
    readonly headers: Readonly<Record<string, string>>;
    readonly time: string;
    readonly address: string;
    readonly xdomain: boolean;
    readonly secure: boolean;
    readonly issued: number;
    readonly url: string;
    readonly query: Readonly<Record<string, string>>;
    readonly auth: Readonly<Record<string, unknown>>;
  };
  /** Its rooms, its own id first (as socket.io lists them). */
  readonly rooms: readonly string[];
  readonly data: unknown;
}

/** This node, as a cluster backend sees it. */
export interface ClusterSink extends DeliverySink {
  /** The namespaces this node serves; a cluster backend listens on each of them. */
  namespaces(): readonly string[];
  /** Delivers a broadcast from another node to the selected local sockets. */
  broadcast(broadcast: ClusterBroadcast): void;
  /**
   * Delivers a broadcast that asks every recipient for an ack: `onCount` is called
   * once, at once, with the number of local recipients; `onAck` once per ack a
   * recipient sends back before `timeoutMs`.
   */
  broadcastWithAck(
    broadcast: ClusterBroadcast,
    timeoutMs: number,
    onCount: (count: number) => void,
    onAck: (arg: unknown) => void,
  ): void;
  /** `socketsJoin`: the selected local sockets join `rooms`. */
  joinSockets(selector: SocketSelector, rooms: readonly string[]): void;
  /** `socketsLeave`: the selected local sockets leave `rooms`. */
  leaveSockets(selector: SocketSelector, rooms: readonly string[]): void;
  /** `disconnectSockets`: disconnects the selected local sockets (`close`: their whole session). */
  disconnectSockets(selector: SocketSelector, close: boolean): void;
  /** `fetchSockets`: the selected local sockets. */
  fetchSockets(selector: SocketSelector): ClusterSocket[];
  /** `allRooms`: the rooms of `nsp` with local members, socket-id rooms included. */
  rooms(nsp: string): string[];
  /** Whether a socket with this id is connected to `nsp` here (a socket-id room is local). */
  hasSocket(nsp: string, id: string): boolean;
}

/** What a cluster backend can tell about the whole cluster (for the admin API). */
export interface ClusterView {
  /** Every room of `nsp` on every node (socket-id rooms included). Rejects on timeout. */
  clusterRooms(nsp: string): Promise<string[]>;
  /** Every socket of the cluster the selector targets. Rejects on timeout. */
  clusterSockets(selector: SocketSelector): Promise<ClusterSocket[]>;
  /** Nodes counted in the cluster (this one included). */
  serverCount(nsp: string): Promise<number>;
}

export function isClusterSink(sink: DeliverySink): sink is ClusterSink {
  return typeof (sink as Partial<ClusterSink>).broadcast === "function";
}

export function isClusterView(backend: object): backend is ClusterView {
  return typeof (backend as Partial<ClusterView>).clusterRooms === "function";
}

/**
 * A disconnected socket persisted for another node to restore, in the form socket.io's
 * streams adapter writes (src/egress/native/redis/session-store.ts). `rooms` leaves
 * the socket's own id out. `swy` is Switchyard's (a socket.io node ignores it): the
 * namespace and a digest of the CONNECT's auth, and where it stood in its rooms'
 * channel histories (`h`, src/ingress/sio/history-tail.ts); a session without it was persisted by
 * a socket.io node.
 */
export interface PersistedSession {
  readonly sid: string;
  readonly pid: string;
  readonly rooms: readonly string[];
  readonly data: unknown;
  readonly swy?: { readonly nsp: string; readonly auth: string; readonly h?: unknown };
}

/**
 * Connection state recovery across the nodes of a cluster (streams mode,
 * docs/recovery.md): sessions kept in the shared store, broadcasts read back from it.
 */
export interface ClusterSessions {
  /** Persists a kept socket for `ttlMs`; rejects when the store did not take it. */
  persist(session: PersistedSession, ttlMs: number): Promise<void>;
  /** The session `pid` names, left in place; undefined when there is none (or it is malformed). */
  peek(pid: string): Promise<PersistedSession | undefined>;
  /** Takes the session `pid` names (once, on one node); undefined when there is none. */
  take(pid: string): Promise<PersistedSession | undefined>;
  /**
   * The broadcasts to `nsp` after the entry `offset`, in order, each with its own
   * `offset`; or why they cannot all be told (`limit` at most).
   */
  after(nsp: string, offset: string, limit: number): Promise<ClusterBroadcast[] | MissedFailure>;
  /**
   * The offset of the last entry of `nsp`'s stream handed to this node's sockets:
   * everything up to it was delivered, everything after it will be. Undefined before
   * the first read.
   */
  cursor(nsp: string): string | undefined;
}

/** A backend that can carry recovery across nodes (the native core in streams mode). */
export interface SessionCarrier {
  /**
   * The shared session store, or undefined when the backend has none. Asking turns the
   * backend's own broadcasts into ones its sockets get from the stream, in its order.
   */
  sessions(): ClusterSessions | undefined;
}

export function isSessionCarrier(backend: object): backend is SessionCarrier {
  return typeof (backend as Partial<SessionCarrier>).sessions === "function";
}

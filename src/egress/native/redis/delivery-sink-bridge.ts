import type { Delivery, DeliverySink } from "../../backend.js";
import type {
  ClusterBroadcast,
  ClusterSink,
  ClusterSocket,
  SocketSelector,
} from "../../cluster.js";
import { parseRoomChannel, roomChannel } from "../../registry.js";

/**
 * A plain {@link DeliverySink} (one that is not a {@link ClusterSink}) seen as a
 * cluster node whose sockets nobody can address: it serves the namespaces of its
 * subscribed room channels, and of what arrives it gets only broadcasts that map
 * onto one such channel as a {@link Delivery} (exactly one room, at most one
 * excepted id). Remote joins, leaves and disconnects do nothing; fetches find no
 * socket; an acked broadcast counts 0 recipients.
 */
export class DeliverySinkBridge implements ClusterSink {
  readonly #sink: DeliverySink;
  readonly #channels: ReadonlySet<string>;
  readonly #onUnmapped: (broadcast: ClusterBroadcast) => void;

  /**
   * @param channels the backend's subscribed channels, read live.
   * @param onUnmapped called for a broadcast that maps onto no subscribed channel.
   */
  constructor(
    sink: DeliverySink,
    channels: ReadonlySet<string>,
    onUnmapped: (broadcast: ClusterBroadcast) => void,
  ) {
    this.#sink = sink;
    this.#channels = channels;
    this.#onUnmapped = onUnmapped;
  }

  deliver(delivery: Delivery): void {
    this.#sink.deliver(delivery);
  }

  namespaces(): string[] {
    const namespaces = new Set<string>();
    for (const channel of this.#channels) {
      const parsed = parseRoomChannel(channel);
      if (parsed !== undefined) namespaces.add(parsed.nsp);
    }
    return [...namespaces];
  }

  broadcast(broadcast: ClusterBroadcast): void {
    const room = broadcast.rooms.length === 1 ? broadcast.rooms[0] : undefined;
    const channel = room === undefined ? undefined : roomChannel(broadcast.nsp, room);
    if (channel === undefined || !this.#channels.has(channel) || broadcast.except.length > 1) {
      this.#onUnmapped(broadcast);
      return;
    }
    const except = broadcast.except[0];
    this.#sink.deliver({
      channel,
      event: broadcast.event,
      args: broadcast.args,
      ...(except === undefined ? {} : { except }),
    });
  }

  broadcastWithAck(
    _broadcast: ClusterBroadcast,
    _timeoutMs: number,
    onCount: (count: number) => void,
  ): void {
    onCount(0);
  }

  joinSockets(): void {}

  leaveSockets(): void {}

  disconnectSockets(): void {}

  fetchSockets(_selector: SocketSelector): ClusterSocket[] {
    return [];
  }

  /** A plain sink knows no sockets. */
  hasSocket(_nsp: string, _id: string): boolean {
    return false;
  }

  rooms(nsp: string): string[] {
    const rooms: string[] = [];
    for (const channel of this.#channels) {
      const parsed = parseRoomChannel(channel);
      if (parsed?.nsp === nsp) rooms.push(parsed.room);
    }
    return rooms;
  }
}

import { randomBytes } from "node:crypto";
import type { Client } from "../ingress/sio/client.js";
import type { Socket } from "../ingress/sio/socket.js";

/**
 * A socket as the Admin UI lists it (`SerializedSocket` of `@socket.io/admin-ui`).
 * Switchyard keeps no handshake headers, query or URL per socket (memory), and never
 * shows a socket's auth payload or its `data` (the router's state: token claims), nor
 * its Engine.IO session id, which drives the transport: whoever held it could upgrade
 * the session to a WebSocket of their own.
 */
export interface AdminSocket {
  readonly id: string;
  /** Groups a connection's sockets: a random id per connection, not its session id. */
  readonly clientId: string;
  readonly transport: "polling" | "websocket";
  readonly nsp: string;
  readonly data: Readonly<Record<string, never>>;
  readonly handshake: {
    readonly address: string;
    readonly headers: Readonly<Record<string, never>>;
    readonly query: Readonly<Record<string, never>>;
    readonly issued: number;
    readonly secure: boolean;
    readonly time: string;
    readonly url: string;
    readonly xdomain: boolean;
  };
  /** Its own id first, then its rooms, as socket.io lists them. */
  readonly rooms: readonly string[];
}

const NOTHING: Readonly<Record<string, never>> = Object.freeze({});

/** A connection's client id, made the first time the UI sees one of its sockets. */
const clientIds = new WeakMap<Client, string>();

function clientIdOf(client: Client): string {
  let id = clientIds.get(client);
  if (id === undefined) {
    // 12 characters, as the UI shows socket.io's (a prefix of its engine id).
    id = randomBytes(9).toString("base64url");
    clientIds.set(client, id);
  }
  return id;
}

export function serializeSocket(socket: Socket): AdminSocket {
  const client = socket.client;
  return {
    id: socket.id,
    clientId: clientIdOf(client),
    transport: client.session.transportName,
    nsp: socket.nsp.name,
    data: NOTHING,
    handshake: {
      address: client.address,
      headers: NOTHING,
      query: NOTHING,
      issued: client.issued,
      secure: false,
      time: new Date(client.issued).toString(),
      url: "",
      xdomain: false,
    },
    rooms: [socket.id, ...socket.rooms],
  };
}

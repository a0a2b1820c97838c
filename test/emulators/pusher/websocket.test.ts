import { describe, expect, it } from "vitest";
import {
  APP,
  connectClient,
  nextEvent,
  RawPusherSocket,
  restClient,
  startEmulator,
  subscribe,
  useCleanup,
} from "./test-support.js";

interface PusherErrorEvent {
  type: string;
  data: { code: number | null; message: string };
}

interface Member {
  id: string;
  info: Record<string, unknown>;
}

describe("Pusher emulator: WebSocket protocol with pusher-js", () => {
  const onCleanup = useCleanup();

  it("delivers a REST trigger on a public channel to a pusher-js subscriber", async () => {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup);
    expect(client.connection.socket_id).toMatch(/^\d+\.\d+$/);
    expect(emulator.socketIds(APP.id)).toEqual([client.connection.socket_id]);
    const channel = await subscribe(client, "news");
    const received = nextEvent<[unknown]>(channel, "headline");
    await restClient(emulator).trigger("news", "headline", { title: "hello" });
    const [data] = await received;
    expect(data).toEqual({ title: "hello" });
    expect(emulator.stats.published).toBe(1);
  });

  it("skips the connection named by socket_id and delivers to the others", async () => {
    const emulator = await startEmulator(onCleanup);
    const excluded = await connectClient(emulator, onCleanup);
    const other = await connectClient(emulator, onCleanup);
    const excludedChannel = await subscribe(excluded, "news");
    const otherChannel = await subscribe(other, "news");
    const seenByExcluded: string[] = [];
    excludedChannel.bind_global((event: string) => {
      if (!event.startsWith("pusher")) seenByExcluded.push(event);
    });
    const rest = restClient(emulator);
    const otherGotIt = nextEvent(otherChannel, "update");
    await rest.trigger("news", "update", { n: 1 }, { socket_id: excluded.connection.socket_id });
    await otherGotIt;
    // Per-connection order is kept, so the marker arriving proves "update" never came.
    const marker = nextEvent(excludedChannel, "marker");
    await rest.trigger("news", "marker", {});
    await marker;
    expect(seenByExcluded).toEqual(["marker"]);
  });

  it("subscribes a private channel with a valid signature", async () => {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup);
    const channel = await subscribe(client, "private-orders");
    expect(channel.subscribed).toBe(true);
    expect(emulator.channels(APP.id)).toEqual({ "private-orders": { subscriptionCount: 1 } });
  });

  it("answers a forged private-channel signature with a channel-less pusher:error and keeps the socket", async () => {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup, { forgeAuth: true });
    const error = nextEvent<[PusherErrorEvent]>(client.connection, "error");
    const channel = client.subscribe("private-orders");
    const [{ type, data }] = await error;
    expect(type).toBe("PusherError");
    expect(data.code).toBeNull();
    expect(data.message).toMatch(
      new RegExp(
        `^Invalid signature: Expected HMAC SHA256 hex digest of ${client.connection.socket_id.replace(".", "\\.")}:private-orders, but got 0{64}$`,
      ),
    );
    expect(channel.subscribed).toBe(false);
    expect(client.connection.state).toBe("connected");
    expect(emulator.channels(APP.id)).toEqual({});
  });

  it("gives presence members to each subscriber and announces arrivals and departures", async () => {
    const emulator = await startEmulator(onCleanup);
    const alice = await connectClient(emulator, onCleanup, {
      identity: { userId: "alice", userInfo: { name: "Alice" } },
    });
    const bob = await connectClient(emulator, onCleanup, {
      identity: { userId: "bob", userInfo: { name: "Bob" } },
    });
    const aliceRoom = await subscribe(alice, "presence-room");
    const added = nextEvent<[Member]>(aliceRoom, "pusher:member_added");
    const bobRoom = await subscribe(bob, "presence-room");
    expect(await added).toEqual([{ id: "bob", info: { name: "Bob" } }]);

    const bobMembers = (
      bobRoom as unknown as {
        members: { count: number; me: Member; members: Record<string, unknown> };
      }
    ).members;
    expect(bobMembers.count).toBe(2);
    expect(bobMembers.me).toEqual({ id: "bob", info: { name: "Bob" } });
    expect(bobMembers.members).toEqual({ alice: { name: "Alice" }, bob: { name: "Bob" } });

    const response = await restClient(emulator).get({ path: "/channels/presence-room/users" });
    expect(await response.json()).toEqual({ users: [{ id: "alice" }, { id: "bob" }] });

    const removed = nextEvent<[Member]>(aliceRoom, "pusher:member_removed");
    bob.disconnect();
    expect(await removed).toEqual([{ id: "bob", info: { name: "Bob" } }]);
    expect(emulator.channels(APP.id)).toEqual({
      "presence-room": { subscriptionCount: 1, userCount: 1 },
    });
  });

  it("announces a presence user once, however many connections it joins with", async () => {
    const emulator = await startEmulator(onCleanup);
    const watcher = await connectClient(emulator, onCleanup, { identity: { userId: "watcher" } });
    const room = await subscribe(watcher, "presence-room");
    const seen: string[] = [];
    room.bind("pusher:member_added", (member: Member) => seen.push(`added ${member.id}`));
    room.bind("pusher:member_removed", (member: Member) => seen.push(`removed ${member.id}`));

    const firstTab = await connectClient(emulator, onCleanup, { identity: { userId: "carol" } });
    const secondTab = await connectClient(emulator, onCleanup, { identity: { userId: "carol" } });
    const carolAdded = nextEvent(room, "pusher:member_added");
    await subscribe(firstTab, "presence-room");
    await carolAdded;
    await subscribe(secondTab, "presence-room");
    expect(emulator.channels(APP.id)["presence-room"]).toEqual({
      subscriptionCount: 3,
      userCount: 2,
    });

    // A pong proves the server handled the unsubscribe before the next step.
    secondTab.unsubscribe("presence-room");
    const pong = nextEvent(secondTab, "pusher:pong");
    secondTab.send_event("pusher:ping", {});
    await pong;
    const carolRemoved = nextEvent(room, "pusher:member_removed");
    firstTab.unsubscribe("presence-room");
    await carolRemoved;
    expect(seen).toEqual(["added carol", "removed carol"]);
  });

  it("relays client events on a private channel to the other subscribers, never back to the sender", async () => {
    const emulator = await startEmulator(onCleanup);
    const sender = await connectClient(emulator, onCleanup);
    const receiver = await connectClient(emulator, onCleanup);
    const senderChannel = await subscribe(sender, "private-chat");
    const receiverChannel = await subscribe(receiver, "private-chat");
    const senderSaw: string[] = [];
    senderChannel.bind_global((event: string) => senderSaw.push(event));

    const typing = nextEvent<[unknown, unknown]>(receiverChannel, "client-typing");
    expect(senderChannel.trigger("client-typing", { text: "hi" })).toBe(true);
    const [data, metadata] = await typing;
    expect(data).toEqual({ text: "hi" });
    expect(metadata).toEqual({});

    const reply = nextEvent(senderChannel, "client-reply");
    receiverChannel.trigger("client-reply", {});
    await reply;
    expect(senderSaw).toEqual(["client-reply"]);
    expect(emulator.stats.clientEvents).toBe(2);
  });

  it("adds the sender's user_id to client events on presence channels", async () => {
    const emulator = await startEmulator(onCleanup);
    const dave = await connectClient(emulator, onCleanup, { identity: { userId: "dave" } });
    const erin = await connectClient(emulator, onCleanup, { identity: { userId: "erin" } });
    const daveRoom = await subscribe(dave, "presence-room");
    const erinRoom = await subscribe(erin, "presence-room");
    const wave = nextEvent<[unknown, { user_id?: string }]>(erinRoom, "client-wave");
    daveRoom.trigger("client-wave", { user_id: "forged" });
    const [data, metadata] = await wave;
    expect(data).toEqual({ user_id: "forged" });
    expect(metadata.user_id).toBe("dave");
  });

  it("refuses client events on public channels with a pusher:error", async () => {
    const emulator = await startEmulator(onCleanup);
    const sender = await connectClient(emulator, onCleanup);
    await subscribe(sender, "news");
    const error = nextEvent<[PusherErrorEvent]>(sender.connection, "error");
    sender.send_event("client-shout", {}, "news");
    const [{ data }] = await error;
    expect(data).toEqual({
      code: null,
      message: "Client event rejected - only supported on private and presence channels",
    });
    expect(sender.connection.state).toBe("connected");
    expect(emulator.stats.clientEvents).toBe(0);
  });

  it("rejects client events beyond 10 per second with 4301 and keeps the connection", async () => {
    const emulator = await startEmulator(onCleanup);
    const sender = await connectClient(emulator, onCleanup);
    const receiver = await connectClient(emulator, onCleanup);
    const senderChannel = await subscribe(sender, "private-burst");
    const receiverChannel = await subscribe(receiver, "private-burst");
    let delivered = 0;
    receiverChannel.bind("client-tick", () => {
      delivered += 1;
    });
    const error = nextEvent<[PusherErrorEvent]>(sender.connection, "error");
    for (let i = 0; i < 11; i += 1) senderChannel.trigger("client-tick", { i });
    const [{ data }] = await error;
    expect(data.code).toBe(4301);
    const marker = nextEvent(receiverChannel, "marker");
    await restClient(emulator).trigger("private-burst", "marker", {});
    await marker;
    expect(delivered).toBe(10);
    expect(sender.connection.state).toBe("connected");
  });

  it("answers pusher:ping with pusher:pong", async () => {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup);
    const pong = nextEvent(client, "pusher:pong");
    client.send_event("pusher:ping", {});
    await pong;
  });

  it("lets pusher-js reconnect by itself after restart() and resubscribe", async () => {
    const emulator = await startEmulator(onCleanup);
    const port = emulator.port;
    const client = await connectClient(emulator, onCleanup);
    const channel = await subscribe(client, "news");
    const firstSocketId = client.connection.socket_id;

    const reconnected = nextEvent<[{ previous: string; current: string }]>(
      client.connection,
      "state_change",
      ({ current }) => current === "connected",
    );
    const resubscribed = nextEvent(channel, "pusher:subscription_succeeded");
    await emulator.restart();
    expect(emulator.port).toBe(port);
    await reconnected;
    await resubscribed;
    expect(client.connection.socket_id).not.toBe(firstSocketId);

    const received = nextEvent<[unknown]>(channel, "after-restart");
    await restClient(emulator).trigger("news", "after-restart", { ok: true });
    const [data] = await received;
    expect(data).toEqual({ ok: true });
    expect(emulator.stats.connections).toBe(2);
  });
});

describe("Pusher emulator: WebSocket protocol on the wire", () => {
  const onCleanup = useCleanup();

  it("sends connection_established with a string data payload", async () => {
    const emulator = await startEmulator(onCleanup, { activityTimeout: 45 });
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    const frame = await raw.next();
    expect(frame.event).toBe("pusher:connection_established");
    expect(typeof frame.data).toBe("string");
    expect(JSON.parse(frame.data as string)).toEqual({
      socket_id: expect.stringMatching(/^\d+\.\d+$/),
      activity_timeout: 45,
    });
  });

  it.each([
    { what: "an unknown app key", key: "nope", query: "protocol=7", code: 4001 },
    { what: "no protocol version", key: APP.key, query: "client=js", code: 4008 },
    { what: "a malformed protocol version", key: APP.key, query: "protocol=seven", code: 4006 },
    { what: "an unsupported protocol version", key: APP.key, query: "protocol=6", code: 4007 },
  ])("refuses $what with pusher:error and close code $code", async ({ key, query, code }) => {
    const emulator = await startEmulator(onCleanup);
    const raw = RawPusherSocket.open(emulator, key, query);
    onCleanup(() => raw.close());
    const frame = await raw.next();
    expect(frame).toMatchObject({ event: "pusher:error", data: { code } });
    expect((await raw.closed).code).toBe(code);
  });

  it("refuses a path other than /app/{key} with close code 4005", async () => {
    const emulator = await startEmulator(onCleanup);
    const raw = new RawPusherSocket(`ws://${emulator.host}:${emulator.port}/socket?protocol=7`);
    onCleanup(() => raw.close());
    expect(await raw.next()).toMatchObject({ event: "pusher:error", data: { code: 4005 } });
    expect((await raw.closed).code).toBe(4005);
  });

  it("refuses presence channel_data without a usable user_id", async () => {
    const emulator = await startEmulator(onCleanup);
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    const socketId = await raw.handshake();
    const rest = restClient(emulator);
    for (const userId of ["", "u".repeat(129)]) {
      const { auth, channel_data } = rest.authorizeChannel(socketId, "presence-room", {
        user_id: userId,
      });
      raw.send({
        event: "pusher:subscribe",
        data: { channel: "presence-room", auth, channel_data },
      });
      expect(await raw.next()).toMatchObject({ event: "pusher:error", data: { code: null } });
    }
    expect(emulator.channels(APP.id)).toEqual({});
  });

  it("refuses invalid channel names without closing", async () => {
    const emulator = await startEmulator(onCleanup);
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    await raw.handshake();
    for (const channel of ["bad:name", "x".repeat(165), "#server-to-user-1"]) {
      raw.send({ event: "pusher:subscribe", data: { channel } });
      expect(await raw.next()).toMatchObject({ event: "pusher:error", data: { code: null } });
    }
    raw.send({ event: "pusher:subscribe", data: { channel: "x".repeat(164) } });
    expect(await raw.next()).toEqual({
      event: "pusher_internal:subscription_succeeded",
      channel: "x".repeat(164),
      data: "{}",
    });
  });

  it("pings a silent client after activity_timeout and closes with 4201 when no pong comes", async () => {
    const emulator = await startEmulator(onCleanup, { activityTimeout: 1, pongTimeout: 0.2 });
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    await raw.handshake();
    expect(await raw.next()).toEqual({ event: "pusher:ping", data: "{}" });
    raw.send({ event: "pusher:pong", data: {} });
    expect(await raw.next()).toEqual({ event: "pusher:ping", data: "{}" });
    expect(await raw.next()).toMatchObject({ event: "pusher:error", data: { code: 4201 } });
    expect((await raw.closed).code).toBe(4201);
  });

  it("does not relay client events from a connection that is not subscribed", async () => {
    const emulator = await startEmulator(onCleanup);
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    await raw.handshake();
    raw.send({ event: "client-x", channel: "private-elsewhere", data: {} });
    expect(await raw.next()).toMatchObject({ event: "pusher:error", data: { code: null } });
    expect(emulator.stats.clientEvents).toBe(0);
  });

  it("rejects client events when the app has them disabled", async () => {
    const emulator = await startEmulator(onCleanup, {
      apps: [{ ...APP, clientEvents: false }],
    });
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    await raw.handshake();
    raw.send({ event: "client-x", channel: "private-a", data: {} });
    expect(await raw.next()).toEqual({
      event: "pusher:error",
      data: {
        code: null,
        message:
          "To send client events, you must enable this feature in the Settings page of your dashboard.",
      },
    });
  });
});

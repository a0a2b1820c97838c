import type * as Ably from "ably";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import type { AblyKeyConfig, DeliveryFault } from "./ably-emulator.js";
import {
  APP_ID,
  connectRealtime,
  FORMATS,
  Inbox,
  KEY_CONFIG,
  keyOf,
  newRealtime,
  startEmulator,
  waitForConnection,
  waitUntil,
} from "./test-support.js";

/** A key that may only subscribe and publish on `public:*` channels. */
const LIMITED_KEY: AblyKeyConfig = {
  id: "limited",
  secret: "limited-secret",
  capability: { "public:*": ["subscribe", "publish"] },
};

describe.each(FORMATS)(
  "Ably emulator with the ably SDK over %s: connections and channels",
  (format) => {
    const cleanup = useCleanup();

    it("connects with an API key and gives the client its connection id and key", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format, { clientId: "alice" });
      expect(client.connection.id).toMatch(/^[\w-]+$/);
      expect(client.connection.key).toContain(client.connection.id!);
      expect(client.auth.clientId).toBe("alice");
      expect(emulator.connectionIds(APP_ID)).toEqual([client.connection.id]);
      expect(emulator.stats.connections).toBe(1);
    });

    it("refuses a wrong secret with 40101 and the client fails for good", async () => {
      const emulator = await startEmulator(cleanup);
      const client = newRealtime(emulator, cleanup, format, {
        key: keyOf({ ...KEY_CONFIG, secret: "wrong" }),
      });
      const change = await waitForConnection(client, "failed");
      expect(change?.reason?.code).toBe(40101);
      expect(change?.reason?.statusCode).toBe(401);
      expect(emulator.stats).toMatchObject({ connections: 0, refused: 1 });
    });

    it("refuses an unknown key name with 40101", async () => {
      const emulator = await startEmulator(cleanup);
      const client = newRealtime(emulator, cleanup, format, { key: `${APP_ID}.nope:secret` });
      const change = await waitForConnection(client, "failed");
      expect(change?.reason?.code).toBe(40101);
    });

    it("attaches with every mode granted, then detaches", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const channel = client.channels.get("room:1");
      await channel.attach();
      expect(channel.state).toBe("attached");
      expect([...(channel.modes ?? [])].sort()).toEqual([
        "presence",
        "presence_subscribe",
        "publish",
        "subscribe",
      ]);
      expect(emulator.attachedConnectionIds(APP_ID, "room:1")).toEqual([client.connection.id]);
      await channel.detach();
      expect(channel.state).toBe("detached");
      expect(emulator.attachedConnectionIds(APP_ID, "room:1")).toEqual([]);
    });

    it("grants only the modes the client asks for", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const channel = client.channels.get("room:1", { modes: ["SUBSCRIBE", "PRESENCE_SUBSCRIBE"] });
      await channel.attach();
      expect([...(channel.modes ?? [])].sort()).toEqual(["presence_subscribe", "subscribe"]);
    });

    it("refuses to attach a channel the key's capability does not cover with 40160, and keeps the connection", async () => {
      const emulator = await startEmulator(cleanup, { extraKeys: [LIMITED_KEY] });
      const client = await connectRealtime(emulator, cleanup, format, { key: keyOf(LIMITED_KEY) });
      const refused = client.channels.get("private:1");
      const error = (await refused.attach().catch((e: unknown) => e)) as Ably.ErrorInfo;
      expect(error.code).toBe(40160);
      expect(error.statusCode).toBe(401);
      expect(refused.state).toBe("failed");
      expect(client.connection.state).toBe("connected");
      const allowed = client.channels.get("public:1");
      await allowed.attach();
      expect([...(allowed.modes ?? [])].sort()).toEqual([
        "presence_subscribe",
        "publish",
        "subscribe",
      ]);
    });

    it("refuses an invalid channel name with 40010 on attach", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      for (const name of [":starts-with-colon", "has\nnewline", "[meta]log"]) {
        const channel = client.channels.get(name);
        const error = (await channel.attach().catch((e: unknown) => e)) as Ably.ErrorInfo;
        expect(error.code, name).toBe(40010);
        expect(channel.state).toBe("failed");
      }
      expect(client.connection.state).toBe("connected");
    });

    it("accepts unicode, slashes, spaces and ?#% in channel names", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const channel = client.channels.get("chat:room/1 ü?#%");
      const inbox = await Inbox.of(channel);
      await channel.publish("hello", "there");
      const [message] = await inbox.next(1);
      expect(message?.data).toBe("there");
    });

    it("answers connection.ping()", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      expect(await client.connection.ping()).toBeGreaterThanOrEqual(0);
    });

    it("closes cleanly: CLOSE gets CLOSED and the connection state is gone", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const closed = waitForConnection(client, "closed");
      client.close();
      await closed;
      // The SDK does not wait for CLOSED; a dropped connection would stay resumable for 2 minutes.
      await waitUntil(
        "connection state discarded",
        () => emulator.connectionIds(APP_ID).length === 0,
      );
    });
  },
);

describe.each(FORMATS)(
  "Ably emulator with the ably SDK over %s: publish and subscribe",
  (format) => {
    const cleanup = useCleanup();

    it("resolves a publish on its ACK with one serial per message", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const channel = client.channels.get("room:1");
      const result = await channel.publish([
        { name: "a", data: "1" },
        { name: "b", data: "2" },
      ]);
      expect(result.serials).toHaveLength(2);
      expect(new Set(result.serials).size).toBe(2);
      expect(emulator.stats).toMatchObject({ published: 2, acks: 1, nacks: 0 });
    });

    it("lets two clients see each other's messages, with id, clientId, connectionId and timestamp filled in", async () => {
      const emulator = await startEmulator(cleanup);
      const alice = await connectRealtime(emulator, cleanup, format, { clientId: "alice" });
      const bob = await connectRealtime(emulator, cleanup, format, { clientId: "bob" });
      const aliceInbox = await Inbox.of(alice.channels.get("room:1"));
      const bobInbox = await Inbox.of(bob.channels.get("room:1"));

      const before = Date.now();
      await alice.channels.get("room:1").publish("greet", "hi bob");
      const [fromAlice] = await bobInbox.next(1);
      expect(fromAlice).toMatchObject({
        name: "greet",
        data: "hi bob",
        clientId: "alice",
        connectionId: alice.connection.id,
      });
      expect(fromAlice?.id).toBe(`${alice.connection.id}:0:0`);
      expect(fromAlice?.timestamp).toBeGreaterThanOrEqual(before);

      await bob.channels.get("room:1").publish("greet", "hi alice");
      const received = await aliceInbox.next(2);
      expect(received.map((m) => [m.clientId, m.data])).toEqual([
        ["alice", "hi bob"],
        ["bob", "hi alice"],
      ]);
    });

    it("does not send a client its own messages when it connected with echoMessages off", async () => {
      const emulator = await startEmulator(cleanup);
      const quiet = await connectRealtime(emulator, cleanup, format, { echoMessages: false });
      const other = await connectRealtime(emulator, cleanup, format);
      const quietInbox = await Inbox.of(quiet.channels.get("room:1"));
      const otherInbox = await Inbox.of(other.channels.get("room:1"));
      await quiet.channels.get("room:1").publish("mine", "1");
      await otherInbox.next(1);
      await other.channels.get("room:1").publish("theirs", "2");
      // One connection's frames arrive in order, so "theirs" arriving proves "mine" never came.
      await quietInbox.next(1);
      expect(quietInbox.messages.map((m) => m.name)).toEqual(["theirs"]);
      expect(otherInbox.messages.map((m) => m.name)).toEqual(["mine", "theirs"]);
    });

    it("delivers to subscribers in the order they attached", async () => {
      const emulator = await startEmulator(cleanup);
      const clients = [];
      for (let i = 0; i < 3; i += 1) clients.push(await connectRealtime(emulator, cleanup, format));
      const inboxes = [];
      for (const client of [clients[2]!, clients[0]!, clients[1]!]) {
        inboxes.push(await Inbox.of(client.channels.get("room:1")));
      }
      const order: string[] = [];
      emulator.setDeliveryFault(({ connectionId }) => {
        order.push(connectionId);
        return undefined;
      });
      await clients[0]!.channels.get("room:1").publish("tick", "1");
      await Promise.all(inboxes.map((inbox) => inbox.next(1)));
      expect(order).toEqual([clients[2], clients[0], clients[1]].map((c) => c!.connection.id));
      expect(emulator.attachedConnectionIds(APP_ID, "room:1")).toEqual(order);
    });

    it("lets a test drop, duplicate or hold back single deliveries", async () => {
      const emulator = await startEmulator(cleanup);
      const publisher = await connectRealtime(emulator, cleanup, format);
      const subscriber = await connectRealtime(emulator, cleanup, format);
      const inbox = await Inbox.of(subscriber.channels.get("room:1"));
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const verdicts: Record<string, DeliveryFault> = {
        [`${publisher.connection.id}:0:0`]: "drop",
        [`${publisher.connection.id}:1:0`]: "duplicate",
        [`${publisher.connection.id}:2:0`]: { until: released },
      };
      emulator.setDeliveryFault(({ ids }) => verdicts[ids[0]!]);
      const room = publisher.channels.get("room:1");
      for (const name of ["dropped", "doubled", "held", "plain"]) await room.publish(name, "x");
      await inbox.next(3);
      release();
      await inbox.next(4);
      expect(inbox.messages.map((m) => m.name)).toEqual(["doubled", "doubled", "plain", "held"]);
    });

    it("refuses a publish larger than the advertised maxMessageSize in the SDK, before sending", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const error = (await client.channels
        .get("room:1")
        .publish("big", "x".repeat(65_537))
        .catch((e: unknown) => e)) as Ably.ErrorInfo;
      expect(error.code).toBe(40009);
      expect(emulator.stats).toMatchObject({ published: 0, nacks: 0 });
    });

    it("NACKs a publish over the enforced maxMessageSize with 40009, which the SDK raises", async () => {
      const emulator = await startEmulator(cleanup, {
        maxMessageSize: 1000,
        advertisedMaxMessageSize: 65_536,
      });
      const client = await connectRealtime(emulator, cleanup, format);
      const channel = client.channels.get("room:1");
      const error = (await channel
        .publish("big", "x".repeat(2000))
        .catch((e: unknown) => e)) as Ably.ErrorInfo;
      expect(error.code).toBe(40009);
      expect(error.statusCode).toBe(400);
      expect(error.message).toMatch(/limit is 1000 bytes/);
      // The connection carries on: the next publish is ACKed.
      await channel.publish("small", "x");
      expect(emulator.stats).toMatchObject({ published: 1, acks: 1, nacks: 1 });
    });

    it("NACKs a publish on a channel outside the key's capability with 40160", async () => {
      const emulator = await startEmulator(cleanup, { extraKeys: [LIMITED_KEY] });
      const client = await connectRealtime(emulator, cleanup, format, { key: keyOf(LIMITED_KEY) });
      const error = (await client.channels
        .get("private:1")
        .publish("x", "y")
        .catch((e: unknown) => e)) as Ably.ErrorInfo;
      expect(error.code).toBe(40160);
    });

    it("NACKs every publish with the error a test injects, e.g. 42911 throttling", async () => {
      const emulator = await startEmulator(cleanup);
      const client = await connectRealtime(emulator, cleanup, format);
      const channel = client.channels.get("room:1");
      const restore = emulator.rejectPublishes({
        code: 42911,
        statusCode: 429,
        message: "Rate limit exceeded",
      });
      const error = (await channel.publish("x", "y").catch((e: unknown) => e)) as Ably.ErrorInfo;
      expect(error.code).toBe(42911);
      expect(error.statusCode).toBe(429);
      restore();
      await channel.publish("x", "y");
    });

    it("replays the last messages a rewind param asks for on attach", async () => {
      const emulator = await startEmulator(cleanup);
      const publisher = await connectRealtime(emulator, cleanup, format);
      for (const n of ["1", "2", "3"]) await publisher.channels.get("room:1").publish("n", n);
      const late = await connectRealtime(emulator, cleanup, format);
      const inbox = await Inbox.of(late.channels.get("room:1", { params: { rewind: "2" } }));
      const replayed = await inbox.next(2);
      expect(replayed.map((m) => m.data)).toEqual(["2", "3"]);
    });
  },
);

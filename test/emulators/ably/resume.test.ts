import type * as Ably from "ably";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import {
  APP_ID,
  connectRealtime,
  FORMATS,
  Inbox,
  restClient,
  startEmulator,
  waitForConnection,
  waitUntil,
} from "./test-support.js";

/** The next change into `state`, even when the connection is in that state now. */
function nextConnectionChange(
  client: Ably.Realtime,
  state: Ably.ConnectionState,
): Promise<Ably.ConnectionStateChange> {
  return new Promise((resolve) => client.connection.once(state, resolve));
}

/** The next change of `channel` into `attached` (from attaching, after a reconnect). */
function nextAttached(channel: Ably.RealtimeChannel): Promise<Ably.ChannelStateChange> {
  return new Promise((resolve) => channel.once("attached", resolve));
}

describe.each(FORMATS)("Ably emulator resume and restarts with the ably SDK over %s", (format) => {
  const cleanup = useCleanup();

  it("resumes a dropped connection with its id and delivers, in order, what was published while it was gone", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format);
    const bob = await connectRealtime(emulator, cleanup, format);
    const channel = alice.channels.get("room:1");
    const inbox = await Inbox.of(channel);
    const bobRoom = bob.channels.get("room:1");
    await bobRoom.publish("n", "before");
    await inbox.next(1);
    const { id, key } = alice.connection;

    const release = emulator.holdConnections();
    const disconnected = waitForConnection(alice, "disconnected");
    await emulator.dropConnections({ connectionId: id! });
    await disconnected;
    for (const n of ["m1", "m2", "m3"]) await bobRoom.publish("n", n);
    await restClient(emulator, format).channels.get("room:1").publish("n", "via-rest");

    const reattached = nextAttached(channel);
    release();
    await waitForConnection(alice, "connected");
    expect((await reattached).resumed).toBe(true);
    const received = await inbox.next(5);
    expect(received.map((m) => m.data)).toEqual(["before", "m1", "m2", "m3", "via-rest"]);
    expect(alice.connection.id).toBe(id);
    expect(alice.connection.key).not.toBe(key);
    expect(emulator.stats.resumes).toBe(1);

    await bobRoom.publish("n", "after");
    expect((await inbox.next(6)).at(-1)?.data).toBe("after");
  });

  it("sends a publish queued while disconnected after the resume, and delivers it once", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format);
    const bob = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(bob.channels.get("room:1"));
    const room = alice.channels.get("room:1");

    const release = emulator.holdConnections();
    const disconnected = waitForConnection(alice, "disconnected");
    await emulator.dropConnections({ connectionId: alice.connection.id! });
    await disconnected;
    const queued = room.publish("n", "queued");
    release();
    await queued;
    await room.publish("n", "marker");
    await inbox.next(2);
    expect(inbox.messages.map((m) => m.data)).toEqual(["queued", "marker"]);
  });

  it("answers a publish resent after a lost ACK without delivering it twice", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format);
    const bob = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(bob.channels.get("room:1"));
    let hasDropped = false;
    // Cut alice's transport while her publish is being fanned out: the ACK never leaves.
    emulator.setDeliveryFault(() => {
      if (!hasDropped) {
        hasDropped = true;
        void emulator.dropConnections({ connectionId: alice.connection.id! });
      }
      return undefined;
    });
    const result = await alice.channels.get("room:1").publish("n", "once");
    expect(result.serials).toHaveLength(1);
    expect(emulator.stats.resumes).toBe(1);
    await alice.channels.get("room:1").publish("n", "marker");
    await inbox.next(2);
    expect(inbox.messages.map((m) => m.data)).toEqual(["once", "marker"]);
    // The first ACK was lost with the transport; the resent msgSerial got its answer again.
    expect(emulator.stats).toMatchObject({ published: 2, acks: 2 });
  });

  it("resumes at once after a DISCONNECTED from the server", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format);
    const id = alice.connection.id;
    const disconnected = nextConnectionChange(alice, "disconnected");
    const reconnected = nextConnectionChange(alice, "connected");
    await emulator.dropConnections({
      disconnected: { code: 80003, statusCode: 503, message: "Shedding load" },
    });
    expect((await disconnected).reason?.code).toBe(80003);
    await reconnected;
    expect(alice.connection.id).toBe(id);
  });

  it("re-attaches without RESUMED when the missed messages fell out of the emulator's log", async () => {
    const emulator = await startEmulator(cleanup, { retainedMessages: 2 });
    const alice = await connectRealtime(emulator, cleanup, format);
    const bob = await connectRealtime(emulator, cleanup, format);
    const channel = alice.channels.get("room:1");
    const inbox = await Inbox.of(channel);

    const release = emulator.holdConnections();
    const disconnected = waitForConnection(alice, "disconnected");
    await emulator.dropConnections({ connectionId: alice.connection.id! });
    await disconnected;
    for (const n of ["m1", "m2", "m3"]) await bob.channels.get("room:1").publish("n", n);
    const reattached = nextAttached(channel);
    release();
    expect((await reattached).resumed).toBe(false);
    await bob.channels.get("room:1").publish("n", "after");
    await inbox.next(1);
    expect(inbox.messages.map((m) => m.data)).toEqual(["after"]);
  });

  it("gives a new connection with 80008 when the state expired after connectionStateTtl", async () => {
    const emulator = await startEmulator(cleanup, { connectionStateTtl: 100 });
    // The SDK takes the TTL from connectionDetails and is suspended once it runs out; it then
    // retries (still asking to resume) every suspendedRetryTimeout, 30 s by default.
    const alice = await connectRealtime(emulator, cleanup, format, { suspendedRetryTimeout: 100 });
    const id = alice.connection.id!;
    const release = emulator.holdConnections();
    const disconnected = waitForConnection(alice, "disconnected");
    await emulator.dropConnections({ connectionId: id });
    await disconnected;
    await waitUntil("state expired", () => !emulator.connectionIds(APP_ID).includes(id));
    const reconnected = nextConnectionChange(alice, "connected");
    release();
    expect((await reconnected).reason?.code).toBe(80008);
    expect(alice.connection.id).not.toBe(id);
  });

  it("after restart(), reconnects on a new connection (80008), re-attaches and carries messages again", async () => {
    const emulator = await startEmulator(cleanup);
    const port = emulator.port;
    const alice = await connectRealtime(emulator, cleanup, format);
    const channel = alice.channels.get("room:1");
    const inbox = await Inbox.of(channel);
    const id = alice.connection.id;

    const reconnected = nextConnectionChange(alice, "connected");
    const reattached = nextAttached(channel);
    await emulator.restart();
    expect(emulator.port).toBe(port);
    expect((await reconnected).reason?.code).toBe(80008);
    expect((await reattached).resumed).toBe(false);
    expect(alice.connection.id).not.toBe(id);

    await restClient(emulator, format).channels.get("room:1").publish("n", "after-restart");
    expect((await inbox.next(1))[0]?.data).toBe("after-restart");
  });

  it("after kill(), refuses connections until revive(), then the SDK reconnects by itself", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format, {
      disconnectedRetryTimeout: 100,
    });
    const channel = alice.channels.get("room:1");
    const inbox = await Inbox.of(channel);
    const rest = restClient(emulator, format);

    const disconnected = waitForConnection(alice, "disconnected");
    await emulator.kill();
    await disconnected;
    await expect(rest.channels.get("room:1").publish("n", "lost")).rejects.toThrow();

    const reattached = nextAttached(channel);
    await emulator.revive();
    await reattached;
    await rest.channels.get("room:1").publish("n", "back");
    expect((await inbox.next(1))[0]?.data).toBe("back");
  });
});

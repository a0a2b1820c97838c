import type * as Ably from "ably";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import {
  APP_ID,
  connectRealtime,
  FORMATS,
  nextPresence,
  restClient,
  startEmulator,
  waitForChannel,
  waitForConnection,
} from "./test-support.js";

function summary(members: Ably.PresenceMessage[]): [string, unknown][] {
  return members
    .map((m): [string, unknown] => [m.clientId, m.data])
    .sort(([a], [b]) => a.localeCompare(b));
}

describe.each(FORMATS)("Ably emulator presence with the ably SDK over %s", (format) => {
  const cleanup = useCleanup();

  it("announces enter, update and leave (with the last data) to another client", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format, { clientId: "alice" });
    const bob = await connectRealtime(emulator, cleanup, format, { clientId: "bob" });
    const watched = bob.channels.get("room:1");
    await watched.attach();
    const room = alice.channels.get("room:1");

    const entered = nextPresence(watched, "enter");
    await room.presence.enter({ status: "here" });
    expect(await entered).toMatchObject({
      clientId: "alice",
      connectionId: alice.connection.id,
      data: { status: "here" },
    });

    const updated = nextPresence(watched, "update");
    await room.presence.update("busy");
    expect((await updated).data).toBe("busy");

    const left = nextPresence(watched, "leave");
    await room.presence.leave();
    expect(await left).toMatchObject({ clientId: "alice", data: "busy" });
    expect(emulator.presenceMembers(APP_ID, "room:1")).toEqual([]);
  });

  it("gives a late joiner the members through SYNC on attach", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format, { clientId: "alice" });
    const carol = await connectRealtime(emulator, cleanup, format, { clientId: "carol" });
    await alice.channels.get("room:1").presence.enter("a");
    await carol.channels.get("room:1").presence.enter({ c: 3 });
    const late = await connectRealtime(emulator, cleanup, format);
    const members = await late.channels.get("room:1").presence.get();
    expect(summary(members)).toEqual([
      ["alice", "a"],
      ["carol", { c: 3 }],
    ]);
    expect(members.every((m) => m.action === "present")).toBe(true);
  });

  it("syncs a presence set larger than one SYNC page", async () => {
    const emulator = await startEmulator(cleanup, { syncPageSize: 2 });
    const host = await connectRealtime(emulator, cleanup, format);
    const room = host.channels.get("room:1");
    await Promise.all(
      ["m1", "m2", "m3", "m4", "m5"].map((id) => room.presence.enterClient(id, id)),
    );
    const late = await connectRealtime(emulator, cleanup, format);
    const members = await late.channels.get("room:1").presence.get();
    expect(members.map((m) => m.clientId).sort()).toEqual(["m1", "m2", "m3", "m4", "m5"]);
  });

  it("answers presence.get() with no members at once when nobody is present", async () => {
    const emulator = await startEmulator(cleanup);
    const client = await connectRealtime(emulator, cleanup, format);
    expect(await client.channels.get("room:1").presence.get()).toEqual([]);
  });

  it("lets one connection enter several clientIds with enterClient, and leave them one by one", async () => {
    const emulator = await startEmulator(cleanup);
    const bridge = await connectRealtime(emulator, cleanup, format);
    const watcher = await connectRealtime(emulator, cleanup, format);
    const watched = watcher.channels.get("room:1");
    await watched.attach();
    const room = bridge.channels.get("room:1");
    const secondEntered = nextPresence(watched, "enter", (m) => m.clientId === "u2");
    await room.presence.enterClient("u1", { n: 1 });
    await room.presence.enterClient("u2", { n: 2 });
    await secondEntered;
    expect(summary(await watched.presence.get())).toEqual([
      ["u1", { n: 1 }],
      ["u2", { n: 2 }],
    ]);
    expect(emulator.presenceMembers(APP_ID, "room:1").map((m) => m.connectionId)).toEqual([
      bridge.connection.id,
      bridge.connection.id,
    ]);

    const left = nextPresence(watched, "leave");
    await room.presence.leaveClient("u1");
    expect((await left).clientId).toBe("u1");
    expect(summary(await watched.presence.get())).toEqual([["u2", { n: 2 }]]);
  });

  it("refuses enterClient for another clientId on a connection that has its own (40012)", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format, { clientId: "alice" });
    const room = alice.channels.get("room:1");
    await room.attach();
    const error = (await room.presence
      .enterClient("mallory", "x")
      .catch((e: unknown) => e)) as Ably.ErrorInfo;
    expect(error.code).toBe(40012);
  });

  it("sends a client its own presence events although it connected with echo off", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format, {
      clientId: "alice",
      echoMessages: false,
    });
    const room = alice.channels.get("room:1");
    await room.attach();
    const own = nextPresence(room, "enter");
    await room.presence.enter();
    expect((await own).clientId).toBe("alice");
  });

  it("makes the members of a closed connection leave at once", async () => {
    const emulator = await startEmulator(cleanup);
    const dave = await connectRealtime(emulator, cleanup, format, { clientId: "dave" });
    const watcher = await connectRealtime(emulator, cleanup, format);
    const watched = watcher.channels.get("room:1");
    await watched.attach();
    await dave.channels.get("room:1").presence.enter();
    const left = nextPresence(watched, "leave");
    dave.close();
    expect((await left).clientId).toBe("dave");
  });

  it("makes the members of a detached channel leave", async () => {
    const emulator = await startEmulator(cleanup);
    const dave = await connectRealtime(emulator, cleanup, format, { clientId: "dave" });
    const watcher = await connectRealtime(emulator, cleanup, format);
    const watched = watcher.channels.get("room:1");
    await watched.attach();
    const room = dave.channels.get("room:1");
    await room.presence.enter();
    const left = nextPresence(watched, "leave");
    await room.detach();
    expect((await left).clientId).toBe("dave");
  });

  it("keeps a dropped client's members for remainPresentFor, then leaves them; they re-enter on resume", async () => {
    const emulator = await startEmulator(cleanup, { remainPresentFor: 100 });
    const erin = await connectRealtime(emulator, cleanup, format, { clientId: "erin" });
    const watcher = await connectRealtime(emulator, cleanup, format);
    const watched = watcher.channels.get("room:1");
    await watched.attach();
    const room = erin.channels.get("room:1");
    await room.presence.enter("e");

    const release = emulator.holdConnections();
    const left = nextPresence(watched, "leave");
    const disconnected = waitForConnection(erin, "disconnected");
    await emulator.dropConnections({ connectionId: erin.connection.id! });
    await disconnected;
    expect(await left).toMatchObject({ clientId: "erin", data: "e" });

    const reentered = nextPresence(watched, "enter");
    release();
    await waitForConnection(erin, "connected");
    expect(await reentered).toMatchObject({ clientId: "erin", data: "e" });
  });

  it("lists the members over REST", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, format, { clientId: "alice" });
    await alice.channels.get("room:1").presence.enter({ here: true });
    const page = await restClient(emulator, format).channels.get("room:1").presence.get();
    expect(summary(page.items)).toEqual([["alice", { here: true }]]);
  });

  it("accepts an enter made before the channel is attached, once the SDK's implicit attach is done", async () => {
    const emulator = await startEmulator(cleanup);
    const client = await connectRealtime(emulator, cleanup, format, { clientId: "x" });
    const room = client.channels.get("room:1");
    const attached = waitForChannel(room, "attached");
    await room.presence.enter();
    await attached;
    expect(emulator.presenceMembers(APP_ID, "room:1").map((m) => m.clientId)).toEqual(["x"]);
  });
});

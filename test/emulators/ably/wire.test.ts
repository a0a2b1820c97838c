import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { useCleanup } from "../../helpers/cleanup.js";
import { Action, ALL_MODES, Flag, PresenceAction } from "./protocol.js";
import {
  APP_ID,
  connectRealtime,
  FORMATS,
  Inbox,
  KEY,
  RawAblySocket,
  startEmulator,
} from "./test-support.js";

describe.each(FORMATS)("Ably emulator on the wire, format %s", (format) => {
  const cleanup = useCleanup();

  /** A raw socket past CONNECTED; returns it with its connection id. */
  async function openRaw(
    emulator: Awaited<ReturnType<typeof startEmulator>>,
    extra = "",
  ): Promise<{ raw: RawAblySocket; connectionId: string }> {
    const raw = RawAblySocket.open(emulator, format, extra);
    cleanup.add(() => raw.close());
    const connected = await raw.nextOf(Action.CONNECTED);
    return { raw, connectionId: connected.connectionId as string };
  }

  it("sends CONNECTED with the connection details the SDK needs, in the connection's frame type", async () => {
    const emulator = await startEmulator(cleanup, { maxIdleInterval: 5000 });
    const raw = RawAblySocket.open(emulator, format, "&clientId=alice");
    cleanup.add(() => raw.close());
    const connected = await raw.next();
    expect(connected).toEqual({
      action: Action.CONNECTED,
      connectionId: expect.stringMatching(/^[\w-]+$/),
      connectionDetails: {
        connectionKey: expect.stringContaining(connected.connectionId as string),
        clientId: "alice",
        maxMessageSize: 65_536,
        maxInboundRate: 50,
        maxFrameSize: 524_288,
        maxIdleInterval: 5000,
        connectionStateTtl: 120_000,
        serverId: expect.any(String),
        siteCode: "local",
      },
    });
    expect(raw.frameKinds).toEqual([format === "json" ? "text" : "binary"]);
  });

  it.each([
    { what: "protocol version 1", query: "v=1", code: 40000 },
    { what: "protocol version 7", query: "v=7", code: 40000 },
    { what: "no protocol version", query: "", code: 40000 },
    { what: "no credentials", query: "v=6", code: 40101, noKey: true },
    { what: "a token", query: "v=6&access_token=abc", code: 40101, noKey: true },
  ])("refuses $what with an ERROR ($code) and closes", async ({ query, code, noKey }) => {
    const emulator = await startEmulator(cleanup);
    const key = noKey === true ? "" : `key=${encodeURIComponent(KEY)}&`;
    const raw = new RawAblySocket(emulator, `${key}format=${format}&${query}`, format);
    cleanup.add(() => raw.close());
    const error = await raw.next();
    expect(error).toMatchObject({ action: Action.ERROR, error: { code } });
    expect(error.channel).toBeUndefined();
    await raw.closed;
    expect(emulator.stats.refused).toBe(1);
  });

  it.each([2, 3, 4, 5, 6])("accepts protocol version %i", async (version) => {
    const emulator = await startEmulator(cleanup);
    const query = `key=${encodeURIComponent(KEY)}&format=${format}&v=${version}`;
    const raw = new RawAblySocket(emulator, query, format);
    cleanup.add(() => raw.close());
    expect((await raw.next()).action).toBe(Action.CONNECTED);
  });

  it("puts message serials in ACKs from v4 on, and leaves them out before", async () => {
    const emulator = await startEmulator(cleanup);
    for (const version of [3, 4]) {
      const query = `key=${encodeURIComponent(KEY)}&format=${format}&v=${version}`;
      const raw = new RawAblySocket(emulator, query, format);
      cleanup.add(() => raw.close());
      await raw.nextOf(Action.CONNECTED);
      raw.send({ action: Action.MESSAGE, channel: "c", msgSerial: 0, messages: [{ data: "x" }] });
      const ack = await raw.nextOf(Action.ACK);
      expect(ack).toMatchObject({ msgSerial: 0, count: 1 });
      if (version === 3) expect(ack.res).toBeUndefined();
      else expect(ack.res).toEqual([{ serials: [expect.any(String)] }]);
    }
  });

  it("answers a HEARTBEAT carrying an id with the same id", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator);
    raw.send({ action: Action.HEARTBEAT, id: "ping-1" });
    expect(await raw.nextOf(Action.HEARTBEAT)).toEqual({ action: Action.HEARTBEAT, id: "ping-1" });
  });

  it("sends HEARTBEAT frames to a client that asked for heartbeats=true", async () => {
    const emulator = await startEmulator(cleanup, { maxIdleInterval: 100 });
    const query = `key=${encodeURIComponent(KEY)}&format=${format}&heartbeats=true&v=6`;
    const raw = new RawAblySocket(emulator, query, format);
    cleanup.add(() => raw.close());
    await raw.nextOf(Action.CONNECTED);
    expect(await raw.nextOf(Action.HEARTBEAT)).toEqual({ action: Action.HEARTBEAT });
  });

  it("sends WebSocket pings to a client that asked for heartbeats=false", async () => {
    const emulator = await startEmulator(cleanup, { maxIdleInterval: 100 });
    const { raw } = await openRaw(emulator);
    await new Promise<void>((resolve) => raw.socket.once("ping", () => resolve()));
  });

  it("answers ATTACH with the modes, the channel serial and no presence flag on an empty channel", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator);
    raw.send({ action: Action.ATTACH, channel: "room:1", params: { agent: "x", custom: "1" } });
    expect(await raw.next()).toEqual({
      action: Action.ATTACHED,
      channel: "room:1",
      channelSerial: expect.stringMatching(/@0$/),
      flags: ALL_MODES,
      params: { custom: "1" },
    });
    raw.send({ action: Action.DETACH, channel: "room:1" });
    expect(await raw.next()).toEqual({ action: Action.DETACHED, channel: "room:1" });
  });

  it("sets HAS_PRESENCE and sends the members as one SYNC when someone is present", async () => {
    const emulator = await startEmulator(cleanup);
    const member = await openRaw(emulator);
    member.raw.send({ action: Action.ATTACH, channel: "room:1" });
    await member.raw.nextOf(Action.ATTACHED);
    member.raw.send({
      action: Action.PRESENCE,
      channel: "room:1",
      msgSerial: 0,
      presence: [{ action: PresenceAction.ENTER, clientId: "bob", data: "hi" }],
    });
    await member.raw.nextOf(Action.ACK);

    const { raw } = await openRaw(emulator);
    raw.send({ action: Action.ATTACH, channel: "room:1" });
    const attached = await raw.next();
    expect(attached.flags).toBe(ALL_MODES | Flag.HAS_PRESENCE);
    expect(await raw.next()).toEqual({
      action: Action.SYNC,
      channel: "room:1",
      channelSerial: expect.stringMatching(/^[\w-]+:$/),
      presence: [
        {
          id: `${member.connectionId}:0:0`,
          action: PresenceAction.PRESENT,
          clientId: "bob",
          connectionId: member.connectionId,
          timestamp: expect.any(Number),
          data: "hi",
        },
      ],
    });
  });

  it("NACKs presence on a channel the connection has not attached with 91001", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator, "&clientId=a");
    raw.send({
      action: Action.PRESENCE,
      channel: "room:1",
      msgSerial: 0,
      presence: [{ action: PresenceAction.ENTER }],
    });
    expect(await raw.nextOf(Action.NACK)).toMatchObject({
      msgSerial: 0,
      count: 1,
      error: { code: 91001, statusCode: 400 },
    });
  });

  it("NACKs presence without any clientId with 91000", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator);
    raw.send({ action: Action.ATTACH, channel: "room:1" });
    await raw.nextOf(Action.ATTACHED);
    raw.send({
      action: Action.PRESENCE,
      channel: "room:1",
      msgSerial: 0,
      presence: [{ action: PresenceAction.ENTER }],
    });
    expect((await raw.nextOf(Action.NACK)).error).toMatchObject({ code: 91000 });
  });

  it("NACKs message data that is neither a string nor binary with 40013", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator);
    const bad: unknown[] = [42, true, { not: "stringified" }];
    for (const [msgSerial, data] of bad.entries()) {
      raw.send({ action: Action.MESSAGE, channel: "c", msgSerial, messages: [{ data }] });
      const nack = await raw.nextOf(Action.NACK);
      expect(nack).toMatchObject({ msgSerial, error: { code: 40013, statusCode: 400 } });
    }
    expect(emulator.stats.published).toBe(0);
  });

  it("NACKs a message whose clientId differs from the connection's with 40012", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator, "&clientId=alice");
    raw.send({
      action: Action.MESSAGE,
      channel: "c",
      msgSerial: 0,
      messages: [{ data: "x", clientId: "mallory" }],
    });
    expect((await raw.nextOf(Action.NACK)).error).toMatchObject({ code: 40012 });
  });

  it("answers a repeated msgSerial again without delivering it twice, and drops the SDK's size field", async () => {
    const emulator = await startEmulator(cleanup);
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("c"));
    const { raw } = await openRaw(emulator);
    const publish = {
      action: Action.MESSAGE,
      channel: "c",
      msgSerial: 0,
      messages: [{ name: "n", data: "x", action: 0, size: 2 }],
    };
    raw.send(publish);
    const first = await raw.nextOf(Action.ACK);
    raw.send(publish);
    expect(await raw.nextOf(Action.ACK)).toEqual(first);
    raw.send({ ...publish, msgSerial: 1, messages: [{ name: "marker" }] });
    await raw.nextOf(Action.ACK);
    await inbox.next(2);
    expect(inbox.messages.map((m) => m.name)).toEqual(["n", "marker"]);
    expect(inbox.messages[0]).not.toHaveProperty("size");
  });

  it("fails the connection with a connection-level ERROR on an undecodable frame", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator);
    raw.sendRaw(format === "json" ? "{not json" : Buffer.from([0xc1]));
    expect(await raw.nextOf(Action.ERROR)).toMatchObject({ error: { code: 40000 } });
    await raw.closed;
    expect(emulator.connectionIds(APP_ID)).toEqual([]);
  });

  it("answers CLOSE with CLOSED", async () => {
    const emulator = await startEmulator(cleanup);
    const { raw } = await openRaw(emulator);
    raw.send({ action: Action.CLOSE });
    expect(await raw.next()).toEqual({ action: Action.CLOSED });
    await raw.closed;
  });
});

describe("Ably emulator connectivity check", () => {
  const cleanup = useCleanup();

  it("accepts a WebSocket on any path but / and leaves it alone", async () => {
    const emulator = await startEmulator(cleanup);
    const probe = new WebSocket(emulator.connectivityCheckOptions.wsConnectivityCheckUrl);
    cleanup.add(() => probe.terminate());
    await new Promise<void>((resolve, reject) => {
      probe.once("open", () => resolve());
      probe.once("error", reject);
    });
    expect(emulator.stats.connections).toBe(0);
  });
});

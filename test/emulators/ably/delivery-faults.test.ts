import { describe, expect, it } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import type { Delivery } from "./ably-emulator.js";
import { Action } from "./protocol.js";
import {
  connectRealtime,
  FORMATS,
  Inbox,
  nextPresence,
  restClient,
  startEmulator,
} from "./test-support.js";

/** One published message, what the fault hook must see of its data, and what it turns it into. */
interface AlterCase {
  name: string;
  sent: unknown;
  seen: unknown;
  altered: unknown;
  /** What the subscriber gets when it differs from `altered` (a Uint8Array arrives as a Buffer). */
  received?: unknown;
}

const BYTES = Buffer.from([0, 1, 2, 254, 255]);

const ALTER_CASES: AlterCase[] = [
  { name: "string-to-string", sent: "héllo", seen: "héllo", altered: "HÉLLO" },
  { name: "string-to-object", sent: "x", seen: "x", altered: { to: ["object", 1] } },
  { name: "object-to-object", sent: { n: 1 }, seen: { n: 1 }, altered: { n: 2 } },
  { name: "object-to-binary", sent: { n: 1 }, seen: { n: 1 }, altered: BYTES },
  {
    name: "binary-to-binary",
    sent: BYTES,
    seen: BYTES,
    altered: Buffer.from(BYTES).reverse(),
  },
  { name: "binary-to-string", sent: BYTES, seen: BYTES, altered: "text now" },
  {
    name: "string-to-uint8array",
    sent: "x",
    seen: "x",
    altered: new Uint8Array([9, 8, 7]),
    received: Buffer.from([9, 8, 7]),
  },
  { name: "array-to-none", sent: [1, "two"], seen: [1, "two"], altered: undefined },
];

describe.each(FORMATS)("Ably emulator alter fault with a subscriber over %s", (format) => {
  const cleanup = useCleanup();
  // The publisher speaks the other format, so the emulator converts as well as alters.
  const publisherFormat = format === "json" ? "msgpack" : "json";

  it("replaces string, JSON and binary data with data of any type, encoded for the subscriber", async () => {
    const emulator = await startEmulator(cleanup);
    const publisher = await connectRealtime(emulator, cleanup, publisherFormat);
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("room:1"));
    const seen = new Map<string, unknown>();
    emulator.setDeliveryFault(() => ({
      alter: (data, message) => {
        const alterCase = ALTER_CASES.find((c) => c.name === message.name);
        if (alterCase === undefined) return data;
        seen.set(alterCase.name, data);
        return alterCase.altered;
      },
    }));
    const room = publisher.channels.get("room:1");
    for (const { name, sent } of ALTER_CASES) await room.publish(name, sent);
    await room.publish("unaltered", { kept: true });

    const received = await inbox.next(ALTER_CASES.length + 1);
    expect(received.map((m) => m.name)).toEqual([...ALTER_CASES.map((c) => c.name), "unaltered"]);
    for (const [index, alterCase] of ALTER_CASES.entries()) {
      expect(seen.get(alterCase.name), `${alterCase.name} as the hook saw it`).toEqual(
        alterCase.seen,
      );
      const data = received[index]!.data;
      const expected = alterCase.received ?? alterCase.altered;
      if (Buffer.isBuffer(expected)) {
        expect(Buffer.isBuffer(data), alterCase.name).toBe(true);
        expect(Buffer.compare(data as Buffer, expected), alterCase.name).toBe(0);
      } else {
        expect(data, alterCase.name).toEqual(expected);
      }
    }
    expect(received.at(-1)!.data).toEqual({ kept: true });
  });

  it("tells the hook the connection, channel, names and data, so it can alter every 3rd message for one subscriber", async () => {
    const emulator = await startEmulator(cleanup);
    const publisher = await connectRealtime(emulator, cleanup, publisherFormat);
    const target = await connectRealtime(emulator, cleanup, format);
    const bystander = await connectRealtime(emulator, cleanup, format);
    const targetInbox = await Inbox.of(target.channels.get("room:1"));
    const bystanderInbox = await Inbox.of(bystander.channels.get("room:1"));
    const otherInbox = await Inbox.of(target.channels.get("room:2"));
    const deliveries: Delivery[] = [];
    emulator.setDeliveryFault((delivery) => {
      deliveries.push(delivery);
      const { connectionId, channel, messages } = delivery;
      const n = Number(messages[0]!.data);
      if (connectionId !== target.connection.id || channel !== "room:1" || n % 3 !== 0) {
        return undefined;
      }
      return { alter: (data) => `altered ${String(data)}` };
    });
    for (let n = 1; n <= 9; n += 1) {
      await publisher.channels.get("room:1").publish("n", String(n));
    }
    await publisher.channels.get("room:2").publish("n", "3");

    const originals = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];
    const targetGot = await targetInbox.next(9);
    expect(targetGot.map((m) => m.data)).toEqual([
      "1",
      "2",
      "altered 3",
      "4",
      "5",
      "altered 6",
      "7",
      "8",
      "altered 9",
    ]);
    expect((await bystanderInbox.next(9)).map((m) => m.data)).toEqual(originals);
    expect((await otherInbox.next(1)).map((m) => m.data)).toEqual(["3"]);
    // The altered copies keep id and serial: only the data differs.
    expect(targetGot[2]!.id).toBe(bystanderInbox.messages[2]!.id);

    const toTarget = deliveries.find(
      (d) => d.connectionId === target.connection.id && d.channel === "room:1",
    );
    expect(toTarget).toEqual({
      connectionId: target.connection.id,
      channel: "room:1",
      action: Action.MESSAGE,
      ids: [targetGot[0]!.id],
      messages: [{ id: targetGot[0]!.id, name: "n", data: "1" }],
    });
    expect(deliveries).toHaveLength(9 * 2 + 1);
  });

  it("alters one message of a multi-message frame and keeps the original in history", async () => {
    const emulator = await startEmulator(cleanup);
    const publisher = await connectRealtime(emulator, cleanup, publisherFormat, {
      clientId: "pub",
    });
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("room:1"));
    let seen: Delivery | undefined;
    emulator.setDeliveryFault((delivery) => {
      seen = delivery;
      return { alter: (data, message) => (message.name === "b" ? { v: 20 } : data) };
    });
    await publisher.channels.get("room:1").publish([
      { name: "a", data: "1" },
      { name: "b", data: { v: 2 } },
      { name: "c", data: BYTES },
    ]);

    const received = await inbox.next(3);
    expect(received.map((m) => [m.name, m.data])).toEqual([
      ["a", "1"],
      ["b", { v: 20 }],
      ["c", BYTES],
    ]);
    expect(seen?.messages.map((m) => [m.name, m.clientId, m.data])).toEqual([
      ["a", "pub", "1"],
      ["b", "pub", { v: 2 }],
      ["c", "pub", BYTES],
    ]);
    const history = await restClient(emulator, format)
      .channels.get("room:1")
      .history({ direction: "forwards" });
    expect(history.items.map((m) => m.data)).toEqual(["1", { v: 2 }, BYTES]);
  });

  it("alters presence data the same way", async () => {
    const emulator = await startEmulator(cleanup);
    const alice = await connectRealtime(emulator, cleanup, publisherFormat, { clientId: "alice" });
    const bob = await connectRealtime(emulator, cleanup, format);
    const watched = bob.channels.get("room:1");
    await watched.attach();
    emulator.setDeliveryFault(({ action, connectionId }) =>
      action === Action.PRESENCE && connectionId === bob.connection.id
        ? { alter: (data) => ({ was: data }) }
        : undefined,
    );
    const entered = nextPresence(watched, "enter");
    await alice.channels.get("room:1").presence.enter({ status: "here" });
    expect(await entered).toMatchObject({ clientId: "alice", data: { was: { status: "here" } } });
  });
});

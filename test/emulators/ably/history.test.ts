import type * as Ably from "ably";
import { describe, expect, it, vi } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import type { AblyEmulator } from "./ably-emulator.js";
import type { Format } from "./protocol.js";
import { connectRealtime, FORMATS, Inbox, restClient, startEmulator } from "./test-support.js";

/** Messages per REST publish when filling a channel: pages then end in the middle of a publish. */
const BATCH = 7;

/** Publishes `m{from}` … `m{from + count - 1}` over REST, `BATCH` per request, in order. */
async function publishNumbered(channel: Ably.Channel, from: number, count: number) {
  for (let first = from; first < from + count; first += BATCH) {
    const last = Math.min(first + BATCH, from + count);
    const batch = [];
    for (let n = first; n < last; n += 1) batch.push({ name: `m${n}`, data: `payload ${n}` });
    await channel.publish(batch);
  }
}

/** `m{from}` … `m{to}`, counting down when `to < from`. */
function names(from: number, to: number): string[] {
  const step = to >= from ? 1 : -1;
  const list: string[] = [];
  for (let n = from; n !== to + step; n += step) list.push(`m${n}`);
  return list;
}

/** Follows `next()` from `first` to the last page; `between` runs before each further request. */
async function allPages(
  first: Ably.PaginatedResult<Ably.InboundMessage>,
  between: (pageIndex: number) => Promise<void> = async () => {},
): Promise<Ably.PaginatedResult<Ably.InboundMessage>[]> {
  const pages = [first];
  let page = first;
  while (page.hasNext()) {
    await between(pages.length);
    const next = await page.next();
    if (next === null) throw new Error("hasNext() was true but next() gave no page");
    pages.push(next);
    page = next;
  }
  return pages;
}

/** The fields a subscriber and history must agree on. */
function essentials(message: Ably.InboundMessage) {
  const { id, name, data, extras, timestamp, clientId, serial } = message;
  return { id, name, data, extras, timestamp, clientId, serial };
}

/** The error a promise rejects with. */
async function failureOf(promise: Promise<unknown>): Promise<Ably.ErrorInfo> {
  return (await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  )) as Ably.ErrorInfo;
}

/**
 * The channelSerial the channel's last ATTACHED carried, which the SDK keeps as
 * `properties.attachSerial` (not in its typings) and sends as `from_serial`.
 */
function attachSerialOf(channel: Ably.RealtimeChannel): string {
  const { properties } = channel as unknown as { properties: { attachSerial?: string } };
  if (properties.attachSerial === undefined) throw new Error(`${channel.name} has no attachSerial`);
  return properties.attachSerial;
}

/** History with params the SDK's types do not list (`from_serial`, the emulator's `cursor`). */
function rawHistory(channel: Ably.Channel, params: Record<string, string | number>) {
  return channel.history(params as Ably.RestHistoryParams);
}

describe.each(FORMATS)("Ably emulator REST history with the ably SDK over %s", (format: Format) => {
  const cleanup = useCleanup();

  async function filledChannel(
    count: number,
  ): Promise<{ emulator: AblyEmulator; channel: Ably.Channel }> {
    const emulator = await startEmulator(cleanup);
    const channel = restClient(emulator, format).channels.get("history:1");
    await publishNumbered(channel, 0, count);
    return { emulator, channel };
  }

  it("pages backwards through 250 messages, 100 a page, newest first", async () => {
    const { channel } = await filledChannel(250);
    const pages = await allPages(await channel.history({ limit: 100 }));
    expect(pages.map((page) => page.items.length)).toEqual([100, 100, 50]);
    expect(pages.map((page) => page.isLast())).toEqual([false, false, true]);
    expect(pages.map((page) => page.hasNext())).toEqual([true, true, false]);
    const items = pages.flatMap((page) => page.items);
    expect(items.map((m) => m.name)).toEqual(names(249, 0));
    expect(items.map((m) => m.data)).toEqual(names(249, 0).map((n) => `payload ${n.slice(1)}`));
    expect(new Set(items.map((m) => m.id)).size).toBe(250);
    expect(await pages[2]!.next()).toBeNull();
  });

  it("pages forwards through 250 messages, oldest first", async () => {
    const { channel } = await filledChannel(250);
    const pages = await allPages(await channel.history({ limit: 100, direction: "forwards" }));
    expect(pages.map((page) => page.items.length)).toEqual([100, 100, 50]);
    expect(pages.flatMap((page) => page.items).map((m) => m.name)).toEqual(names(0, 249));
    expect(pages[2]!.isLast()).toBe(true);
  });

  it("follows first() back to the first page", async () => {
    const { channel } = await filledChannel(30);
    const first = await channel.history({ limit: 10 });
    const second = (await first.next())!;
    const again = await second.first();
    expect(again.items.map((m) => m.id)).toEqual(first.items.map((m) => m.id));
  });

  it("serves the default page of 100 and at most 1000 a page", async () => {
    const { channel } = await filledChannel(1005);
    const byDefault = await channel.history();
    expect(byDefault.items).toHaveLength(100);
    expect(byDefault.hasNext()).toBe(true);
    const capped = await channel.history({ limit: 5000 });
    expect(capped.items).toHaveLength(1000);
    expect((await capped.next())!.items.map((m) => m.name)).toEqual(names(4, 0));
  });

  it.each(["backwards", "forwards"] as const)(
    "keeps %s pages stable while messages are published between requests",
    async (direction) => {
      const { channel } = await filledChannel(250);
      let published = 250;
      const pages = await allPages(await channel.history({ limit: 100, direction }), async () => {
        await publishNumbered(channel, published, 20);
        published += 20;
      });
      expect(pages).toHaveLength(3);
      const seen = pages.flatMap((page) => page.items).map((m) => m.name);
      expect(seen).toEqual(direction === "backwards" ? names(249, 0) : names(0, 249));
      // A new query sees everything published meanwhile.
      const fresh = await channel.history({ limit: 1000 });
      expect(fresh.items.map((m) => m.name)).toEqual(names(published - 1, 0));
    },
  );

  it("filters on start and end, both inclusive, and pages within them", async () => {
    const emulator = await startEmulator(cleanup);
    const channel = restClient(emulator, format).channels.get("history:times");
    // Only Date is faked: the emulator stamps each publish with a chosen time; timers stay real.
    vi.useFakeTimers({ toFake: ["Date"] });
    cleanup.add(() => vi.useRealTimers());
    const base = 1_800_000_000_000;
    for (let n = 0; n < 10; n += 1) {
      vi.setSystemTime(base + n * 1000);
      await channel.publish(`m${n}`, `at ${n}`);
    }
    vi.useRealTimers();
    const all = await channel.history({ direction: "forwards" });
    expect(all.items.map((m) => m.timestamp)).toEqual(names(0, 9).map((_, n) => base + n * 1000));

    const window = { start: base + 3000, end: base + 7000 };
    const backwards = await channel.history(window);
    expect(backwards.items.map((m) => m.name)).toEqual(names(7, 3));
    expect(backwards.isLast()).toBe(true);
    const forwards = await allPages(
      await channel.history({ ...window, direction: "forwards", limit: 2 }),
    );
    expect(forwards.map((page) => page.items.map((m) => m.name))).toEqual([
      ["m3", "m4"],
      ["m5", "m6"],
      ["m7"],
    ]);
    expect((await channel.history({ start: base + 9000 })).items.map((m) => m.name)).toEqual([
      "m9",
    ]);
    expect((await channel.history({ end: base + 999 })).items.map((m) => m.name)).toEqual(["m0"]);
    expect((await channel.history({ start: base + 9001 })).items).toEqual([]);
  });

  it("returns with untilAttach what was published before the attach, not after", async () => {
    const emulator = await startEmulator(cleanup);
    const rest = restClient(emulator, format).channels.get("history:attach");
    await publishNumbered(rest, 0, 5);
    const realtime = await connectRealtime(emulator, cleanup, format);
    const channel = realtime.channels.get("history:attach");
    await channel.attach();
    await publishNumbered(rest, 5, 3);
    await channel.publish("m8", "from realtime");

    const untilAttach = await channel.history({ untilAttach: true });
    expect(untilAttach.items.map((m) => m.name)).toEqual(names(4, 0));
    expect(untilAttach.isLast()).toBe(true);
    let extra = 100;
    const paged = await allPages(
      await channel.history({ untilAttach: true, direction: "forwards", limit: 2 }),
      async () => {
        await publishNumbered(rest, extra, 2);
        extra += 2;
      },
    );
    expect(paged.map((page) => page.items.map((m) => m.name))).toEqual([
      ["m0", "m1"],
      ["m2", "m3"],
      ["m4"],
    ]);
    expect((await channel.history()).items.map((m) => m.name)).toEqual([
      ...names(103, 100),
      ...names(8, 0),
    ]);
  });

  it("gives an empty untilAttach history on a channel first attached before any publish", async () => {
    const emulator = await startEmulator(cleanup);
    const realtime = await connectRealtime(emulator, cleanup, format);
    const channel = realtime.channels.get("history:empty");
    await channel.attach();
    await channel.publish("late", "x");
    expect((await channel.history({ untilAttach: true })).items).toEqual([]);
    expect((await channel.history()).items.map((m) => m.name)).toEqual(["late"]);
  });

  it("returns each message as subscribers got it, client-supplied ids included", async () => {
    const emulator = await startEmulator(cleanup);
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("history:ids"));
    const rest = restClient(emulator, format, { clientId: "server" }).channels.get("history:ids");
    const publisher = await connectRealtime(emulator, cleanup, format, { clientId: "rt" });
    await rest.publish({
      id: "order-1",
      name: "json",
      data: { total: 3, items: ["a"] },
      extras: { headers: { trace: "t-1" } },
    });
    await rest.publish({ id: "order-2", name: "binary", data: Buffer.from([0, 1, 255]) });
    await rest.publish("plain", "no id given");
    await publisher.channels
      .get("history:ids")
      .publish({ name: "realtime", data: "over ws", extras: { headers: { via: "ws" } } });
    // A repeat of a client-supplied id is neither delivered nor logged again.
    await rest.publish({ id: "order-1", name: "json", data: { total: 3, items: ["a"] } });
    const received = await inbox.next(4);

    const history = await rest.history({ direction: "forwards" });
    expect(history.items.map(essentials)).toEqual(received.map(essentials));
    expect(history.items.map((m) => m.id).slice(0, 2)).toEqual(["order-1", "order-2"]);
    expect(history.items[0]).toMatchObject({
      data: { total: 3, items: ["a"] },
      extras: { headers: { trace: "t-1" } },
      clientId: "server",
    });
    expect(Buffer.from(history.items[1]!.data as Uint8Array)).toEqual(Buffer.from([0, 1, 255]));
    expect(history.items[3]).toMatchObject({ clientId: "rt", extras: { headers: { via: "ws" } } });
    for (const message of history.items) expect(message.timestamp).toBeGreaterThan(0);
  });

  it("refuses a malformed or foreign from_serial with 40000", async () => {
    const emulator = await startEmulator(cleanup);
    const rest = restClient(emulator, format);
    const channel = rest.channels.get("history:serials");
    await channel.publish("x", "y");
    const realtime = await connectRealtime(emulator, cleanup, format);
    const other = realtime.channels.get("history:other");
    await other.attach();
    const otherSerial = attachSerialOf(other);

    for (const fromSerial of ["garbage", otherSerial, `${otherSerial}0`, ""]) {
      const error = await failureOf(rawHistory(channel, { from_serial: fromSerial }));
      expect(error.code, `from_serial ${JSON.stringify(fromSerial)}`).toBe(40000);
      expect(error.statusCode).toBe(400);
      expect(error.message).toMatch(/from_serial/);
    }
    const unknownChannel = await failureOf(
      rawHistory(rest.channels.get("history:never-used"), { from_serial: otherSerial }),
    );
    expect(unknownChannel.code).toBe(40000);
  });

  it("refuses a from_serial from before a restart, as one of an older epoch", async () => {
    const emulator = await startEmulator(cleanup);
    const rest = restClient(emulator, format).channels.get("history:epoch");
    await rest.publish("before", "restart");
    const realtime = await connectRealtime(emulator, cleanup, format);
    const channel = realtime.channels.get("history:epoch");
    await channel.attach();
    const oldSerial = attachSerialOf(channel);
    await emulator.restart();
    await rest.publish("after", "restart");
    const error = await failureOf(rawHistory(rest, { from_serial: oldSerial }));
    expect(error).toMatchObject({ code: 40000, statusCode: 400 });
  });

  it("refuses a bad limit, direction, time range or cursor with 40000", async () => {
    const { channel } = await filledChannel(3);
    const invalid: Record<string, string | number>[] = [
      { limit: 0 },
      { limit: "ten" },
      { direction: "sideways" },
      { start: "yesterday" },
      { start: 2000, end: 1000 },
      { cursor: "nonsense" },
    ];
    for (const params of invalid) {
      const error = await failureOf(rawHistory(channel, params));
      expect(error.code, JSON.stringify(params)).toBe(40000);
      expect(error.statusCode).toBe(400);
    }
  });
});

import { describe, expect, it } from "vitest";
import type { Delivery, DeliveryFault } from "./pusher-emulator.js";
import {
  connectClient,
  nextEvent,
  type Pusher,
  restClient,
  startEmulator,
  subscribe,
  useCleanup,
  WAIT_MS,
} from "./test-support.js";

type Channel = ReturnType<Pusher["subscribe"]>;

/** One channel event as a pusher-js subscriber got it. */
interface Received {
  event: string;
  data: unknown;
  /** performance.now() at arrival. */
  at: number;
}

/**
 * Collects the channel events (not `pusher:*` ones) a pusher-js channel delivers
 * from now on; `next(n)` resolves once `n` have arrived in total.
 */
class EventLog {
  readonly events: Received[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(channel: Channel) {
    channel.bind_global((event: string, data: unknown) => {
      if (event.startsWith("pusher:")) return;
      this.events.push({ event, data, at: performance.now() });
      const ready = this.#waiters.filter((waiter) => this.events.length >= waiter.count);
      this.#waiters = this.#waiters.filter((waiter) => this.events.length < waiter.count);
      for (const waiter of ready) waiter.resolve();
    });
  }

  async next(count: number): Promise<Received[]> {
    if (this.events.length < count) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${this.events.length} of ${count} events in ${WAIT_MS} ms`)),
          WAIT_MS,
        );
        this.#waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    }
    return this.events.slice(0, count);
  }

  /** The data of the events so far, in arrival order. */
  get data(): unknown[] {
    return this.events.map((received) => received.data);
  }
}

/** Numbers 1…n, the data of the events each test triggers. */
function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

describe("Pusher emulator delivery faults with pusher-js and the pusher SDK", () => {
  const onCleanup = useCleanup();

  /** A subscriber on `news`, a REST client, and a trigger of events `n` with data 1…count in order. */
  async function setUp() {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup);
    const log = new EventLog(await subscribe(client, "news"));
    const rest = restClient(emulator);
    const triggerAll = async (count: number) => {
      // Awaiting each trigger keeps them in order; the SDK sends the number as the string "n".
      for (const n of range(count)) await rest.trigger("news", "n", n);
    };
    return { emulator, client, log, rest, triggerAll };
  }

  it("drops the chosen delivery: the subscriber gets the other 9 in order", async () => {
    const { emulator, log, triggerAll } = await setUp();
    emulator.setDeliveryFault(({ data }) => (data === "3" ? "drop" : undefined));
    await triggerAll(10);
    // The 10th arriving proves the 3rd never will: one connection's frames keep their order.
    await log.next(9);
    expect(log.data).toEqual([1, 2, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("duplicates the chosen delivery: the subscriber gets it twice", async () => {
    const { emulator, log, triggerAll } = await setUp();
    emulator.setDeliveryFault(({ data }) => (data === "3" ? "duplicate" : undefined));
    await triggerAll(10);
    await log.next(11);
    expect(log.data).toEqual([1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("holds the chosen delivery until a promise settles: later ones overtake it", async () => {
    const { emulator, log, triggerAll } = await setUp();
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    emulator.setDeliveryFault(({ data }) => (data === "3" ? { until: released } : undefined));
    await triggerAll(10);
    await log.next(9);
    release();
    await log.next(10);
    expect(log.data).toEqual([1, 2, 4, 5, 6, 7, 8, 9, 10, 3]);
  });

  it("sends the chosen delivery after its delay", async () => {
    const { emulator, log, triggerAll } = await setUp();
    const delayMs = 150;
    let decidedAt = 0;
    emulator.setDeliveryFault(({ data }) => {
      if (data !== "3") return undefined;
      decidedAt = performance.now();
      return { delayMs };
    });
    await triggerAll(10);
    await log.next(10);
    const third = log.events.find((received) => received.data === 3)!;
    // Timers may fire up to a millisecond early against the clock's rounding.
    expect(third.at - decidedAt).toBeGreaterThanOrEqual(delayMs - 1);
    expect([...log.data].sort((a, b) => Number(a) - Number(b))).toEqual(range(10));
  });

  it("alters the chosen delivery's data: the subscriber gets the altered data", async () => {
    const { emulator, log, triggerAll } = await setUp();
    emulator.setDeliveryFault(({ data }) =>
      data === "3" ? { alter: (sent) => JSON.stringify({ altered: JSON.parse(sent) }) } : undefined,
    );
    await triggerAll(5);
    await log.next(5);
    expect(log.data).toEqual([1, 2, { altered: 3 }, 4, 5]);
  });

  it("tells the hook socket id, channel, event and data, per connection, so it can pick every 4th event for one", async () => {
    const { emulator, client, log, rest } = await setUp();
    const bystander = await connectClient(emulator, onCleanup);
    const bystanderLog = new EventLog(await subscribe(bystander, "news"));
    const deliveries: Delivery[] = [];
    const seenBy = new Map<string, number>();
    emulator.setDeliveryFault((delivery) => {
      deliveries.push(delivery);
      if (delivery.socketId !== client.connection.socket_id) return undefined;
      const count = (seenBy.get(delivery.socketId) ?? 0) + 1;
      seenBy.set(delivery.socketId, count);
      return count % 4 === 0 ? "drop" : undefined;
    });
    for (const n of range(12)) await rest.trigger("news", "tick", { n });

    await log.next(9);
    await bystanderLog.next(12);
    expect(log.data).toEqual([1, 2, 3, 5, 6, 7, 9, 10, 11].map((n) => ({ n })));
    expect(bystanderLog.data).toEqual(range(12).map((n) => ({ n })));
    expect(deliveries).toHaveLength(24);
    expect(deliveries.slice(0, 2)).toEqual([
      { socketId: client.connection.socket_id, channel: "news", event: "tick", data: '{"n":1}' },
      { socketId: bystander.connection.socket_id, channel: "news", event: "tick", data: '{"n":1}' },
    ]);
  });

  it("applies to client events, with object data given to the hook as JSON text", async () => {
    const emulator = await startEmulator(onCleanup);
    const sender = await connectClient(emulator, onCleanup);
    const receiver = await connectClient(emulator, onCleanup);
    const senderChannel = await subscribe(sender, "private-chat");
    const log = new EventLog(await subscribe(receiver, "private-chat"));
    const verdicts: Record<string, DeliveryFault> = {
      "client-dropped": "drop",
      "client-doubled": "duplicate",
      "client-altered": { alter: (data) => data.replace("hi", "bye") },
    };
    const seen: Delivery[] = [];
    emulator.setDeliveryFault((delivery) => {
      seen.push(delivery);
      return verdicts[delivery.event];
    });
    for (const event of ["client-dropped", "client-doubled", "client-altered", "client-plain"]) {
      expect(senderChannel.trigger(event, { text: "hi" })).toBe(true);
    }
    await log.next(4);
    expect(log.events.map(({ event, data }) => [event, data])).toEqual([
      ["client-doubled", { text: "hi" }],
      ["client-doubled", { text: "hi" }],
      ["client-altered", { text: "bye" }],
      ["client-plain", { text: "hi" }],
    ]);
    expect(seen[0]).toEqual({
      socketId: receiver.connection.socket_id,
      channel: "private-chat",
      event: "client-dropped",
      data: '{"text":"hi"}',
    });
  });

  it("leaves protocol frames alone: subscribing, pings and presence work under a drop-everything hook", async () => {
    const emulator = await startEmulator(onCleanup);
    const asked: string[] = [];
    emulator.setDeliveryFault(({ event }) => {
      asked.push(event);
      return event === "barrier" ? undefined : "drop";
    });
    const alice = await connectClient(emulator, onCleanup, { identity: { userId: "alice" } });
    const bob = await connectClient(emulator, onCleanup, { identity: { userId: "bob" } });
    const aliceRoom = await subscribe(alice, "presence-room");
    const log = new EventLog(aliceRoom);
    const bobAdded = nextEvent(aliceRoom, "pusher:member_added");
    await subscribe(bob, "presence-room");
    await bobAdded;
    const pong = nextEvent(alice.connection, "message", (message: { event: string }) => {
      return message.event === "pusher:pong";
    });
    alice.send_event("pusher:ping", {});
    await pong;
    const rest = restClient(emulator);
    await rest.trigger("presence-room", "dropped", {});
    await rest.trigger("presence-room", "barrier", {});
    await log.next(1);
    expect(log.events.map((received) => received.event)).toEqual(["barrier"]);
    expect(asked).toEqual(["dropped", "dropped", "barrier", "barrier"]);
  });

  it("delivers as usual again once the hook is removed", async () => {
    const { emulator, log, triggerAll } = await setUp();
    emulator.setDeliveryFault(() => "drop");
    emulator.setDeliveryFault(undefined);
    await triggerAll(3);
    await log.next(3);
    expect(log.data).toEqual([1, 2, 3]);
  });
});

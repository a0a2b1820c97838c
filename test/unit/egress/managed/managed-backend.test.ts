import pino from "pino";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Delivery, Publication } from "../../../../src/egress/backend.js";
import type { SubscribeCause } from "../../../../src/egress/managed/channel-subscriptions.js";
import {
  type DecodedMessage,
  ManagedBackend,
  type ManagedLink,
  type ManagedWire,
  PublishRefusal,
} from "../../../../src/egress/managed/managed-backend.js";
import { SwitchyardError } from "../../../../src/errors.js";
import { type ManagedMetrics, managedMetrics } from "../../../../src/metrics.js";

interface Item {
  readonly channel: string;
  readonly origin: string | undefined;
  readonly publication: Publication;
}

/** A link that records what the backend asked of it. */
class TestLink implements ManagedLink {
  readonly calls: string[] = [];
  state = "initialized";

  connect(): void {
    this.calls.push("connect");
  }

  disconnect(): void {
    this.calls.push("disconnect");
  }

  subscribe(channel: string, cause: SubscribeCause): void {
    this.calls.push(`subscribe ${channel} (${cause})`);
  }

  unsubscribe(channel: string): void {
    this.calls.push(`unsubscribe ${channel}`);
  }

  close(): void {
    this.calls.push("close");
  }
}

interface Send {
  readonly batch: readonly Item[];
  resolve(): void;
  reject(error: unknown): void;
}

const PUBLISH_TIMEOUT = 1000;

/** A backend on a test wire whose sends stay pending until the test settles them. */
function managed(options: { hasEcho?: boolean; maxQueued?: number; maxPerSocket?: number } = {}) {
  const link = new TestLink();
  const sends: Send[] = [];
  const delivered: Delivery[] = [];
  const counted = managedMetrics(new Registry(), "test", {
    connected: "c",
    connectionErrors: "ce",
    subscriptions: "s",
    subscribeFailures: "sf",
    published: "p",
    publishFailures: "pf",
    publishQueue: "pq",
    receiveErrors: "re",
  });
  const wire: ManagedWire<Item> = {
    link,
    hasEcho: options.hasEcho,
    probe: () => Promise.resolve(),
    channelProblem: (channel) => (channel.includes(" ") ? "it has a space" : undefined),
    encode: (publication) =>
      publication.event === "too-big"
        ? new PublishRefusal(
            "too_large",
            new SwitchyardError("SWY_PUSHER_PAYLOAD_TOO_LARGE", [2, 1]),
          )
        : { channel: publication.channel, origin: publication.origin, publication },
    send: (batch) =>
      new Promise((resolve, reject) =>
        sends.push({ batch, resolve: () => resolve(undefined), reject }),
      ),
    decode: (name, data): DecodedMessage => {
      if (data === "bad") throw new Error("malformed");
      return { event: name, args: [data] };
    },
  };
  const backend = new ManagedBackend<Item>({
    name: "b",
    service: "svc",
    settings: {
      connectTimeout: 100,
      subscribeTimeout: 500,
      subscribeRetryDelay: 100,
      subscribeRetryMaxDelay: 400,
      publishTimeout: PUBLISH_TIMEOUT,
      batchSize: 10,
      maxInflight: 1,
      maxQueued: options.maxQueued ?? 100,
    },
    deps: {
      log: pino({ level: "silent" }),
      limits: { maxDepth: 3, maxPublishesPerSocket: options.maxPerSocket ?? 64 },
    },
    metrics: counted,
    errors: {
      closed: "SWY_PUSHER_CLOSED",
      unavailable: "SWY_PUSHER_UNAVAILABLE",
      channelInvalid: "SWY_PUSHER_CHANNEL_INVALID",
      queueFull: "SWY_PUSHER_QUEUE_FULL",
      subscribeFailed: "SWY_PUSHER_SUBSCRIBE_FAILED",
      sendFailures: { SWY_PUSHER_REJECTED: "rejected" },
      connectRefused: (reason) => new SwitchyardError("SWY_PUSHER_CONNECT_REFUSED", ["x", reason]),
    },
    wire,
  });
  const sink = { deliver: (delivery: Delivery) => delivered.push(delivery) };
  return { backend, link, sends, delivered, counted, sink };
}

/** Starts the backend with its connection up and `channels` confirmed. */
async function running(setup: ReturnType<typeof managed>, ...channels: string[]) {
  const { backend, sink } = setup;
  const started = backend.start(sink);
  backend.connection.connected();
  await started;
  for (const channel of channels) {
    const subscribed = backend.subscribe(channel);
    backend.subscriptions.confirmed(channel);
    await subscribed;
  }
}

/** The code a publish() settles with, or "ok", without an unhandled rejection meanwhile. */
function outcome(settled: Promise<void>): Promise<string> {
  return settled.then(
    () => "ok",
    (error: unknown) => (error instanceof SwitchyardError ? error.code : String(error)),
  );
}

async function countedBy(
  metric: ManagedMetrics["publishFailures"],
): Promise<Record<string, number>> {
  const { values } = await metric.get();
  return Object.fromEntries(values.map((value) => [String(value.labels.reason), value.value]));
}

function publication(channel: string, event = "e", origin?: string): Publication {
  return { channel, event, args: [1], ...(origin === undefined ? {} : { origin }) };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("a managed backend", () => {
  it("refuses a publication at once for an invalid channel, the kind's refusal, a full queue or a busy socket, each counted", async () => {
    const setup = managed({ maxQueued: 2, maxPerSocket: 1 });
    const { backend, counted, sends } = setup;
    await running(setup);
    expect(await outcome(backend.publish(publication("bad channel")))).toBe(
      "SWY_PUSHER_CHANNEL_INVALID",
    );
    expect(await outcome(backend.publish(publication("c", "too-big")))).toBe(
      "SWY_PUSHER_PAYLOAD_TOO_LARGE",
    );
    // The first goes to the wire and stays there; its socket has then used its share.
    const first = outcome(backend.publish(publication("c", "e", "s1")));
    expect(await outcome(backend.publish(publication("d", "e", "s1")))).toBe("SWY_PUBLISH_BUSY");
    const waiting = [backend.publish(publication("c")), backend.publish(publication("c"))];
    expect(await outcome(backend.publish(publication("c")))).toBe("SWY_PUSHER_QUEUE_FULL");
    expect(await countedBy(counted.publishFailures)).toEqual({
      invalid_channel: 1,
      too_large: 1,
      sender_busy: 1,
      queue_full: 1,
    });
    await backend.close();
    expect(await Promise.all(waiting.map(outcome))).toEqual([
      "SWY_PUSHER_CLOSED",
      "SWY_PUSHER_CLOSED",
    ]);
    // A call in flight ends as it will.
    sends[0]!.resolve();
    expect(await first).toBe("ok");
  });

  it("delivers an accepted publication to this node once, and only on a channel it wants", async () => {
    const setup = managed();
    const { backend, sends, delivered } = setup;
    await running(setup, "wanted");
    const wanted = outcome(backend.publish(publication("wanted")));
    const elsewhere = outcome(backend.publish(publication("elsewhere")));
    expect(sends).toHaveLength(1);
    expect(delivered).toEqual([]);
    sends[0]!.resolve();
    expect(await wanted).toBe("ok");
    sends[1]!.resolve();
    expect(await elsewhere).toBe("ok");
    expect(delivered).toEqual([{ channel: "wanted", event: "e", args: [1] }]);
  });

  it("leaves the delivery to the service's echo for a wire that has one", async () => {
    const setup = managed({ hasEcho: true });
    const { backend, sends, delivered } = setup;
    await running(setup, "wanted");
    const published = outcome(backend.publish(publication("wanted")));
    sends[0]!.resolve();
    expect(await published).toBe("ok");
    expect(delivered).toEqual([]);
    backend.receive("wanted", "e", 1);
    expect(delivered).toEqual([{ channel: "wanted", event: "e", args: [1] }]);
  });

  it("counts a failed send under the kind's reason for its code", async () => {
    const setup = managed();
    const { backend, sends, counted } = setup;
    await running(setup);
    const published = outcome(backend.publish(publication("c")));
    sends[0]!.reject(new SwitchyardError("SWY_PUSHER_REJECTED", [400]));
    expect(await published).toBe("SWY_PUSHER_REJECTED");
    expect(await countedBy(counted.publishFailures)).toEqual({ rejected: 1 });
  });

  it("keeps publications while the connection is down and fails them with unavailable at their deadline", async () => {
    const setup = managed();
    const { backend, sends } = setup;
    await running(setup);
    backend.connection.lost("gone");
    const published = backend.publish(publication("c"));
    const failed = published.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(PUBLISH_TIMEOUT);
    const error = (await failed) as SwitchyardError;
    expect(error.code).toBe("SWY_PUSHER_UNAVAILABLE");
    expect(error.message).toContain(`its connection stayed down for ${PUBLISH_TIMEOUT} ms`);
    expect(sends).toHaveLength(0);
  });

  it("fails waiting and later publications with unavailable once the connection is refused for good", async () => {
    const setup = managed();
    const { backend, counted } = setup;
    await running(setup);
    backend.connection.lost("gone");
    const waiting = outcome(backend.publish(publication("c")));
    backend.connection.refused("bad key");
    expect(await waiting).toBe("SWY_PUSHER_UNAVAILABLE");
    expect(await outcome(backend.publish(publication("c")))).toBe("SWY_PUSHER_UNAVAILABLE");
    expect(backend.health()).toEqual({ isReady: false, reason: "svc refused: bad key" });
    expect(await countedBy(counted.connectionErrors)).toEqual({ refused: 1 });
  });

  it("rejects start with the kind's refusal when the service refuses the first connection", async () => {
    const { backend, sink } = managed();
    const started = backend.start(sink).catch((error: unknown) => error);
    backend.connection.refused("bad key");
    const error = (await started) as SwitchyardError;
    expect(error.code).toBe("SWY_PUSHER_CONNECT_REFUSED");
    expect(error.message).toContain("bad key");
  });

  it("refuses to subscribe to a channel the service does not accept, counted, and asks the link for none", async () => {
    const setup = managed();
    const { backend, link, counted } = setup;
    await running(setup);
    const subscribed = backend.subscribe("bad channel").catch((e: SwitchyardError) => e.code);
    expect(await subscribed).toBe("SWY_PUSHER_CHANNEL_INVALID");
    expect(await countedBy(counted.subscribeFailures)).toEqual({ invalid_channel: 1 });
    expect(link.calls.filter((call) => call.startsWith("subscribe"))).toEqual([]);
  });

  it("drops received messages too deep or malformed, counted by reason, and delivers the rest on wanted channels", async () => {
    const setup = managed();
    const { backend, delivered, counted } = setup;
    await running(setup, "c");
    backend.receive("c", "deep", [[[[[[1]]]]]]);
    // Within the envelope's allowance, but an argument nested deeper than maxDepth.
    backend.receive("c", "deep-argument", [[[[1]]]]);
    backend.receive("c", "broken", "bad");
    backend.receive("other", "e", 1);
    backend.receive("c", "fine", { a: 1 });
    expect(delivered).toEqual([{ channel: "c", event: "fine", args: [{ a: 1 }] }]);
    expect(await countedBy(counted.receiveErrors)).toEqual({ too_deep: 2, malformed: 1 });
  });

  it("closes: subscriptions waiting fail with the kind's closed code, the link closes and the gauges go", async () => {
    const setup = managed();
    const { backend, link, counted, sink } = setup;
    const started = backend.start(sink);
    backend.connection.connected();
    await started;
    const subscribed = backend.subscribe("c").catch((e: SwitchyardError) => e.code);
    await backend.close();
    expect(await subscribed).toBe("SWY_PUSHER_CLOSED");
    expect(link.calls.at(-1)).toBe("close");
    expect(backend.health()).toEqual({ isReady: false, reason: "closed" });
    expect((await counted.connected.get()).values).toEqual([]);
    expect((await counted.subscriptions.get()).values).toEqual([]);
  });
});

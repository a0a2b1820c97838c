/**
 * A managed backend's service killed mid-stream and brought back, with a client
 * publishing every 20 ms into a room carried by it (docs/backends/managed.md):
 *
 * - `/readyz` answers 503 from the first failure on, and 200 again within 2 s of the
 *   service being reachable again (the bridge reconnects on its own back-off);
 * - every publication is acked, ok or with the kind's coded error, within
 *   `publishTimeout` of being sent; one sent while the service is away waits for it
 *   instead of failing at once;
 * - every publication acked ok reaches the room's other member exactly once, in order;
 * - the channel is subscribed again: what a native publisher sends afterwards arrives.
 *
 * The test body takes a {@link ManagedKindFixture}, so every managed kind runs the same
 * scenarios against its own emulator (the Pusher and the Ably emulators here).
 */
import {
  createServer,
  type Server,
  type Socket as TcpSocket,
  connect as tcpConnect,
} from "node:net";
import { performance } from "node:perf_hooks";
import * as Ably from "ably";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import {
  APP_ID as ABLY_APP_ID,
  KEY as ABLY_KEY,
  KEY_CONFIG as ABLY_KEY_CONFIG,
  clientOptions as ablyClientOptions,
} from "../emulators/ably/test-support.js";
import { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import { APP, restClient } from "../emulators/pusher/test-support.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until, WAIT_LIMIT_MS } from "../helpers/wait-for.js";

/** A managed kind under test: its service, and what the scenarios need to know of it. */
interface ManagedKindFixture {
  /** The kind as written in the YAML. */
  readonly kind: string;
  /** The ack error code of a publication the service did not take within `publishTimeout`. */
  readonly unavailableCode: string;
  /** The route's `channel` template for rooms `room:{id}`, and what it gives for `id`. */
  readonly channelTemplate: string;
  channelOf(id: string): string;
  /** Starts the service (its emulator) on a free port. */
  startService(): Promise<ManagedService>;
}

/** One running service. */
interface ManagedService {
  readonly host: string;
  readonly port: number;
  /**
   * The lines of a backend's `settings:` block (indented by six spaces) that point it at
   * `host:port` (the service itself, or a proxy in front of it); `${VAR}`s read `env`.
   */
  settings(address: { host: string; port: number }, publishTimeout: number): string;
  readonly env: Record<string, string>;
  /** Connections subscribed to `channel` on the service now. */
  subscribers(channel: string): number;
  /** Publishes `data` as event `message` on `channel`, as a native app server would. */
  publishNative(channel: string, data: unknown): Promise<void>;
  /** Shuts the service down: connections closed, listener gone, state lost. */
  stop(): Promise<void>;
  /** Starts it again, empty, on the same port. */
  startAgain(): Promise<void>;
  /** Holds every publish request unanswered until the returned function is called. */
  holdPublishes(): () => void;
  close(): Promise<void>;
}

/** How long the service stays away: longer than `publishTimeout`, so that some expire. */
const OUTAGE_MS = 2500;
const PUBLISH_TIMEOUT_MS = 2000;
/** The ack's trip back to the client and timer slack on top of `publishTimeout`. */
const ACK_MARGIN_MS = 300;
/** "Within 2 s of the service being reachable again." */
const RECONNECT_BUDGET_MS = 2000;
const PUBLISH_EVERY_MS = 20;

type Ack = { ok: boolean; error?: { code: string; message: string } };

/** One publication of the stream, timed from the client's side. */
interface Sent {
  readonly n: number;
  readonly at: number;
  ackAt?: number;
  ack?: Ack;
}

/**
 * A TCP relay in front of a service that can crash as a host would: every connection
 * cut at once without a close frame (so the SDKs see a dropped socket, not a polite
 * shutdown), nothing listening until it recovers on the same port.
 */
class CrashableProxy {
  readonly host = "127.0.0.1";
  #port = 0;
  readonly #target: { host: string; port: number };
  #server: Server | undefined;
  readonly #sockets = new Set<TcpSocket>();

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  static async start(target: { host: string; port: number }): Promise<CrashableProxy> {
    const proxy = new CrashableProxy(target);
    await proxy.recover();
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** Cuts every connection with a reset and stops listening. */
  async crash(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
    await closed;
  }

  /** Listens again, on the same port once it has one. */
  recover(): Promise<void> {
    const server = createServer((client) => this.#relay(client));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, this.host, () => {
        server.off("error", reject);
        const address = server.address();
        if (address !== null && typeof address === "object") this.#port = address.port;
        resolve();
      });
    });
  }

  #relay(client: TcpSocket): void {
    const upstream = tcpConnect(this.#target.port, this.#target.host);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.#sockets.add(from);
      from.on("error", () => to.destroy());
      from.on("close", () => {
        this.#sockets.delete(from);
        to.destroy();
      });
      from.pipe(to);
    }
  }
}

/** Polls `/readyz` and remembers when its answer changed. */
class ReadinessWatch {
  readonly #url: string;
  #isReady: boolean | undefined;
  #isStopped = false;
  readonly #waiters: { isReady: boolean; resolve(at: number): void }[] = [];
  readonly #stopped: Promise<void>;

  constructor(url: string) {
    this.#url = `${url}/readyz`;
    this.#stopped = this.#run();
  }

  /** Resolves with the time `/readyz` was first seen answering `isReady`. */
  until(isReady: boolean, what: string): Promise<number> {
    if (this.#isReady === isReady) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`/readyz never became ${what}`)), 10_000);
      this.#waiters.push({
        isReady,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
  }

  async stop(): Promise<void> {
    this.#isStopped = true;
    await this.#stopped;
  }

  async #run(): Promise<void> {
    while (!this.#isStopped) {
      const isReady = (await fetch(this.#url)).status === 200;
      const at = performance.now();
      if (isReady !== this.#isReady) {
        this.#isReady = isReady;
        for (const waiter of this.#waiters.splice(0)) {
          if (waiter.isReady === isReady) waiter.resolve(at);
          else this.#waiters.push(waiter);
        }
      }
      // The resolution of the measurement, not a synchronisation point.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

function yamlFor(fixture: ManagedKindFixture, settings: string): string {
  return `
server:
  limits: { maxPublishesPerSocket: 1000 }
backends:
  managed:
    kind: ${fixture.kind}
    settings:
${settings}
namespaces:
  /:
    routes:
      - { room: "room:{id}", backend: managed, channel: "${fixture.channelTemplate}" }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      say:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
`;
}

/** A client publishing `{n}` into room:1 every 20 ms, recording every ack. */
class Stream {
  readonly sent: Sent[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(publisher: Socket) {
    this.#timer = setInterval(() => {
      const record: Sent = { n: this.sent.length, at: performance.now() };
      this.sent.push(record);
      void (
        publisher.emitWithAck("say", { room: "room:1", payload: { n: record.n } }) as Promise<Ack>
      ).then(
        (ack) => {
          record.ackAt = performance.now();
          record.ack = ack;
        },
        // The client went away (the test is over): that publication has no ack to check.
        () => {},
      );
    }, PUBLISH_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get acked(): number {
    return this.sent.filter((record) => record.ack !== undefined).length;
  }
}

/**
 * The scenarios every managed kind passes: the service crashes (a proxy in front of it
 * cuts every connection and stops listening), shuts down and starts again, or stops
 * answering publishes. Add a kind by calling this with its fixture.
 */
function describeManagedResilience(fixture: ManagedKindFixture): void {
  describe(`managed kind ${fixture.kind}: the service goes away mid-stream and comes back`, () => {
    const cleanup = useCleanup();
    const channel = fixture.channelOf("1");

    async function started(overProxy: boolean) {
      const service = await fixture.startService();
      cleanup.add(() => service.close());
      const proxy = overProxy ? await CrashableProxy.start(service) : undefined;
      if (proxy !== undefined) cleanup.add(() => proxy.crash());
      const address = proxy ?? service;
      const harness = await Harness.start(
        yamlFor(fixture, service.settings(address, PUBLISH_TIMEOUT_MS)),
        service.env,
      );
      cleanup.add(() => harness.close());
      const publisher = await harness.connect();
      const member = await harness.connect();
      for (const socket of [publisher, member]) {
        expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
      }
      await until(() => service.subscribers(channel) === 1, `a subscriber on ${channel}`);
      const received: unknown[] = [];
      member.on("message", (payload: { n?: unknown }) => received.push(payload.n));
      return { service, proxy, harness, publisher, member, received };
    }

    async function streamThroughOutage(
      subject: Awaited<ReturnType<typeof started>>,
      goAway: () => Promise<void>,
      comeBack: () => Promise<void>,
    ): Promise<void> {
      const { service, harness, publisher, member, received } = subject;
      const readiness = new ReadinessWatch(harness.url);
      cleanup.add(() => readiness.stop());
      await readiness.until(true, "ready");
      const stream = new Stream(publisher);
      cleanup.add(() => stream.stop());
      await until(() => received.length >= 10, "the stream to flow");

      // The first failed ack: /readyz must already say 503 when it arrives.
      let readyAtFirstFailure: number | undefined;
      const firstFailure = until(
        () => stream.sent.some((record) => record.ack?.ok === false),
        "a failed publication",
        OUTAGE_MS + PUBLISH_TIMEOUT_MS + WAIT_LIMIT_MS,
      ).then(async () => {
        readyAtFirstFailure = (await fetch(`${harness.url}/readyz`)).status;
      });

      await goAway();
      const goneAt = performance.now();
      const unreadyAt = await readiness.until(false, "unready");
      // The outage itself: how long the service is away is the fault, not a wait for one.
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (performance.now() - goneAt)));
      await comeBack();
      const backAt = performance.now();
      const readyAt = await readiness.until(true, "ready again");
      const lastBeforeReady = stream.sent.length - 1;
      await until(
        () => received.some((n) => typeof n === "number" && n > lastBeforeReady),
        "publications after the reconnect to arrive",
      );
      stream.stop();
      await until(() => stream.acked === stream.sent.length, "every ack");
      await firstFailure;

      expect(unreadyAt - goneAt).toBeLessThan(500);
      expect(readyAtFirstFailure).toBe(503);
      expect(readyAt - backAt).toBeLessThan(RECONNECT_BUDGET_MS);

      const late = stream.sent.filter((r) => r.ackAt! - r.at > PUBLISH_TIMEOUT_MS + ACK_MARGIN_MS);
      expect(late.map((r) => ({ n: r.n, ms: Math.round(r.ackAt! - r.at) }))).toEqual([]);
      const failed = stream.sent.filter((r) => r.ack?.ok === false);
      expect(new Set(failed.map((r) => r.ack!.error!.code))).toEqual(
        new Set([fixture.unavailableCode]),
      );
      // Sent well after the service went away, a publication waits for it: it either
      // made it or failed at its deadline, never at once against a closed port.
      const early = failed.filter(
        (r) => r.at > goneAt + 50 && r.ackAt! - r.at < PUBLISH_TIMEOUT_MS - 50,
      );
      expect(early.map((r) => r.n)).toEqual([]);
      const waitedAndMadeIt = stream.sent.filter(
        (r) => r.at > goneAt + 50 && r.at < backAt && r.ack?.ok === true,
      );
      expect(waitedAndMadeIt.length).toBeGreaterThan(0);

      // Nothing lost silently, nothing twice, in order.
      await until(
        () => stream.sent.filter((r) => r.ack?.ok === true).every((r) => received.includes(r.n)),
        "every accepted publication at the other member",
      );
      expect(new Set(received).size).toBe(received.length);
      expect(received).toEqual([...received].sort((a, b) => (a as number) - (b as number)));

      // Subscribed again: a native publisher reaches the member.
      await until(() => service.subscribers(channel) === 1, `a subscriber on ${channel} again`);
      const native = new Promise<void>((resolve) =>
        member.on("message", (payload: { n?: unknown }) => {
          if (payload.n === "native") resolve();
        }),
      );
      await service.publishNative(channel, { n: "native" });
      await native;
    }

    it("crashes (connections cut, port closed) and comes back: ready within 2 s, every publication acked in time, none lost", async () => {
      const subject = await started(true);
      const proxy = subject.proxy!;
      await streamThroughOutage(
        subject,
        () => proxy.crash(),
        () => proxy.recover(),
      );
    });

    it("shuts down and starts again on the same port: ready within 2 s, every publication acked in time, none lost", async () => {
      const subject = await started(false);
      await streamThroughOutage(
        subject,
        () => subject.service.stop(),
        () => subject.service.startAgain(),
      );
    });

    it("stops answering publishes: each publication still settles within publishTimeout, and a later one goes through", async () => {
      const { service, harness, publisher, received } = await started(false);
      const release = service.holdPublishes();
      cleanup.add(release);
      const sentAt = performance.now();
      const acks = await Promise.all(
        Array.from(
          { length: 30 },
          (_, n) =>
            publisher.emitWithAck("say", { room: "room:1", payload: { n } }) as Promise<Ack>,
        ).map((ack) => ack.then((value) => ({ value, ms: performance.now() - sentAt }))),
      );
      for (const { value, ms } of acks) {
        expect(value).toMatchObject({ ok: false, error: { code: fixture.unavailableCode } });
        expect(ms).toBeLessThan(PUBLISH_TIMEOUT_MS + ACK_MARGIN_MS);
      }
      // The call that got no answer makes the backend unready when the SDK gives up on it.
      const readiness = new ReadinessWatch(harness.url);
      cleanup.add(() => readiness.stop());
      await readiness.until(false, "unready");
      release();
      await readiness.until(true, "ready again");
      expect(
        await publisher.emitWithAck("say", { room: "room:1", payload: { n: "after" } }),
      ).toEqual({
        ok: true,
      });
      await until(() => received.includes("after"), "the publication after the release");
    });
  });
}

/** Pusher: the emulator's REST API and WebSocket on one port. */
const pusherFixture: ManagedKindFixture = {
  kind: "pusher",
  unavailableCode: "SWY_PUSHER_UNAVAILABLE",
  channelTemplate: "private-room-{id}",
  channelOf: (id) => `private-room-${id}`,
  async startService() {
    const apps = [{ ...APP }];
    let emulator = await PusherEmulator.start({ apps });
    const port = emulator.port;
    return {
      host: emulator.host,
      port,
      env: { PUSHER_APP_ID: APP.id, PUSHER_KEY: APP.key, PUSHER_SECRET: APP.secret },
      settings: (address, publishTimeout) =>
        [
          `      appId: "\${PUSHER_APP_ID}"`,
          `      key: "\${PUSHER_KEY}"`,
          `      secret: "\${PUSHER_SECRET}"`,
          `      host: "${address.host}"`,
          `      port: ${address.port}`,
          "      useTLS: false",
          `      publishTimeout: ${publishTimeout}`,
        ].join("\n"),
      subscribers: (channel) => emulator.channels(APP.id)[channel]?.subscriptionCount ?? 0,
      publishNative: async (channel, data) => {
        await restClient(emulator).trigger(channel, "message", data);
      },
      stop: () => emulator.close(),
      startAgain: async () => {
        emulator = await PusherEmulator.start({ apps, port });
      },
      holdPublishes: () => emulator.holdRest(),
      close: () => emulator.close(),
    };
  },
};

/** Ably: the emulator's realtime protocol and REST API on one port. */
const ablyFixture: ManagedKindFixture = {
  kind: "ably",
  unavailableCode: "SWY_ABLY_UNAVAILABLE",
  channelTemplate: "room:{id}",
  channelOf: (id) => `room:${id}`,
  async startService() {
    const apps = [{ id: ABLY_APP_ID, keys: [ABLY_KEY_CONFIG] }];
    let emulator = await AblyEmulator.start({ apps });
    const port = emulator.port;
    return {
      host: emulator.host,
      port,
      env: { ABLY_KEY },
      settings: (address, publishTimeout) =>
        [
          `      key: "\${ABLY_KEY}"`,
          `      host: "${address.host}"`,
          `      port: ${address.port}`,
          "      tls: false",
          `      publishTimeout: ${publishTimeout}`,
        ].join("\n"),
      subscribers: (channel) => emulator.attachedConnectionIds(ABLY_APP_ID, channel).length,
      publishNative: async (channel, data) => {
        await new Ably.Rest(ablyClientOptions(emulator, "json")).channels
          .get(channel)
          .publish("message", data);
      },
      stop: () => emulator.close(),
      startAgain: async () => {
        emulator = await AblyEmulator.start({ apps, port });
      },
      holdPublishes: () => emulator.holdRest(),
      close: () => emulator.close(),
    };
  },
};

describeManagedResilience(pusherFixture);
describeManagedResilience(ablyFixture);

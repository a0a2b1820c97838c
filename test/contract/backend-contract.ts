import { describe, expect, it } from "vitest";
import type { Backend, Delivery, DeliverySink } from "../../src/egress/backend.js";

/** A sink that records deliveries and lets a test wait for the next ones. */
export class RecordingSink implements DeliverySink {
  readonly deliveries: Delivery[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.deliveries.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once `count` deliveries in all have arrived. */
  received(count: number): Promise<void> {
    if (this.deliveries.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }
}

/** Builds a fresh, unstarted backend for one test; `dispose` runs after it. */
export interface ContractSubject {
  backend: Backend;
  dispose?(): Promise<void>;
}

/**
 * The behaviour every backend kind promises (src/egress/backend.ts). A kind proves
 * itself by passing this suite: `runBackendContract("pusher", makePusherBackend)`.
 *
 * A marker publication on a second channel, published after the one under test,
 * shows that nothing else is coming: delivery is ordered per backend connection.
 */
export function runBackendContract(kind: string, make: () => Promise<ContractSubject>): void {
  describe(`backend contract: ${kind}`, () => {
    async function started(): Promise<{
      backend: Backend;
      sink: RecordingSink;
      done(): Promise<void>;
    }> {
      const subject = await make();
      const sink = new RecordingSink();
      await subject.backend.start(sink);
      return {
        backend: subject.backend,
        sink,
        async done() {
          await subject.backend.close();
          await subject.dispose?.();
        },
      };
    }

    it("declares its kind and is ready once started", async () => {
      const { backend, done } = await started();
      try {
        expect(backend.kind).toBe(kind);
        expect(backend.health().isReady).toBe(true);
      } finally {
        await done();
      }
    });

    it("delivers a publication on a subscribed channel with its event, arguments and exception", async () => {
      const { backend, sink, done } = await started();
      try {
        await backend.subscribe("room-1");
        await backend.publish({
          channel: "room-1",
          event: "message",
          args: [{ a: 1 }, "x"],
          except: "s1",
        });
        await sink.received(1);
        // A kind that keeps a channel history says where it holds the message.
        const position = backend.capabilities.history ? { position: expect.any(String) } : {};
        expect(sink.deliveries).toEqual([
          { channel: "room-1", event: "message", args: [{ a: 1 }, "x"], except: "s1", ...position },
        ]);
      } finally {
        await done();
      }
    });

    it("delivers nothing for a channel it is not subscribed to", async () => {
      const { backend, sink, done } = await started();
      try {
        await backend.subscribe("marker");
        await backend.publish({ channel: "elsewhere", event: "message", args: [1] });
        await backend.publish({ channel: "marker", event: "done", args: [] });
        await sink.received(1);
        expect(sink.deliveries.map((d) => d.channel)).toEqual(["marker"]);
      } finally {
        await done();
      }
    });

    it("treats a second subscribe as the same subscription: one delivery per publication", async () => {
      const { backend, sink, done } = await started();
      try {
        await backend.subscribe("room-1");
        await backend.subscribe("room-1");
        await backend.subscribe("marker");
        await backend.publish({ channel: "room-1", event: "message", args: [1] });
        await backend.publish({ channel: "marker", event: "done", args: [] });
        await sink.received(2);
        expect(sink.deliveries.map((d) => d.channel)).toEqual(["room-1", "marker"]);
      } finally {
        await done();
      }
    });

    it("stops delivering after unsubscribe, and unsubscribing twice is harmless", async () => {
      const { backend, sink, done } = await started();
      try {
        await backend.subscribe("room-1");
        await backend.subscribe("marker");
        await backend.unsubscribe("room-1");
        await backend.unsubscribe("room-1");
        await backend.publish({ channel: "room-1", event: "message", args: [1] });
        await backend.publish({ channel: "marker", event: "done", args: [] });
        await sink.received(1);
        expect(sink.deliveries.map((d) => d.channel)).toEqual(["marker"]);
      } finally {
        await done();
      }
    });

    it("keeps publish order within a channel", async () => {
      const { backend, sink, done } = await started();
      try {
        await backend.subscribe("room-1");
        const count = 50;
        await Promise.all(
          Array.from({ length: count }, (_, i) =>
            backend.publish({ channel: "room-1", event: "message", args: [i] }),
          ),
        );
        await sink.received(count);
        expect(sink.deliveries.map((d) => d.args[0])).toEqual(
          Array.from({ length: count }, (_, i) => i),
        );
      } finally {
        await done();
      }
    });

    it("reads a channel's history back after a delivered message, as it was delivered (kinds with history)", async (context) => {
      const { backend, sink, done } = await started();
      try {
        // Only kinds that declare the capability promise it.
        if (!backend.capabilities.history) context.skip();
        await backend.subscribe("room-1");
        for (let i = 0; i < 5; i++) {
          await backend.publish({ channel: "room-1", event: "message", args: [i] });
        }
        await sink.received(5);
        const [first, ...rest] = sink.deliveries;
        expect(await backend.history!("room-1", { after: first!.position! }, 10)).toEqual(rest);
        expect(await backend.history!("room-1", { after: first!.position! }, 3)).toBe(
          "too_many_missed",
        );
        expect(await backend.history!("room-1", { after: "no-such-message" }, 10)).toBe(
          "offset_gone",
        );
        // From this node's attachment: everything published since.
        const attach = backend.attachPoint!("room-1");
        expect(attach).toEqual(expect.any(String));
        expect(await backend.history!("room-1", { attach: attach! }, 10)).toEqual(sink.deliveries);
      } finally {
        await done();
      }
    });
  });
}

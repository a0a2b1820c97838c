/**
 * Vector: one polling POST carrying 5,000 events of a forward rule used to open 5,000
 * requests (and sockets) to the app at once. Now a socket has at most
 * `maxForwardsPerSocket` events waiting for the app and the node `maxForwards`; the
 * rest are refused in their acks, and the event budget stops the flood itself.
 */
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { type HttpApp, type Reply, startApp } from "../helpers/http-app.js";
import { PollingSession, SEPARATOR } from "../helpers/raw-polling.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { WAIT_LIMIT_MS } from "../helpers/wait-for.js";

function config(appUrl: string): string {
  return `
server:
  limits: { maxForwardsPerSocket: 4, maxForwards: 6 }
namespaces:
  /:
    events:
      report: { action: forward, url: "${appUrl}", timeout: 10000 }
`;
}

type Ack = { ok: boolean; error?: { code: string } };

/** Polls until `count` acks have arrived; returns them by ack id. */
async function collectAcks(session: PollingSession, count: number): Promise<Map<number, Ack>> {
  const acks = new Map<number, Ack>();
  while (acks.size < count) {
    const reply = await session.get();
    for (const packet of reply.body.split(SEPARATOR)) {
      const match = /^43(\d+)(\[.*)$/.exec(packet);
      if (match !== null) acks.set(Number(match[1]), (JSON.parse(match[2]!) as Ack[])[0]!);
    }
  }
  return acks;
}

/** Resolves once the app has received `count` requests (they are in flight before). */
async function untilReceived(app: HttpApp, count: number): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (app.received.length < count) {
    if (Date.now() > deadline) throw new Error(`the app received ${app.received.length} requests`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("a flood of forwarded events", () => {
  const cleanup = useCleanup();

  it("opens at most maxForwardsPerSocket requests to the app for one socket, and refuses the rest", async () => {
    const releases: (() => void)[] = [];
    const app = await startApp(cleanup, ({ body }) => {
      if ((body.args as unknown[])[0] === "bystander") return { body: { ack: "answered" } };
      return new Promise<Reply>((resolve) => releases.push(() => resolve({ body: {} })));
    });
    cleanup.add(() => {
      for (const release of releases) release();
    });
    const harness = await Harness.start(config(app.url));
    cleanup.add(() => harness.close());

    const attacker = await PollingSession.open(harness.url, "/socket.io/");
    await attacker.connectNamespace();
    const flood = Array.from({ length: 5000 }, (_, id) => `42${id}["report","x"]`);
    expect((await attacker.post(flood.join(SEPARATOR))).status).toBe(200);
    const acks = await collectAcks(attacker, 5000 - 4);
    const codes = new Map<string, number>();
    for (const ack of acks.values()) {
      const code = ack.error?.code ?? "ok";
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // The burst of 200 events (plus what the bucket refills while they are read): 4 at
    // the app, the rest busy; most of the 5,000 over the event budget.
    expect([...codes.keys()].sort()).toEqual(["SWY_FORWARD_BUSY", "SWY_RATE_LIMITED"]);
    expect(codes.get("SWY_FORWARD_BUSY")).toBeGreaterThanOrEqual(196);
    expect(codes.get("SWY_RATE_LIMITED")).toBeGreaterThan(4000);
    // Every other event has been answered, so no fifth request can still be on its way.
    await untilReceived(app, 4);
    expect(app.received).toHaveLength(4);

    // Another socket still reaches the app: the node's total (6) is not spent.
    const bystander = await harness.connect();
    expect(await bystander.emitWithAck("report", "bystander")).toBe("answered");

    for (const release of releases.splice(0)) release();
    const answered = await collectAcks(attacker, 4);
    expect([...answered.values()]).toEqual([
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: true },
    ]);
  });

  it("refuses with SWY_FORWARD_BUSY once the whole node has maxForwards events at the app", async () => {
    const releases: (() => void)[] = [];
    let isHolding = true;
    const app = await startApp(cleanup, () =>
      isHolding
        ? new Promise<Reply>((resolve) => releases.push(() => resolve({ body: {} })))
        : { body: {} },
    );
    cleanup.add(() => {
      for (const release of releases) release();
    });
    const harness = await Harness.start(config(app.url));
    cleanup.add(() => harness.close());
    const first = await harness.connect();
    const second = await harness.connect();
    const third = await harness.connect();
    const pending = [
      ...Array.from({ length: 4 }, () => first.emitWithAck("report", 1)),
      ...Array.from({ length: 2 }, () => second.emitWithAck("report", 2)),
    ];
    await untilReceived(app, 6);
    expect(await third.emitWithAck("report", 3)).toEqual({
      ok: false,
      error: {
        code: "SWY_FORWARD_BUSY",
        message: "Too many events are waiting for the app (6); try again",
      },
    });
    isHolding = false;
    for (const release of releases.splice(0)) release();
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 6 }, () => ({ ok: true })));
    expect(await third.emitWithAck("report", 3)).toEqual({ ok: true });
  });
});

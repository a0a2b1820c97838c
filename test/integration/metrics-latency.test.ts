import { afterEach, describe, expect, it } from "vitest";
import { NativeBackend } from "../../src/egress/native/native-backend.js";
import { nativeFactory } from "../../src/egress/native/native-factory.js";
import { BackendRegistry } from "../../src/egress/registry.js";
import { SwitchyardError } from "../../src/errors.js";
import { useCleanup } from "../helpers/cleanup.js";
import { type AppHandler, startApp, unusedUrl } from "../helpers/http-app.js";
import { fetchText } from "../helpers/raw-polling.js";
import { Harness } from "../helpers/switchyard-harness.js";

// Metrics live in one registry per process; vitest runs each file in its own process
// and its tests one after the other, so the deltas below are exact.

const cleanup = useCleanup();
let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/**
 * A native backend that refuses every publication and every subscription: the
 * `refused` and `failed` outcomes, without an external service.
 */
const KINDS = new BackendRegistry().register(nativeFactory).register({
  kind: "refusing",
  settingsSchema: { type: "object" },
  create: (name) =>
    Object.assign(new NativeBackend(name), {
      kind: "refusing",
      publish: () => Promise.reject(new SwitchyardError("SWY_PUBLISH_BUSY", [])),
      subscribe: () => Promise.reject(new Error("no such channel")),
    }),
});

const CONFIG = `
server:
  joinTimeout: 2000
backends:
  gone: { kind: refusing }
namespaces:
  /:
    routes:
      - { room: "closed:{id}", backend: gone }
      - { room: "{any}", backend: native }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}", "closed:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}", "closed:{id}"]
        requireMembership: false
        emit: message
        args: ["{data.text}"]
      ask: { action: forward, url: "\${APP_URL}" }
`;

async function start(app: AppHandler | "down" = () => ({ body: {} })): Promise<Harness> {
  const url = app === "down" ? await unusedUrl() : (await startApp(cleanup, app)).url;
  harness = await Harness.start(CONFIG, { APP_URL: url }, KINDS);
  return harness;
}

async function scrape(h: Harness): Promise<string> {
  const reply = await fetchText(`${h.url}/metrics`);
  expect(reply.status).toBe(200);
  return reply.body;
}

/** The value of one sample, `name{labels}` exactly as Prometheus text writes it; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const list = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(",");
  const line = list === "" ? `${name} ` : `${name}{${list}} `;
  const found = text.split("\n").find((l) => l.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(line.length));
}

/** How many observations `histogram` holds under `labels` (its `_count`). */
function count(text: string, histogram: string, labels: Record<string, string>): number {
  return sample(text, `${histogram}_count`, labels);
}

/** Runs `cause` and resolves with how much `histogram`'s count under `labels` grew. */
async function observed(
  h: Harness,
  histogram: string,
  labels: Record<string, string>,
  cause: () => Promise<unknown>,
): Promise<number> {
  const before = count(await scrape(h), histogram, labels);
  await cause();
  return count(await scrape(h), histogram, labels) - before;
}

describe("switchyard_build_info and the default process metrics", () => {
  it("reports the package version and the Node.js version as labels of a gauge at 1", async () => {
    const h = await start();
    const text = await scrape(h);
    const { version } = (await import("../../package.json", { with: { type: "json" } })).default;
    expect(text).toMatch(/^# TYPE switchyard_build_info gauge$/m);
    expect(sample(text, "switchyard_build_info", { version, node: process.versions.node })).toBe(1);
  });

  it("exports the default process metrics under their standard, unprefixed names", async () => {
    const text = await scrape(await start());
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "nodejs_heap_size_used_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_version_info",
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    }
    expect(text).not.toMatch(/^switchyard_(process|nodejs)_/m);
  });
});

describe("switchyard_ack_latency_seconds", () => {
  it("observes an ack by the rule's action and outcome: ok, error, and none for an unknown event", async () => {
    const h = await start();
    const client = await h.connect({ transports: ["websocket"] });
    const metric = "switchyard_ack_latency_seconds";
    expect(
      await observed(h, metric, { action: "join", outcome: "ok" }, () =>
        client.emitWithAck("join", { room: "room:1" }),
      ),
    ).toBe(1);
    expect(
      await observed(h, metric, { action: "join", outcome: "error" }, () =>
        client.emitWithAck("join", { room: "elsewhere" }),
      ),
    ).toBe(1);
    expect(
      await observed(h, metric, { action: "none", outcome: "error" }, () =>
        client.emitWithAck("nope", {}),
      ),
    ).toBe(1);
    expect(
      await observed(h, metric, { action: "forward", outcome: "ok" }, () =>
        client.emitWithAck("ask", {}),
      ),
    ).toBe(1);
  });

  it("observes nothing for an event sent without an ack", async () => {
    const h = await start();
    const client = await h.connect({ transports: ["websocket"] });
    const before = await scrape(h);
    client.emit("join", { room: "room:2" });
    // The ack of a second event in the same order says the first was handled.
    await client.emitWithAck("join", { room: "room:3" });
    const after = await scrape(h);
    const labels = { action: "join", outcome: "ok" };
    const metric = "switchyard_ack_latency_seconds";
    expect(count(after, metric, labels) - count(before, metric, labels)).toBe(1);
  });
});

describe("switchyard_forward_seconds", () => {
  it("observes the app's round trip by event and outcome: ok, rejected", async () => {
    let status = 200;
    const h = await start(() => ({ status, body: {} }));
    const client = await h.connect({ transports: ["websocket"] });
    const metric = "switchyard_forward_seconds";
    expect(
      await observed(h, metric, { event: "ask", outcome: "ok" }, () =>
        client.emitWithAck("ask", {}),
      ),
    ).toBe(1);
    status = 500;
    expect(
      await observed(h, metric, { event: "ask", outcome: "rejected" }, () =>
        client.emitWithAck("ask", {}),
      ),
    ).toBe(1);
  });

  it("observes an app that cannot be reached as unavailable", async () => {
    const h = await start("down");
    const client = await h.connect({ transports: ["websocket"] });
    expect(
      await observed(
        h,
        "switchyard_forward_seconds",
        { event: "ask", outcome: "unavailable" },
        () => client.emitWithAck("ask", {}),
      ),
    ).toBe(1);
  });
});

describe("switchyard_backend_publish_seconds", () => {
  it("observes each publication by backend, kind and outcome: accepted, refused", async () => {
    const h = await start();
    const client = await h.connect({ transports: ["websocket"] });
    const metric = "switchyard_backend_publish_seconds";
    const accepted = { backend: "native", kind: "native", outcome: "accepted" };
    expect(
      await observed(h, metric, accepted, () =>
        client.emitWithAck("publish", { room: "room:1", text: "hi" }),
      ),
    ).toBe(1);
    const refused = { backend: "gone", kind: "refusing", outcome: "refused" };
    expect(
      await observed(h, metric, refused, async () => {
        const ack = await client.emitWithAck("publish", { room: "closed:1", text: "hi" });
        expect(ack).toMatchObject({ ok: false, error: { code: "SWY_PUBLISH_BUSY" } });
      }),
    ).toBe(1);
  });
});

describe("switchyard_join_subscribe_seconds", () => {
  it("observes a join until its channel is subscribed, by backend, kind and outcome: subscribed, failed", async () => {
    const h = await start();
    const client = await h.connect({ transports: ["websocket"] });
    const metric = "switchyard_join_subscribe_seconds";
    const subscribed = { backend: "native", kind: "native", outcome: "subscribed" };
    expect(
      await observed(h, metric, subscribed, () => client.emitWithAck("join", { room: "room:1" })),
    ).toBe(1);
    const failed = { backend: "gone", kind: "refusing", outcome: "failed" };
    expect(
      await observed(h, metric, failed, async () => {
        const ack = await client.emitWithAck("join", { room: "closed:1" });
        expect(ack).toMatchObject({ ok: false, error: { code: "SWY_SUBSCRIBE_FAILED" } });
      }),
    ).toBe(1);
  });

  it("keeps room names out of every histogram's labels", async () => {
    const h = await start();
    const client = await h.connect({ transports: ["websocket"] });
    await client.emitWithAck("join", { room: "room:secret-42" });
    await client.emitWithAck("publish", { room: "room:secret-42", text: "x" });
    expect(await scrape(h)).not.toContain("secret-42");
  });
});

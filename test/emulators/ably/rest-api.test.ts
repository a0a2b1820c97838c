import type * as Ably from "ably";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../../helpers/cleanup.js";
import type { AblyKeyConfig } from "./ably-emulator.js";
import {
  connectRealtime,
  FORMATS,
  Inbox,
  KEY,
  KEY_CONFIG,
  keyOf,
  restClient,
  startEmulator,
} from "./test-support.js";

describe.each(FORMATS)("Ably emulator REST API with the ably SDK over %s", (format) => {
  const cleanup = useCleanup();

  it("delivers a REST publish to realtime subscribers with its id, the REST clientId and a timestamp", async () => {
    const emulator = await startEmulator(cleanup);
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("room:1"));
    const rest = restClient(emulator, format, { clientId: "server" });
    const result = await rest.channels.get("room:1").publish("greet", "from rest");
    const [message] = await inbox.next(1);
    expect(message).toMatchObject({ name: "greet", data: "from rest", clientId: "server" });
    expect(message?.id).toMatch(/:0$/);
    expect(message?.timestamp).toBeGreaterThan(0);
    expect(result.serials).toEqual([message?.serial]);
    expect(emulator.stats.published).toBe(1);
  });

  it("publishes an array in one request, delivered in order", async () => {
    const emulator = await startEmulator(cleanup);
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("room:1"));
    const result = await restClient(emulator, format)
      .channels.get("room:1")
      .publish([
        { name: "a", data: "1" },
        { name: "b", data: "2" },
        { name: "c", data: "3" },
      ]);
    expect(result.serials).toHaveLength(3);
    expect((await inbox.next(3)).map((m) => m.name)).toEqual(["a", "b", "c"]);
  });

  it("routes channel names with reserved URL characters to the right channel", async () => {
    const emulator = await startEmulator(cleanup);
    const name = "chat:room/1 ü?#%";
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get(name));
    await restClient(emulator, format).channels.get(name).publish("x", "y");
    expect((await inbox.next(1))[0]?.data).toBe("y");
  });

  it("delivers a message once however often it is published with the same id", async () => {
    const emulator = await startEmulator(cleanup);
    const subscriber = await connectRealtime(emulator, cleanup, format);
    const inbox = await Inbox.of(subscriber.channels.get("room:1"));
    const channel = restClient(emulator, format).channels.get("room:1");
    const first = await channel.publish({ id: "fixed-id:0", name: "x", data: "once" });
    const again = await channel.publish({ id: "fixed-id:0", name: "x", data: "once" });
    expect(again.serials).toEqual(first.serials);
    await channel.publish("marker", "m");
    await inbox.next(2);
    expect(inbox.messages.map((m) => m.name)).toEqual(["x", "marker"]);
  });

  it("answers GET /time", async () => {
    const emulator = await startEmulator(cleanup);
    const before = Date.now();
    expect(await restClient(emulator, format).time()).toBeGreaterThanOrEqual(before);
  });

  it("returns the channel's messages as history, newest first", async () => {
    const emulator = await startEmulator(cleanup);
    const channel = restClient(emulator, format).channels.get("room:1");
    await channel.publish([
      { name: "a", data: "1" },
      { name: "b", data: Buffer.from([1, 2]) },
    ]);
    const page = await channel.history();
    expect(page.items.map((m) => m.name)).toEqual(["b", "a"]);
    expect(Buffer.isBuffer(page.items[0]?.data)).toBe(true);
    expect(page.isLast()).toBe(true);
  });

  it("refuses a wrong secret with 40101", async () => {
    const emulator = await startEmulator(cleanup);
    const rest = restClient(emulator, format, { key: keyOf({ ...KEY_CONFIG, secret: "wrong" }) });
    const error = (await rest.channels
      .get("room:1")
      .publish("x", "y")
      .catch((e: unknown) => e)) as Ably.ErrorInfo;
    expect(error.code).toBe(40101);
    expect(error.statusCode).toBe(401);
  });

  it("refuses a publish outside the key's capability with 40160", async () => {
    const limited: AblyKeyConfig = {
      id: "pub-only",
      secret: "s",
      capability: { "public:*": ["publish"] },
    };
    const emulator = await startEmulator(cleanup, { extraKeys: [limited] });
    const rest = restClient(emulator, format, { key: keyOf(limited) });
    await rest.channels.get("public:1").publish("x", "y");
    const error = (await rest.channels
      .get("private:1")
      .publish("x", "y")
      .catch((e: unknown) => e)) as Ably.ErrorInfo;
    expect(error.code).toBe(40160);
  });

  it("refuses an oversize publish with 40009", async () => {
    const emulator = await startEmulator(cleanup, { maxMessageSize: 1000 });
    // The SDK's own limit is raised so that the request reaches the emulator.
    const rest = restClient(emulator, format, { maxMessageSize: 65_536 });
    const error = (await rest.channels
      .get("room:1")
      .publish("big", "x".repeat(2000))
      .catch((e: unknown) => e)) as Ably.ErrorInfo;
    expect(error.code).toBe(40009);
    expect(error.statusCode).toBe(400);
    expect(emulator.stats.published).toBe(0);
  });

  it("refuses publishes with the error a test injects", async () => {
    const emulator = await startEmulator(cleanup);
    const channel = restClient(emulator, format).channels.get("room:1");
    const restore = emulator.rejectPublishes({
      code: 42910,
      statusCode: 429,
      message: "Rate limit exceeded",
    });
    const error = (await channel.publish("x", "y").catch((e: unknown) => e)) as Ably.ErrorInfo;
    expect(error.code).toBe(42910);
    expect(error.statusCode).toBe(429);
    restore();
    await channel.publish("x", "y");
  });

  it("holds REST answers until released", async () => {
    const emulator = await startEmulator(cleanup);
    const realtime = await connectRealtime(emulator, cleanup, format);
    const rest = restClient(emulator, format);
    const release = emulator.holdRest();
    let isSettled = false;
    const publish = rest.channels
      .get("room:1")
      .publish("x", "y")
      .finally(() => {
        isSettled = true;
      });
    // A realtime round trip goes through the same server while the REST request waits.
    await realtime.connection.ping();
    expect(isSettled).toBe(false);
    release();
    await publish;
    expect(emulator.stats.published).toBe(1);
  });
});

describe("Ably emulator REST API on the wire", () => {
  const cleanup = useCleanup();

  it("answers errors with content-type exactly application/json and the x-ably-error headers", async () => {
    const emulator = await startEmulator(cleanup);
    const response = await fetch(`http://${emulator.host}:${emulator.port}/channels/x/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("x-ably-errorcode")).toBe("40101");
    expect(await response.json()).toMatchObject({ error: { code: 40101, statusCode: 401 } });
  });

  it("answers 404 with 40400 for an unknown path", async () => {
    const emulator = await startEmulator(cleanup);
    const response = await fetch(`http://${emulator.host}:${emulator.port}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 40400 } });
  });

  it("refuses data that is neither a string nor binary with 40013", async () => {
    const emulator = await startEmulator(cleanup);
    const response = await fetch(
      `http://${emulator.host}:${emulator.port}/channels/room%3A1/messages`,
      {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(KEY).toString("base64")}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ name: "n", data: 42 }),
      },
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 40013 } });
    expect(emulator.stats.published).toBe(0);
  });

  it("serves the connectivity check URL the SDK is pointed at", async () => {
    const emulator = await startEmulator(cleanup);
    const response = await fetch(emulator.connectivityCheckOptions.connectivityCheckUrl);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("yes\n");
  });
});

import PusherRest from "pusher";
import { describe, expect, it } from "vitest";
import type { PusherEmulator } from "./pusher-emulator.js";
import { hmacHex, md5Hex } from "./signature.js";
import {
  APP,
  connectClient,
  nextEvent,
  RawPusherSocket,
  restClient,
  startEmulator,
  subscribe,
  useCleanup,
} from "./test-support.js";

/** Resolves with the SDK's RequestError status, failing when the call succeeds. */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
  } catch (error) {
    if (error instanceof PusherRest.RequestError) return error.status;
    throw error;
  }
  throw new Error("expected the request to fail");
}

/** A hand-signed request, for what the SDK will not send (stale timestamps, edited bodies). */
function signedFetch(
  emulator: PusherEmulator,
  options: { method: string; path: string; body?: string; timestamp?: number; bodyForMd5?: string },
): Promise<Response> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const params = [`auth_key=${APP.key}`, `auth_timestamp=${timestamp}`, "auth_version=1.0"];
  if (options.body !== undefined)
    params.push(`body_md5=${md5Hex(options.bodyForMd5 ?? options.body)}`);
  const query = params.join("&");
  const signature = hmacHex(APP.secret, `${options.method}\n${options.path}\n${query}`);
  const init: RequestInit = { method: options.method };
  if (options.body !== undefined) {
    init.body = options.body;
    init.headers = { "content-type": "application/json" };
  }
  return fetch(
    `http://${emulator.host}:${emulator.port}${options.path}?${query}&auth_signature=${signature}`,
    init,
  );
}

describe("Pusher emulator: REST API with the pusher SDK", () => {
  const onCleanup = useCleanup();

  it("answers a trigger with {} and delivers the data string byte for byte", async () => {
    const emulator = await startEmulator(onCleanup);
    const raw = RawPusherSocket.open(emulator);
    onCleanup(() => raw.close());
    await raw.handshake();
    raw.send({ event: "pusher:subscribe", data: { channel: "news" } });
    expect(await raw.next()).toMatchObject({ event: "pusher_internal:subscription_succeeded" });
    const response = await restClient(emulator).trigger("news", "raw", '{"a": 1}');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    expect(await raw.next()).toEqual({ event: "raw", channel: "news", data: '{"a": 1}' });
  });

  it("delivers batch_events in order", async () => {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup);
    const channel = await subscribe(client, "news");
    const seen: number[] = [];
    channel.bind("step", (data: { i: number }) => seen.push(data.i));
    const last = nextEvent(channel, "step", (data: { i: number }) => data.i === 9);
    const batch = Array.from({ length: 10 }, (_, i) => ({
      channel: "news",
      name: "step",
      data: { i },
    }));
    const response = await restClient(emulator).triggerBatch(batch);
    expect(await response.json()).toEqual({});
    await last;
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(emulator.stats.published).toBe(10);
  });

  it("refuses a batch of 11 events with 400 and publishes none of it", async () => {
    const emulator = await startEmulator(onCleanup);
    const batch = Array.from({ length: 11 }, (_, i) => ({
      channel: "news",
      name: "step",
      data: { i },
    }));
    expect(await statusOf(restClient(emulator).triggerBatch(batch))).toBe(400);
    expect(emulator.stats.published).toBe(0);
  });

  it("accepts 10240 bytes of data and refuses 10241 with 413", async () => {
    const emulator = await startEmulator(onCleanup);
    const rest = restClient(emulator);
    await rest.trigger("news", "big", "x".repeat(10_240));
    expect(await statusOf(rest.trigger("news", "big", "x".repeat(10_241)))).toBe(413);
    // Bytes, not characters: 5121 two-byte characters are 10242 bytes.
    expect(await statusOf(rest.trigger("news", "big", "é".repeat(5_121)))).toBe(413);
    expect(
      await statusOf(
        rest.triggerBatch([{ channel: "news", name: "big", data: "x".repeat(10_241) }]),
      ),
    ).toBe(413);
    expect(emulator.stats.published).toBe(1);
  });

  it("refuses a request signed with the wrong secret with 401", async () => {
    const emulator = await startEmulator(onCleanup);
    expect(await statusOf(restClient(emulator, "wrong-secret").trigger("news", "e", {}))).toBe(401);
    expect(await statusOf(restClient(emulator, "wrong-secret").get({ path: "/channels" }))).toBe(
      401,
    );
    expect(emulator.stats.published).toBe(0);
  });

  it("accepts timestamps within 600 s and refuses older ones with 401", async () => {
    const emulator = await startEmulator(onCleanup);
    const now = Math.floor(Date.now() / 1000);
    const path = `/apps/${APP.id}/channels`;
    expect(
      (await signedFetch(emulator, { method: "GET", path, timestamp: now - 590 })).status,
    ).toBe(200);
    const stale = await signedFetch(emulator, { method: "GET", path, timestamp: now - 700 });
    expect(stale.status).toBe(401);
    expect(await stale.text()).toMatch(/^Timestamp expired/);
    const future = await signedFetch(emulator, { method: "GET", path, timestamp: now + 700 });
    expect(future.status).toBe(401);
  });

  it("refuses a body that does not match body_md5 with 401", async () => {
    const emulator = await startEmulator(onCleanup);
    const body = JSON.stringify({ name: "e", channel: "news", data: "{}" });
    const path = `/apps/${APP.id}/events`;
    expect((await signedFetch(emulator, { method: "POST", path, body })).status).toBe(200);
    const tampered = await signedFetch(emulator, {
      method: "POST",
      path,
      body,
      bodyForMd5: body.replace("news", "other"),
    });
    expect(tampered.status).toBe(401);
  });

  it("answers an unknown app id with 404", async () => {
    const emulator = await startEmulator(onCleanup);
    const rest = new PusherRest({
      appId: "999",
      key: APP.key,
      secret: APP.secret,
      host: emulator.host,
      port: String(emulator.port),
    });
    expect(await statusOf(rest.trigger("news", "e", {}))).toBe(404);
  });

  it("refuses invalid channel names, too many channels and non-string data with 400", async () => {
    const emulator = await startEmulator(onCleanup);
    const rest = restClient(emulator);
    // The SDK allows 200 characters; the service allows 164 (reference §6).
    expect(await statusOf(rest.trigger("x".repeat(165), "e", {}))).toBe(400);
    // The SDK checks these itself, so they go through its generic post().
    const post = (body: object) => rest.post({ path: "/events", body: body as unknown as string });
    expect(await statusOf(post({ name: "e", channel: "bad:name", data: "{}" }))).toBe(400);
    expect(await statusOf(post({ name: "e", channel: "#server-to-user-1", data: "{}" }))).toBe(400);
    const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
    expect(await statusOf(post({ name: "e", channels, data: "{}" }))).toBe(400);
    expect(await statusOf(post({ name: "e", channel: "news", data: { a: 1 } }))).toBe(400);
    expect(await statusOf(post({ name: "e", channel: "news", data: "{}", socket_id: "abc" }))).toBe(
      400,
    );
    expect(emulator.stats.published).toBe(0);
  });

  it("reports occupied channels, subscription counts and presence user counts", async () => {
    const emulator = await startEmulator(onCleanup);
    const rest = restClient(emulator);
    const first = await connectClient(emulator, onCleanup, { identity: { userId: "u1" } });
    const second = await connectClient(emulator, onCleanup, { identity: { userId: "u1" } });
    await subscribe(first, "news");
    await subscribe(second, "news");
    await subscribe(first, "private-orders");
    await subscribe(first, "presence-lobby");
    await subscribe(second, "presence-lobby");

    const all = await (await rest.get({ path: "/channels" })).json();
    expect(all).toEqual({ channels: { news: {}, "private-orders": {}, "presence-lobby": {} } });
    const presence = await (
      await rest.get({
        path: "/channels",
        params: { filter_by_prefix: "presence-", info: "user_count" },
      })
    ).json();
    expect(presence).toEqual({ channels: { "presence-lobby": { user_count: 1 } } });
    expect(await statusOf(rest.get({ path: "/channels", params: { info: "user_count" } }))).toBe(
      400,
    );

    const news = await (
      await rest.get({ path: "/channels/news", params: { info: "subscription_count" } })
    ).json();
    expect(news).toEqual({ occupied: true, subscription_count: 2 });
    const lobby = await (
      await rest.get({
        path: "/channels/presence-lobby",
        params: { info: "user_count,subscription_count" },
      })
    ).json();
    expect(lobby).toEqual({ occupied: true, user_count: 1, subscription_count: 2 });
    expect(await (await rest.get({ path: "/channels/empty" })).json()).toEqual({ occupied: false });
    expect(
      await statusOf(rest.get({ path: "/channels/news", params: { info: "user_count" } })),
    ).toBe(400);
    expect(await statusOf(rest.get({ path: "/channels/news/users" }))).toBe(400);
    expect(emulator.channels(APP.id)).toEqual({
      news: { subscriptionCount: 2 },
      "private-orders": { subscriptionCount: 1 },
      "presence-lobby": { subscriptionCount: 2, userCount: 1 },
    });
  });

  it("returns per-channel attributes when a trigger asks for info", async () => {
    const emulator = await startEmulator(onCleanup);
    const client = await connectClient(emulator, onCleanup, { identity: { userId: "u1" } });
    await subscribe(client, "news");
    await subscribe(client, "presence-lobby");
    const rest = restClient(emulator);
    const response = await rest.trigger(
      ["news", "presence-lobby"],
      "e",
      {},
      {
        info: "user_count,subscription_count",
      },
    );
    expect(await response.json()).toEqual({
      channels: {
        news: { subscription_count: 1 },
        "presence-lobby": { user_count: 1, subscription_count: 1 },
      },
    });
    const batch = await rest.triggerBatch([
      { channel: "news", name: "e", data: {}, info: "subscription_count" },
      { channel: "presence-lobby", name: "e", data: {} },
    ]);
    expect(await batch.json()).toEqual({ batch: [{ subscription_count: 1 }, {}] });
  });
});

/**
 * examples/shadow/*.yaml exactly as shipped (only the environment points them at the
 * emulators), with real socket.io-client members, a native client of the shadow's
 * provider (pusher-js, ably) and the report read from `GET /api/v1/shadow` with the token.
 *
 * The files keep the default window of 10 s, which decides a message's failure counts
 * only once it has passed. The tests do not wait for it; they wait until every message
 * sent is `matched` (counted as soon as both copies arrived) and then show that no other
 * count can ever grow for this traffic, so the zeros they read are the final ones:
 *
 * - a matched message's two deliveries are paired, and a paired delivery is never decided
 *   missing, extra, duplicate or mismatched (ShadowComparator.#decide skips it): those
 *   counts could only come from a further delivery of the primary or of the shadow;
 * - there is none: a member received each of the primary's deliveries exactly once (the
 *   node hands each one to the comparator and broadcasts it in the same call), and the
 *   shadow's emulator took exactly one publication per message (`stats.published`), has
 *   no fault hook, and sends each publication once to each subscriber;
 * - `reordered` is decided when the window passes, by the shadow's order against the
 *   primary's: the emulator sends each publication to all its subscribers in one loop, so
 *   the node read the shadow in the order the native client did, which is the order of
 *   sending, and the member (the primary's order) received them in that order too;
 * - `shadowDropped` and `shadowErrors` are counted when a write is refused; every write
 *   was delivered by the shadow, so none was.
 */
import { readFileSync } from "node:fs";
import type { InboundMessage } from "ably";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { ShadowReport } from "../../src/router/shadow/report.js";
import type { AblyEmulator } from "../emulators/ably/ably-emulator.js";
import {
  APP_ID as ABLY_APP_ID,
  KEY as ABLY_KEY,
  connectRealtime,
  Inbox,
  startEmulator as startAblyEmulator,
} from "../emulators/ably/test-support.js";
import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import {
  connectClient,
  APP as PUSHER_APP,
  startEmulator as startPusherEmulator,
  subscribe,
} from "../emulators/pusher/test-support.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { shadowReport, zeroCounts } from "../helpers/shadow-report.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until, waitForMatch } from "../helpers/wait-for.js";

/** An example exactly as shipped. */
function example(file: string): string {
  return readFileSync(new URL(`../../examples/shadow/${file}`, import.meta.url), "utf8");
}

const TOKEN = "example-shadow-token-0123456789abcdef";
/** Under the example's rate limit (100 events/s, bursts of 200) and in-flight budget (64). */
const MESSAGES = 50;
/** What the members publish: the n-th message's payload, with text, nesting and null. */
const payload = (n: number) => ({ n, text: `héllo ${n}`, nested: { list: [1, true, null] } });
const SENT = Array.from({ length: MESSAGES }, (_, n) => payload(n));

const ZERO = zeroCounts();

function pusherEnv(emulator: PusherEmulator): Record<string, string> {
  return {
    PUSHER_APP_ID: PUSHER_APP.id,
    PUSHER_KEY: PUSHER_APP.key,
    PUSHER_SECRET: PUSHER_APP.secret,
    PUSHER_HOST: emulator.host,
    PUSHER_PORT: String(emulator.port),
    PUSHER_USE_TLS: "false",
  };
}

function ablyEnv(emulator: AblyEmulator): Record<string, string> {
  return {
    ABLY_KEY,
    ABLY_HOST: emulator.host,
    ABLY_PORT: String(emulator.port),
    ABLY_TLS: "false",
  };
}

async function start(cleanup: Cleanup, file: string, env: Record<string, string>) {
  const harness = await Harness.start(example(file), { SWITCHYARD_API_TOKEN: TOKEN, ...env });
  cleanup.add(() => harness.close());
  return harness;
}

function report(harness: Harness): Promise<ShadowReport> {
  return shadowReport(harness, TOKEN);
}

/** The report once the route has matched `count` messages. */
async function matched(harness: Harness, count: number): Promise<ShadowReport> {
  let last: ShadowReport | undefined;
  await until(async () => {
    last = await report(harness);
    return (last.routes[0]?.counts.matched ?? 0) >= count;
  }, `${count} messages matched`).catch((error: Error) => {
    throw new Error(`${error.message}; last report: ${JSON.stringify(last?.routes)}`);
  });
  return last!;
}

/** A member of `room`, recording the `message`s it receives. */
async function member(harness: Harness, room: string): Promise<{ socket: Socket; got: unknown[] }> {
  const socket = await harness.connect({ transports: ["websocket"] });
  expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
  const got: unknown[] = [];
  socket.on("message", (data: unknown) => got.push(data));
  return { socket, got };
}

/** Publishes `SENT` from `socket` to `room`, each acked. */
async function publishAll(socket: Socket, room: string): Promise<void> {
  const acks = await Promise.all(
    SENT.map((data) => socket.emitWithAck("publish", { room, payload: data })),
  );
  for (const ack of acks) expect(ack).toEqual({ ok: true });
}

/**
 * One more message from `from`; resolves once `to` received it. Anything the node sent
 * `to` before it (a doubled delivery, a shadow's copy) has arrived by then.
 */
async function lastMessage(from: Socket, to: Socket, room: string): Promise<void> {
  const received = waitForMatch(to, "message", (data: unknown) => data === "last");
  expect(await from.emitWithAck("publish", { room, payload: "last" })).toEqual({ ok: true });
  await received;
}

describe("examples/shadow/native-to-pusher.yaml", () => {
  const cleanup = useCleanup();

  it("room:42 stays on the native core; Pusher's private-room-42 gets every publication as sent, and the report matches them all with no failure", async () => {
    const emulator = await startPusherEmulator((task) => cleanup.add(task));
    const harness = await start(cleanup, "native-to-pusher.yaml", pusherEnv(emulator));
    // A native pusher-js client; the emulator checks its signature on private- channels.
    const native = await connectClient(emulator, (task) => cleanup.add(task));
    const channel = await subscribe(native, "private-room-42");
    const onPusher: unknown[] = [];
    channel.bind("message", (data: unknown) => onPusher.push(data));

    const alice = await member(harness, "room:42");
    const bob = await member(harness, "room:42");
    // A join does not wait for the shadow's subscription: wait for the node's.
    await until(
      () => emulator.channels(PUSHER_APP.id)["private-room-42"]?.subscriptionCount === 2,
      "the node subscribed private-room-42",
    );

    // The API needs the token of the file's api block.
    const unauthorized = await fetch(`${harness.url}/api/v1/shadow`);
    expect(unauthorized.status).toBe(401);

    await publishAll(alice.socket, "room:42");
    const [route] = (await matched(harness, MESSAGES)).routes;
    expect(route).toMatchObject({
      namespace: "/",
      room: "room:{id}",
      primary: "native",
      shadow: "pusher",
      counts: { ...ZERO, matched: MESSAGES },
      // minMessages is 1000 in the file.
      verdict: "insufficient-data",
      reasons: [`${MESSAGES} of the 1000 messages needed have been compared`],
    });
    expect(route!.latencyGap.p50).toBeGreaterThanOrEqual(0);
    // The shadow: one publication per message, seen by pusher-js as the client sent it, in order.
    expect(emulator.stats.published).toBe(MESSAGES);
    await until(() => onPusher.length >= MESSAGES, "pusher-js got the shadow writes");
    expect(onPusher).toEqual(SENT);
    // The primary: bob received each message once, in order, and alice none of her own.
    await lastMessage(alice.socket, bob.socket, "room:42");
    expect(bob.got).toEqual([...SENT, "last"]);
    expect(alice.got).toEqual([]);
  });
});

describe("examples/shadow/pusher-to-ably.yaml", () => {
  const cleanup = useCleanup();

  it("room:42 lives on Pusher's private-room-42; Ably's room:42 gets every publication as sent, members get Pusher's deliveries only, each once, and the report matches them all", async () => {
    const pusher = await startPusherEmulator((task) => cleanup.add(task));
    const ably = await startAblyEmulator(cleanup);
    const harness = await start(cleanup, "pusher-to-ably.yaml", {
      ...pusherEnv(pusher),
      ...ablyEnv(ably),
    });
    const alice = await member(harness, "room:42");
    const bob = await member(harness, "room:42");
    // The join was acked once the node's Pusher subscription was confirmed; the shadow's
    // attachment is not waited for.
    expect(pusher.channels(PUSHER_APP.id)["private-room-42"]?.subscriptionCount).toBe(1);
    await until(
      () => ably.attachedConnectionIds(ABLY_APP_ID, "room:42").length === 1,
      "the node attached Ably's room:42",
    );
    const native = await connectRealtime(ably, cleanup, "msgpack");
    const inbox = await Inbox.of(native.channels.get("room:42"), "message");

    await publishAll(alice.socket, "room:42");
    const [route] = (await matched(harness, MESSAGES)).routes;
    expect(route).toMatchObject({
      namespace: "/",
      room: "room:{id}",
      primary: "pusher",
      shadow: "ably",
      counts: { ...ZERO, matched: MESSAGES },
      verdict: "insufficient-data",
    });
    // Each side took one publication per message: Pusher's for the members, Ably's the shadow.
    expect(pusher.stats.published).toBe(MESSAGES);
    expect(ably.stats.published).toBe(MESSAGES);
    const onAbly = await inbox.next(MESSAGES);
    expect(onAbly.map((message: InboundMessage) => message.data)).toEqual(SENT);
    // Members got Pusher's deliveries only: bob each message once (Ably's copies would
    // have doubled them), alice none of her own.
    await lastMessage(alice.socket, bob.socket, "room:42");
    expect(bob.got).toEqual([...SENT, "last"]);
    expect(alice.got).toEqual([]);
  });
});

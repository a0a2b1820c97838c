import { createHmac } from "node:crypto";
import { SignJWT } from "jose";
import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { isFromSwitchyard } from "../helpers/app-signature.js";
import { useCleanup } from "../helpers/cleanup.js";
import { type HttpApp, startApp } from "../helpers/http-app.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const JWT_SECRET = "app-calls-jwt-secret-0123456789abcdef";
const SIGNING_SECRET = "app-calls-signing-secret-0123456789abcdef";

const CONFIG = `
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}" } }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      order: { action: forward, url: "\${APP_URL}", signingSecret: "\${SIGNING_SECRET}" }
  /hook:
    auth: { webhook: { url: "\${APP_URL}", signingSecret: "\${SIGNING_SECRET}" } }
`;

function token(sub: string): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(JWT_SECRET));
}

describe("an app behind Switchyard against calls that do not come from Switchyard", () => {
  const cleanup = useCleanup();
  let harness: Harness;
  let app: HttpApp;

  /**
   * The app as docs/mapping.md tells it to be: refuse (401) what is not signed by
   * Switchyard; accept connections; order events publish to the sender's room.
   */
  async function start(): Promise<void> {
    app = await startApp(cleanup, ({ headers, raw, body }) => {
      if (!isFromSwitchyard(headers, raw, SIGNING_SECRET)) {
        return { status: 401, body: { error: "not from switchyard" } };
      }
      if ("nsp" in body) return { body: { ok: true } };
      const [data] = body.args as [{ room: string; item: number }];
      return {
        body: {
          ack: { ok: true, item: data.item },
          emit: [{ room: data.room, event: "ordered", args: [data.item] }],
        },
      };
    });
    harness = await Harness.start(CONFIG, {
      APP_URL: app.url,
      JWT_SECRET,
      SIGNING_SECRET,
    });
    cleanup.add(() => harness.close());
  }

  /** A member of room:1 whose orders go through Switchyard to the app. */
  async function bystander(sub: string): Promise<Socket> {
    const socket = await harness.connect({ auth: { token: await token(sub) } });
    expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    return socket;
  }

  /** POSTs `body` straight to the app, as an attacker on its network would. */
  async function postToApp(body: string, headers: Record<string, string> = {}): Promise<number> {
    const response = await fetch(app.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
    await response.body?.cancel();
    return response.status;
  }

  it("refuses unsigned, forged and tampered calls while Switchyard's own calls pass", async () => {
    await start();
    const alice = await bystander("alice");
    const bob = await bystander("bob");
    const got = next(bob, "ordered");
    expect(await alice.emitWithAck("order", { room: "room:1", item: 7 })).toEqual({
      ok: true,
      item: 7,
    });
    expect(await got).toEqual([7]);
    expect((await harness.connect({}, "/hook")).connected).toBe(true);

    const forged = JSON.stringify({
      event: "order",
      args: [{ room: "room:1", item: 666 }],
      socket: { id: "x", nsp: "/", rooms: [] },
      auth: {},
      claims: { sub: "admin" },
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const guessed = createHmac("sha256", "guessed-secret").update(`${timestamp}.${forged}`);
    const genuine = app.received[0]!;
    expect(await postToApp(forged)).toBe(401);
    expect(
      await postToApp(forged, {
        "x-switchyard-timestamp": timestamp,
        "x-switchyard-signature": `sha256=${guessed.digest("hex")}`,
      }),
    ).toBe(401);
    // Switchyard's real signature does not cover another body.
    expect(
      await postToApp(forged, {
        "x-switchyard-timestamp": String(genuine.headers["x-switchyard-timestamp"]),
        "x-switchyard-signature": String(genuine.headers["x-switchyard-signature"]),
      }),
    ).toBe(401);

    // Alice still orders through Switchyard; bob still hears it.
    const again = next(bob, "ordered");
    await alice.emitWithAck("order", { room: "room:1", item: 8 });
    expect(await again).toEqual([8]);
  });

  it("a Switchyard still signing with a rotated-out secret is refused, and its client gets a coded error", async () => {
    app = await startApp(cleanup, ({ headers, raw }) =>
      isFromSwitchyard(headers, raw, SIGNING_SECRET) ? { body: { ok: true } } : { status: 401 },
    );
    harness = await Harness.start(CONFIG, {
      APP_URL: app.url,
      JWT_SECRET,
      SIGNING_SECRET: "the-old-signing-secret-0123456789abcdef",
    });
    cleanup.add(() => harness.close());
    const client = await harness.connect({ auth: { token: await token("alice") } });
    expect(await client.emitWithAck("order", { room: "room:1", item: 1 })).toEqual({
      ok: false,
      error: { code: "SWY_FORWARD_REJECTED", message: "The app refused the event with HTTP 401" },
    });
    expect(await harness.refusal({}, "/hook")).toEqual({
      message: "Connection refused by the app",
      data: { code: "SWY_AUTH_REFUSED" },
    });
  });

  it("the client's raw token never reaches the app through a forward rule; its claims do", async () => {
    await start();
    const raw = await token("alice");
    const alice = await harness.connect({ auth: { token: raw, device: "phone" } });
    expect(await alice.emitWithAck("order", { room: "room:1", item: 3 })).toEqual({
      ok: true,
      item: 3,
    });
    const request = app.received.at(-1)!;
    expect(request.raw).not.toContain(raw);
    expect(request.body.auth).toEqual({ device: "phone" });
    expect(request.body.claims).toMatchObject({ sub: "alice" });
  });
});

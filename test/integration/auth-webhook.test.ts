import { afterEach, describe, expect, it } from "vitest";
import { isFromSwitchyard } from "../helpers/app-signature.js";
import { useCleanup } from "../helpers/cleanup.js";
import { type AppHandler, heldReply, startApp, unusedUrl } from "../helpers/http-app.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});
// Registered after the harness's hook, so it runs first: apps close before Switchyard.
const cleanup = useCleanup();

const YAML = `
namespaces:
  /:
    auth:
      webhook:
        url: "\${AUTH_URL}"
        timeout: \${AUTH_TIMEOUT:-5000}
    join: ["user:{claims.sub}"]
    events:
      whoami:
        action: join
        room: lobby
        ack: { sub: "{claims.sub}", team: "{claims.org.team}" }
      tell:
        action: broadcast
        room: "{data.room}"
        requireMembership: false
        emit: told
  /open: {}
`;

async function start(url: string, timeout?: number): Promise<Harness> {
  harness = await Harness.start(YAML, {
    AUTH_URL: url,
    ...(timeout === undefined ? {} : { AUTH_TIMEOUT: String(timeout) }),
  });
  return harness;
}

const app = (handler: AppHandler) => startApp(cleanup, handler);

/** Connects with `auth` and resolves with the connect_error the server answers. */
const refusal = (h: Harness, auth: Record<string, unknown> = {}) => h.refusal({ auth });

describe("auth: { webhook } per namespace", () => {
  it("posts the namespace and the auth payload, and accepts with the app's claims", async () => {
    const hook = await app(() => ({
      body: { ok: true, claims: { sub: "alice", org: { team: "red" } } },
    }));
    const h = await start(hook.url);
    const client = await h.connect({ auth: { token: "t-1" } });
    expect(hook.received.map((r) => r.body)).toEqual([{ nsp: "/", auth: { token: "t-1" } }]);
    expect(await client.emitWithAck("whoami")).toEqual({ sub: "alice", team: "red" });
  });

  it("joins the namespace's rooms templated from the app's claims", async () => {
    const hook = await app(({ body }) => ({
      body: { ok: true, claims: { sub: (body.auth as { name: string }).name } },
    }));
    const h = await start(hook.url);
    const alice = await h.connect({ auth: { name: "alice" } });
    const bob = await h.connect({ auth: { name: "bob" } });
    const told = next(bob, "told");
    await alice.emitWithAck("tell", { room: "user:bob", text: "hi" });
    expect(await told).toEqual([{ room: "user:bob", text: "hi" }]);
  });

  it("does not call the app for a namespace without auth", async () => {
    const hook = await app(() => ({ body: { ok: true } }));
    const h = await start(hook.url);
    await h.connect({}, "/open");
    expect(hook.received).toEqual([]);
  });

  it("refuses with the app's message and code when it answers ok: false", async () => {
    const hook = await app(() => ({ body: { ok: false, message: "Banned", code: "BANNED" } }));
    expect(await refusal(await start(hook.url))).toEqual({
      message: "Banned",
      data: { code: "BANNED" },
    });
  });

  it("refuses with SWY_AUTH_REFUSED when the app answers ok: false without a code", async () => {
    const hook = await app(() => ({ body: { ok: false } }));
    expect(await refusal(await start(hook.url))).toEqual({
      message: "Connection refused by the app",
      data: { code: "SWY_AUTH_REFUSED" },
    });
  });

  it("refuses with SWY_AUTH_REFUSED when the app answers 403", async () => {
    const hook = await app(() => ({ status: 403, body: { ok: true } }));
    expect(await refusal(await start(hook.url))).toEqual({
      message: "Connection refused by the app",
      data: { code: "SWY_AUTH_REFUSED" },
    });
  });

  it("refuses with SWY_AUTH_UNAVAILABLE when nothing listens at the app's address", async () => {
    expect(await refusal(await start(await unusedUrl()))).toEqual({
      message: "Authentication is unavailable",
      data: { code: "SWY_AUTH_UNAVAILABLE" },
    });
  });

  it("refuses with SWY_AUTH_UNAVAILABLE when the app answers garbage", async () => {
    const hook = await app(() => ({ body: "not json" }));
    expect((await refusal(await start(hook.url))).data).toEqual({ code: "SWY_AUTH_UNAVAILABLE" });
  });

  it("refuses with SWY_AUTH_UNAVAILABLE when the app does not answer within the timeout", async () => {
    const hook = await app(() => held);
    // Registered after the app, so it is released before the app closes.
    const held = heldReply(cleanup);
    expect((await refusal(await start(hook.url, 50))).data).toEqual({
      code: "SWY_AUTH_UNAVAILABLE",
    });
  });
});

describe("auth: { webhook } with signingSecret", () => {
  const SIGNING = "webhook-signing-secret-0123456789abcdef";
  const SIGNED = `
namespaces:
  /:
    auth: { webhook: { url: "\${AUTH_URL}", signingSecret: "\${SIGNING_SECRET}" } }
`;

  it("signs the connect request, and an app that checks the signature lets the client in", async () => {
    const hook = await app(({ headers, raw }) =>
      isFromSwitchyard(headers, raw, SIGNING) ? { body: { ok: true } } : { status: 401 },
    );
    harness = await Harness.start(SIGNED, { AUTH_URL: hook.url, SIGNING_SECRET: SIGNING });
    const client = await harness.connect({ auth: { token: "t-1" } });
    expect(client.connected).toBe(true);
    // The webhook judges the credential itself, so it still receives the token.
    expect(hook.received[0]!.body).toEqual({ nsp: "/", auth: { token: "t-1" } });
  });

  it("is refused by that app when Switchyard signs with another secret", async () => {
    const hook = await app(({ headers, raw }) =>
      isFromSwitchyard(headers, raw, SIGNING) ? { body: { ok: true } } : { status: 401 },
    );
    harness = await Harness.start(SIGNED, {
      AUTH_URL: hook.url,
      SIGNING_SECRET: "another-signing-secret-0123456789abcdef",
    });
    expect(await refusal(harness)).toEqual({
      message: "Connection refused by the app",
      data: { code: "SWY_AUTH_REFUSED" },
    });
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML holds ${VAR} references on purpose.
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { isFromSwitchyard } from "../helpers/app-signature.js";
import { useCleanup } from "../helpers/cleanup.js";
import {
  type AppHandler,
  heldReply,
  startApp as startHttpApp,
  unusedUrl,
} from "../helpers/http-app.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});
// Registered after the harness's hook, so it runs first: apps close before Switchyard.
const cleanup = useCleanup();

const startApp = (handler: AppHandler) => startHttpApp(cleanup, handler);

/** A mapping whose `/` namespace forwards `ask` to `url`, plus a plain join rule. */
function forwardYaml(extra = ""): string {
  return `
namespaces:
  /:
    events:
      ask:
        action: forward
        url: "\${APP_URL}"
        headers: { Authorization: "Bearer \${APP_TOKEN}" }${extra}
      join:
        action: join
        room: "{data.room}"
`;
}

async function start(url: string, extra = ""): Promise<Harness> {
  harness = await Harness.start(forwardYaml(extra), {
    APP_URL: url,
    APP_TOKEN: "app-secret",
    SIGNING_SECRET: "forward-signing-secret-0123456789abcdef",
  });
  return harness;
}

describe("action: forward", () => {
  it("posts the event with the socket's context and the configured headers to the app", async () => {
    const app = await startApp(() => ({ body: {} }));
    const h = await start(app.url);
    const client = await h.connect({ auth: { name: "alice" } });
    await client.emitWithAck("join", { room: "lobby" });

    expect(await client.emitWithAck("ask", { q: 1 }, "two")).toEqual({ ok: true });

    expect(app.received).toHaveLength(1);
    const [request] = app.received;
    expect(request!.body).toEqual({
      event: "ask",
      args: [{ q: 1 }, "two"],
      socket: { id: client.id, nsp: "/", rooms: ["lobby"] },
      auth: { name: "alice" },
    });
    expect(request!.headers.authorization).toBe("Bearer app-secret");
    expect(request!.headers["content-type"]).toBe("application/json");
  });

  it("gives the client's ack the value the app answers as ack", async () => {
    const app = await startApp(({ body }) => ({ body: { ack: { answer: body.args } } }));
    const client = await (await start(app.url)).connect();
    expect(await client.emitWithAck("ask", 42)).toEqual({ answer: [42] });
  });

  it("joins the rooms the app names and publishes its emits to the other members", async () => {
    const app = await startApp(({ body }) => {
      const socket = body.socket as { id: string };
      return {
        body: {
          join: ["room:7"],
          emit: [{ room: "room:7", event: "arrived", args: [socket.id], exceptSender: true }],
          ack: { joined: true },
        },
      };
    });
    const h = await start(app.url);
    const alice = await h.connect();
    const bob = await h.connect();
    await bob.emitWithAck("join", { room: "room:7" });
    const bobGot = next(bob, "arrived");

    expect(await alice.emitWithAck("ask")).toEqual({ joined: true });
    expect(await bobGot).toEqual([alice.id]);

    // Alice is now a member: a later emit from the app reaches her too.
    const aliceGot = next(alice, "arrived");
    await bob.emitWithAck("ask");
    expect(await aliceGot).toEqual([bob.id]);
  });

  it("leaves the rooms the app names before it joins", async () => {
    // Joined first, this room:1 would be left again.
    const app = await startApp(() => ({ body: { leave: ["lobby", "room:1"], join: ["room:1"] } }));
    const h = await start(app.url);
    const client = await h.connect();
    await client.emitWithAck("join", { room: "lobby" });
    await client.emitWithAck("ask");
    await client.emitWithAck("ask");
    expect((app.received[1]!.body.socket as { rooms: string[] }).rooms).toEqual(["room:1"]);
  });

  it("acks and then disconnects the client when the app answers disconnect: true", async () => {
    const app = await startApp(() => ({ body: { ack: "bye", disconnect: true } }));
    const client = await (await start(app.url)).connect();
    const disconnected = next(client, "disconnect");
    expect(await client.emitWithAck("ask")).toBe("bye");
    expect(await disconnected).toEqual(["io server disconnect", undefined]);
  });

  it("sends the claims of a verified token", async () => {
    const app = await startApp(() => ({ body: {} }));
    const secret = "a-test-secret-that-is-long-enough-for-hs256";
    harness = await Harness.start(
      `
namespaces:
  /:
    auth: { jwt: { secret: "\${JWT_SECRET}" } }
    events:
      ask: { action: forward, url: "\${APP_URL}" }
`,
      { APP_URL: app.url, JWT_SECRET: secret },
    );
    const token = await new SignJWT({ sub: "alice", exp: 4_102_444_800 })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(secret));
    const client = await harness.connect({ auth: { token } });
    await client.emitWithAck("ask");
    expect(app.received[0]!.body.claims).toEqual({ sub: "alice", exp: 4_102_444_800 });
  });

  it("tells a client that sent no ack through switchyard:error when the app fails", async () => {
    const app = await startApp(() => ({ status: 500 }));
    const client = await (await start(app.url)).connect();
    const error = next(client, "switchyard:error");
    client.emit("ask");
    expect(await error).toEqual([
      {
        event: "ask",
        code: "SWY_FORWARD_REJECTED",
        message: "The app refused the event with HTTP 500",
      },
    ]);
  });
});

describe("action: forward failures reach the client's ack", () => {
  it("SWY_FORWARD_REJECTED with the status when the app answers 500", async () => {
    const app = await startApp(() => ({ status: 500, body: { ack: "ignored" } }));
    const client = await (await start(app.url)).connect();
    expect(await client.emitWithAck("ask")).toEqual({
      ok: false,
      error: { code: "SWY_FORWARD_REJECTED", message: "The app refused the event with HTTP 500" },
    });
  });

  it("SWY_FORWARD_BAD_RESPONSE when the app answers something that is not JSON", async () => {
    const app = await startApp(() => ({ body: "<html>oops" }));
    const client = await (await start(app.url)).connect();
    expect(await client.emitWithAck("ask")).toEqual({
      ok: false,
      error: {
        code: "SWY_FORWARD_BAD_RESPONSE",
        message: "The app's answer is malformed: not JSON",
      },
    });
  });

  it("SWY_FORWARD_BAD_RESPONSE, with nothing applied, when the answer has a bad room", async () => {
    const app = await startApp(() => ({ body: { join: ["ok", ""], disconnect: true } }));
    const client = await (await start(app.url)).connect();
    const reply = (await client.emitWithAck("ask")) as { error: { code: string } };
    expect(reply.error.code).toBe("SWY_FORWARD_BAD_RESPONSE");
    expect(client.connected).toBe(true);
    await client.emitWithAck("ask");
    expect((app.received[1]!.body.socket as { rooms: string[] }).rooms).toEqual([]);
  });

  it("SWY_FORWARD_UNAVAILABLE when nothing listens at the app's address", async () => {
    const client = await (await start(await unusedUrl())).connect();
    expect(await client.emitWithAck("ask")).toEqual({
      ok: false,
      error: { code: "SWY_FORWARD_UNAVAILABLE", message: "The app could not be reached" },
    });
  });

  it("SWY_FORWARD_TIMEOUT when the app does not answer within the rule's timeout", async () => {
    const app = await startApp(() => held);
    // Registered after the app, so it is released before the app closes.
    const held = heldReply(cleanup);
    const client = await (await start(app.url, "\n        timeout: 50")).connect();
    expect(await client.emitWithAck("ask")).toEqual({
      ok: false,
      error: { code: "SWY_FORWARD_TIMEOUT", message: "The app did not answer within 50 ms" },
    });
  });

  it("SWY_FORWARD_BINARY, without calling the app, when the event carries binary data", async () => {
    const app = await startApp(() => ({ body: {} }));
    const client = await (await start(app.url)).connect();
    const reply = (await client.emitWithAck("ask", new Uint8Array([1, 2]))) as {
      error: { code: string };
    };
    expect(reply.error.code).toBe("SWY_FORWARD_BINARY");
    expect(app.received).toEqual([]);
  });

  it("counts forward failures in the error metric", async () => {
    const app = await startApp(() => ({ status: 503 }));
    const h = await start(app.url);
    const client = await h.connect();
    const rejected = async () => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      const match = /switchyard_errors_total\{code="SWY_FORWARD_REJECTED"\} (\d+)/.exec(text);
      return Number(match?.[1] ?? 0);
    };
    const before = await rejected();
    await client.emitWithAck("ask");
    expect(await rejected()).toBe(before + 1);
  });
});

describe("action: forward, signed and without the client's token", () => {
  const SIGNING = "forward-signing-secret-0123456789abcdef";

  it("signs the request with signingSecret, and the app verifies the raw body it got", async () => {
    const app = await startApp(({ headers, raw }) =>
      isFromSwitchyard(headers, raw, SIGNING) ? { body: { ack: "verified" } } : { status: 401 },
    );
    const h = await start(app.url, '\n        signingSecret: "${SIGNING_SECRET}"');
    const client = await h.connect();
    expect(await client.emitWithAck("ask", { text: "é ✓" })).toBe("verified");
    const { headers } = app.received[0]!;
    expect(headers["x-switchyard-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(Number(headers["x-switchyard-timestamp"])).toBeCloseTo(Date.now() / 1000, -1);
  });

  it("sends no signature headers without signingSecret", async () => {
    const app = await startApp(() => ({ body: {} }));
    await (await (await start(app.url)).connect()).emitWithAck("ask");
    expect(app.received[0]!.headers["x-switchyard-signature"]).toBeUndefined();
    expect(app.received[0]!.headers["x-switchyard-timestamp"]).toBeUndefined();
  });

  it("leaves the client's token out of auth unless the rule says includeToken: true", async () => {
    const app = await startApp(() => ({ body: {} }));
    harness = await Harness.start(
      `
namespaces:
  /:
    events:
      ask: { action: forward, url: "\${APP_URL}" }
      tell: { action: forward, url: "\${APP_URL}", includeToken: true }
`,
      { APP_URL: app.url },
    );
    const client = await harness.connect({ auth: { token: "raw-credential", room: "7" } });
    await client.emitWithAck("ask");
    await client.emitWithAck("tell");
    expect(app.received.map((r) => r.body.auth)).toEqual([
      { room: "7" },
      { token: "raw-credential", room: "7" },
    ]);
    expect(app.received[0]!.raw).not.toContain("raw-credential");
  });
});

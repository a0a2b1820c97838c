/**
 * Vector: data nested thousands of levels deep. `JSON.parse` builds it, then the
 * first `JSON.stringify` (an ack template echoing it, a broadcast) throws a
 * RangeError that used to escape a promise chain and end the process. Now the
 * decoder refuses it unparsed and the sender is told SWY_PAYLOAD_TOO_DEEP; what the app
 * answers is bounded the same way.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { startApp } from "../helpers/http-app.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const TOKEN = "deep-nesting-test-token-0123456789";

const CONFIG = `
server:
  limits: { maxDepth: 32 }
api:
  token: "${TOKEN}"
namespaces:
  /:
    events:
      join:
        action: join
        room: "{data.room}"
        allow: ["room:{id}"]
        ack: { ok: true, note: "{data.note}" }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
`;

/** `{"a":{"a":…}}` `depth` levels deep, as JSON text (no JSON.stringify could write it). */
function nestedJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

describe("data nested deeper than limits.maxDepth", () => {
  const cleanup = useCleanup();
  let harness: Harness;

  beforeEach(async () => {
    harness = await Harness.start(CONFIG);
  });
  afterEach(() => harness.close());

  /** A member of room:1 that must keep receiving whatever the attacker does. */
  async function bystander() {
    const socket = await harness.connect({ transports: ["websocket"] });
    expect(await socket.emitWithAck("join", { room: "room:1" })).toMatchObject({ ok: true });
    return socket;
  }

  async function attacker(): Promise<RawWs> {
    const ws = await RawWs.open(cleanup, wsUrl(harness.url, "/socket.io/"), { autoPong: true });
    await ws.next(); // the open packet
    await ws.connectNamespace();
    return ws;
  }

  it("answers a join whose echoed note nests 5,000 deep with SWY_PAYLOAD_TOO_DEEP, and the room lives on", async () => {
    const member = await bystander();
    const ws = await attacker();
    ws.send(`421["join",{"room":"room:1","note":${nestedJson(5000)}}]`);
    const ack = await ws.next();
    expect(ack).toMatch(/^431\[/);
    expect(JSON.parse((ack as string).slice(3))).toEqual([
      {
        ok: false,
        error: {
          code: "SWY_PAYLOAD_TOO_DEEP",
          message: "Data nests deeper than 32 levels (limits.maxDepth)",
        },
      },
    ]);
    // The attacker's session stays open: the packet was well formed, only too deep.
    expect(ws.isOpen).toBe(true);
    const sender = await bystander();
    const got = next(member, "message");
    sender.emit("publish", { room: "room:1", payload: "still here" });
    expect(await got).toEqual(["still here"]);
  });

  it("tells a sender without an ack through switchyard:error, naming the event", async () => {
    const ws = await attacker();
    ws.send(`42["publish",{"room":"room:1","payload":${nestedJson(2500)}}]`);
    const frame = await ws.next();
    expect(JSON.parse((frame as string).slice(2))).toEqual([
      "switchyard:error",
      {
        event: "publish",
        code: "SWY_PAYLOAD_TOO_DEEP",
        message: "Data nests deeper than 32 levels (limits.maxDepth)",
      },
    ]);
  });

  it("swallows the attachments of a binary event that nests too deep and refuses it", async () => {
    const ws = await attacker();
    ws.send(`451-7["publish",{"_placeholder":true,"num":0},${nestedJson(100)}]`);
    ws.send(Buffer.from([1, 2, 3]));
    const ack = await ws.next();
    expect(ack).toMatch(/^437\[\{"ok":false,"error":\{"code":"SWY_PAYLOAD_TOO_DEEP"/);
    // The next packet is read as a packet, not as a stray attachment.
    ws.send(`428["join",{"room":"room:2"}]`);
    expect(await ws.next()).toMatch(/^438\[\{"ok":true/);
  });

  it("refuses a CONNECT whose auth payload nests too deep with a connect error", async () => {
    const ws = await RawWs.open(cleanup, wsUrl(harness.url, "/socket.io/"), { autoPong: true });
    await ws.next();
    ws.send(`40${nestedJson(1000)}`);
    const reply = await ws.next();
    expect(JSON.parse((reply as string).slice(2))).toEqual({
      message: "Data nests deeper than 32 levels (limits.maxDepth)",
      data: { code: "SWY_PAYLOAD_TOO_DEEP" },
    });
  });

  it("answers a publish API body with deeply nested args 400 SWY_PAYLOAD_TOO_DEEP", async () => {
    const member = await bystander();
    const reply = await fetch(`${harness.url}/api/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: `{"room":"room:1","event":"message","args":[${nestedJson(5000)}]}`,
    });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toEqual({
      code: "SWY_PAYLOAD_TOO_DEEP",
      message: "Data nests deeper than 32 levels (limits.maxDepth)",
    });
    const got = next(member, "message");
    const fine = await fetch(`${harness.url}/api/v1/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ room: "room:1", event: "message", args: [{ a: { b: 1 } }] }),
    });
    expect(fine.status).toBe(202);
    expect(await got).toEqual([{ a: { b: 1 } }]);
  });
});

describe("an app answering with data nested deeper than limits.maxDepth", () => {
  const cleanup = useCleanup();
  const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;

  it("refuses a forwarded event's answer with SWY_FORWARD_BAD_RESPONSE and applies nothing", async () => {
    const app = await startApp(cleanup, () => ({ body: `{"ack":${deep},"join":["room:1"]}` }));
    const harness = await Harness.start(`
namespaces:
  /:
    events:
      report: { action: forward, url: "${app.url}" }
`);
    cleanup.add(() => harness.close());
    const client = await harness.connect();
    expect(await client.emitWithAck("report", 1)).toEqual({
      ok: false,
      error: {
        code: "SWY_FORWARD_BAD_RESPONSE",
        message: "The app's answer is malformed: nested deeper than limits.maxDepth (32)",
      },
    });
    expect(harness.server.sio.namespace("/")?.members("room:1")).toBeUndefined();
  });

  it("refuses the connection when the auth webhook's claims nest too deep", async () => {
    const app = await startApp(cleanup, () => ({ body: `{"ok":true,"claims":{"a":${deep}}}` }));
    const harness = await Harness.start(`
namespaces:
  /:
    auth: { webhook: { url: "${app.url}" } }
`);
    cleanup.add(() => harness.close());
    expect(await harness.refusal()).toEqual({
      message: "Authentication is unavailable",
      data: { code: "SWY_AUTH_UNAVAILABLE" },
    });
  });
});

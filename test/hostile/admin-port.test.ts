import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { errorBody, fetchText, pollingUrl } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const CONFIG = `
admin: { port: 0 }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"], ack: { ok: true } }
      publish:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;

const NOT_FOUND = { code: "SWY_HTTP_NOT_FOUND", message: "Not found" };

describe("a client probing for operational endpoints when an admin listener is configured", () => {
  const cleanup = useCleanup();

  async function start(): Promise<{ harness: Harness; admin: string }> {
    const harness = await Harness.start(CONFIG);
    cleanup.add(() => harness.close());
    expect(harness.server.adminPort).toBeTypeOf("number");
    return { harness, admin: `http://127.0.0.1:${harness.server.adminPort}` };
  }

  it("gets 404 SWY_HTTP_NOT_FOUND for /metrics and /readyz on the public port; a member keeps receiving", async () => {
    const { harness } = await start();
    const member = await harness.connect();
    expect(await member.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });

    for (const path of ["/metrics", "/readyz", "/metrics?name[]=switchyard_errors_total"]) {
      const reply = await fetchText(`${harness.url}${path}`);
      expect(reply.status, path).toBe(404);
      expect(errorBody(reply), path).toEqual(NOT_FOUND);
    }
    const health = await fetchText(`${harness.url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: "ok" });

    const publisher = await harness.connect({ transports: ["websocket"] });
    const received = next(member, "message");
    publisher.emit("publish", { room: "room:1", payload: "still here" });
    expect(await received).toEqual(["still here"]);
  });

  it("finds metrics, readiness and health on the admin port", async () => {
    const { harness, admin } = await start();
    await harness.connect();

    const metrics = await fetchText(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/^switchyard_connections \d+$/m);
    const ready = await fetchText(`${admin}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ status: "ready" });
    expect((await fetchText(`${admin}/healthz`)).status).toBe(200);
  });

  it("cannot reach Socket.IO, the API or anything else through the admin port", async () => {
    const { admin } = await start();
    for (const path of ["/", "/socket.io/", "/api/v1/namespaces"]) {
      const reply = await fetchText(`${admin}${path}`);
      expect(reply.status, path).toBe(404);
      expect(errorBody(reply), path).toEqual(NOT_FOUND);
    }
    const handshake = await fetchText(pollingUrl(admin, "/socket.io/"));
    expect(handshake.status).toBe(404);
    const upgrade = await RawWs.refusal(wsUrl(admin, "/socket.io/"));
    expect(upgrade.status).toBe(404);
    const post = await fetchText(`${admin}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(404);
  });
});

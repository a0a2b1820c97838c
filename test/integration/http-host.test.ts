import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { fetchText } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { useConformanceServer } from "../helpers/test-server.js";

describe("the HTTP host next to the Engine.IO mounts", () => {
  const conformance = useConformanceServer();
  const cleanup = useCleanup();

  it("answers /healthz with 200 and {status: ok}", async () => {
    const reply = await fetchText(`${conformance.url}/healthz`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(reply.body)).toEqual({ status: "ok" });
  });

  it("answers /readyz with 200 when the readiness probe is ready", async () => {
    const reply = await fetchText(`${conformance.url}/readyz`);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ status: "ready", checks: {} });
  });

  it("serves Prometheus text on /metrics, including switchyard_connections", async () => {
    const reply = await fetchText(`${conformance.url}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(reply.body).toMatch(/^# HELP switchyard_connections /m);
    expect(reply.body).toMatch(/^# TYPE switchyard_connections gauge$/m);
    expect(reply.body).toMatch(/^switchyard_connections \d+$/m);
  });

  it("counts an open Engine.IO session in switchyard_connections", async () => {
    const gauge = async (): Promise<number> => {
      const { body } = await fetchText(`${conformance.url}/metrics`);
      return Number(/^switchyard_connections (\d+)$/m.exec(body)?.[1]);
    };
    const before = await gauge();
    const ws = await RawWs.open(cleanup, wsUrl(conformance.url, "/engine.io/"));
    await ws.next();
    expect(await gauge()).toBe(before + 1);
    ws.send("1");
    await ws.whenClosed();
  });

  it("answers an unknown path with 404 and a coded JSON body", async () => {
    const reply = await fetchText(`${conformance.url}/nope?x=1`);
    expect(reply.status).toBe(404);
    expect(reply.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(reply.body)).toEqual({ code: "SWY_HTTP_NOT_FOUND", message: "Not found" });
  });

  it("answers a POST to /healthz with 404", async () => {
    const reply = await fetchText(`${conformance.url}/healthz`, { method: "POST", body: "x" });
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.body)).toMatchObject({ code: "SWY_HTTP_NOT_FOUND" });
  });

  it("refuses a WebSocket upgrade on an unknown path with 404", async () => {
    const refusal = await RawWs.refusal(wsUrl(conformance.url, "/elsewhere/"));
    expect(refusal.status).toBe(404);
  });
});

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { createAdminHost, createHttpHost, type ReadinessProbe } from "../../src/http-host.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { fetchText } from "../helpers/raw-polling.js";

const cleanup = useCleanup();

/** Whether the readiness probe of the hosts below reports ready; each test sets it. */
let isReady = true;
const readiness: ReadinessProbe = () => ({
  isReady,
  checks: { main: isReady ? "ready" : "connect ECONNREFUSED 127.0.0.1:6001" },
});

async function listen(cleanup: Cleanup, http: Server): Promise<string> {
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  cleanup.add(() => new Promise((resolve) => http.close(resolve)));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

/** The GET and the HEAD of `url`, one after the other. */
async function getAndHead(url: string) {
  const get = await fetchText(url);
  const head = await fetchText(url, { method: "HEAD" });
  return { get, head };
}

describe.each([
  ["the public port", () => createHttpHost([], readiness)],
  ["the admin listener", () => createAdminHost(readiness)],
])("HEAD on the probes of %s", (_where, create) => {
  it.each(["/healthz", "/readyz", "/metrics"])(
    "answers HEAD %s with the GET's status, type and length, and no body",
    async (path) => {
      isReady = true;
      const url = await listen(cleanup, create());
      const { get, head } = await getAndHead(`${url}${path}`);
      expect(get.status).toBe(200);
      expect(get.body.length).toBeGreaterThan(0);
      expect(head.status).toBe(200);
      expect(head.body).toBe("");
      expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
      if (path !== "/metrics") {
        // /metrics changes between two scrapes (the scrape itself is counted).
        expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(get.body)));
      } else {
        expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
      }
    },
  );

  it("answers HEAD /readyz 503 while a backend is not ready, like GET", async () => {
    isReady = false;
    const url = await listen(cleanup, create());
    const { get, head } = await getAndHead(`${url}/readyz`);
    expect(get.status).toBe(503);
    expect(JSON.parse(get.body)).toMatchObject({ status: "not ready" });
    expect(head.status).toBe(503);
    expect(head.body).toBe("");
  });

  it("answers HEAD on an unknown path 404, and POST on a probe 404", async () => {
    isReady = true;
    const url = await listen(cleanup, create());
    expect((await fetchText(`${url}/nope`, { method: "HEAD" })).status).toBe(404);
    expect((await fetchText(`${url}/healthz`, { method: "POST", body: "x" })).status).toBe(404);
  });
});

describe("HEAD on the public port next to an admin listener", () => {
  it("answers HEAD /healthz 200, and HEAD /readyz and /metrics 404 like their GETs", async () => {
    isReady = true;
    const url = await listen(
      cleanup,
      createHttpHost([], readiness, undefined, undefined, {
        hasAdminListener: true,
      }),
    );
    expect((await fetchText(`${url}/healthz`, { method: "HEAD" })).status).toBe(200);
    for (const path of ["/readyz", "/metrics"]) {
      const { get, head } = await getAndHead(`${url}${path}`);
      expect(get.status).toBe(404);
      expect(head.status).toBe(404);
    }
  });
});

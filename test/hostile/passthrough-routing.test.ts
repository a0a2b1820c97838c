/**
 * Vectors against `passthrough:` (docs/passthrough.md): a client choosing where its
 * requests go.
 * - a session's requests follow the session, whatever key the client sends with them:
 *   a Switchyard session cannot be steered to the legacy server, nor the reverse;
 * - with `key: address`, a forged `X-Forwarded-For` does not move the client;
 * - odd queries (empty, repeated, oversized values) are routed, never thrown on;
 * - a legacy path (`passthrough.path`) is matched whole: a near miss or a traversal is
 *   not relayed, and probes and the API stay Switchyard's.
 */
import { once } from "node:events";
import { createServer, type Server as HttpServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { describe, expect, it } from "vitest";
import { rolloutBucket } from "../../src/mapping/route-table.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";

async function legacyServer(cleanup: Cleanup) {
  const http: HttpServer = createServer();
  const ioServer = new Server(http);
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  cleanup.add(() => new Promise<void>((resolve) => ioServer.close(() => resolve())));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, ioServer };
}

async function bridge(cleanup: Cleanup, legacyUrl: string, key: string): Promise<Harness> {
  const text = `
passthrough: { target: "\${LEGACY_URL}", percent: 50, key: ${key} }
namespaces: { /: {} }
`;
  const harness = await Harness.start(text, { LEGACY_URL: legacyUrl });
  cleanup.add(() => harness.close());
  return harness;
}

/** An Engine.IO v4 polling handshake: the session id, and whose it is. */
async function handshake(
  harness: Harness,
  query: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await fetch(`${harness.url}/socket.io/?EIO=4&transport=polling${query}`, { headers });
  expect(res.status).toBe(200);
  const body = await res.text();
  return (JSON.parse(body.slice(1)) as { sid: string }).sid;
}

/** A GET of `path` exactly as written, not normalised. */
async function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const req = request({ host: "127.0.0.1", port, path });
  req.end();
  const [res] = (await once(req, "response")) as [IncomingMessage];
  let body = "";
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode ?? 0, body };
}

/** `switchyard_passthrough_requests_total` of relayed polling requests (the registry is per process). */
async function relayedPolling(harness: Harness): Promise<number> {
  const text = await (await fetch(`${harness.url}/metrics`)).text();
  const line =
    /^switchyard_passthrough_requests_total\{side="legacy",transport="polling"\} (\d+)$/m;
  return Number(line.exec(text)?.[1] ?? 0);
}

const TOKEN = "passthrough-hostile-token-0123456789abcdef";

const uids = Array.from({ length: 40 }, (_, n) => `user-${n}`);
const LEGACY_UID = uids.find((uid) => rolloutBucket(uid) < 5000)!;
const OWN_UID = uids.find((uid) => rolloutBucket(uid) >= 5000)!;

describe("passthrough routing against a client's choices", () => {
  const cleanup = useCleanup();

  it("follows the session, not the key sent with its requests", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, "{ query: uid }");
    const own = await handshake(harness, `&uid=${OWN_UID}`);
    const theirs = await handshake(harness, `&uid=${LEGACY_UID}`);
    expect(harness.server.sio.engine.hasSession(own)).toBe(true);
    expect(harness.server.sio.engine.hasSession(theirs)).toBe(false);
    // The other side's key on a session's request: the session's side answers it.
    for (const [sid, uid] of [
      [own, LEGACY_UID],
      [theirs, OWN_UID],
    ] as const) {
      const res = await fetch(
        `${harness.url}/socket.io/?EIO=4&transport=polling&sid=${sid}&uid=${uid}`,
        { method: "POST", body: "40" },
      );
      expect(res.status, `POST to ${sid}`).toBe(200);
      expect(await res.text()).toBe("ok");
    }
    expect(legacy.ioServer.engine.clientsCount).toBe(1);
    expect(harness.server.sio.engine.size).toBe(1);
  });

  it("keys on the connection's own address: a forged X-Forwarded-For changes nothing", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, "address");
    const sides = new Set<boolean>();
    for (let n = 0; n < 10; n++) {
      const sid = await handshake(harness, "", { "x-forwarded-for": `10.0.0.${n}` });
      sides.add(harness.server.sio.engine.hasSession(sid));
    }
    // Every handshake comes from 127.0.0.1: one side for all of them.
    expect(sides.size).toBe(1);
  });

  it("routes odd queries without a fault: empty sid, repeated and oversized keys", async () => {
    const legacy = await legacyServer(cleanup);
    const harness = await bridge(cleanup, legacy.url, "{ query: uid }");
    const queries = ["&sid=", `&uid=${LEGACY_UID}&uid=${OWN_UID}`, `&uid=${"x".repeat(4000)}`];
    for (const query of queries) {
      const res = await fetch(`${harness.url}/socket.io/?EIO=4&transport=polling${query}`);
      expect([200, 400], query.slice(0, 40)).toContain(res.status);
    }
    const health = await fetch(`${harness.url}/readyz`);
    expect(health.status).toBe(200);
  });

  it("refuses a drain body nested deep or over the body limit, without parsing it", async () => {
    const legacy = await legacyServer(cleanup);
    const text = `
api: { token: "${TOKEN}" }
server: { limits: { maxHttpBufferSize: 10000 } }
passthrough: { target: "\${LEGACY_URL}", percent: 50 }
namespaces: { /: {} }
`;
    const harness = await Harness.start(text, { LEGACY_URL: legacy.url });
    cleanup.add(() => harness.close());
    const drain = (body: string) =>
      fetch(`${harness.url}/api/v1/passthrough/drain`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body,
      });
    const deep = await drain(`{"percent":${"[".repeat(3000)}${"]".repeat(3000)}}`);
    expect(deep.status).toBe(400);
    expect(await deep.json()).toMatchObject({ code: "SWY_API_BAD_JSON" });
    const large = await drain(`{"percent":10,"x":"${"y".repeat(20_000)}"}`);
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ code: "SWY_API_PAYLOAD_TOO_LARGE" });
    expect((await fetch(`${harness.url}/readyz`)).status).toBe(200);
  });

  it("relays a legacy path only as written: near misses and traversals get Switchyard's 404", async () => {
    // The legacy server as plain HTTP: it says which path reached it.
    const http = createServer((req, res) => res.end(`legacy ${req.url}`));
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    cleanup.add(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const text = `
passthrough: { target: "\${LEGACY_URL}", percent: 0, path: /legacy-io/ }
namespaces: { /: {} }
`;
    const legacyUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const harness = await Harness.start(text, { LEGACY_URL: legacyUrl });
    cleanup.add(() => harness.close());
    const before = await relayedPolling(harness);
    const relayed = await fetch(`${harness.url}/legacy-io/?EIO=4&transport=polling`);
    expect(await relayed.text()).toBe("legacy /legacy-io/?EIO=4&transport=polling");
    // Sent as written (fetch would resolve the `..` before sending).
    for (const path of ["/legacy-io/x", "/LEGACY-IO/", "/legacy-io/../readyz", "/legacy-io%2F"]) {
      const res = await rawGet(harness.server.port, `${path}?EIO=4&transport=polling`);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body), path).toMatchObject({ code: "SWY_HTTP_NOT_FOUND" });
    }
    expect((await fetch(`${harness.url}/readyz`)).status).toBe(200);
    // Of all those requests, only the one on the legacy path was relayed.
    expect(await relayedPolling(harness)).toBe(before + 1);
  });
});

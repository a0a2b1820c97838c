/**
 * Vectors on the migration console (docs/operations.md, "Migration console"): its data
 * without the token or with a wrong one, the token in an address, more streams than
 * `server.limits.maxConsoleStreams`, files beside the page through `/console/`, garbage
 * and oversize queries, and the public port when an admin listener serves the console.
 * Each is refused with a code, and the node goes on serving.
 */
import { type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import { describe, expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";
import { DRAIN_FLUSH_LIMIT_MS } from "../../src/switchyard.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "console-hostile-token-0123456789abcdef";
const BEARER = { authorization: `Bearer ${TOKEN}` };

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A request sent with its path exactly as given (fetch would resolve `..` first). */
function raw(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Opens a stream and resolves with its response once its first event has arrived. */
function openStream(port: number): Promise<{ res: IncomingMessage; first: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/api/v1/console/stream", headers: BEARER },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream answered ${res.statusCode}`));
          res.resume();
          return;
        }
        let text = "";
        const onData = (chunk: Buffer): void => {
          text += chunk.toString("utf8");
          if (!text.includes("\n\n")) return;
          res.off("data", onData);
          resolve({ res, first: text, close: () => req.destroy() });
        };
        res.on("data", onData);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function yaml(extra = ""): string {
  return `
server: { limits: { maxConsoleStreams: 2 } }
api: { token: "\${TOKEN}" }
${extra}
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
`;
}

describe("hostile use of the migration console", () => {
  const cleanup = useCleanup();

  async function start(extra = ""): Promise<Harness> {
    const harness = await Harness.start(yaml(extra), { TOKEN });
    cleanup.add(() => harness.close());
    return harness;
  }

  it("serves only its login page without the token: the data routes answer 401 with a code", async () => {
    const { server } = await start();
    const page = await raw(server.port, "/console/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(page.headers["x-frame-options"]).toBe("DENY");
    expect(page.body).toContain('id="login-form"');
    for (const path of ["/api/v1/console/snapshot", "/api/v1/console/stream"]) {
      const missing = await raw(server.port, path);
      expect(missing.status, path).toBe(401);
      expect(JSON.parse(missing.body).code).toBe("SWY_API_UNAUTHORIZED");
      expect(missing.headers["www-authenticate"]).toBe('Bearer realm="switchyard"');
      expect(missing.headers["content-type"]).toBe("application/json");
      const wrong = await raw(server.port, path, {
        headers: { authorization: `Bearer ${TOKEN}x` },
      });
      expect(wrong.status, path).toBe(401);
      expect(wrong.headers["www-authenticate"]).toContain('error="invalid_token"');
      // The token in the address is no token: addresses reach logs.
      const inQuery = await raw(server.port, `${path}?token=${TOKEN}&access_token=${TOKEN}`);
      expect(inQuery.status, path).toBe(401);
      const basic = await raw(server.port, path, {
        headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` },
      });
      expect(basic.status, path).toBe(401);
    }
    const post = await raw(server.port, "/api/v1/console/stream", {
      method: "POST",
      headers: BEARER,
    });
    expect(post.status).toBe(405);
    expect(JSON.parse(post.body).code).toBe("SWY_API_METHOD_NOT_ALLOWED");
  });

  it("refuses a stream past maxConsoleStreams with 429, and takes one again once a stream closed", async () => {
    const { server } = await start();
    const a = await openStream(server.port);
    cleanup.add(() => a.close());
    const b = await openStream(server.port);
    cleanup.add(() => b.close());
    expect(a.res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(a.first.startsWith("data: {")).toBe(true);
    const refusals = (await metrics.limitRefusals.get()).values.find(
      (v) => v.labels.limit === "maxConsoleStreams",
    );
    const busy = await raw(server.port, "/api/v1/console/stream", { headers: BEARER });
    expect(busy.status).toBe(429);
    expect(JSON.parse(busy.body)).toEqual({
      code: "SWY_API_CONSOLE_BUSY",
      message:
        "2 migration console streams are open on this node already (server.limits.maxConsoleStreams)",
    });
    const after = (await metrics.limitRefusals.get()).values.find(
      (v) => v.labels.limit === "maxConsoleStreams",
    );
    expect(after?.value).toBe((refusals?.value ?? 0) + 1);
    // The snapshot is no stream: it is still answered.
    expect((await raw(server.port, "/api/v1/console/snapshot", { headers: BEARER })).status).toBe(
      200,
    );
    a.close();
    await until(
      async () => (await metrics.consoleStreams.get()).values[0]?.value === 1,
      "the closed stream to be forgotten",
    );
    const c = await openStream(server.port);
    cleanup.add(() => c.close());
    expect(c.first.startsWith("data: {")).toBe(true);
  });

  it("reads no file but its own under /console/: traversal, encoded slashes and its sources are 404", async () => {
    const { server } = await start();
    for (const path of [
      "/console/../package.json",
      "/console/..%2f..%2fpackage.json",
      "/console/%2e%2e/%2e%2e/package.json",
      "/console/....//....//etc/passwd",
      "/console/console.ts",
      "/console/page/index.html",
      "/console/../console-types.js",
      "/console/index.html%00.js",
      "/console//etc/passwd",
      "/console/\\..\\package.json",
    ]) {
      const answer = await raw(server.port, path);
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body).code, path).toBe("SWY_HTTP_NOT_FOUND");
    }
    const moved = await raw(server.port, "/console");
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe("/console/");
    const post = await raw(server.port, "/console/", { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
    const script = await raw(server.port, "/console/console.js");
    expect(script.status).toBe(200);
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
  });

  it("ignores a garbage query, and an oversize address is refused by the HTTP parser, not the node", async () => {
    const { server } = await start();
    const garbage = await raw(
      server.port,
      `/api/v1/console/snapshot?%%%zz&history=%ff%fe&${"a=b&".repeat(500)}namespace=%00`,
      { headers: BEARER },
    );
    expect(garbage.status).toBe(200);
    expect(JSON.parse(garbage.body).namespaces).toEqual([
      { namespace: "/", sockets: 0, rooms: 0, v3: 0, v4: 0 },
    ]);
    const huge = await raw(server.port, `/api/v1/console/snapshot?q=${"x".repeat(20_000)}`, {
      headers: BEARER,
    });
    expect(huge.status).toBe(431);
    // Still serving.
    const after = await raw(server.port, "/api/v1/console/snapshot", { headers: BEARER });
    expect(after.status).toBe(200);
  });

  it("does not hold up a drain: the open streams end at once, and a new one is refused", async () => {
    const harness = await Harness.start(
      yaml().replace("maxConsoleStreams: 2 }", "maxConsoleStreams: 2 }, drainTimeout: 1"),
      { TOKEN },
    );
    cleanup.add(() => harness.close());
    const stream = await openStream(harness.server.port);
    cleanup.add(() => stream.close());
    const ended = new Promise<void>((resolve) => stream.res.once("end", resolve));
    const startedAt = performance.now();
    await harness.server.drain();
    await ended;
    // A stream waited for would keep the drain the whole flush limit.
    expect(performance.now() - startedAt).toBeLessThan(DRAIN_FLUSH_LIMIT_MS);
    await until(
      async () => (await metrics.consoleStreams.get()).values[0]?.value === 0,
      "the stream to be uncounted",
    );
  });

  it("lists at most 200 rooms however many there are, most members first, and counts them all", async () => {
    const harness = await start();
    const a = await harness.connect({ transports: ["websocket"] });
    const b = await harness.connect({ transports: ["websocket"] });
    const join = (socket: typeof a, room: string) => socket.emitWithAck("join", { room });
    // Within each socket's event burst (200).
    await Promise.all([
      ...Array.from({ length: 150 }, (_, i) => join(a, `a-${i}`)),
      ...Array.from({ length: 100 }, (_, i) => join(b, `b-${i}`)),
      join(a, "zz-shared"),
      join(b, "zz-shared"),
    ]);
    const answer = await raw(harness.server.port, "/api/v1/console/snapshot", { headers: BEARER });
    const snapshot = JSON.parse(answer.body) as {
      rooms: { room: string; members: number }[];
      roomsTotal: number;
    };
    expect(snapshot.roomsTotal).toBe(251);
    expect(snapshot.rooms).toHaveLength(200);
    expect(snapshot.rooms[0]).toMatchObject({ room: "zz-shared", members: 2 });
  });

  it("is absent without an api block", async () => {
    const harness = await Harness.start("namespaces: { /: {} }\n");
    cleanup.add(() => harness.close());
    for (const path of ["/console/", "/api/v1/console/snapshot"]) {
      const answer = await raw(harness.server.port, path, { headers: BEARER });
      expect(answer.status, path).toBe(404);
    }
  });

  it("with an admin listener, is served there only: the public port answers its paths 404", async () => {
    const { server } = await start("admin: { port: 0 }");
    const adminPort = server.adminPort!;
    for (const path of ["/console/", "/api/v1/console/snapshot", "/api/v1/console/stream"]) {
      const answer = await raw(server.port, path, { headers: BEARER });
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body).code).toBe("SWY_HTTP_NOT_FOUND");
    }
    expect((await raw(adminPort, "/console/")).status).toBe(200);
    expect((await raw(adminPort, "/api/v1/console/snapshot")).status).toBe(401);
    expect((await raw(adminPort, "/api/v1/console/snapshot", { headers: BEARER })).status).toBe(
      200,
    );
    // The rest of the API stays on the public port.
    expect((await raw(adminPort, "/api/v1/namespaces", { headers: BEARER })).status).toBe(404);
    expect((await raw(server.port, "/api/v1/namespaces", { headers: BEARER })).status).toBe(200);
  });
});

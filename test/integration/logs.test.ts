/**
 * What an operator reads in the log (docs/operations.md, "Logs"): one JSON line per
 * connection lifecycle event at debug, one per refusal at info with its code,
 * namespace, remote address and the client's `X-Request-Id`, never a token; refusals
 * budgeted so that a client repeating one cannot flood the log.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "logs-test-api-token-0123456789abcdef";
const JWT_SECRET = "logs-test-jwt-secret-0123456789abcdef";

const YAML = `
api: { token: "${TOKEN}" }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
  /private:
    auth: { jwt: { secret: "${JWT_SECRET}" } }
`;

type Line = Record<string, unknown>;

describe("the log", () => {
  const cleanup = useCleanup();

  async function start(level: string) {
    const lines: Line[] = [];
    const log = pino({ level }, { write: (text: string) => lines.push(JSON.parse(text) as Line) });
    const harness = await Harness.start(YAML, {}, undefined, log);
    cleanup.add(() => harness.close());
    return { harness, lines };
  }

  const headers = { "x-request-id": "req-42.a" };

  it("follows a connection at debug: session opened, upgraded, socket connected and disconnected, session closed", async () => {
    const { harness, lines } = await start("debug");
    const socket = await harness.connect({
      extraHeaders: headers,
      transports: ["polling", "websocket"],
    });
    const id = socket.id;
    await until(() => lines.some((l) => l.msg === "session upgraded to websocket"), "the upgrade");
    socket.disconnect();
    await until(() => lines.some((l) => l.msg === "session closed"), "the close");
    const of = (msg: string) => lines.find((line) => line.msg === msg);
    expect(of("session opened")).toMatchObject({
      level: 20,
      transport: "polling",
      protocol: 4,
      address: "127.0.0.1",
      reqId: "req-42.a",
    });
    expect(of("socket connected")).toMatchObject({ socket: id, nsp: "/", reqId: "req-42.a" });
    expect(of("socket disconnected")).toMatchObject({
      socket: id,
      reason: "client namespace disconnect",
    });
    expect(of("session closed")).toMatchObject({ reqId: "req-42.a" });
  });

  it("says each refusal at info with code, namespace, address and request id, never the token", async () => {
    const { harness, lines } = await start("info");
    const refusal = await harness.refusal(
      { auth: { token: "not-a-jwt-secret-value" }, extraHeaders: headers },
      "/private",
    );
    expect(refusal.data).toMatchObject({ code: "SWY_AUTH_INVALID" });
    const socket = await harness.connect();
    expect(await socket.emitWithAck("join", { room: "lobby" })).toMatchObject({ ok: false });
    const res = await fetch(`${harness.url}/api/v1/publish`, {
      method: "POST",
      headers: { authorization: "Bearer wrong-token", ...headers },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("x-request-id")).toBe("req-42.a");
    await until(
      () => lines.filter((l) => String(l.msg).includes("refused")).length === 3,
      "three refusals",
    );
    const refusals = lines.filter((l) => String(l.msg).includes("refused"));
    expect(refusals).toEqual([
      expect.objectContaining({
        level: 30,
        code: "SWY_AUTH_INVALID",
        nsp: "/private",
        address: "127.0.0.1",
        reqId: "req-42.a",
      }),
      expect.objectContaining({
        level: 30,
        code: "SWY_ROOM_NOT_ALLOWED",
        nsp: "/",
        event: "join",
        address: "127.0.0.1",
      }),
      expect.objectContaining({
        level: 30,
        code: "SWY_API_UNAUTHORIZED",
        method: "POST",
        path: "/api/v1/publish",
        reqId: "req-42.a",
      }),
    ]);
    const text = JSON.stringify(lines);
    expect(text).not.toContain("not-a-jwt-secret-value");
    expect(text).not.toContain("wrong-token");
  });

  it("keeps at most 100 refusal lines per 10 s, then says how many it left out", async () => {
    const { harness, lines } = await start("info");
    const socket = await harness.connect();
    const acks = [];
    for (let n = 0; n < 150; n++) acks.push(socket.emitWithAck("join", { room: `nope-${n}` }));
    await Promise.all(acks);
    // The event budget refuses some of them too; every refusal is one the budget counts.
    const refused = lines.filter(
      (l) => l.msg !== undefined && String(l.msg).startsWith("event refused"),
    );
    expect(refused).toHaveLength(100);
  });
});

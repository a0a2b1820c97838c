/**
 * Vectors on the Admin UI (`adminUi:`): guessing its password, flooding its logins so
 * that bcrypt takes the CPU, flooding its operations, and reading files beside the UI's
 * through `/admin-ui/`. Each is refused with a code and costs the node little.
 */
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { hashSync } from "bcryptjs";
import { Manager, type Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { dropKeysAfter, itWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness } from "../helpers/switchyard-harness.js";

/** Cost 10: a comparison takes ~0.2 s of CPU, so that logins still being checked overlap. */
const HASH = hashSync("right-password", 10);

function yaml(limits = "", cluster = ""): string {
  return `${cluster}
server:
  limits: { maxRoomLength: 64${limits} }
adminUi:
  auth: { username: admin, password: "\${HASH}" }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
`;
}

type Refusal = { message: string; data?: { code?: string } };

describe("hostile use of the Admin UI", () => {
  const cleanup = useCleanup();

  async function start(limits = "", cluster = ""): Promise<Harness> {
    const harness = await Harness.start(yaml(limits, cluster), { HASH });
    cleanup.add(() => harness.close());
    return harness;
  }

  it("refuses a wrong password, a wrong username, no credentials and a forged session id alike", async () => {
    const harness = await start();
    const invalid = { message: "invalid credentials", data: { code: "SWY_ADMIN_UI_AUTH_INVALID" } };
    for (const auth of [
      { username: "admin", password: "wrong-password" },
      { username: "root", password: "right-password" },
      {},
      { username: "admin" },
      { username: "admin", password: ["right-password"] },
      { username: "admin", password: "x".repeat(2_000) },
      { sessionId: "0123456789abcdef" },
    ]) {
      expect(await harness.refusal({ auth }, "/admin")).toEqual(invalid);
    }
  });

  itWithRedis(
    "in a cluster, refuses a flood of forged session ids and lets a real one in after",
    async () => {
      const key = `swy-hostile-${randomBytes(4).toString("hex")}`;
      const cluster = `cluster: { redis: "${REDIS_URL}", key: ${key}, nodeTtl: 3000 }`;
      dropKeysAfter(cleanup, key);
      const a = await start("", cluster);
      const b = await start("", cluster);
      const manager = new Manager(a.url, { reconnection: false, transports: ["websocket"] });
      cleanup.add(() => manager.engine?.close());
      const login = manager.socket("/admin", {
        auth: { username: "admin", password: "right-password" },
      });
      // Listened for before the connection, which the session follows at once.
      const session = await new Promise<string>((resolve) => login.once("session", resolve));
      const forged = Array.from({ length: 40 }, () => randomBytes(18).toString("base64url"));
      const refusals = await Promise.all(
        forged.map((sessionId) => b.refusal({ auth: { sessionId } }, "/admin")),
      );
      for (const refusal of refusals) {
        expect(refusal).toEqual({
          message: "invalid credentials",
          data: { code: "SWY_ADMIN_UI_AUTH_INVALID" },
        });
      }
      const admin = await b.connect({ auth: { sessionId: session } }, "/admin");
      expect(admin.connected).toBe(true);
    },
  );

  it("checks at most 4 logins at once: a flood of them is refused unchecked, and the right one gets in after", async () => {
    const harness = await start();
    // Twenty connections opened first, so that their logins arrive together.
    const managers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const manager = new Manager(harness.url, {
          autoConnect: false,
          reconnection: false,
          transports: ["websocket"],
        });
        cleanup.add(() => manager.engine?.close());
        await new Promise<void>((resolve, reject) =>
          manager.open((error) => (error ? reject(error) : resolve())),
        );
        return manager;
      }),
    );
    const outcomes = await Promise.all(
      managers.map(
        (manager) =>
          new Promise<string>((resolve) => {
            const socket = manager.socket("/admin", {
              auth: { username: "admin", password: "wrong-password" },
            });
            socket.once("connect", () => resolve("connected"));
            socket.once("connect_error", (error: Error & { data?: { code?: string } }) =>
              resolve(error.data?.code ?? error.message),
            );
            socket.connect();
          }),
      ),
    );
    const counts = Object.fromEntries(
      [...new Set(outcomes)].map((code) => [code, outcomes.filter((o) => o === code).length]),
    );
    // The first four were compared (and wrong); the sixteen that came while they ran were not.
    expect(counts).toEqual({ SWY_ADMIN_UI_AUTH_INVALID: 4, SWY_ADMIN_UI_BUSY: 16 });
    const busy = await harness.refusal({ auth: { username: "admin", password: "x" } }, "/admin");
    expect(busy).not.toMatchObject({ data: { code: "SWY_ADMIN_UI_BUSY" } });
    const admin = await harness.connect(
      { auth: { username: "admin", password: "right-password" } },
      "/admin",
    );
    expect(admin.connected).toBe(true);
  });

  it("gives a flood of operations the event budget of any socket", async () => {
    const harness = await start(", eventsPerSecond: 0.001, eventBurst: 10");
    const victims: Socket[] = [];
    for (let n = 0; n < 3; n++) victims.push(await harness.connect());
    const admin = await harness.connect(
      { auth: { username: "admin", password: "right-password" } },
      "/admin",
    );
    const acks = (await Promise.all(
      Array.from({ length: 50 }, (_, n) => admin.emitWithAck("join", "/", `room:${n}`)),
    )) as { ok: boolean; error?: { code: string } }[];
    expect(acks.filter((ack) => ack.ok)).toHaveLength(10);
    expect(new Set(acks.slice(10).map((ack) => ack.error?.code))).toEqual(
      new Set(["SWY_RATE_LIMITED"]),
    );
    // Past its budget, `_disconnect` does nothing either.
    const refused = await admin.emitWithAck("_disconnect", "/", true);
    expect(refused).toMatchObject({ ok: false, error: { code: "SWY_RATE_LIMITED" } });
    expect(victims.every((victim) => victim.connected)).toBe(true);
    const rooms = [...harness.server.sio.namespace("/")!.sockets.values()].map((s) => s.rooms.size);
    expect(rooms).toEqual([10, 10, 10]);
  });

  it("refuses an operation whose room passes limits.maxRoomLength, and one nested too deep", async () => {
    const harness = await start();
    const admin = await harness.connect(
      { auth: { username: "admin", password: "right-password" } },
      "/admin",
    );
    expect(await admin.emitWithAck("join", "/", "r".repeat(65))).toMatchObject({
      ok: false,
      error: { code: "SWY_ADMIN_UI_OPERATION_INVALID" },
    });
    let deep: unknown = "room";
    for (let n = 0; n < 40; n++) deep = [deep];
    expect(await admin.emitWithAck("join", "/", deep)).toMatchObject({
      ok: false,
      error: { code: "SWY_PAYLOAD_TOO_DEEP" },
    });
    expect(admin.connected).toBe(true);
  });

  it("serves no file outside the UI's, however the path is spelled", async () => {
    const harness = await start();
    const { port } = harness.server;
    for (const path of [
      "/admin-ui/../package.json",
      "/admin-ui/..%2fpackage.json",
      "/admin-ui/%2e%2e/package.json",
      "/admin-ui/%2e%2e%2f%2e%2e%2fpackage.json",
      "/admin-ui/js/../../../../../../etc/passwd",
      "/admin-ui/..\\..\\package.json",
      "/admin-ui//etc/passwd",
      "/admin-ui/index.html%00.js",
      "/admin-ui/../../node_modules/@socket.io/admin-ui/package.json",
      "/admin-ui/./index.html",
    ]) {
      const answer = await raw(port, "GET", path);
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body), path).toMatchObject({ code: "SWY_HTTP_NOT_FOUND" });
    }
    const post = await raw(port, "POST", "/admin-ui/index.html");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("never lets an unauthenticated client send to the admin namespace", async () => {
    const harness = await start();
    const victim = await harness.connect();
    // One connection, on `/` and refused on the admin namespace: it stays open for `/`.
    const manager = new Manager(harness.url, { autoConnect: false, reconnection: false });
    cleanup.add(() => manager.engine?.close());
    const root = manager.socket("/");
    await new Promise<void>((resolve) => root.once("connect", () => resolve()).connect());
    const admin = manager.socket("/admin", { auth: {} });
    const refusal = await new Promise<Refusal>((resolve) =>
      admin
        .once("connect_error", (error: Error & { data?: { code?: string } }) =>
          resolve({ message: error.message, ...(error.data ? { data: error.data } : {}) }),
        )
        .connect(),
    );
    expect(refusal).toEqual({
      message: "invalid credentials",
      data: { code: "SWY_ADMIN_UI_AUTH_INVALID" },
    });
    // An operation sent anyway is a packet for a namespace the session is not in: the
    // session is closed, and nothing is done.
    const closed = new Promise((resolve) => manager.engine.once("close", resolve));
    manager.engine.send(`2/admin,["_disconnect","/",true]`);
    await closed;
    expect(victim.connected).toBe(true);
  });
});

/** An HTTP request with its path sent exactly as written (fetch would normalise `..`). */
function raw(
  port: number,
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

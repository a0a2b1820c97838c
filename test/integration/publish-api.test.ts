import { request } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import type { Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { HttpApi } from "../../src/api/http-api.js";
import { SwitchyardError } from "../../src/errors.js";
import { createHttpHost } from "../../src/http-host.js";
import { Namespace } from "../../src/ingress/sio/namespace.js";
import { Secret } from "../../src/mapping/secret.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness, next } from "../helpers/switchyard-harness.js";

const TOKEN = "test-token-0123456789abcdef";
const ENV = { SWITCHYARD_API_TOKEN: TOKEN };
const MAX_BODY = 2048;
const MAX_ROOM = 32;

const WITH_API = `
api:
  token: "\${SWITCHYARD_API_TOKEN}"
server:
  limits: { maxHttpBufferSize: ${MAX_BODY}, maxRoomLength: ${MAX_ROOM} }
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}" }
  /chat:
    events:
      join: { action: join, room: "{data.room}" }
`;

const WITHOUT_API = `
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}" }
`;

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(yaml = WITH_API): Promise<Harness> {
  harness = await Harness.start(yaml, ENV);
  return harness;
}

/** An API request with the right token unless `authorization` says otherwise (null: none). */
async function call(
  path: string,
  init: { method?: string; body?: unknown; authorization?: string | null } = {},
): Promise<Reply> {
  const { method = init.body === undefined ? "GET" : "POST", authorization } = init;
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (authorization !== null) headers.Authorization = authorization ?? `Bearer ${TOKEN}`;
  const body =
    init.body === undefined
      ? undefined
      : typeof init.body === "string"
        ? init.body
        : JSON.stringify(init.body);
  const res = await fetch(`${harness!.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as unknown };
}

const publish = (body: unknown, authorization?: string | null) =>
  call("/api/v1/publish", { body, authorization });

/** Connected sockets that joined `rooms` of namespace `nsp`. */
async function member(rooms: readonly string[], nsp = "/"): Promise<Socket> {
  const socket = await harness!.connect({ transports: ["websocket"] }, nsp);
  for (const room of rooms) await socket.emitWithAck("join", { room });
  return socket;
}

/** Every `event` a socket receives, with its arguments. */
function record(socket: Socket, event: string): unknown[][] {
  const seen: unknown[][] = [];
  socket.on(event, (...args: unknown[]) => seen.push(args));
  return seen;
}

async function errorCount(code: string): Promise<number> {
  const text = await (await fetch(`${harness!.url}/metrics`)).text();
  const match = new RegExp(`^switchyard_errors_total\\{code="${code}"\\} (\\d+)$`, "m").exec(text);
  return match === null ? 0 : Number(match[1]);
}

describe("POST /api/v1/publish", () => {
  it("delivers to every member of the room on this node and to no one else, answering 202", async () => {
    await start();
    const alice = await member(["room:1", "all"]);
    const bob = await member(["room:1", "all"]);
    const carol = await member(["room:2", "all"]);
    const dave = await member(["all"]);
    const seenByCarol = record(carol, "message");
    const seenByDave = record(dave, "message");
    const received = Promise.all([next(alice, "message"), next(bob, "message")]);

    const reply = await publish({ room: "room:1", event: "message", args: [{ text: "hi" }, 2] });
    expect(reply).toMatchObject({ status: 202, body: { ok: true } });
    expect(await received).toEqual([
      [{ text: "hi" }, 2],
      [{ text: "hi" }, 2],
    ]);
    // A marker to every socket arrives after anything published before it.
    const markers = Promise.all([alice, bob, carol, dave].map((s) => next(s, "marker")));
    expect((await publish({ room: "all", event: "marker" })).status).toBe(202);
    expect(await markers).toEqual([[], [], [], []]);
    expect(seenByCarol).toEqual([]);
    expect(seenByDave).toEqual([]);
  });

  it("leaves out the socket named by except", async () => {
    await start();
    const alice = await member(["room:1"]);
    const bob = await member(["room:1"]);
    const seenByAlice = record(alice, "message");
    const bobGot = next(bob, "message");
    const reply = await publish({
      room: "room:1",
      event: "message",
      args: ["x"],
      except: alice.id,
    });
    expect(reply.status).toBe(202);
    expect(await bobGot).toEqual(["x"]);
    const marker = next(alice, "marker");
    await publish({ room: "room:1", event: "marker" });
    await marker;
    expect(seenByAlice).toEqual([]);
  });

  it("publishes to the room of the namespace it names, not to the same room elsewhere", async () => {
    await start();
    const inRoot = await member(["room:1"]);
    const inChat = await member(["room:1"], "/chat");
    const seenInRoot = record(inRoot, "message");
    const chatGot = next(inChat, "message");
    await publish({ namespace: "/chat", room: "room:1", event: "message", args: [1] });
    expect(await chatGot).toEqual([1]);
    const marker = next(inRoot, "marker");
    await publish({ room: "room:1", event: "marker" });
    await marker;
    expect(seenInRoot).toEqual([]);
  });

  it("answers 202 for a room with no member on this node, delivering nothing", async () => {
    await start();
    expect(await publish({ room: "room:9", event: "message" })).toMatchObject({
      status: 202,
      body: { ok: true },
    });
  });
});

describe("API authentication", () => {
  it.each([
    ["no Authorization header", null, 'Bearer realm="switchyard"'],
    [
      "another scheme",
      `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}`,
      'Bearer realm="switchyard"',
    ],
    [
      "a wrong token",
      "Bearer test-token-0123456789abcdeX",
      'Bearer realm="switchyard", error="invalid_token"',
    ],
    [
      "a prefix of the token",
      `Bearer ${TOKEN.slice(0, -1)}`,
      'Bearer realm="switchyard", error="invalid_token"',
    ],
  ])(
    "refuses a publish with %s: 401, WWW-Authenticate Bearer, nothing delivered",
    async (_, authorization, challenge) => {
      await start();
      const alice = await member(["room:1"]);
      const seen = record(alice, "message");
      const before = await errorCount("SWY_API_UNAUTHORIZED");
      const reply = await publish({ room: "room:1", event: "message" }, authorization);
      expect(reply.status).toBe(401);
      expect(reply.headers.get("www-authenticate")).toBe(challenge);
      expect(reply.body).toEqual({
        code: "SWY_API_UNAUTHORIZED",
        message: "Missing or wrong bearer token",
      });
      expect(await errorCount("SWY_API_UNAUTHORIZED")).toBe(before + 1);
      const marker = next(alice, "marker");
      await publish({ room: "room:1", event: "marker" });
      await marker;
      expect(seen).toEqual([]);
    },
  );

  it("guards the listing routes with the same token", async () => {
    await start();
    for (const path of ["/api/v1/rooms", "/api/v1/namespaces"]) {
      expect((await call(path, { authorization: null })).status).toBe(401);
      expect((await call(path, { authorization: "Bearer nope-nope-nope-nope" })).status).toBe(401);
      expect((await call(path)).status).toBe(200);
    }
  });
});

/** Bodies the publish route refuses: what is wrong, the body, its code and message. */
const BAD_BODIES: [what: string, body: unknown, code: string, message: string][] = [
  [
    "a body that is not JSON",
    "{nope",
    "SWY_API_BAD_JSON",
    "The body must be a JSON object: it is not valid JSON",
  ],
  ["a JSON list", "[1]", "SWY_API_BAD_JSON", "The body must be a JSON object: got a list"],
  ["no room", { event: "m" }, "SWY_API_FIELD_REQUIRED", "Missing required field 'room'"],
  ["no event", { room: "room:1" }, "SWY_API_FIELD_REQUIRED", "Missing required field 'event'"],
  [
    "an unknown field",
    { room: "r", event: "m", arg: [1] },
    "SWY_API_FIELD_UNKNOWN",
    "Unknown field 'arg'",
  ],
  [
    "an unknown namespace",
    { namespace: "/nope", room: "r", event: "m" },
    "SWY_API_NAMESPACE_UNKNOWN",
    "Namespace '/nope' is not configured",
  ],
  [
    "a namespace that is not a string",
    { namespace: 1, room: "r", event: "m" },
    "SWY_API_FIELD_INVALID",
    "Field 'namespace' must be a namespace name such as '/'",
  ],
  [
    "a reserved event name",
    { room: "r", event: "disconnect" },
    "SWY_API_EVENT_RESERVED",
    "Event name 'disconnect' is reserved by Socket.IO",
  ],
  [
    "an event that is not a string",
    { room: "r", event: 7 },
    "SWY_API_FIELD_INVALID",
    "Field 'event' must be a non-empty string",
  ],
  [
    "a room that is not a string",
    { room: 42, event: "m" },
    "SWY_API_ROOM_INVALID",
    `Room must be a non-empty string of at most ${MAX_ROOM} characters`,
  ],
  [
    "an empty room",
    { room: "", event: "m" },
    "SWY_API_ROOM_INVALID",
    `Room must be a non-empty string of at most ${MAX_ROOM} characters`,
  ],
  [
    "a room over maxRoomLength",
    { room: "r".repeat(MAX_ROOM + 1), event: "m" },
    "SWY_API_ROOM_INVALID",
    `Room must be a non-empty string of at most ${MAX_ROOM} characters`,
  ],
  [
    "args that are not a list",
    { room: "r", event: "m", args: "x" },
    "SWY_API_FIELD_INVALID",
    "Field 'args' must be a list of arguments",
  ],
  [
    "an except that is not a string",
    { room: "r", event: "m", except: 5 },
    "SWY_API_FIELD_INVALID",
    "Field 'except' must be a socket id",
  ],
];

describe("API request errors", () => {
  it.each(BAD_BODIES.map(([what, body, code, message]) => ({ what, body, code, message })))(
    "answers $what with 400 $code",
    async ({ body, code, message }) => {
      await start();
      const before = await errorCount(code);
      const reply = await publish(body);
      expect(reply).toMatchObject({ status: 400, body: { code, message } });
      expect(await errorCount(code)).toBe(before + 1);
    },
  );

  it("answers a body over maxHttpBufferSize with 413 SWY_API_PAYLOAD_TOO_LARGE", async () => {
    await start();
    const reply = await publish({ room: "r", event: "m", args: ["x".repeat(MAX_BODY)] });
    expect(reply).toMatchObject({
      status: 413,
      body: {
        code: "SWY_API_PAYLOAD_TOO_LARGE",
        message: `Body exceeds maxHttpBufferSize (${MAX_BODY} bytes)`,
      },
    });
  });

  it("answers a chunked body that grows over maxHttpBufferSize with 413, and keeps serving", async () => {
    await start();
    const reply = await postChunked(`${harness!.url}/api/v1/publish`, [
      '{"room":"r","event":"m","args":["',
      "x".repeat(MAX_BODY / 2),
      "x".repeat(MAX_BODY),
      '"]}',
    ]);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ code: "SWY_API_PAYLOAD_TOO_LARGE" });
    expect((await publish({ room: "r", event: "m" })).status).toBe(202);
  });

  it("answers the wrong method with 405 and an Allow header", async () => {
    await start();
    const reply = await call("/api/v1/publish", { method: "GET" });
    expect(reply.status).toBe(405);
    expect(reply.headers.get("allow")).toBe("POST");
    expect(reply.body).toEqual({
      code: "SWY_API_METHOD_NOT_ALLOWED",
      message: "GET is not allowed here; use POST",
    });
    expect((await call("/api/v1/rooms", { method: "POST", body: {} })).status).toBe(405);
  });

  it("answers an unknown API path with 404 SWY_HTTP_NOT_FOUND", async () => {
    await start();
    expect(await call("/api/v1/nope")).toMatchObject({
      status: 404,
      body: { code: "SWY_HTTP_NOT_FOUND" },
    });
  });
});

describe("without an api block", () => {
  it("answers every API route with 404, even with a token", async () => {
    await start(WITHOUT_API);
    for (const path of ["/api/v1/publish", "/api/v1/rooms", "/api/v1/namespaces"]) {
      const reply = await call(path, { method: path.endsWith("publish") ? "POST" : "GET" });
      expect(reply).toMatchObject({
        status: 404,
        body: { code: "SWY_HTTP_NOT_FOUND", message: "Not found" },
      });
    }
  });
});

describe("GET /api/v1/rooms and /api/v1/namespaces", () => {
  it("lists this node's rooms of a namespace with their member counts and its connections", async () => {
    await start();
    await member(["room:1", "room:2"]);
    await member(["room:1"]);
    await member([]);
    await member(["lobby"], "/chat");
    const root = await call("/api/v1/rooms?namespace=/");
    expect(root.status).toBe(200);
    const body = root.body as { rooms: { room: string }[] };
    body.rooms.sort((a, b) => a.room.localeCompare(b.room));
    expect(body).toEqual({
      namespace: "/",
      rooms: [
        { room: "room:1", members: 2, backend: "native" },
        { room: "room:2", members: 1, backend: "native" },
      ],
      connections: 3,
    });
    expect((await call("/api/v1/rooms")).body).toMatchObject({ namespace: "/", connections: 3 });
    expect((await call("/api/v1/rooms?namespace=%2Fchat")).body).toEqual({
      namespace: "/chat",
      rooms: [{ room: "lobby", members: 1, backend: "native" }],
      connections: 1,
    });
  });

  it("answers rooms of an unknown namespace with 400 SWY_API_NAMESPACE_UNKNOWN", async () => {
    await start();
    expect(await call("/api/v1/rooms?namespace=/nope")).toMatchObject({
      status: 400,
      body: { code: "SWY_API_NAMESPACE_UNKNOWN", message: "Namespace '/nope' is not configured" },
    });
  });

  it("lists every configured namespace with its socket and room counts", async () => {
    await start();
    await member(["room:1", "room:2"]);
    await member(["room:1"]);
    const reply = await call("/api/v1/namespaces");
    expect(reply).toMatchObject({ status: 200 });
    expect(reply.body).toEqual({
      namespaces: [
        { namespace: "/", connections: 2, rooms: 2 },
        { namespace: "/chat", connections: 0, rooms: 0 },
      ],
    });
  });
});

describe("a backend that refuses a publication", () => {
  const cleanup = useCleanup();

  // The native core never refuses, so the API is served here with a publisher that
  // fails the way a backend's rejection reaches it through the router.
  it("answers 502 SWY_PUBLISH_FAILED with the backend's reason", async () => {
    const namespace = new Namespace("/", () => {});
    const api = new HttpApi({
      api: { token: new Secret(TOKEN) },
      maxBodyBytes: MAX_BODY,
      maxRoomLength: MAX_ROOM,
      maxDepth: 32,
      publisher: {
        publish: (_nsp, room) =>
          Promise.reject(new SwitchyardError("SWY_PUBLISH_FAILED", [room, "backend down"])),
        placement: () => ({ backend: "native" }),
        cluster: () => undefined,
        shadowReport: () => ({ routes: [], since: new Date(0).toISOString() }),
        resetShadow: () => {},
      },
      sio: {
        mappedNamespace: (name) => (name === "/" ? namespace : undefined),
        namespaces: () => [namespace].values(),
      },
      log: pino({ level: "silent" }),
    });
    const http = createHttpHost(
      [],
      () => ({ isReady: true, checks: {} }),
      (req, res, path) => api.handle(req, res, path),
    );
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    cleanup.add(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api/v1/publish`;
    const res = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ room: "room:1", event: "message" }),
    });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      code: "SWY_PUBLISH_FAILED",
      message: "Publish to room 'room:1' failed: backend down",
    });
  });
});

/** POSTs `chunks` with chunked transfer encoding (no Content-Length) and the right token. */
function postChunked(
  url: string,
  chunks: readonly string[],
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${TOKEN}`,
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
      },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

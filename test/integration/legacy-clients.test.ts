import { readFileSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket as ClientSocket } from "socket.io-client";
import type { V2Socket } from "socket.io-client-v2";
import { beforeAll, describe, expect, it } from "vitest";
import { ConnectRefusal } from "../../src/ingress/sio/client.js";
import { type Cleanup, useCleanup, useFileCleanup } from "../helpers/cleanup.js";
import { PollingSession, pollingUrl } from "../helpers/raw-polling.js";
import {
  binaryPayload,
  fetchBytes,
  parseTextPayload,
  textPayload,
  V3PollingSession,
  v3PollingUrl,
} from "../helpers/raw-polling-v3.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { connectClient, roundTrip } from "../helpers/sio-client.js";
import {
  connectV2Client,
  createV2Client,
  emitWithAckV2,
  nextV2,
  V2_MODE_NAMES,
  V2_MODES,
  type V2Mode,
  whenV2Connected,
  whenV2Upgraded,
} from "../helpers/sio-client-v2.js";
import { Harness, next } from "../helpers/switchyard-harness.js";
import { startTestServer, type TestServer } from "../helpers/test-server.js";
import { waitFor } from "../helpers/wait-for.js";

const PATH = "/socket.io/";
const fileCleanup = useFileCleanup();
const cleanup = useCleanup();

/**
 * The test server with socket.io 2.x clients allowed. `/custom` refuses the token
 * `refuse` with data and the token `refuse-plain` without.
 */
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(fileCleanup, {
    options: { allowEIO3: true },
    onConnect(socket, auth) {
      if (socket.nsp.name !== "/custom") return undefined;
      if (auth.token === "refuse") {
        throw new ConnectRefusal("Not allowed", { code: "E_TOKEN", retry: false });
      }
      if (auth.token === "refuse-plain") throw new ConnectRefusal("Not allowed either");
      return undefined;
    },
  });
});

const MODES = V2_MODES.map((mode) => [V2_MODE_NAMES[mode], mode] as const);

/** Emits `message` on a 2.x client and resolves with the arguments of `message-back`. */
async function roundTripV2(socket: V2Socket, ...args: unknown[]): Promise<unknown[]> {
  const back = nextV2(socket, "message-back");
  socket.emit("message", ...args);
  return back;
}

/** A 2.x socket connected to `/`, with the `auth` event the server sent on connection. */
async function connectWithAuth(
  url: string,
  mode: V2Mode,
  query?: Record<string, string>,
): Promise<{ client: V2Socket; auth: unknown[] }> {
  const client = createV2Client(cleanup, url, mode, query === undefined ? {} : { query });
  const [, auth] = await Promise.all([whenV2Connected(client), nextV2(client, "auth")]);
  if (mode === "upgrade") await whenV2Upgraded(client);
  return { client, auth };
}

/**
 * A raw Engine.IO v3 WebSocket past the implicit CONNECT to "/" and the server's `auth`
 * event, with its engine id (which a 2.x client takes for its socket id on "/").
 */
async function openV3Ws(
  url: string,
  query: Record<string, string> = {},
): Promise<{ ws: RawWs; sid: string }> {
  const ws = await RawWs.open(cleanup, wsUrl(url, PATH, { EIO: "3", ...query }));
  const open = (await ws.next()) as string;
  expect(open).toMatch(/^0\{/);
  expect(await ws.next()).toBe("40");
  expect(await ws.next()).toBe('42["auth",{}]');
  return { ws, sid: (JSON.parse(open.slice(1)) as { sid: string }).sid };
}

describe.each(MODES)("socket.io-client 2.x over %s", (_, mode) => {
  it('is connected to "/" by the server alone, with the handshake query as auth and a socket id that is not its engine id', async () => {
    const { client, auth } = await connectWithAuth(server.url, mode, { token: "x" });
    expect(auth).toEqual([{ token: "x" }]);
    // The 2.x client names itself by its engine id; the server's id for it is another,
    // so the id other clients may learn cannot drive this session's transport.
    expect(client.id).toBe(client.io.engine.id);
    const socket = server.socketOf(client);
    expect(socket.auth).toEqual({ token: "x" });
    expect(socket.id).not.toBe(client.io.engine.id);
    expect(socket.id).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(client.io.engine.transport.name).toBe(
      mode.startsWith("polling") ? "polling" : "websocket",
    );
  });

  it("sends events with acks, and answers the server's emitWithAck with its callback", async () => {
    const client = await connectV2Client(cleanup, server.url, mode);
    expect(await roundTripV2(client, 1, "twö €😀", { three: [3] }, null)).toEqual([
      1,
      "twö €😀",
      { three: [3] },
      null,
    ]);
    expect(await emitWithAckV2(client, "message-with-ack", "a", { b: 2 })).toEqual(["a", { b: 2 }]);
    client.on("question", (a: string, b: string, ack: (...args: unknown[]) => void) =>
      ack(`${a}${b}`, { answered: true }),
    );
    const reply = await server.socketOf(client).emitWithAck("question", ["x", "y"], 5000);
    expect(reply).toEqual(["xy", { answered: true }]);
  });

  it("sends and receives binary, nested and next to text, in events and acks", async () => {
    const client = await connectV2Client(cleanup, server.url, mode);
    const args = [
      Buffer.from([1, 2, 3]),
      "€😀",
      { nested: [Buffer.from("x"), { deeper: Buffer.from([0xff, 0x00]) }], empty: Buffer.alloc(0) },
    ];
    const received = server.whenEvent("message");
    expect(await roundTripV2(client, ...args)).toEqual(args);
    expect((await received).args).toEqual(args);
    expect(await emitWithAckV2(client, "message-with-ack", Buffer.from([9]), "€")).toEqual([
      Buffer.from([9]),
      "€",
    ]);
    // Server to client and back: the 2.x client acks with binary (BINARY_ACK).
    let question: unknown[] = [];
    client.on("question", (...got: unknown[]) => {
      const ack = got.pop() as (...reply: unknown[]) => void;
      question = got;
      ack({ echo: got[0] }, Buffer.from([7, 7]));
    });
    const socket = server.socketOf(client);
    const reply = await socket.emitWithAck(
      "question",
      [Buffer.from([4, 5]), { deep: [Buffer.from("y")] }],
      5000,
    );
    expect(question).toEqual([Buffer.from([4, 5]), { deep: [Buffer.from("y")] }]);
    expect(reply).toEqual([{ echo: Buffer.from([4, 5]) }, Buffer.from([7, 7])]);
  });

  it("connects to a namespace with its query string as auth, as /custom#<engine id>", async () => {
    const client = createV2Client(cleanup, `${server.url}/custom?token=abc&x=1`, mode);
    const [, auth] = await Promise.all([whenV2Connected(client), nextV2(client, "auth")]);
    expect(auth).toEqual([{ token: "abc", x: "1" }]);
    expect(client.id).toBe(`/custom#${client.io.engine.id}`);
    expect(server.socketOf(client, "/custom").auth).toEqual({ token: "abc", x: "1" });
    expect(await emitWithAckV2(client, "message-with-ack", "in /custom")).toEqual(["in /custom"]);
  });

  it("gets a refusal's data, or its message, as an error event", async () => {
    const refused = createV2Client(cleanup, `${server.url}/custom?token=refuse`, mode);
    expect(await nextV2(refused, "error")).toEqual([{ code: "E_TOKEN", retry: false }]);
    const plain = createV2Client(cleanup, `${server.url}/custom?token=refuse-plain`, mode);
    expect(await nextV2(plain, "error")).toEqual(["Not allowed either"]);
    expect(refused.connected).toBe(false);
    expect(plain.connected).toBe(false);
  });

  it('gets {message: "Invalid namespace"} as an error event for an unknown namespace', async () => {
    const client = createV2Client(cleanup, `${server.url}/nope`, mode);
    expect(await nextV2(client, "error")).toEqual([{ message: "Invalid namespace" }]);
    expect(client.connected).toBe(false);
  });

  it("multiplexes / and a namespace on one connection, and leaves one without the other", async () => {
    const root = await connectV2Client(cleanup, server.url, mode);
    const custom = root.io.socket("/custom", { query: "token=abc" });
    const [, auth] = await Promise.all([whenV2Connected(custom), nextV2(custom, "auth")]);
    expect(auth).toEqual([{ token: "abc" }]);
    expect(custom.id).toBe(`/custom#${root.id}`);
    expect(await emitWithAckV2(custom, "message-with-ack", "custom")).toEqual(["custom"]);
    const customId = server.socketOf(custom, "/custom").id;
    const left = server.whenDisconnected((socket) => socket.id === customId);
    custom.disconnect();
    expect(await left).toBe("client namespace disconnect");
    expect(await roundTripV2(root, "root")).toEqual(["root"]);
    expect(server.sio.namespace("/")?.sockets.has(server.socketOf(root).id)).toBe(true);
  });

  it('sees a server-side disconnect as "io server disconnect", in / and in a namespace', async () => {
    const root = await connectV2Client(cleanup, server.url, mode);
    const rootId = server.socketOf(root).id;
    const rootGone = server.whenDisconnected((socket) => socket.id === rootId);
    const rootReason = nextV2(root, "disconnect");
    root.emit("kick");
    expect(await rootReason).toEqual(["io server disconnect"]);
    expect(await rootGone).toBe("server namespace disconnect");

    const custom = await connectV2Client(cleanup, `${server.url}/custom`, mode);
    const customReason = nextV2(custom, "disconnect");
    custom.emit("kick");
    expect(await customReason).toEqual(["io server disconnect"]);
  });
});

/** Content types of the requests and responses of one session, recorded on the host. */
function recordExchanges(
  http: Server,
): (sid: string) => { method: string; request?: string; response?: string }[] {
  const seen: { url: string; method: string; request?: string; response?: string }[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const record = (): void => {
      seen.push({
        url: req.url ?? "",
        method: req.method ?? "",
        request: req.headers["content-type"],
        response: res.getHeader("content-type") as string | undefined,
      });
    };
    if (res.writableEnded) record();
    else res.once("finish", record);
  };
  http.on("request", onRequest);
  cleanup.add(() => http.off("request", onRequest));
  return (sid) =>
    seen
      .filter((exchange) => exchange.url.includes(`sid=${sid}`))
      .map(({ method, request, response }) => ({ method, request, response }));
}

describe("socket.io-client 2.x polling payloads", () => {
  it("a client with XHR2 sends and receives binary as binary payloads (application/octet-stream)", async () => {
    const exchanges = recordExchanges(server.http);
    const client = await connectV2Client(cleanup, server.url, "polling");
    expect(client.io.engine.transport.supportsBinary).toBe(true);
    expect(await roundTripV2(client, Buffer.from([1, 2, 3]))).toEqual([Buffer.from([1, 2, 3])]);
    const binary = "application/octet-stream";
    expect(exchanges(client.io.engine.id)).toEqual(
      expect.arrayContaining([
        { method: "POST", request: binary, response: "text/html; charset=UTF-8" },
        { method: "GET", request: undefined, response: binary },
      ]),
    );
  });

  it("a client with forceBase64 asks for b64=1 and only ever gets text payloads", async () => {
    const exchanges = recordExchanges(server.http);
    const client = await connectV2Client(cleanup, server.url, "polling-b64");
    expect(client.io.engine.transport.supportsBinary).toBe(false);
    expect(await roundTripV2(client, Buffer.from([1, 2, 3]))).toEqual([Buffer.from([1, 2, 3])]);
    const types = exchanges(client.io.engine.id).flatMap(({ request, response }) => [
      request,
      response,
    ]);
    expect(types).not.toContain("application/octet-stream");
    expect(types).toContain("text/plain; charset=UTF-8");
  });
});

describe("socket.io-client 2.x details the server must get right", () => {
  it("a namespace's query is the whole auth, even with names Engine.IO uses in its own query", async () => {
    // Only the implicit "/" takes its auth from the handshake, where EIO, transport, t,
    // sid, b64 and j are Engine.IO's; a namespace's query is the client's alone.
    const { ws } = await openV3Ws(server.url);
    ws.send("40/custom?token=abc&t=7&b64=1,");
    expect(await ws.next()).toBe("40/custom,");
    expect(await ws.next()).toBe('42/custom,["auth",{"token":"abc","t":"7","b64":"1"}]');
  });

  it("connects to a namespace whose name is not ASCII, as a 4.x client can", async () => {
    const accented = await startTestServer(cleanup, {
      options: { allowEIO3: true },
      namespaces: ["/", "/café"],
    });
    const v4 = await connectClient(cleanup, `${accented.url}/café`, "websocket");
    expect(v4.connected).toBe(true);
    const client = createV2Client(cleanup, `${accented.url}/café?token=é`, "websocket");
    const [, auth] = await Promise.all([whenV2Connected(client), nextV2(client, "auth")]);
    expect(auth).toEqual([{ token: "é" }]);
    expect(client.id).toBe(`/café#${client.io.engine.id}`);
  });

  it.each([
    ["dot segments", "/x/../custom"],
    ["a leading //", "//custom"],
  ])("a CONNECT to a namespace name with %s is refused under that very name", async (_, nsp) => {
    const { ws } = await openV3Ws(server.url);
    ws.send(`40${nsp},`);
    expect(await ws.next()).toBe(`44${nsp},{"message":"Invalid namespace"}`);
  });

  it("a repeated CONNECT, to / or to a namespace, is answered again and the session stays", async () => {
    const { ws } = await openV3Ws(server.url);
    ws.send("40");
    expect(await ws.next()).toBe("40");
    ws.send("40/custom,");
    expect(await ws.next()).toBe("40/custom,");
    expect(await ws.next()).toBe('42/custom,["auth",{}]');
    ws.send("40/custom,");
    expect(await ws.next()).toBe("40/custom,");
    ws.send('42/custom,["message","after the repeats"]');
    expect(await ws.next()).toBe('42/custom,["message-back","after the repeats"]');
  });

  it("a WebSocket client that asked for base64 (b64=1) gets binary as b4<base64> text frames", async () => {
    // engine.io-client 3.x sends b64=1 on the WebSocket too with forceBase64, for
    // environments without binary frames; engine.io answers it with text frames.
    const { ws } = await openV3Ws(server.url, { b64: "1" });
    ws.send('451-["message",{"_placeholder":true,"num":0}]');
    ws.send("b4AQID");
    expect(await ws.next()).toBe('451-["message-back",{"_placeholder":true,"num":0}]');
    expect(await ws.next()).toBe("b4AQID");
  });
});

// --- Rooms shared by 2.x and 4.x clients, through the mapping ------------------------

const MIXED = `
server:
  allowEIO3: true
namespaces:
  /:
    events:
      join:
        action: join
        room: "{data.room}"
      say:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.text}", { from: "{socket.id}" }]
      relay:
        action: broadcast
        room: "{data.room}"
`;

/** A Switchyard from YAML, closed by `cleanup` after the clients registered later. */
async function startHarness(yaml: string, list: Cleanup = cleanup): Promise<Harness> {
  const harness = await Harness.start(yaml);
  list.add(() => harness.close());
  return harness;
}

/** The arguments of an event as Buffers where a 4.x client handed out ArrayBuffers. */
function asBuffer(value: unknown): Buffer {
  return Buffer.from(value as ArrayBuffer);
}

describe.each(MODES)("a socket.io-client 2.x over %s in a room with 4.x clients", (_, mode) => {
  it("sees what a 4.x member says, and the 4.x member sees what it says", async () => {
    const harness = await startHarness(MIXED);
    const v4 = await harness.connect();
    const v2 = await connectV2Client(cleanup, harness.url, mode);
    expect(await emitWithAckV2(v2, "join", { room: "lobby" })).toEqual([{ ok: true }]);
    expect(await v4.emitWithAck("join", { room: "lobby" })).toEqual({ ok: true });

    const atV4 = next(v4, "message");
    expect(await emitWithAckV2(v2, "say", { room: "lobby", text: "from 2.x €" })).toEqual([
      { ok: true },
    ]);
    // The server's id for the 2.x socket, never the engine id the 2.x client calls itself.
    const [text, { from }] = (await atV4) as [string, { from: string }];
    expect(text).toBe("from 2.x €");
    expect(from).not.toBe(v2.io.engine.id);
    expect(harness.server.sio.namespace("/")?.sockets.get(from)?.client.session.id).toBe(
      v2.io.engine.id,
    );

    const atV2 = nextV2(v2, "message");
    v4.emit("say", { room: "lobby", text: "from 4.x 😀" });
    expect(await atV2).toEqual(["from 4.x 😀", { from: v4.id }]);
  });

  it("relays binary both ways unchanged when the rule has no args", async () => {
    const harness = await startHarness(MIXED);
    const v4 = await harness.connect();
    const v2 = await connectV2Client(cleanup, harness.url, mode);
    await emitWithAckV2(v2, "join", { room: "lobby" });
    await v4.emitWithAck("join", { room: "lobby" });

    const atV4 = next(v4, "relay");
    v2.emit("relay", { room: "lobby" }, Buffer.from([1, 2, 3]), { nested: [Buffer.from("x")] });
    const [first, buffer, nested] = await atV4;
    expect(first).toEqual({ room: "lobby" });
    expect(asBuffer(buffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(asBuffer((nested as { nested: unknown[] }).nested[0]).toString()).toBe("x");

    const atV2 = nextV2(v2, "relay");
    v4.emit("relay", { room: "lobby" }, Buffer.from([4, 5]), { nested: [Buffer.from("y")] });
    expect(await atV2).toEqual([
      { room: "lobby" },
      Buffer.from([4, 5]),
      { nested: [Buffer.from("y")] },
    ]);
  });
});

describe("socket.io-client 2.x against a mapping without /", () => {
  it("connects to its namespace without an error event about /", async () => {
    const harness = await startHarness(`
server:
  allowEIO3: true
namespaces:
  /chat:
    events:
      join:
        action: join
        room: "{data.room}"
`);
    const client = createV2Client(cleanup, `${harness.url}/chat`, "websocket");
    const errors: unknown[] = [];
    client.on("error", (error: unknown) => errors.push(error));
    await nextV2(client, "connect");
    // Anything about "/" was sent before the CONNECT reply, so it has arrived by now.
    expect(await emitWithAckV2(client, "join", { room: "lobby" })).toEqual([{ ok: true }]);
    expect(errors).toEqual([]);
  });
});

describe("examples/legacy/switchyard.yaml", () => {
  it("serves a 2.x publisher and a 4.x member of one room", async () => {
    const yaml = readFileSync(
      new URL("../../examples/legacy/switchyard.yaml", import.meta.url),
      "utf8",
    );
    const harness = await startHarness(yaml);
    const member = await harness.connect({ transports: ["websocket"] });
    expect(await member.emitWithAck("join", { room: "room:r" })).toEqual({ ok: true });
    const publisher = await connectV2Client(cleanup, harness.url, "polling");
    const got = next(member, "message");
    publisher.emit("publish", { room: "room:r", payload: { n: 1, bytes: Buffer.from([1]) } });
    const [payload] = await got;
    expect((payload as { n: number }).n).toBe(1);
    expect(asBuffer((payload as { bytes: unknown }).bytes)).toEqual(Buffer.from([1]));
  });
});

// --- Malformed Engine.IO v3 input ------------------------------------------------------

describe("malformed Engine.IO v3 input", () => {
  let v2Witness: V2Socket;
  let v4Witness: ClientSocket;

  beforeAll(async () => {
    v2Witness = await connectV2Client(fileCleanup, server.url, "polling");
    v4Witness = await connectClient(fileCleanup, server.url, "websocket");
  });

  /** A connected 2.x client and a 4.x client of the same server keep working. */
  async function expectWitnessesWork(): Promise<void> {
    expect(await roundTripV2(v2Witness, "still here", 2)).toEqual(["still here", 2]);
    expect(await roundTrip(v4Witness, "still here", 4)).toEqual(["still here", 4]);
  }

  async function expectSessionGone(session: V3PollingSession): Promise<void> {
    const reply = await session.get();
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ code: 1, message: "Session ID unknown" });
  }

  it.each([
    ["no length prefix", "abc"],
    ["a length past the end of the body", "5:4hi"],
    ["a length shorter than the packet", "2:4hello"],
    ["a zero length", "0:"],
    ["a base64 packet with invalid base64", "6:b4!!!!"],
  ])(
    "a text payload with %s (%j) gets 400 Bad request and the session is gone",
    async (_, body) => {
      const session = await V3PollingSession.open(server.url, PATH);
      const reply = await session.post(body);
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.body)).toEqual({ code: 3, message: "Bad request" });
      await expectSessionGone(session);
      await expectWitnessesWork();
    },
  );

  it.each([
    ["a length past the end of the body", [0x00, 0x09, 0x09, 0xff, 0x34, 0x68, 0x69]],
    ["a record kind other than 0 or 1", [0x02, 0x01, 0xff, 0x34]],
    ["a length digit over 9", [0x00, 0x0a, 0xff, 0x34]],
    ["no 0xFF after the length", [0x00, 0x01, 0x02]],
    ["a zero length", [0x00, 0xff, 0x34]],
    ["a binary record whose type byte is not 4", [0x01, 0x02, 0xff, 0x05, 0x01]],
  ])("a binary payload with %s gets 400 Bad request and the session is gone", async (_, bytes) => {
    const session = await V3PollingSession.open(server.url, PATH);
    const reply = await session.post(Buffer.from(bytes), "application/octet-stream");
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ code: 3, message: "Bad request" });
    await expectSessionGone(session);
    await expectWitnessesWork();
  });

  it.each([
    ["a type byte other than 4", [0x05, 0x01, 0x02]],
    ["no type byte at all", []],
  ])("a binary WebSocket frame with %s closes the connection", async (_, bytes) => {
    const { ws, sid } = await openV3Ws(server.url);
    const gone = server.whenDisconnected((socket) => socket.client.session.id === sid);
    ws.send(Buffer.from(bytes));
    await ws.whenClosed();
    expect(await gone).toBe("parse error");
    await expectWitnessesWork();
  });

  it("a pong from a v3 client (the client pings, the server answers) closes its WebSocket", async () => {
    const { ws, sid } = await openV3Ws(server.url);
    const gone = server.whenDisconnected((socket) => socket.client.session.id === sid);
    ws.send("3");
    await ws.whenClosed();
    expect(await gone).toBe("parse error");
    await expectWitnessesWork();
  });

  it("a pong from a v3 polling client ends its session", async () => {
    const session = await V3PollingSession.open(server.url, PATH);
    const post = await session.send("3");
    expect(post.status).toBe(200);
    await expectSessionGone(session);
    await expectWitnessesWork();
  });

  it("a request with EIO=4 for a v3 session gets 400 Bad request, and the session lives on", async () => {
    const session = await V3PollingSession.open(server.url, PATH);
    const reply = await session.get("4");
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ code: 3, message: "Bad request" });
    const upgrade = await RawWs.refusal(wsUrl(server.url, PATH, { EIO: "4", sid: session.sid }));
    expect(upgrade.status).toBe(400);
    expect(JSON.parse(upgrade.body)).toEqual({ code: 3, message: "Bad request" });
    expect(await session.send('42["message","after"]')).toMatchObject({ status: 200, body: "ok" });
    expect(await session.getPackets()).toEqual(['42["message-back","after"]']);
    await expectWitnessesWork();
  });

  it("a request with EIO=3 for a v4 session gets 400 Bad request", async () => {
    const session = await PollingSession.open(server.url, PATH);
    const reply = await fetchBytes(pollingUrl(server.url, PATH, { EIO: "3", sid: session.sid }));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ code: 3, message: "Bad request" });
    await expectWitnessesWork();
  });

  it.each([
    ["no EIO at all", {}],
    ["EIO=2", { EIO: "2" }],
    ["EIO=abc", { EIO: "abc" }],
  ])(
    "a handshake with %s gets 400 Unsupported protocol version (no guessing v3)",
    async (_, query) => {
      const params = new URLSearchParams({ transport: "polling", ...query });
      const reply = await fetchBytes(`${server.url}${PATH}?${params}`);
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.body)).toEqual({ code: 5, message: "Unsupported protocol version" });
      await expectWitnessesWork();
    },
  );

  it("a JSONP handshake (j=0) gets 400 Transport unknown", async () => {
    const reply = await fetchBytes(v3PollingUrl(server.url, PATH, { j: "0" }));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ code: 0, message: "Transport unknown" });
    await expectWitnessesWork();
  });

  it("EIO=3 on a server without allowEIO3 gets 400 Unsupported protocol version", async () => {
    const strict = await startTestServer(cleanup);
    const polling = await fetchBytes(v3PollingUrl(strict.url, PATH));
    expect(polling.status).toBe(400);
    expect(JSON.parse(polling.body)).toEqual({ code: 5, message: "Unsupported protocol version" });
    const upgrade = await RawWs.refusal(wsUrl(strict.url, PATH, { EIO: "3" }));
    expect(upgrade.status).toBe(400);
    expect(JSON.parse(upgrade.body)).toEqual({ code: 5, message: "Unsupported protocol version" });
    const client = createV2Client(cleanup, strict.url, "websocket");
    const [error] = await nextV2(client, "connect_error");
    expect(error).toBeInstanceOf(Error);
    expect(strict.sio.engine.size).toBe(0);
    await expectWitnessesWork();
  });
});

// --- Engine.IO v3 heartbeat: the client pings ----------------------------------------------

describe("Engine.IO v3 heartbeat (pingInterval 300, pingTimeout 200)", () => {
  const PING_INTERVAL = 300;
  const PING_TIMEOUT = 200;
  /** Timers round to the millisecond; clocks start before the server's. */
  const SLACK = 2;
  const heartbeat = { allowEIO3: true, pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT };

  it("a raw WebSocket client that pings gets a pong each time and stays open", async () => {
    const short = await startTestServer(cleanup, { options: heartbeat });
    const ws = await RawWs.open(cleanup, wsUrl(short.url, PATH, { EIO: "3" }));
    const openedAt = performance.now();
    const open = (await ws.next()) as string;
    expect(JSON.parse(open.slice(1))).toMatchObject({
      pingInterval: PING_INTERVAL,
      pingTimeout: PING_TIMEOUT,
    });
    expect(await ws.next()).toBe("40");
    expect(await ws.next()).toBe('42["auth",{}]');
    // The client's own heartbeat (a 2.x client pings every pingInterval; any more often
    // is fine): eight pings span well over pingInterval + pingTimeout.
    const pinger = setInterval(() => ws.send("2"), PING_INTERVAL / 3);
    cleanup.add(() => clearInterval(pinger));
    for (let i = 0; i < 8; i++) expect(await ws.next()).toBe("3");
    clearInterval(pinger);
    expect(performance.now() - openedAt).toBeGreaterThan(PING_INTERVAL + PING_TIMEOUT);
    ws.send('42["message","still open"]');
    expect(await ws.next()).toBe('42["message-back","still open"]');
    // The server never pings a v3 client.
    expect(ws.received.filter((frame) => frame === "2")).toEqual([]);
  });

  it("a raw WebSocket client that never pings is dropped after pingInterval + pingTimeout", async () => {
    const short = await startTestServer(cleanup, { options: heartbeat });
    const openedAt = performance.now();
    const ws = await RawWs.open(cleanup, wsUrl(short.url, PATH, { EIO: "3" }));
    const gone = short.whenDisconnected();
    const { code } = await ws.whenClosed();
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(
      PING_INTERVAL + PING_TIMEOUT - SLACK,
    );
    expect(await gone).toBe("ping timeout");
    expect(code).toBe(1006);
    expect(ws.received).toHaveLength(3);
  });

  it("a raw polling client that never pings gets the close packet after pingInterval + pingTimeout", async () => {
    const short = await startTestServer(cleanup, { options: heartbeat });
    const openedAt = performance.now();
    const session = await V3PollingSession.open(short.url, PATH);
    expect(await session.getPackets()).toEqual(["1"]);
    expect(performance.now() - openedAt).toBeGreaterThanOrEqual(
      PING_INTERVAL + PING_TIMEOUT - SLACK,
    );
    const after = await session.get();
    expect(after.status).toBe(400);
    expect(JSON.parse(after.body)).toEqual({ code: 1, message: "Session ID unknown" });
  });

  it.each(MODES)(
    "a socket.io-client 2.x over %s stays connected on its own pings",
    async (_, mode) => {
      const short = await startTestServer(cleanup, { options: heartbeat });
      const openedAt = performance.now();
      const client = await connectV2Client(cleanup, short.url, mode);
      for (let i = 0; i < 3; i++) await waitFor(client.io.engine, "pong");
      expect(performance.now() - openedAt).toBeGreaterThan(PING_INTERVAL + PING_TIMEOUT);
      expect(await roundTripV2(client, "alive")).toEqual(["alive"]);
      expect(client.connected).toBe(true);
    },
  );
});

// --- Engine.IO v3 polling on the wire ------------------------------------------------------

describe("Engine.IO v3 polling wire format", () => {
  it("the handshake is a text payload <length>:0{…} with the open packet's exact length", async () => {
    const reply = await fetchBytes(v3PollingUrl(server.url, PATH));
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    const [, digits = ""] = /^(\d+):/.exec(reply.body) ?? [];
    const start = digits.length + 1;
    const open = reply.body.slice(start, start + Number(digits));
    expect(open).toMatch(/^0\{.*\}$/);
    expect(JSON.parse(open.slice(1))).toMatchObject({
      sid: expect.any(String),
      upgrades: ["websocket"],
      pingInterval: 10_000,
      pingTimeout: 5_000,
    });
    expect(parseTextPayload(reply.body)[0]).toBe(open);
  });

  it("the implicit CONNECT to / has no payload and is followed by the events of /", async () => {
    const session = await V3PollingSession.open(server.url, PATH);
    const packets = session.handshakePackets.slice(1);
    while (packets.length < 2) packets.push(...(await session.getPackets()));
    expect(packets).toEqual(["40", '42["auth",{}]']);
  });

  it("lengths count UTF-16 code units, not bytes, both ways", async () => {
    const session = await V3PollingSession.open(server.url, PATH);
    await drainHandshake(session);
    // 19 UTF-16 code units, 23 UTF-8 bytes.
    const sent = '42["message","€😀"]';
    expect(await session.post(`19:${sent}`)).toMatchObject({ status: 200, body: "ok" });
    const reply = await session.get();
    expect(reply.body).toBe('24:42["message-back","€😀"]');
  });

  it("with b64=1, binary travels as b4<base64> records in text payloads", async () => {
    const session = await V3PollingSession.open(server.url, PATH, { b64: "1" });
    await drainHandshake(session);
    const post = await session.send('451-["message",{"_placeholder":true,"num":0}]', "b4AQID");
    expect(post).toMatchObject({ status: 200, body: "ok" });
    const reply = await session.get();
    expect(reply.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    expect(reply.body).toBe(
      textPayload('451-["message-back",{"_placeholder":true,"num":0}]', "b4AQID"),
    );
  });

  it("without b64, a payload holding binary is a binary body: 0|1, length digits, 0xFF, bytes", async () => {
    const session = await V3PollingSession.open(server.url, PATH);
    await drainHandshake(session);
    const post = await session.post(
      binaryPayload('451-["message","€",{"_placeholder":true,"num":0}]', Buffer.from([4, 1, 2, 3])),
      "application/octet-stream",
    );
    expect(post).toMatchObject({ status: 200, body: "ok" });
    const reply = await session.get();
    expect(reply.headers.get("content-type")).toBe("application/octet-stream");
    const text = Buffer.from('451-["message-back","€",{"_placeholder":true,"num":0}]');
    // 54 characters but 56 bytes: the length of a text record counts its UTF-8 bytes.
    expect(text.length).toBe(56);
    expect(reply.bytes).toEqual(
      Buffer.concat([
        Buffer.from([0x00, 5, 6, 0xff]),
        text,
        Buffer.from([0x01, 4, 0xff, 0x04, 1, 2, 3]),
      ]),
    );
    // A payload without binary stays text for the same client.
    await session.send('42["message","plain"]');
    const plain = await session.get();
    expect(plain.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    expect(plain.body).toBe(textPayload('42["message-back","plain"]'));
  });

  it("over WebSocket, binary frames lead with the type byte 04 both ways", async () => {
    const { ws } = await openV3Ws(server.url);
    ws.send('451-["message",{"_placeholder":true,"num":0}]');
    ws.send(Buffer.from([0x04, 1, 2, 3]));
    expect(await ws.next()).toBe('451-["message-back",{"_placeholder":true,"num":0}]');
    expect(await ws.next()).toEqual(Buffer.from([0x04, 1, 2, 3]));
  });
});

/** Polls until the implicit CONNECT and the `auth` event of "/" have been collected. */
async function drainHandshake(session: V3PollingSession): Promise<void> {
  const packets = session.handshakePackets.slice(1);
  while (packets.length < 2) packets.push(...(await session.getPackets()));
  expect(packets).toEqual(["40", '42["auth",{}]']);
}

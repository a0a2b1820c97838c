import type { Socket as ClientSocket } from "socket.io-client";
import { beforeAll, describe, expect, it } from "vitest";
import { useCleanup, useFileCleanup } from "../helpers/cleanup.js";
import { errorBody, PollingSession } from "../helpers/raw-polling.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { connectClient, roundTrip } from "../helpers/sio-client.js";
import { startTestServer, type TestServer, whenRequest } from "../helpers/test-server.js";

const MAX = 1000;
const fileCleanup = useFileCleanup();
const cleanup = useCleanup();
let server: TestServer;
let witnesses: ClientSocket[];

beforeAll(async () => {
  server = await startTestServer(fileCleanup, { options: { maxHttpBufferSize: MAX } });
  witnesses = [
    await connectClient(fileCleanup, server.url, "websocket"),
    await connectClient(fileCleanup, server.url, "polling"),
  ];
});

/** Other clients of the same server keep working after somebody's bad input. */
async function expectWitnessesWork(): Promise<void> {
  for (const [i, witness] of witnesses.entries()) {
    expect(await roundTrip(witness, "still here", i)).toEqual(["still here", i]);
  }
}

async function expectSessionGone(session: PollingSession): Promise<void> {
  const reply = await session.get();
  expect(reply.status).toBe(400);
  expect(errorBody(reply)).toEqual({ code: 1, message: "Session ID unknown" });
}

async function openWs(): Promise<RawWs> {
  const ws = await RawWs.open(cleanup, wsUrl(server.url, "/socket.io/"));
  const open = await ws.next();
  expect(open).toMatch(/^0\{/);
  return ws;
}

/** A raw WebSocket connected to `/`, past the `auth` event; resolves with it and its socket id. */
async function openConnectedWs(): Promise<{ ws: RawWs; sid: string }> {
  const ws = await openWs();
  const sid = await ws.connectNamespace("/");
  expect(await ws.next()).toBe('42["auth",{}]');
  return { ws, sid };
}

describe("oversize input", () => {
  it("a POST declaring a Content-Length over maxHttpBufferSize gets 413 SWY_EIO_PAYLOAD_TOO_LARGE", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const reply = await session.post(`4${"x".repeat(MAX)}`);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toEqual({
      code: "SWY_EIO_PAYLOAD_TOO_LARGE",
      message: `Payload exceeds maxHttpBufferSize (${MAX} bytes)`,
    });
    await expectWitnessesWork();
  });

  it("a chunked POST without Content-Length that grows over maxHttpBufferSize gets 413", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const reply = await session.postChunked(["4", "x".repeat(MAX / 2), "x".repeat(MAX)]);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ code: "SWY_EIO_PAYLOAD_TOO_LARGE" });
    await expectWitnessesWork();
  });

  it("a POST of exactly maxHttpBufferSize bytes is accepted", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    // Noop packets: valid Engine.IO that the Socket.IO layer never sees.
    const body = `${"6\x1e".repeat(MAX / 2 - 1)}66`;
    expect(body.length).toBe(MAX);
    expect(await session.post(body)).toMatchObject({ status: 200, body: "ok" });
  });

  it("a WebSocket message over maxHttpBufferSize closes the connection with 1009", async () => {
    const ws = await openWs();
    ws.send(`4${"x".repeat(MAX)}`);
    expect((await ws.whenClosed()).code).toBe(1009);
    await expectWitnessesWork();
  });
});

describe("undecodable Engine.IO input", () => {
  it.each([
    ["an unknown packet type", "abc"],
    ["a bad record after a good one", "4hello\x1ebad"],
    ["a lone b with invalid base64", "b!!!"],
    ["an empty body", ""],
  ])("a polling POST with %s gets 400 and the session is gone", async (_, body) => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const reply = await session.post(body);
    expect(reply.status).toBe(400);
    expect(errorBody(reply)).toEqual({ code: 3, message: "Bad request" });
    await expectSessionGone(session);
    await expectWitnessesWork();
  });

  it("a POST with Content-Type application/octet-stream gets 400", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const reply = await session.post("4hello", { "Content-Type": "application/octet-stream" });
    expect(reply.status).toBe(400);
    expect(errorBody(reply)).toEqual({ code: 3, message: "Bad request" });
    await expectWitnessesWork();
  });

  it("a WebSocket text frame with an unknown packet type closes the connection", async () => {
    const ws = await openWs();
    ws.send("abc");
    await ws.whenClosed();
    await expectWitnessesWork();
  });

  it("a ping from a v4 client closes the connection (the server pings, not the client)", async () => {
    const ws = await openWs();
    ws.send("2");
    await ws.whenClosed();
    await expectWitnessesWork();
  });
});

describe("overlapping polling requests", () => {
  it("a second concurrent GET gets 400, the first gets a close packet, then the sid is unknown", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const arrived = whenRequest(server.http, "GET", session.sid);
    const first = session.get();
    await arrived;
    const second = await session.get();
    expect(second.status).toBe(400);
    expect(errorBody(second)).toEqual({ code: 3, message: "Bad request" });
    expect(await first).toMatchObject({ status: 200, body: "1" });
    await expectSessionGone(session);
    await expectWitnessesWork();
  });

  it("a second concurrent POST gets 400 and the session is gone", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const arrived = whenRequest(server.http, "POST", session.sid);
    // A POST whose body never ends keeps the first request in flight.
    const abort = new AbortController();
    cleanup.add(() => abort.abort());
    void session.postChunked(["40"], { end: false, signal: abort.signal }).catch(() => {});
    await arrived;
    const second = await session.post("40");
    expect(second.status).toBe(400);
    expect(errorBody(second)).toEqual({ code: 3, message: "Bad request" });
    await expectSessionGone(session);
    await expectWitnessesWork();
  });

  it("a pending GET that the client aborts ends the session", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const { socketId, rest } = await session.connectNamespace();
    expect(rest).toEqual(['42["auth",{}]']);
    const gone = server.whenDisconnected((socket) => socket.id === socketId);
    const arrived = whenRequest(server.http, "GET", session.sid);
    const abort = new AbortController();
    const pending = session.get({ signal: abort.signal }).catch((error: unknown) => error);
    await arrived;
    abort.abort();
    expect(await pending).toBeInstanceOf(Error);
    expect(await gone).toBe("transport close");
    await expectSessionGone(session);
    await expectWitnessesWork();
  });
});

describe("invalid Socket.IO packets close the session", () => {
  it("4abc as the very first packet closes the WebSocket", async () => {
    const ws = await openWs();
    ws.send("4abc");
    await ws.whenClosed();
    await expectWitnessesWork();
  });

  it.each([
    ["an unknown packet type", "4abc"],
    ["an EVENT whose payload is an object", "42{}"],
    ["an EVENT with broken JSON", "42abc["],
    ["an EVENT with an empty array", "42[]"],
    ["an EVENT named after a reserved event", '42["disconnect"]'],
    ["an ACK without an id", "43[1]"],
    ["a CONNECT_ERROR from the client", '44{"message":"x"}'],
    ["an EVENT for a namespace the client has not joined", '42/custom,["message"]'],
    ["a second CONNECT to the same namespace", "40"],
    ["a CONNECT whose auth is not an object", "40/custom,[1]"],
    [
      "a binary packet announcing more than maxAttachments (10)",
      `4511-["message"${placeholders(11)}]`,
    ],
  ])("%s (%s) after connecting", async (_, frame) => {
    const { ws, sid } = await openConnectedWs();
    const gone = server.whenDisconnected((socket) => socket.id === sid);
    ws.send(frame);
    await ws.whenClosed();
    expect(await gone).toBe("parse error");
    await expectWitnessesWork();
  });

  it("a binary frame without a pending binary packet closes the WebSocket", async () => {
    const { ws, sid } = await openConnectedWs();
    const gone = server.whenDisconnected((socket) => socket.id === sid);
    ws.send(Buffer.from([1, 2, 3]));
    await ws.whenClosed();
    expect(await gone).toBe("parse error");
    await expectWitnessesWork();
  });

  it("a text packet while attachments are expected closes the WebSocket", async () => {
    const { ws, sid } = await openConnectedWs();
    const gone = server.whenDisconnected((socket) => socket.id === sid);
    ws.send(`452-["message"${placeholders(2)}]`);
    ws.send(Buffer.from([1]));
    ws.send('42["message"]');
    await ws.whenClosed();
    expect(await gone).toBe("parse error");
    await expectWitnessesWork();
  });

  it("a placeholder pointing past the attachments closes the WebSocket", async () => {
    const { ws, sid } = await openConnectedWs();
    const gone = server.whenDisconnected((socket) => socket.id === sid);
    ws.send('451-["message",{"_placeholder":true,"num":1}]');
    ws.send(Buffer.from([1]));
    await ws.whenClosed();
    expect(await gone).toBe("parse error");
    await expectWitnessesWork();
  });

  it("an ACK for an id the server never used is ignored and the session stays open", async () => {
    const { ws } = await openConnectedWs();
    ws.send('43999["stray"]');
    ws.send('42["message","marker"]');
    // The marker's echo is the next frame: the stray ack caused neither a reply nor a close.
    expect(await ws.next()).toBe('42["message-back","marker"]');
    expect(ws.isOpen).toBe(true);
  });

  it("exactly maxAttachments (10) attachments are accepted and echoed", async () => {
    const { ws } = await openConnectedWs();
    ws.send(`4510-["message"${placeholders(10)}]`);
    for (let i = 0; i < 10; i++) ws.send(Buffer.from([i]));
    expect(await ws.next()).toBe(`4510-["message-back"${placeholders(10)}]`);
    for (let i = 0; i < 10; i++) expect(await ws.next()).toEqual(Buffer.from([i]));
  });

  it("an invalid Socket.IO packet over polling ends the session", async () => {
    const session = await PollingSession.open(server.url, "/socket.io/");
    const { socketId } = await session.connectNamespace();
    const gone = server.whenDisconnected((socket) => socket.id === socketId);
    expect(await session.post("42{}")).toMatchObject({ status: 200, body: "ok" });
    expect(await gone).toBe("parse error");
    await expectSessionGone(session);
    await expectWitnessesWork();
  });
});

function placeholders(count: number): string {
  let text = "";
  for (let i = 0; i < count; i++) text += `,{"_placeholder":true,"num":${i}}`;
  return text;
}

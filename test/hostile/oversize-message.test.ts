/**
 * Vector: messages over `server.limits.maxHttpBufferSize`, one at a time and in a flood,
 * over WebSocket and over polling. Each is refused before it is buffered whole, told to
 * its sender (a 1009 close naming the code and limit; a 413 with the coded body),
 * counted under SWY_EIO_PAYLOAD_TOO_LARGE and logged at warn with size, limit and
 * session id, at most ten lines a minute however many arrive. Other clients carry on.
 */
import { EventEmitter } from "node:events";
import pino from "pino";
import { io, type Socket } from "socket.io-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { type RunningSwitchyard, startSwitchyard } from "../../src/switchyard.js";
import { fetchText, pollingUrl } from "../helpers/raw-polling.js";
import { next } from "../helpers/switchyard-harness.js";
import { waitFor, waitForMatch } from "../helpers/wait-for.js";

const LIMIT = 10_000;

const CONFIG = `
server:
  limits: { maxHttpBufferSize: ${LIMIT} }
namespaces:
  /:
    events:
      join:
        action: join
        room: "{data.room}"
        allow: ["room:{id}"]
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.text}"]
`;

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** pino's level number for `warn`. */
const WARN = 40;

/** A Switchyard whose log lines are kept and announced as `line` events. */
async function start(): Promise<{
  server: RunningSwitchyard;
  lines: LogLine[];
  log: EventEmitter;
}> {
  const { config, diagnostics } = loadConfigFromString(CONFIG, "test.yaml", {});
  if (config === undefined) throw new Error(JSON.stringify(diagnostics));
  const lines: LogLine[] = [];
  const log = new EventEmitter();
  const destination = {
    write(text: string): void {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      log.emit("line", line);
    },
  };
  const logger = pino({ level: "info" }, destination);
  const server = await startSwitchyard(config, { port: 0, host: "127.0.0.1", log: logger });
  return { server, lines, log };
}

function oversizeLines(lines: readonly LogLine[]): LogLine[] {
  return lines.filter((line) => line.code === "SWY_EIO_PAYLOAD_TOO_LARGE");
}

async function tooLargeCount(url: string): Promise<number> {
  const { body } = await fetchText(`${url}/metrics`);
  const match = /^switchyard_errors_total\{code="SWY_EIO_PAYLOAD_TOO_LARGE"\} (\d+)$/m.exec(body);
  return match === null ? 0 : Number(match[1]);
}

/** What socket.io-client writes for `emit("publish", {room, text})` in namespace `/`. */
function packetSize(room: string, text: string): number {
  return Buffer.byteLength(`42${JSON.stringify(["publish", { room, text }])}`);
}

describe("a message over server.limits.maxHttpBufferSize", () => {
  let server: RunningSwitchyard;
  let lines: LogLine[];
  let log: EventEmitter;
  const clients: Socket[] = [];
  let url: string;

  beforeEach(async () => {
    ({ server, lines, log } = await start());
    url = `http://127.0.0.1:${server.port}`;
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  async function connect(transport: "websocket" | "polling"): Promise<Socket> {
    const socket = io(url, { forceNew: true, reconnection: false, transports: [transport] });
    clients.push(socket);
    await waitFor(socket, "connect");
    return socket;
  }

  /** A member of room:1 on WebSocket and one on polling, which must keep receiving. */
  async function bystanders(): Promise<Socket[]> {
    const members = [await connect("websocket"), await connect("polling")];
    for (const member of members) {
      expect(await member.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    }
    return members;
  }

  async function stillDelivered(members: readonly Socket[]): Promise<void> {
    const sender = await connect("websocket");
    expect(await sender.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
    const got = members.map((member) => next(member, "message"));
    sender.emit("publish", { room: "room:1", text: "still here" });
    expect(await Promise.all(got)).toEqual(members.map(() => ["still here"]));
  }

  it("over WebSocket: the sender's connection is closed 1009 naming the code and the limit; counted; logged at warn", async () => {
    const members = await bystanders();
    const attacker = await connect("websocket");
    const sid = attacker.io.engine.id;
    const before = await tooLargeCount(url);
    const text = "x".repeat(2 * LIMIT);
    const logged = waitForMatch<[LogLine]>(log, "line", (line) => line.code !== undefined);
    const gone = waitFor<[string, { context?: { code?: number; reason?: string } }]>(
      attacker,
      "disconnect",
    );
    attacker.emit("publish", { room: "room:1", text });

    const [reason, details] = await gone;
    expect(reason).toBe("transport close");
    expect(details.context?.code).toBe(1009);
    expect(String(details.context?.reason)).toBe(
      `SWY_EIO_PAYLOAD_TOO_LARGE: Payload exceeds maxHttpBufferSize (${LIMIT} bytes)`,
    );
    const [line] = await logged;
    expect(line).toMatchObject({
      level: WARN,
      code: "SWY_EIO_PAYLOAD_TOO_LARGE",
      sid,
      transport: "websocket",
      size: packetSize("room:1", text),
      limit: LIMIT,
    });
    expect(line.msg).toContain(`over server.limits.maxHttpBufferSize (${LIMIT} bytes)`);
    expect(await tooLargeCount(url)).toBe(before + 1);
    await stillDelivered(members);
  });

  it("over polling: the sender's POST gets 413 and its client a transport error; counted; logged at warn", async () => {
    const members = await bystanders();
    const attacker = await connect("polling");
    const sid = attacker.io.engine.id;
    const before = await tooLargeCount(url);
    const text = "y".repeat(2 * LIMIT);
    const logged = waitForMatch<[LogLine]>(log, "line", (line) => line.code !== undefined);
    const gone = waitFor<[string, { description?: unknown }]>(attacker, "disconnect");
    attacker.emit("publish", { room: "room:1", text });

    const [reason, details] = await gone;
    expect(reason).toBe("transport error");
    expect(details.description).toBe(413);
    const [line] = await logged;
    expect(line).toMatchObject({
      level: WARN,
      code: "SWY_EIO_PAYLOAD_TOO_LARGE",
      sid,
      transport: "polling",
      size: packetSize("room:1", text),
      limit: LIMIT,
    });
    expect(await tooLargeCount(url)).toBe(before + 1);
    await stillDelivered(members);
  });

  it("over polling by hand: the 413 carries the coded JSON body", async () => {
    const handshake = await fetchText(pollingUrl(url, "/socket.io/"));
    const sid = (JSON.parse(handshake.body.slice(1)) as { sid: string }).sid;
    const reply = await fetchText(pollingUrl(url, "/socket.io/", { sid }), {
      method: "POST",
      body: `4${"z".repeat(LIMIT)}`,
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toEqual({
      code: "SWY_EIO_PAYLOAD_TOO_LARGE",
      message: `Payload exceeds maxHttpBufferSize (${LIMIT} bytes)`,
    });
  });

  it("in a flood of 30 POSTs: every one is refused and counted, the log gets ten lines", async () => {
    const members = await bystanders();
    const handshake = await fetchText(pollingUrl(url, "/socket.io/"));
    const sid = (JSON.parse(handshake.body.slice(1)) as { sid: string }).sid;
    const before = await tooLargeCount(url);
    const body = `4${"f".repeat(LIMIT)}`;
    const replies = await Promise.all(
      Array.from({ length: 30 }, () =>
        fetchText(pollingUrl(url, "/socket.io/", { sid }), { method: "POST", body }),
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual(replies.map(() => 413));
    expect(await tooLargeCount(url)).toBe(before + 30);
    const logged = oversizeLines(lines);
    expect(logged).toHaveLength(10);
    expect(logged.every((line) => line.sid === sid && line.size === LIMIT + 1)).toBe(true);
    await stillDelivered(members);
  });
});

import { connect, type Socket as TcpSocket } from "node:net";
import { afterEach, expect, it } from "vitest";
import { Harness } from "../helpers/switchyard-harness.js";

const CONFIG = `
server:
  limits:
    maxQueuedBytes: 65536
    # The publisher sends 400 events as fast as the reader takes them.
    eventsPerSecond: 100000
    eventBurst: 100000
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}" }
      publish:
        action: broadcast
        room: "{data.room}"
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;

let harness: Harness;
let raw: TcpSocket | undefined;
afterEach(async () => {
  raw?.destroy();
  await harness.close();
});

/**
 * A WebSocket client that joins a room and then stops reading, written on a raw TCP
 * socket so nothing drains its receive buffer.
 */
async function stalledMember(port: number, room: string): Promise<TcpSocket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  );
  let seen = "";
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString("latin1");
      if (seen.includes('"sid"') && seen.includes("0{")) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
  });
  socket.write(maskedText("40"));
  socket.write(maskedText(`420["join",{"room":"${room}"}]`));
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      if (chunk.toString("latin1").includes("430")) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData);
  });
  socket.pause();
  return socket;
}

function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const header = Buffer.from([0x81, 0x80 | payload.length]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([header, mask, masked]);
}

it("disconnects a member that stops reading once its backlog passes maxQueuedBytes, and serves the others", async () => {
  harness = await Harness.start(CONFIG);
  raw = await stalledMember(harness.server.port, "busy");
  const publisher = await harness.connect({ transports: ["websocket"] });
  const reader = await harness.connect({ transports: ["websocket"] });
  await reader.emitWithAck("join", { room: "busy" });
  let received = 0;
  let onReceived = (): void => {};
  reader.on("message", () => {
    received++;
    onReceived();
  });
  const receivedAll = (count: number): Promise<void> =>
    new Promise((resolve) => {
      onReceived = () => {
        if (received >= count) resolve();
      };
      onReceived();
    });

  // 25 MiB in 64 KiB messages: far more than the loopback socket buffers hold, so
  // the stalled member's backlog passes the 64 KiB limit. The loop waits for the
  // reader every 4 messages, so a busy test process never lets the reader's own
  // backlog grow near the limit: only the member that stopped reading is cut off.
  const payload = "x".repeat(64 * 1024);
  const count = 400;
  for (let sent = 1; sent <= count; sent++) {
    publisher.emit("publish", { room: "busy", payload });
    if (sent % 4 === 0) await receivedAll(sent);
  }
  publisher.emit("publish", { room: "busy", payload: "after" });
  await receivedAll(count + 1);
  expect(received).toBe(count + 1);

  // Reading again, the stalled member finds its connection ended short of the stream.
  let bytes = 0;
  raw.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const closed = new Promise((resolve) => raw!.once("close", resolve));
  raw.resume();
  await closed;
  expect(bytes).toBeLessThan(count * payload.length);

  const metrics = await (await fetch(`${harness.url}/metrics`)).text();
  expect(metrics).toMatch(/switchyard_errors_total\{code="SWY_SESSION_SLOW_CONSUMER"\} 1/);
  expect(metrics).toMatch(/switchyard_sessions_closed_total\{reason="slow consumer"\} 1/);
}, 60_000);

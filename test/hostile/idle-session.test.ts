/**
 * Vector: a session that never joins a namespace, or leaves every one it joined, held
 * a connection (and its memory) open for good. Now such a session has
 * `connectTimeout` to join one (again) before it is closed.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { RawWs, wsUrl } from "../helpers/raw-ws.js";
import { Harness } from "../helpers/switchyard-harness.js";

const YAML = `
server:
  connectTimeout: 300
namespaces:
  /: {}
  /chat: {}
`;

describe("a session in no namespace", () => {
  const cleanup = useCleanup();
  let harness: Harness;
  beforeEach(async () => {
    harness = await Harness.start(YAML);
  });
  afterEach(() => harness.close());

  async function open(): Promise<RawWs> {
    const ws = await RawWs.open(cleanup, wsUrl(harness.url, "/socket.io/"), { autoPong: true });
    await ws.next(); // the open packet
    return ws;
  }

  it("is closed connectTimeout after it left its last namespace", async () => {
    const ws = await open();
    await ws.connectNamespace("/");
    await ws.connectNamespace("/chat");
    const left = Date.now();
    ws.send("41");
    ws.send("41/chat,");
    await ws.whenClosed();
    expect(Date.now() - left).toBeGreaterThanOrEqual(290);
    expect(harness.server.sio.engine.size).toBe(0);
  });

  it("is not closed once it joined a namespace again in time", async () => {
    const ws = await open();
    await ws.connectNamespace("/");
    ws.send("41");
    await ws.connectNamespace("/chat");
    // A session that left later, and stays out, is closed: the first one's time has passed too.
    const idle = await open();
    await idle.connectNamespace("/");
    idle.send("41");
    await idle.whenClosed();
    expect(ws.isOpen).toBe(true);
    expect(harness.server.sio.engine.size).toBe(1);
  });
});

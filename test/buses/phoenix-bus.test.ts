/**
 * The Phoenix-style test bus, proven by the real Phoenix client (the `phoenix` npm
 * package, phoenix.js) before the websocket kind is tested on it.
 */
import { type Channel, Socket } from "phoenix";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { useCleanup } from "../helpers/cleanup.js";
import { PhoenixBus } from "./phoenix-bus.js";

/** phoenix.js appends `/websocket` to the endpoint it is given. */
function endpoint(bus: PhoenixBus): string {
  return bus.url.replace(/\/websocket$/, "");
}

function join(channel: Channel): Promise<unknown> {
  return new Promise((resolve, reject) => {
    channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject);
  });
}

describe("the Phoenix-style test bus, driven by phoenix.js", () => {
  const cleanup = useCleanup();

  async function client(bus: PhoenixBus, heartbeatIntervalMs = 30_000): Promise<Socket> {
    const socket = new Socket(endpoint(bus), {
      transport: WebSocket as unknown as typeof globalThis.WebSocket,
      heartbeatIntervalMs,
      reconnectAfterMs: () => 50,
      rejoinAfterMs: () => 50,
    });
    socket.connect();
    cleanup.add(() => socket.disconnect());
    return socket;
  }

  it("joins, broadcasts a push to every member (the sender too), and replies ok", async () => {
    const bus = await PhoenixBus.start();
    cleanup.add(() => bus.close());
    const [a, b] = [await client(bus), await client(bus)];
    const [onA, onB] = [a.channel("room:1", {}), b.channel("room:1", {})];
    await Promise.all([join(onA), join(onB)]);
    expect(bus.members("room:1")).toBe(2);
    const heard = (channel: Channel) =>
      new Promise((resolve) => channel.on("shout", (payload) => resolve(payload)));
    const both = Promise.all([heard(onA), heard(onB)]);
    const status = await new Promise((resolve) =>
      onA.push("shout", { n: 1 }).receive("ok", () => resolve("ok")),
    );
    expect(status).toBe("ok");
    expect(await both).toEqual([{ n: 1 }, { n: 1 }]);
  });

  it("refuses a join with a reason, and answers heartbeats", async () => {
    const bus = await PhoenixBus.start();
    cleanup.add(() => bus.close());
    bus.refuseJoins((topic) => (topic.startsWith("secret:") ? "unauthorized" : undefined));
    const socket = await client(bus, 20);
    await expect(join(socket.channel("secret:1", {}))).rejects.toEqual({ reason: "unauthorized" });
    await new Promise<void>((resolve) => {
      const check = () =>
        (bus.received.get("heartbeat") ?? 0) >= 2 ? resolve() : setImmediate(check);
      check();
    });
    expect(socket.isConnected()).toBe(true);
  });

  it("crashes a topic's channels: phoenix.js joins again", async () => {
    const bus = await PhoenixBus.start();
    cleanup.add(() => bus.close());
    const socket = await client(bus);
    const channel = socket.channel("room:2", {});
    await join(channel);
    const rejoined = new Promise<void>((resolve) => {
      let joins = 0;
      socket.onMessage((message) => {
        const { event, topic } = message as { event?: string; topic?: string };
        if (event === "phx_reply" && topic === "room:2" && ++joins === 1) resolve();
      });
    });
    bus.crash("room:2");
    expect(bus.members("room:2")).toBe(0);
    await rejoined;
    expect(bus.members("room:2")).toBe(1);
    expect(bus.received.get("phx_join")).toBe(2);
  });
});

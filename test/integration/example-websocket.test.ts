import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as socketClusterClient from "socketcluster-client";
import { describe, expect, it } from "vitest";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { Harness, joinRoom, receives } from "../helpers/switchyard-harness.js";
import { until, within } from "../helpers/wait-for.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The example exactly as shipped; only WS_BUS_URL points it at the bus the example starts. */
const EXAMPLE = readFileSync(
  new URL("../../examples/websocket/switchyard.yaml", import.meta.url),
  "utf8",
);

/**
 * Runs examples/websocket/bus.ts as a reader of the README would (on a free port) and
 * resolves with the WS_BUS_URL it prints.
 */
async function startBus(cleanup: Cleanup): Promise<URL> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "examples/websocket/bus.ts", "--port", "0"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanup.add(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  let out = "";
  const url = await within(
    new Promise<string>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /export WS_BUS_URL=(\S+)/.exec(out);
        if (match !== null) resolve(match[1]!);
      });
      child.once("exit", (code) => reject(new Error(`bus.ts exited with ${code}: ${out}`)));
    }),
    "bus.ts printing WS_BUS_URL",
    20_000,
  );
  return new URL(url);
}

async function startExample(cleanup: Cleanup, busUrl: URL): Promise<Harness> {
  const harness = await Harness.start(EXAMPLE, { WS_BUS_URL: busUrl.href });
  cleanup.add(() => harness.close());
  return harness;
}

describe("examples/websocket/switchyard.yaml on the bus examples/websocket/bus.ts starts", () => {
  const cleanup = useCleanup();

  it("a Socket.IO member of room:42 and a socketcluster-client subscribed to room:42 see each other's messages exactly once", async () => {
    const busUrl = await startBus(cleanup);
    const harness = await startExample(cleanup, busUrl);
    const alice = await harness.connect({ transports: ["websocket"] });
    const bob = await harness.connect({ transports: ["websocket"] });
    await joinRoom(alice, "room:42");
    await joinRoom(bob, "room:42");

    const native = socketClusterClient.create({
      hostname: busUrl.hostname,
      port: Number(busUrl.port),
      autoReconnect: false,
    });
    cleanup.add(() => native.disconnect());
    const channel = native.subscribe("room:42");
    await within(channel.listener("subscribe").once(), "socketcluster-client subscribing");
    const seenOnBus: unknown[] = [];
    void (async () => {
      for await (const data of channel) seenOnBus.push(data);
    })();

    const seenByAlice: unknown[] = [];
    const seenByBob: unknown[] = [];
    alice.on("message", (payload: unknown) => seenByAlice.push(payload));
    bob.on("message", (payload: unknown) => seenByBob.push(payload));

    const atBob = receives(bob, "hi");
    expect(await alice.emitWithAck("publish", { room: "room:42", payload: "hi" })).toEqual({
      ok: true,
    });
    await within(atBob, "bob receiving alice's message");

    const fromBus = { text: "from socketcluster" };
    const atAlice = new Promise<void>((resolve) => alice.once("message", () => resolve()));
    await native.transmitPublish("room:42", fromBus);
    await within(atAlice, "alice receiving the socketcluster-client's message");

    // One more from each side: anything doubled would have arrived before them.
    const lastAtAlice = receives(alice, "last");
    const lastAtBob = receives(bob, "last");
    await native.transmitPublish("room:42", "last");
    await within(Promise.all([lastAtAlice, lastAtBob]), "the last message at both members");

    expect(seenByAlice).toEqual([fromBus, "last"]);
    expect(seenByBob).toEqual(["hi", fromBus, "last"]);
    expect(seenOnBus).toEqual(["hi", fromBus, "last"]);
  });

  it("keeps a room no route names (lobby) on the native core: nothing reaches the bus", async () => {
    const busUrl = await startBus(cleanup);
    const harness = await startExample(cleanup, busUrl);
    const alice = await harness.connect({ transports: ["websocket"] });
    const bob = await harness.connect({ transports: ["websocket"] });
    await joinRoom(alice, "lobby");
    await joinRoom(bob, "lobby");

    const native = socketClusterClient.create({
      hostname: busUrl.hostname,
      port: Number(busUrl.port),
      autoReconnect: false,
    });
    cleanup.add(() => native.disconnect());
    const channel = native.subscribe("lobby");
    await within(channel.listener("subscribe").once(), "socketcluster-client subscribing");
    const seenOnBus: unknown[] = [];
    void (async () => {
      for await (const data of channel) seenOnBus.push(data);
    })();

    const got = receives(bob, 7);
    expect(await alice.emitWithAck("publish", { room: "lobby", payload: 7 })).toEqual({ ok: true });
    await within(got, "bob receiving on the native core");
    // A publication on the bus's `lobby` after it: had the bridge published there, the
    // subscriber would have seen that first.
    await native.transmitPublish("lobby", "barrier");
    await until(() => seenOnBus.includes("barrier"), "the barrier on the bus");
    expect(seenOnBus).toEqual(["barrier"]);
  });
});

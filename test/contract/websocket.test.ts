import pino from "pino";
import { describe } from "vitest";
import { websocketFactory } from "../../src/egress/websocket/websocket-factory.js";
import { PhoenixBus } from "../buses/phoenix-bus.js";
import { SocketClusterBus } from "../buses/socketcluster-bus.js";
import { runBackendContract } from "./backend-contract.js";

// Built through the kind's factory from YAML-shaped settings, as the CLI builds it.
describe("against a real SocketCluster server, preset socketcluster", () => {
  runBackendContract("websocket", async () => {
    const bus = await SocketClusterBus.start();
    const backend = websocketFactory.create(
      "bus",
      { url: bus.url, preset: "socketcluster" },
      { log: pino({ level: "silent" }) },
    );
    return { backend, dispose: () => bus.close() };
  });
});

describe("against a Phoenix-style server, preset phoenix", () => {
  runBackendContract("websocket", async () => {
    const bus = await PhoenixBus.start();
    const backend = websocketFactory.create(
      "bus",
      { url: bus.url, preset: "phoenix" },
      { log: pino({ level: "silent" }) },
    );
    return { backend, dispose: () => bus.close() };
  });
});

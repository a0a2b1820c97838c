/**
 * Starts a SocketCluster server (the `socketcluster-server` package, as a real deployment
 * runs it) on 127.0.0.1, so examples/websocket/switchyard.yaml has a bus to carry its rooms,
 * and prints what to export. Stop it with Ctrl-C.
 *
 *   npx tsx examples/websocket/bus.ts [--port 8000]      (--port 0: any free port)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import * as socketClusterServer from "socketcluster-server";

const { values } = parseArgs({ options: { port: { type: "string", default: "8000" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port: expected 0-65535 (0: any free port), got ${values.port}`);
  process.exit(2);
}

const http = createServer();
const bus = socketClusterServer.attach(http, { path: "/socketcluster/" });
const listening = await new Promise<number>((resolve, reject) => {
  http.once("error", reject);
  http.listen(port, "127.0.0.1", () => resolve((http.address() as AddressInfo).port));
});
console.log(`SocketCluster server on 127.0.0.1:${listening}. In another shell:

export WS_BUS_URL=ws://127.0.0.1:${listening}/socketcluster/
npx switchyard start --config examples/websocket/switchyard.yaml

socketcluster-client: create({ hostname: "127.0.0.1", port: ${listening} }).subscribe("room:42")
Ctrl-C stops the server.`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void bus.close().then(() => http.close(() => process.exit(0)));
  });
}

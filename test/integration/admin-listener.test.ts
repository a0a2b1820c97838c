import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import type { SwitchyardConfig } from "../../src/mapping/types.js";
import {
  type RunningSwitchyard,
  type StartOptions,
  startSwitchyard,
} from "../../src/switchyard.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { fetchText } from "../helpers/raw-polling.js";

function compile(yaml: string): SwitchyardConfig {
  const { config, diagnostics } = loadConfigFromString(yaml, "t.yaml", {});
  if (config === undefined) throw new Error(JSON.stringify(diagnostics));
  return config;
}

/** A port something else already listens on. */
async function busyPort(cleanup: Cleanup): Promise<number> {
  const squatter: Server = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
  cleanup.add(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  return (squatter.address() as AddressInfo).port;
}

describe("the admin listener", () => {
  const cleanup = useCleanup();

  async function start(
    yaml: string,
    options: Partial<StartOptions> = {},
  ): Promise<RunningSwitchyard> {
    const log = pino({ level: "silent" });
    const server = await startSwitchyard(compile(yaml), {
      port: 0,
      host: "127.0.0.1",
      log,
      ...options,
    });
    cleanup.add(() => server.close());
    return server;
  }

  it("listens on the adminPort override rather than admin.port", async () => {
    const taken = await busyPort(cleanup);
    const server = await start(`admin: { port: ${taken} }\nnamespaces: { /: {} }`, {
      adminPort: 0,
    });
    expect(server.adminPort).not.toBe(taken);
    const reply = await fetchText(`http://127.0.0.1:${server.adminPort}/metrics`);
    expect(reply.status).toBe(200);
  });

  it("fails to start, with the listen error, when the admin port is taken", async () => {
    const taken = await busyPort(cleanup);
    const config = compile(`admin: { port: ${taken} }\nnamespaces: { /: {} }`);
    const log = pino({ level: "silent" });
    await expect(
      startSwitchyard(config, { port: 0, host: "127.0.0.1", log }),
    ).rejects.toMatchObject({ code: "SWY_LISTEN_IN_USE", cause: { code: "EADDRINUSE" } });
  });

  it("is absent without an admin block: adminPort is undefined and the public port serves /metrics", async () => {
    const server = await start("namespaces: { /: {} }", { adminPort: 0 });
    expect(server.adminPort).toBeUndefined();
    const reply = await fetchText(`http://127.0.0.1:${server.port}/metrics`);
    expect(reply.status).toBe(200);
    expect((await fetchText(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
  });

  it("is closed by close()", async () => {
    const server = await start("admin: { port: 0 }\nnamespaces: { /: {} }");
    const url = `http://127.0.0.1:${server.adminPort}/healthz`;
    expect((await fetchText(url)).status).toBe(200);
    await server.close();
    await expect(fetch(url)).rejects.toMatchObject({ cause: { code: "ECONNREFUSED" } });
  });

  it("stays where it is on a reload that changes admin, which logs that it applies at restart", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    const server = await startSwitchyard(compile("admin: { port: 0 }\nnamespaces: { /: {} }"), {
      port: 0,
      host: "127.0.0.1",
      log,
    });
    cleanup.add(() => server.close());
    const before = server.adminPort;

    await server.reload(compile("namespaces: { /: {} }"));

    expect(lines.map((line) => JSON.parse(line).msg)).toContain(
      "admin changed: it takes effect at the next restart",
    );
    expect(server.config.admin).toEqual({ host: "127.0.0.1", port: 0 });
    expect((await fetchText(`http://127.0.0.1:${before}/metrics`)).status).toBe(200);
    expect((await fetchText(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(404);
  });
});

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, ROOT, runCli } from "../helpers/cli.js";

const run = (args: string[]) => runCli(args);

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill("SIGTERM");
  child = undefined;
});

describe("the switchyard command", () => {
  it("validate exits 0 for the default configuration", async () => {
    const result = await run(["validate", "config/switchyard.yaml"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
  });

  it("validate exits 1 and prints file:line:col CODE for an invalid file", async () => {
    const result = await run(["validate", "test/fixtures/invalid/unknown-keys.yaml"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^test\/fixtures\/invalid\/unknown-keys\.yaml:\d+:\d+ SWY_CFG_/m);
  });

  it("validate exits 1 with SWY_CFG_READ for a missing file", async () => {
    const result = await run(["validate", "no/such/file.yaml"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("SWY_CFG_READ");
  });

  it("start serves the default configuration to a socket.io client and stops on SIGTERM", async () => {
    child = spawn(process.execPath, [BIN, "start", "--port", "0", "--host", "127.0.0.1"], {
      cwd: ROOT,
    });
    const port = await new Promise<number>((resolve) => {
      let out = "";
      child!.stdout!.on("data", (chunk) => {
        out += chunk;
        const match = /"port":(\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
    });
    const socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"] });
    try {
      expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({
        ok: true,
        room: "room:1",
      });
    } finally {
      socket.close();
    }
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    child = undefined;
  });

  it("start reloads its file on SIGHUP: a namespace added to it accepts connections", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-cli-"));
    const file = join(dir, "switchyard.yaml");
    writeFileSync(file, "namespaces:\n  /: {}\n");
    try {
      child = spawn(
        process.execPath,
        [BIN, "start", "--config", file, "--port", "0", "--host", "127.0.0.1", "--no-watch"],
        { cwd: ROOT },
      );
      let out = "";
      const logged = (pattern: RegExp) =>
        new Promise<RegExpExecArray>((resolve) => {
          const check = () => {
            const match = pattern.exec(out);
            if (match === null) return;
            child!.stdout!.off("data", check);
            resolve(match);
          };
          child!.stdout!.on("data", check);
          check();
        });
      child.stdout!.on("data", (chunk) => {
        out += chunk;
      });
      const port = Number((await logged(/"port":(\d+)/))[1]);

      writeFileSync(file, "namespaces:\n  /: {}\n  /late: {}\n");
      const reloaded = logged(/"msg":"configuration reloaded"/);
      child.kill("SIGHUP");
      await reloaded;
      const socket = io(`http://127.0.0.1:${port}/late`, { transports: ["websocket"] });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("connect_error", reject);
        });
      } finally {
        socket.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("switchyard start --admin-port", () => {
  it("serves /metrics on that port and not on the public one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-cli-"));
    const file = join(dir, "switchyard.yaml");
    // A port no test could bind: the flag must win over it.
    writeFileSync(file, "admin: { port: 1 }\nnamespaces:\n  /: {}\n");
    try {
      child = spawn(
        process.execPath,
        [BIN, "start", "-c", file, "--port", "0", "--host", "127.0.0.1", "--admin-port", "0"],
        { cwd: ROOT },
      );
      const listening = await new Promise<string>((resolve) => {
        let out = "";
        child!.stdout!.on("data", (chunk) => {
          out += chunk;
          if (out.includes('"msg":"switchyard listening"')) resolve(out);
        });
      });
      const port = Number(/"port":(\d+)/.exec(listening)?.[1]);
      const adminPort = Number(/"adminPort":(\d+)/.exec(listening)?.[1]);
      expect(adminPort).toBeGreaterThan(1);
      expect((await fetch(`http://127.0.0.1:${adminPort}/metrics`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 1 when the file has no admin block, rather than leave /metrics public", async () => {
    const result = await run([
      "start",
      "-c",
      "config/switchyard.yaml",
      "--port",
      "0",
      "--admin-port",
      "9100",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--admin-port needs an admin block in config/switchyard.yaml");
  });
});

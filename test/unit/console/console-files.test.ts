import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConsoleFiles } from "../../../src/console/console-files.js";
import { pathOf } from "../../../src/http-host.js";

describe("the migration console's files", () => {
  const servers: Server[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((done) => server.close(done));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function serve(files: ConsoleFiles): Promise<string> {
    const server = createServer((req, res) => {
      if (!files.handle(req, res, pathOf(req.url))) res.writeHead(418).end();
    });
    servers.push(server);
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("without a built page, answers 503 with its code under /console/ and leaves other paths alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "swy-console-page-"));
    dirs.push(dir);
    const files = new ConsoleFiles(dir);
    expect(files.missing).toBe(dir);
    const url = await serve(files);
    const res = await fetch(`${url}/console/`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      code: "SWY_CONSOLE_FILES_MISSING",
      message: "The migration console's page is not built on this node (npm run build)",
    });
    expect((await fetch(`${url}/elsewhere`)).status).toBe(418);
  });

  it("serves the build's three files, and the page loads nothing but them", async () => {
    const files = new ConsoleFiles();
    expect(files.missing).toBeUndefined();
    const url = await serve(files);
    const page = await (await fetch(`${url}/console/`)).text();
    const loads = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(loads.sort()).toEqual(["console.css", "console.js"]);
    for (const name of ["console.css", "console.js", "index.html"]) {
      expect((await fetch(`${url}/console/${name}`)).status, name).toBe(200);
    }
  });
});

/**
 * The official Socket.IO Admin UI, as Switchyard serves it at /admin-ui/ from the npm
 * package, in a real browser (headless Chromium): it logs in to one node of a two-node
 * cluster, lists both nodes, the sockets and rooms of both, and its disconnect button
 * disconnects a socket of the other node. Nothing is asked of any other host (no CDN).
 *
 * Screenshots: <system tmp>/switchyard-test-artifacts/admin-ui-*.png.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashSync } from "bcryptjs";
import type { Page } from "playwright-core";
import type { Socket } from "socket.io-client";
import { expect } from "vitest";
import { describeWithBrowser, useBrowser } from "../helpers/browser.js";
import { useCleanup } from "../helpers/cleanup.js";
import { dropKeysAfter, itWithRedis, REDIS_URL } from "../helpers/redis-server.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { waitFor } from "../helpers/wait-for.js";

const ARTIFACTS = join(tmpdir(), "switchyard-test-artifacts");
/** How long the page may take to show what it was sent (a deadline, not a pause). */
const SHOWN_WITHIN_MS = 10_000;

function yaml(serverId: string, key: string): string {
  return `
cluster: { redis: "${REDIS_URL}", key: ${key}, nodeTtl: 3000 }
adminUi:
  auth: { username: admin, password: "\${HASH}" }
  serverId: ${serverId}
namespaces:
  /:
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
`;
}

describeWithBrowser("the served Admin UI in a browser, against two nodes", () => {
  const cleanup = useCleanup();
  const browser = useBrowser();

  async function joined(node: Harness, room: string): Promise<Socket> {
    const socket = await node.connect();
    expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
    return socket;
  }

  /** Goes to one of the UI's pages (a hash route: the page stays, with its connection). */
  async function show(page: Page, route: string, expected: readonly string[], shot?: string) {
    await page.evaluate((hash) => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = hash;
    }, `#/${route}/`);
    for (const text of expected) {
      await page
        .getByRole("cell", { name: text, exact: true })
        .first()
        .waitFor({ timeout: SHOWN_WITHIN_MS });
    }
    if (shot !== undefined) await screenshot(page, shot);
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({
      path: join(ARTIFACTS, `admin-ui-${name}.png`),
      fullPage: true,
      animations: "disabled",
    });
  }

  // Two nodes of a cluster need the shared Redis.
  itWithRedis(
    "logs in, lists the sockets and rooms of both nodes, and disconnects with its button",
    async () => {
      const key = `swy-admin-ui-${randomBytes(4).toString("hex")}`;
      dropKeysAfter(cleanup, key);
      const env = { HASH: hashSync("s3cret-admin", 4) };
      const a = await Harness.start(yaml("node-a", key), env);
      cleanup.add(() => a.close());
      const b = await Harness.start(yaml("node-b", key), env);
      cleanup.add(() => b.close());
      const onA = await joined(a, "room:a");
      const onB = await joined(b, "room:b");

      const context = await browser().newContext();
      cleanup.add(() => context.close());
      const page = await context.newPage();
      const elsewhere: string[] = [];
      const origin = new URL(a.url).origin;
      page.on("request", (request) => {
        if (new URL(request.url()).origin !== origin) elsewhere.push(request.url());
      });
      await page.goto(`${a.url}/admin-ui/`);

      // The UI's login form: the node's own URL, and the credentials.
      await page.getByLabel("Server URL").fill(a.url);
      await page.getByLabel("Username").fill("admin");
      await page.getByLabel("Password").fill("s3cret-admin");
      await page.getByRole("button", { name: "Connect" }).click();
      await page.getByRole("dialog").waitFor({ state: "hidden", timeout: SHOWN_WITHIN_MS });

      await show(page, "servers", ["node-a", "node-b"], "servers");
      await show(page, "rooms", ["room:a", "room:b"], "rooms");
      await show(page, "sockets", [onA.id!, onB.id!], "sockets");

      // The disconnect button of node B's socket, on the sockets page of node A's UI.
      const idB = onB.id!;
      const disconnected = waitFor<[string]>(onB, "disconnect", SHOWN_WITHIN_MS);
      await page.getByRole("row").filter({ hasText: idB }).getByRole("button").click();
      expect((await disconnected)[0]).toBe("io server disconnect");
      // The click also opens the socket's page (the row's own link): back to the list,
      // where node A's socket stays and node B's is gone.
      await show(page, "sockets", [onA.id!]);
      await page
        .getByRole("cell", { name: idB, exact: true })
        .first()
        .waitFor({ state: "detached", timeout: SHOWN_WITHIN_MS });
      await screenshot(page, "disconnected");
      expect(onA.connected).toBe(true);
      expect(elsewhere).toEqual([]);
    },
  );
});

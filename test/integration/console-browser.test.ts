/**
 * The migration console at /console/ in a real browser (headless Chromium), against a
 * running Switchyard with real socket.io-client members and a Pusher backend (the
 * emulator, driven by the real SDKs): the page asks for the token once, its numbers
 * match the HTTP API, a room appears when a client joins, a shadow verdict changes as
 * evidence arrives, and a backend whose service goes down turns red. Its charts have
 * history, it works at a phone's size, and it asks nothing of any other host.
 *
 * Screenshots: <system tmp>/switchyard-test-artifacts/console-*.png.
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import type { Socket } from "socket.io-client";
import { expect, it } from "vitest";
import type { ConsoleSnapshot } from "../../src/console/console-types.js";
import type { PusherEmulator } from "../emulators/pusher/pusher-emulator.js";
import { APP, startEmulator } from "../emulators/pusher/test-support.js";
import { describeWithBrowser, useBrowser } from "../helpers/browser.js";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const ARTIFACTS = join(tmpdir(), "switchyard-test-artifacts");
/** How long the page may take to show what it was sent (a deadline, not a pause). */
const SHOWN_WITHIN_MS = 10_000;
const TOKEN = "console-browser-token-0123456789abcdef";
/** Messages a shadowed route needs before its verdict is more than insufficient-data. */
const MIN_MESSAGES = 5;

/**
 * The browser globals the functions run in the page read: the tests compile without the
 * DOM library, so each such function takes them from `globalThis` under this type.
 */
interface PageGlobals {
  readonly document: {
    querySelector(selector: string): {
      readonly textContent: string | null;
      getAttribute(name: string): string | null;
    } | null;
    querySelectorAll(selector: string): Iterable<{
      getBoundingClientRect(): { readonly left: number; readonly right: number };
    }>;
    readonly documentElement: { readonly scrollWidth: number };
  };
  readonly sessionStorage: { getItem(key: string): string | null };
  getComputedStyle(element: unknown): { readonly backgroundColor: string };
}

function yaml(): string {
  return `
api: { token: "\${TOKEN}" }
backends:
  pusher:
    kind: pusher
    settings:
      appId: "\${PUSHER_APP_ID}"
      key: "\${PUSHER_KEY}"
      secret: "\${PUSHER_SECRET}"
      host: "\${PUSHER_HOST}"
      port: \${PUSHER_PORT}
      useTLS: false
namespaces:
  /:
    routes:
      - room: "room:{id}"
        backend: native
        shadow:
          backend: pusher
          channel: "private-room-{id}"
          window: 2000
          verdict: { minMessages: ${MIN_MESSAGES}, maxP99GapMs: 5000 }
      - room: "live:{id}"
        backend: pusher
        channel: "private-live-{id}"
    events:
      join: { action: join, room: "{data.room}", ack: { ok: true } }
`;
}

describeWithBrowser("the migration console in a browser", () => {
  const cleanup = useCleanup();
  const browser = useBrowser();

  async function api<T>(harness: Harness, path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(`${harness.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    });
    expect(res.status, path).toBeLessThan(300);
    return (await res.json()) as T;
  }

  /** Resolves once `selector`'s text is `text` on the page. */
  async function shows(page: Page, selector: string, text: string): Promise<void> {
    await page
      .waitForFunction(
        ([sel, expected]) =>
          (globalThis as unknown as PageGlobals).document
            .querySelector(sel!)
            ?.textContent?.trim() === expected,
        [selector, text] as const,
        { timeout: SHOWN_WITHIN_MS },
      )
      .catch(async (error: Error) => {
        const got = await page
          .locator(selector)
          .first()
          .textContent({ timeout: 100 })
          .catch(() => "(absent)");
        throw new Error(`${selector} did not show "${text}" (it shows "${got}"): ${error.message}`);
      });
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({
      path: join(ARTIFACTS, `console-${name}.png`),
      fullPage: true,
      animations: "disabled",
    });
  }

  async function joined(harness: Harness, room: string): Promise<Socket> {
    const socket = await harness.connect({ transports: ["websocket"] });
    expect(await socket.emitWithAck("join", { room })).toEqual({ ok: true });
    return socket;
  }

  it("logs in once, matches the API, shows a join, a shadow verdict changing and a backend going down", async () => {
    let emulator: PusherEmulator | undefined = await startEmulator((task) => cleanup.add(task));
    const harness = await Harness.start(yaml(), {
      TOKEN,
      PUSHER_APP_ID: APP.id,
      PUSHER_KEY: APP.key,
      PUSHER_SECRET: APP.secret,
      PUSHER_HOST: emulator.host,
      PUSHER_PORT: String(emulator.port),
    });
    cleanup.add(() => harness.close());

    const context = await browser().newContext({ viewport: { width: 1280, height: 900 } });
    cleanup.add(() => context.close());
    const page = await context.newPage();
    const elsewhere: string[] = [];
    const origin = new URL(harness.url).origin;
    page.on("request", (request) => {
      if (new URL(request.url()).origin !== origin) elsewhere.push(request.url());
    });
    const failures: string[] = [];
    page.on("pageerror", (error) => failures.push(error.message));

    // The login form, and nothing else, until the token is given.
    await page.goto(`${harness.url}/console/`);
    await page.getByLabel("API token").waitFor({ timeout: SHOWN_WITHIN_MS });
    expect(await page.locator("#console").isHidden()).toBe(true);
    await page.getByLabel("API token").fill("not-the-token");
    await page.getByRole("button", { name: "Open" }).click();
    await shows(page, "#login-error", "That token is not this node's api.token.");
    await screenshot(page, "login");
    await page.getByLabel("API token").fill(TOKEN);
    await page.getByRole("button", { name: "Open" }).click();
    await page.locator("#console").waitFor({ state: "visible", timeout: SHOWN_WITHIN_MS });
    await shows(page, "#live-state", "live");
    expect(
      await page.evaluate(() =>
        (globalThis as unknown as PageGlobals).sessionStorage.getItem("switchyard-console-token"),
      ),
    ).toBe(TOKEN);

    // A room appears when a client joins; the numbers are the API's.
    const member = await joined(harness, "room:1");
    const received: unknown[] = [];
    member.on("message", (payload: unknown) => received.push(payload));
    await shows(page, 'tr[data-room="room:1"] [data-field="members"]', "1");
    const namespaces = await api<{ namespaces: { connections: number; rooms: number }[] }>(
      harness,
      "/api/v1/namespaces",
    );
    const rooms = await api<{ rooms: { room: string; members: number; backend: string }[] }>(
      harness,
      "/api/v1/rooms?namespace=/",
    );
    await shows(
      page,
      '#namespaces tr[data-namespace="/"] [data-field="sockets"]',
      String(namespaces.namespaces[0]!.connections),
    );
    await shows(
      page,
      '#namespaces tr[data-namespace="/"] [data-field="rooms"]',
      String(namespaces.namespaces[0]!.rooms),
    );
    await shows(page, '#namespaces tr[data-namespace="/"] [data-field="v4"]', "1");
    await shows(page, "#connections", "1");
    expect(rooms.rooms).toEqual([{ room: "room:1", members: 1, backend: "native" }]);
    await shows(page, 'tr[data-room="room:1"] [data-field="backend"]', "native");
    await shows(page, 'tr[data-room="room:1"] [data-field="shadow"]', "pusher · private-room-1");
    await shows(page, 'tr[data-room="room:1"] [data-field="route"]', "room:{id}");
    // The room patterns as written.
    expect(await page.locator('#routes [data-field="pattern"]').allTextContents()).toEqual([
      "room:{id}",
      "live:{id}",
    ]);
    await shows(page, "#rooms-count", "1");
    // A room the mapping puts on Pusher shows its backend and channel.
    await joined(harness, "live:7");
    await shows(page, 'tr[data-room="live:7"] [data-field="backend"]', "pusher");
    await shows(page, 'tr[data-room="live:7"] [data-field="channel"]', "private-live-7");
    await shows(page, "#rooms-count", "2");
    await shows(page, "#connections", "2");

    // A shadow verdict changes as its evidence arrives: the shadow's subscription is on
    // the emulator before the first message, so that every copy comes back.
    await until(
      () => (emulator!.channels(APP.id)["private-room-1"]?.subscriptionCount ?? 0) === 1,
      "the shadow's subscription on the emulator",
    );
    const routeId = "/ room:{id}: native → pusher";
    const verdict = `#shadow tr[data-route="${routeId}"] [data-field="verdict"]`;
    const publish = (n: number) =>
      api(harness, "/api/v1/publish", {
        method: "POST",
        body: JSON.stringify({ room: "room:1", event: "message", args: [{ n }] }),
      });
    await publish(0);
    await shows(page, verdict, "insufficient-data");
    await screenshot(page, "insufficient-data");
    for (let n = 1; n < MIN_MESSAGES; n++) await publish(n);
    await shows(
      page,
      `#shadow tr[data-route="${routeId}"] [data-field="matched"]`,
      String(MIN_MESSAGES),
    );
    await shows(page, verdict, "ready");
    // Members get the primary's messages, once each; never the shadow's copies.
    await until(() => received.length >= MIN_MESSAGES, `${MIN_MESSAGES} messages received`);
    expect(received).toEqual(Array.from({ length: MIN_MESSAGES }, (_, n) => ({ n })));
    const report = await api<{ routes: { verdict: string; counts: { matched: number } }[] }>(
      harness,
      "/api/v1/shadow",
    );
    expect(report.routes[0]).toMatchObject({
      verdict: "ready",
      counts: { matched: MIN_MESSAGES },
    });
    // Deliveries reached the chart, whose history the node keeps.
    await page.waitForFunction(
      () =>
        Number(
          (globalThis as unknown as PageGlobals).document
            .querySelector("#chart-deliveries")
            ?.getAttribute("data-points"),
        ) >= 2,
      undefined,
      { timeout: SHOWN_WITHIN_MS },
    );
    let snapshot = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
    // The deliveries land in the sample of the next tick at the latest.
    await until(async () => {
      snapshot = await api<ConsoleSnapshot>(harness, "/api/v1/console/snapshot");
      return snapshot.history!.some((sample) => sample.deliveries > 0);
    }, "a sample with deliveries");
    expect(snapshot.rooms.map((room) => room.room)).toEqual(["live:7", "room:1"]);
    await shows(page, '#backends tr[data-backend="pusher"] .status', "ready");
    await screenshot(page, "ready");

    // The page keeps its token for the tab: a reload does not ask again.
    await page.reload();
    await page.locator("#console").waitFor({ state: "visible", timeout: SHOWN_WITHIN_MS });
    expect(await page.locator("#login").isHidden()).toBe(true);
    await shows(page, 'tr[data-room="room:1"] [data-field="members"]', "1");

    // The Pusher service goes away: its backend turns red.
    await emulator.close();
    emulator = undefined;
    await page.waitForSelector('#backends tr[data-backend="pusher"][data-ready="false"]', {
      timeout: SHOWN_WITHIN_MS,
    });
    await shows(page, '#backends tr[data-backend="pusher"] .status', "down");
    const red = await page
      .locator('#backends tr[data-backend="pusher"] .status')
      .evaluate(
        (element) =>
          (globalThis as unknown as PageGlobals).getComputedStyle(element).backgroundColor,
      );
    expect(red).toBe("rgb(198, 40, 40)");
    expect(
      await page.locator('#backends tr[data-backend="pusher"] .reason').textContent(),
    ).toContain("pusher connection down");
    const health = await fetch(`${harness.url}/readyz`);
    expect(health.status).toBe(503);
    await screenshot(page, "backend-down");

    // A phone's screen: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const widths = await page.evaluate(() => {
      const { document } = globalThis as unknown as PageGlobals;
      return {
        page: document.documentElement.scrollWidth,
        cards: [...document.querySelectorAll(".card")].map((card) => {
          const box = card.getBoundingClientRect();
          return { left: Math.round(box.left), right: Math.round(box.right) };
        }),
      };
    });
    expect(widths.page).toBeLessThanOrEqual(390);
    expect(new Set(widths.cards.map((card) => card.left)).size).toBe(1);
    await screenshot(page, "phone");

    expect(failures).toEqual([]);
    expect(elsewhere).toEqual([]);
  });
});

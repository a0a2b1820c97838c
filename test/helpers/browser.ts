import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe } from "vitest";

/** Debian's Chromium, which .ci/run installs; playwright-core downloads no browser. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * `describe` for tests that drive a real browser. Without a Chromium there is no browser to
 * drive: skipped on such a machine, never in CI (CI=true), where .ci/run installs the Debian
 * package and a missing one must fail.
 */
export const describeWithBrowser = describe.skipIf(
  !existsSync(CHROMIUM) && process.env.CI === undefined,
);

/** A headless Chromium for the enclosing suite: launched before its tests, closed after. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  });
  afterAll(() => browser?.close());
  return () => {
    if (browser === undefined) throw new Error("the browser is not launched yet");
    return browser;
  };
}

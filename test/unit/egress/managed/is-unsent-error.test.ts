import { createServer } from "node:net";
import PusherRest from "pusher";
import { describe, expect, it } from "vitest";
import { isUnsentError } from "../../../../src/egress/managed/is-unsent-error.js";

/** A port nothing listens on: one that was free a moment ago. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address !== "object") throw new Error("no port");
  return address.port;
}

describe("telling a request that never left from one that may have arrived", () => {
  it("says unsent for the pusher SDK's error on a refused connection", async () => {
    const rest = new PusherRest({
      appId: "1",
      key: "k",
      secret: "s",
      host: "127.0.0.1",
      port: String(await closedPort()),
      useTLS: false,
    });
    const error = await rest.trigger("ch", "ev", {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isUnsentError(error)).toBe(true);
    expect(isUnsentError(new Error("wrapped", { cause: error }))).toBe(true);
  });

  it("says sent-or-maybe for resets, timeouts and HTTP answers", () => {
    expect(isUnsentError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))).toBe(
      false,
    );
    expect(
      isUnsentError({ error: { type: "aborted", message: "The user aborted a request." } }),
    ).toBe(false);
    expect(isUnsentError({ status: 503 })).toBe(false);
    expect(isUnsentError(undefined)).toBe(false);
  });
});

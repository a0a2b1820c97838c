/**
 * Vectors against `X-Request-Id` (docs/operations.md): the header a client sends is
 * copied into log lines and API answers only when it is a short plain id; anything a
 * client could forge into the log (spaces, quotes, JSON, a huge value) is dropped.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { useCleanup } from "../helpers/cleanup.js";
import { Harness } from "../helpers/switchyard-harness.js";

const TOKEN = "request-id-hostile-token-0123456789abcdef";

describe("X-Request-Id from a client", () => {
  const cleanup = useCleanup();

  it("is dropped from the log and the API's answer when it is not a plain id", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "debug" }, { write: (text: string) => lines.push(JSON.parse(text)) });
    const harness = await Harness.start(
      `api: { token: "${TOKEN}" }\nnamespaces: { /: {} }\n`,
      {},
      undefined,
      log,
    );
    cleanup.add(() => harness.close());
    for (const forged of ['bad id "level":60', "x".repeat(200)]) {
      lines.length = 0;
      await harness.connect({ extraHeaders: { "x-request-id": forged } });
      const opened = lines.find((line) => line.msg === "session opened");
      expect(opened, forged.slice(0, 20)).toBeDefined();
      expect(opened!.reqId).toBeUndefined();
      const res = await fetch(`${harness.url}/api/v1/namespaces`, {
        headers: { authorization: `Bearer ${TOKEN}`, "x-request-id": forged },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toBeNull();
    }
  });
});

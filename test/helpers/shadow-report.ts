import { expect } from "vitest";
import type { ShadowReport } from "../../src/router/shadow/report.js";
import type { Harness } from "./switchyard-harness.js";

export { zeroCounts } from "../../src/router/shadow/comparator.js";

/** A node's `GET /api/v1/shadow` (with `?channels=true` when asked), checked to be a 200. */
export async function shadowReport(
  harness: Harness,
  token: string,
  query = "",
): Promise<ShadowReport> {
  const res = await fetch(`${harness.url}/api/v1/shadow${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ShadowReport;
}

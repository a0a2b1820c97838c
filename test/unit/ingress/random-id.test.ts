import { describe, expect, it } from "vitest";
import { randomId } from "../../../src/ingress/engine/random-id.js";

describe("randomId (session ids drawn from a pool of random bytes)", () => {
  it("gives 20 base64url characters, all different across several refills of the pool", () => {
    const ids = Array.from({ length: 1000 }, () => randomId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

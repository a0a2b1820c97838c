import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERRORS, SwitchyardError } from "../../src/errors.js";

const docs = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");

describe("the error catalogue", () => {
  it("documents every code in docs/errors.md, and nothing else", () => {
    const documented = new Set(docs.match(/`SWY_[A-Z0-9_]+`/g)?.map((code) => code.slice(1, -1)));
    expect([...documented].sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it("gives every HTTP error a status, and the Engine.IO table its numbers 0 to 5", () => {
    for (const spec of Object.values(ERRORS)) {
      if (spec.surface === "http") expect(spec.status).toBeGreaterThanOrEqual(400);
    }
    const table = Object.values(ERRORS)
      .map((spec) => ("eioCode" in spec ? spec.eioCode : undefined))
      .filter((code) => code !== undefined)
      .sort();
    expect(table).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("fills the message template and serialises to {code, message}", () => {
    const error = new SwitchyardError("SWY_ROOM_NOT_ALLOWED", ["room:1"]);
    expect(error.toJSON()).toEqual({
      code: "SWY_ROOM_NOT_ALLOWED",
      message: "Room 'room:1' is not allowed by this rule",
    });
  });
});

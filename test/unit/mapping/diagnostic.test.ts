import { describe, expect, it } from "vitest";
import {
  formatDiagnostic,
  hasErrors,
  makeDiagnostic,
  sortDiagnostics,
} from "../../../src/mapping/diagnostic.js";

describe("diagnostics", () => {
  const at = (line: number, col: number) => ({ line, col });

  it("formats as file:line:col CODE message, warnings marked in the message", () => {
    const error = makeDiagnostic("c.yaml", at(3, 5), "SWY_CFG_UNKNOWN_KEY", ["prot"], {
      hint: "did you mean 'port'?",
    });
    expect(formatDiagnostic(error)).toBe(
      "c.yaml:3:5 SWY_CFG_UNKNOWN_KEY Unknown key 'prot' (did you mean 'port'?)",
    );
    const warning = makeDiagnostic("c.yaml", at(1, 1), "SWY_CFG_VALUE", ["Odd"], {
      severity: "warning",
    });
    expect(formatDiagnostic(warning)).toBe("c.yaml:1:1 SWY_CFG_VALUE warning: Odd");
    expect(hasErrors([warning])).toBe(false);
    expect(hasErrors([warning, error])).toBe(true);
  });

  it("sorts by position and drops exact duplicates", () => {
    const d = (line: number, col: number, message: string) =>
      makeDiagnostic("c.yaml", at(line, col), "SWY_CFG_VALUE", [message]);
    const sorted = sortDiagnostics([d(2, 1, "b"), d(1, 9, "a"), d(2, 1, "a"), d(1, 9, "a")]);
    expect(sorted.map(formatDiagnostic)).toEqual([
      "c.yaml:1:9 SWY_CFG_VALUE a",
      "c.yaml:2:1 SWY_CFG_VALUE a",
      "c.yaml:2:1 SWY_CFG_VALUE b",
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { CONFIG_SCHEMA, type JsonSchema } from "../../../src/mapping/schema.js";

/**
 * JSON as Biome formats it (objects expanded, arrays on one line when they fit in
 * 100 columns), so the committed file passes `biome check` unchanged.
 */
function toJson(value: unknown, indent = "", prefixLength = 0): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const hasObject = value.some(
      (v) => typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length > 0,
    );
    if (!hasObject) {
      const inline = `[${value.map((v) => toJson(v, indent)).join(", ")}]`;
      // +1 for the comma that may follow.
      if (!inline.includes("\n") && indent.length + prefixLength + inline.length + 1 <= 100) {
        return inline;
      }
    }
    const inner = `${indent}  `;
    return `[\n${value.map((v) => inner + toJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    const inner = `${indent}  `;
    const lines = entries.map(([k, v]) => {
      const key = `${JSON.stringify(k)}: `;
      return inner + key + toJson(v, inner, key.length);
    });
    return `{\n${lines.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

/** Every `properties` entry of the schema, with its path, skipping `if` conditions. */
function properties(schema: unknown, path = "#"): [string, JsonSchema][] {
  if (typeof schema !== "object" || schema === null) return [];
  const out: [string, JsonSchema][] = [];
  for (const [key, value] of Object.entries(schema)) {
    if (key === "if") continue;
    if (key === "properties") {
      for (const [name, prop] of Object.entries(value as Record<string, JsonSchema>)) {
        out.push([`${path}/properties/${name}`, prop]);
        out.push(...properties(prop, `${path}/properties/${name}`));
      }
    } else {
      out.push(...properties(value, `${path}/${key}`));
    }
  }
  return out;
}

describe("the configuration schema", () => {
  it("is what config/switchyard.schema.json holds (regenerate with vitest -u)", async () => {
    await expect(`${toJson(CONFIG_SCHEMA)}\n`).toMatchFileSnapshot(
      "../../../config/switchyard.schema.json",
    );
  });

  it("describes every property", () => {
    const list = properties(CONFIG_SCHEMA);
    expect(list.length).toBeGreaterThan(30);
    const undocumented = list
      .filter(([, prop]) => typeof prop.description !== "string" || prop.description === "")
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
  });

  it("forbids unknown keys in every mapping it describes", () => {
    const open = properties(CONFIG_SCHEMA)
      .filter(
        ([, prop]) =>
          prop.type === "object" || (Array.isArray(prop.type) && prop.type.includes("object")),
      )
      .filter(([, prop]) => prop.properties !== undefined && prop.additionalProperties !== false)
      .map(([path]) => path);
    expect(open).toEqual([]);
  });
});

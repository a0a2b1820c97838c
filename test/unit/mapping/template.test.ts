import { describe, expect, it } from "vitest";
import { compileTemplate, parseTemplate } from "../../../src/mapping/template.js";
import type { TemplateContext } from "../../../src/mapping/types.js";

const ctx = (over: Partial<TemplateContext> = {}): TemplateContext => ({
  args: [{ room: "room:1", payload: { text: "hi" }, n: 7, user: { id: "u1" } }, "second", [1, 2]],
  auth: { token: "t", user: { name: "ann" } },
  socketId: "sid-1",
  nsp: "/chat",
  room: "room:1",
  captures: { id: "1" },
  ...over,
});

describe("parseTemplate", () => {
  it("splits literal text and expressions", () => {
    const parsed = parseTemplate("room:{data.room}/{ socket.id }");
    expect(parsed.problems).toEqual([]);
    expect(parsed.parts).toEqual([
      "room:",
      { root: "data", path: ["room"], text: "data.room" },
      "/",
      { root: "socket", path: ["id"], text: "socket.id" },
    ]);
  });

  it("reads {{ and }} as literal braces", () => {
    expect(parseTemplate("{{data}} }}{{").parts).toEqual(["{data} }{"]);
  });

  it.each([
    [
      "{foo}",
      "Unknown template variable '{foo}' (known: data, args, auth, claims, socket.id, nsp, room, captures)",
    ],
    ["{dta.room}", "Unknown template variable '{dta.room}' (did you mean '{data.room}'?)"],
    ["x{data", "Template 'x{data': unclosed '{' (write '{{' for a literal '{')"],
    ["a}b", "Template 'a}b': single '}' (write '}}' for a literal '}')"],
    ["{}", "Empty expression '{}' (write '{{}}' for literal braces)"],
    [
      "{data..x}",
      "Malformed expression '{data..x}': write names separated by dots, such as {data.user.id}",
    ],
    ["{socket}", "'{socket}': socket has only 'id' ({socket.id})"],
    ["{nsp.x}", "'{nsp.x}': nsp is a string and has no properties"],
    [
      "{args.first}",
      "'{args.first}': args takes an index first, such as {args.0} or {args.1.name}",
    ],
    ["{captures.a.b}", "'{captures.a.b}': captures has one level, such as {captures.id}"],
    ["{data.constructor}", "'{data.constructor}': 'constructor' cannot be read by a template"],
  ])("reports %s", (text, message) => {
    expect(parseTemplate(text).problems.map((p) => p.message)).toEqual([message]);
  });

  it("reports every problem of one string, and summaries never quote the text", () => {
    const { problems } = parseTemplate("{secret1}-{secret2");
    expect(problems.map((p) => p.summary)).toEqual(["unknown variable", "unclosed '{'"]);
    for (const p of problems) expect(p.summary).not.toContain("secret");
  });
});

describe("compileTemplate", () => {
  it("yields the value with its type for a single expression", () => {
    expect(compileTemplate("{data.payload}")(ctx())).toEqual({ text: "hi" });
    expect(compileTemplate("{data.n}")(ctx())).toBe(7);
    const c = ctx();
    expect(compileTemplate("{ data }")(c)).toBe(c.args[0]);
  });

  it("reads every variable", () => {
    const c = ctx();
    expect(compileTemplate("{args}")(c)).toBe(c.args);
    expect(compileTemplate("{args.1}")(c)).toBe("second");
    expect(compileTemplate("{args.2.1}")(c)).toBe(2);
    expect(compileTemplate("{args.0.user.id}")(c)).toBe("u1");
    expect(compileTemplate("{auth}")(c)).toBe(c.auth);
    expect(compileTemplate("{auth.user.name}")(c)).toBe("ann");
    expect(compileTemplate("{socket.id}")(c)).toBe("sid-1");
    expect(compileTemplate("{nsp}")(c)).toBe("/chat");
    expect(compileTemplate("{room}")(c)).toBe("room:1");
    expect(compileTemplate("{captures}")(c)).toEqual({ id: "1" });
    expect(compileTemplate("{captures.id}")(c)).toBe("1");
    expect(compileTemplate("{data.user.id}.{data.a.b.c.d}")(c)).toBe("u1.");
  });

  it("yields undefined for a missing path instead of throwing", () => {
    const c = ctx({ args: [null, "s"], captures: undefined });
    expect(compileTemplate("{data.room}")(c)).toBeUndefined();
    expect(compileTemplate("{data.a.b}")(c)).toBeUndefined();
    expect(compileTemplate("{args.1.length}")(c)).toBeUndefined();
    expect(compileTemplate("{args.5.x.y.z}")(c)).toBeUndefined();
    expect(compileTemplate("{captures.id}")(c)).toBeUndefined();
    expect(compileTemplate("{data.room}")(ctx({ args: [] }))).toBeUndefined();
  });

  it("interpolates: strings as they are, containers as JSON, missing values as nothing", () => {
    const c = ctx();
    expect(compileTemplate("room:{data.room}")(c)).toBe("room:room:1");
    expect(compileTemplate("{data.n}!")(c)).toBe("7!");
    expect(compileTemplate("<{data.payload}|{data.none}|{args.1}>")(c)).toBe(
      '<{"text":"hi"}||second>',
    );
    expect(compileTemplate("{{{data.n}}}")(c)).toBe("{7}");
    expect(compileTemplate("{data.missing}{args.1}")(ctx({ args: [{ missing: null }, "x"] }))).toBe(
      "x",
    );
  });

  it("templates arrays and mappings member by member, and keeps constants constant", () => {
    const ack = compileTemplate({ ok: true, room: "{room}", tags: ["a", "{captures.id}"], n: 1 });
    expect(ack(ctx())).toEqual({ ok: true, room: "room:1", tags: ["a", "1"], n: 1 });
    expect(ack(ctx())).not.toBe(ack(ctx()));

    const constant = compileTemplate({ ok: true, list: [1, "two"] });
    expect(constant(ctx())).toBe(constant(ctx()));
    expect(Object.isFrozen(constant(ctx()))).toBe(true);
    expect(compileTemplate(42)(ctx())).toBe(42);
    expect(compileTemplate(null)(ctx())).toBeNull();
    expect(compileTemplate("plain text")(ctx())).toBe("plain text");
    expect(compileTemplate("")(ctx())).toBe("");
  });

  it("keeps a __proto__ key of a templated mapping as data", () => {
    const out = compileTemplate(JSON.parse('{"__proto__": "{data.n}"}'))(ctx()) as object;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toBe(7);
  });

  it("refuses to compile an invalid template", () => {
    expect(() => compileTemplate({ x: ["{nope}"] })).toThrow(/unknown variable/);
  });
});

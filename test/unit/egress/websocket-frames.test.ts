import { describe, expect, it } from "vitest";
import {
  compileFrame,
  type FrameTemplate,
  renderFrame,
  type TemplateProblem,
} from "../../../src/egress/websocket/frame-template.js";
import {
  classify,
  compileInboundRules,
  readFrame,
} from "../../../src/egress/websocket/inbound-rules.js";
import { parsePointer, resolvePointer } from "../../../src/egress/websocket/json-pointer.js";
import {
  checkWebsocketSettings,
  resolveWebsocketSettings,
} from "../../../src/egress/websocket/websocket-settings.js";

function frame(spec: unknown, allowed = ["channel", "event", "data", "ref"] as const) {
  const problems: TemplateProblem[] = [];
  const template = compileFrame(spec, [...allowed], problems);
  expect(problems).toEqual([]);
  return template as FrameTemplate;
}

describe("frame templates", () => {
  it("puts a lone placeholder's value in place, typed, and fills placeholders inside text", () => {
    const template = frame({
      json: { event: "#publish", cid: "{ref}", data: { channel: "{channel}", data: "{data}" } },
    });
    const text = renderFrame(template, { ref: 7, channel: "room:1", data: { n: [1, 2] } });
    expect(JSON.parse(text)).toEqual({
      event: "#publish",
      cid: 7,
      data: { channel: "room:1", data: { n: [1, 2] } },
    });
    const mixed = frame({ text: 'SEND {channel} {"id": {ref}} {data}' });
    expect(renderFrame(mixed, { channel: "a", ref: 3, data: { x: "y" } })).toBe(
      'SEND a {"id": 3} {"x":"y"}',
    );
  });

  it("turns a value into a string or JSON text on request, and writes $json as a string", () => {
    const template = frame({
      json: [
        "{ref|string}",
        { command: "message", identifier: { $json: { channel: "Room", room: "{channel}" } } },
        "{data|json}",
      ],
    });
    const rendered = JSON.parse(renderFrame(template, { ref: 12, channel: "42", data: [1] }));
    expect(rendered[0]).toBe("12");
    expect(rendered[1].identifier).toBe('{"channel":"Room","room":"42"}');
    expect(rendered[2]).toBe("[1]");
  });

  it("keeps a hostile data key __proto__ as data", () => {
    const template = frame({ json: { data: "{data}" } });
    const data = JSON.parse('{"__proto__": {"polluted": true}}');
    const text = renderFrame(template, { data });
    expect(text).toBe('{"data":{"__proto__":{"polluted":true}}}');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it("refuses a placeholder the frame may not read, and an unknown filter", () => {
    const problems: TemplateProblem[] = [];
    compileFrame({ json: { d: "{data}", c: "{chanel|upper}" } }, ["channel", "ref"], problems);
    expect(problems).toEqual([
      { path: ["json", "d"], message: expect.stringContaining("{data} is not a variable") },
      { path: ["json", "c"], message: expect.stringContaining("{chanel|upper} is not a variable") },
    ]);
  });
});

describe("inbound rules", () => {
  const rules = (spec: unknown[]) => {
    const problems: TemplateProblem[] = [];
    const compiled = compileInboundRules(spec, problems);
    expect(problems).toEqual([]);
    return compiled;
  };
  const read = (text: string) => {
    const frame = readFrame(text, 16);
    if (frame === "too_deep") throw new Error("too deep");
    return frame.value;
  };

  it("reads replies by ref, with the error when there is one", () => {
    const compiled = rules([
      { match: { "/rid": { exists: true } }, reply: { ref: "/rid", error: "/error" } },
    ]);
    expect(classify(compiled, read('{"rid":4}'), 16)).toEqual({ kind: "reply", ref: "4" });
    expect(classify(compiled, read('{"rid":5,"error":{"message":"nope"}}'), 16)).toEqual({
      kind: "reply",
      ref: "5",
      error: "nope",
    });
  });

  it("reads Phoenix-style replies whose success is a condition", () => {
    const compiled = rules([
      {
        match: { "/3": "phx_reply" },
        reply: { ref: "/1", ok: { "/4/status": "ok" }, error: "/4/response" },
      },
    ]);
    expect(
      classify(compiled, read('["1","1","t","phx_reply",{"status":"ok","response":{}}]'), 16),
    ).toEqual({
      kind: "reply",
      ref: "1",
    });
    expect(
      classify(
        compiled,
        read('["1","2","t","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]'),
        16,
      ),
    ).toEqual({ kind: "reply", ref: "2", error: '{"reason":"unauthorized"}' });
  });

  it("takes values through doubly encoded JSON, and matches text frames by the whole text", () => {
    const compiled = rules([
      { match: { "": "" }, respond: { text: "" } },
      {
        match: { "/type": { matches: "^message$" } },
        message: {
          channel: ["/identifier", "json", "/room"],
          event: { const: "chat" },
          data: "/message",
        },
      },
    ]);
    expect(classify(compiled, read(""), 16)).toMatchObject({ kind: "respond" });
    expect(
      classify(
        compiled,
        read('{"type":"message","identifier":"{\\"room\\":\\"42\\"}","message":{"t":1}}'),
        16,
      ),
    ).toEqual({ kind: "message", channel: "42", event: "chat", data: { t: 1 } });
    expect(classify(compiled, read("not json"), 16)).toEqual({ kind: "unmatched" });
  });

  it("calls a matched frame with unusable values malformed, never throws", () => {
    const compiled = rules([
      {
        match: { "/event": "#publish" },
        message: { channel: "/data/channel", data: "/data/data" },
      },
    ]);
    expect(classify(compiled, read('{"event":"#publish","data":{"channel":5}}'), 16)).toEqual({
      kind: "malformed",
      reason: "channel is not a non-empty string",
    });
    expect(classify(compiled, read('{"event":"#publish","data":"x"}'), 16)).toMatchObject({
      kind: "malformed",
    });
  });

  it("does not parse a frame nested deeper than the bound", () => {
    expect(readFrame(`${"[".repeat(40)}${"]".repeat(40)}`, 16)).toBe("too_deep");
  });

  it("reports pointers, regular expressions and actions that are wrong", () => {
    const problems: TemplateProblem[] = [];
    compileInboundRules(
      [
        { match: { rid: { exists: true } }, ignore: true },
        { match: { "/a": { matches: "(" } }, ignore: true },
        { match: {}, ignore: true, reply: { ref: "/x" } },
        { match: {} },
      ],
      problems,
    );
    expect(problems.map((p) => [p.path, p.message.split(":")[0]])).toEqual([
      [[0, "match", "rid"], "'rid' is not a JSON Pointer"],
      [[1, "match", "/a", "matches"], "not a regular expression"],
      [[2], "a rule takes one action, not reply and ignore"],
      [[3], "a rule needs one action"],
    ]);
  });
});

describe("JSON pointers", () => {
  it("unescape ~0 and ~1 and read own properties only", () => {
    const pointer = parsePointer("/a~1b/m~0n/0");
    expect(pointer).toEqual(["a/b", "m~n", "0"]);
    expect(resolvePointer({ "a/b": { "m~n": ["x"] } }, pointer as string[])).toBe("x");
    expect(resolvePointer({}, parsePointer("/constructor") as string[])).toBeUndefined();
    expect(resolvePointer({}, parsePointer("/__proto__") as string[])).toBeUndefined();
    expect(resolvePointer([1], parsePointer("/01") as string[])).toBeUndefined();
  });
});

describe("presets", () => {
  it.each(["socketcluster", "phoenix"] as const)("%s compiles without problems", (preset) => {
    const input = { url: "ws://127.0.0.1:1/x", preset };
    expect(checkWebsocketSettings(input)).toEqual([]);
    const settings = resolveWebsocketSettings(input);
    expect(settings.frames.hasReplies).toBe(true);
  });

  it("lets the backend's own keys take precedence over the preset's, frame by frame", () => {
    const settings = resolveWebsocketSettings({
      url: "ws://127.0.0.1:1/socket/websocket",
      preset: "phoenix",
      query: { token: "t" },
      frames: {
        publish: {
          json: ["{subscribeRef|string}", "{ref|string}", "{channel}", "shout", "{data}"],
        },
      },
    });
    expect(settings.url).toBe("ws://127.0.0.1:1/socket/websocket?vsn=2.0.0&token=t");
    expect(settings.displayUrl).toBe("ws://127.0.0.1:1/socket/websocket");
    const text = renderFrame(settings.frames.publish, {
      subscribeRef: 1,
      ref: 2,
      channel: "c",
      data: {},
    });
    expect(JSON.parse(text)).toEqual(["1", "2", "c", "shout", {}]);
    // The preset's subscribe frame is kept.
    expect(JSON.parse(renderFrame(settings.frames.subscribe, { ref: 3, channel: "c" }))).toEqual([
      "3",
      "3",
      "c",
      "phx_join",
      {},
    ]);
  });

  it("without a preset, says which frames are missing", () => {
    expect(checkWebsocketSettings({ url: "ws://127.0.0.1:1/" }).map((p) => p.message)).toEqual([
      "frames.subscribe is missing",
      "frames.publish is missing",
      "inbound rules are missing",
    ]);
  });
});

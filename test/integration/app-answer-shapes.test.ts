import pino from "pino";
import { io } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfigFromString } from "../../src/mapping/compile.js";
import { formatDiagnostic } from "../../src/mapping/diagnostic.js";
import { startSwitchyard } from "../../src/switchyard.js";
import { useCleanup } from "../helpers/cleanup.js";
import { type AppHandler, startApp } from "../helpers/http-app.js";
import { Harness } from "../helpers/switchyard-harness.js";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});
// Registered after the harness's hook, so it runs first: apps close before Switchyard.
const cleanup = useCleanup();

const app = (handler: AppHandler) => startApp(cleanup, handler);

const FORWARD = `
namespaces:
  /:
    events:
      report:
        action: forward
        url: "\${APP_URL}"
`;

type Ack = { ok: boolean; error?: { code: string; message: string } };

async function reportAck(answer: unknown): Promise<Ack> {
  const hook = await app(() => ({ body: answer }));
  harness = await Harness.start(FORWARD, { APP_URL: hook.url });
  const client = await harness.connect({ transports: ["websocket"] });
  return (await client.emitWithAck("report", { id: 7 })) as Ack;
}

describe("a forward rule's app answering the wrong shape", () => {
  it("acks SWY_FORWARD_BAD_RESPONSE for {ok: true}, listing the known keys and where the ack goes", async () => {
    expect(await reportAck({ ok: true })).toEqual({
      ok: false,
      error: {
        code: "SWY_FORWARD_BAD_RESPONSE",
        message:
          "The app's answer is malformed: unknown key 'ok' (known keys: ack, join, leave, emit, disconnect; what the client's ack receives goes in 'ack')",
      },
    });
  });

  it("suggests the key an answer misspelt", async () => {
    const ack = await reportAck({ acks: { ok: true } });
    expect(ack.error?.message).toContain(
      "unknown key 'acks' (did you mean 'ack'? known keys: ack, join, leave, emit, disconnect)",
    );
  });

  it("lists the keys of an emit item beside an unknown one", async () => {
    const ack = await reportAck({ emit: [{ room: "r", event: "e", data: 1 }] });
    expect(ack.error).toEqual({
      code: "SWY_FORWARD_BAD_RESPONSE",
      message:
        "The app's answer is malformed: unknown key 'emit[0].data' (known keys: room, event, args, exceptSender)",
    });
  });

  it("acks what the app puts in 'ack', the shape docs/mapping.md shows", async () => {
    expect(await reportAck({ ack: { ok: true, id: 7 } })).toEqual({ ok: true, id: 7 });
  });
});

describe("an auth webhook answering the wrong shape", () => {
  const WEBHOOK = `
namespaces:
  /:
    auth:
      webhook:
        url: "\${AUTH_URL}"
`;

  /** A Switchyard whose warnings land in `lines`, and a refusal from it. */
  async function refusedWith(answer: unknown) {
    const hook = await app(() => ({ body: answer }));
    const { config, diagnostics } = loadConfigFromString(WEBHOOK, "test.yaml", {
      AUTH_URL: hook.url,
    });
    if (config === undefined) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    const server = await startSwitchyard(config, { port: 0, host: "127.0.0.1", log });
    cleanup.add(() => server.close());
    const socket = io(`http://127.0.0.1:${server.port}/`, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
    });
    cleanup.add(() => socket.close());
    const refusal = await new Promise<{ message: string; data: unknown }>((resolve, reject) => {
      socket.once("connect", () => reject(new Error("connected, expected a refusal")));
      socket.once("connect_error", (error: Error & { data?: unknown }) =>
        resolve({ message: error.message, data: error.data }),
      );
    });
    // The refusal is sent after the warning is written: both are in by now.
    const warnings = lines.map(
      (line) => JSON.parse(line) as { msg: string; err?: { message: string } },
    );
    return { refusal, causes: warnings.map((w) => w.err?.message) };
  }

  it("refuses with SWY_AUTH_UNAVAILABLE and logs the unknown key with the known ones", async () => {
    const { refusal, causes } = await refusedWith({ ok: true, claim: { sub: "alice" } });
    expect(refusal).toEqual({
      message: "Authentication is unavailable",
      data: { code: "SWY_AUTH_UNAVAILABLE" },
    });
    expect(causes).toContain(
      "answer has an unknown key 'claim' (did you mean 'claims'? known keys: ok, claims, message, code)",
    );
  });

  it("logs the known keys when the answer has no boolean ok", async () => {
    const { refusal, causes } = await refusedWith({ allowed: true });
    expect(refusal.data).toEqual({ code: "SWY_AUTH_UNAVAILABLE" });
    expect(causes).toContain(
      "answer has an unknown key 'allowed' (known keys: ok, claims, message, code)",
    );
    const { causes: noOk } = await refusedWith({ claims: { sub: "alice" } });
    expect(noOk).toContain("answer has no boolean 'ok' (known keys: ok, claims, message, code)");
  });
});

/**
 * `switchyard shadow` as an operator runs it: the built CLI (`npm run build` first) as a
 * child process, against a Switchyard whose rooms live on the native core and are
 * shadowed on a second native backend, with socket.io-client publishing.
 */
import { createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { ShadowReport, ShadowRouteReport } from "../../src/router/shadow/report.js";
import {
  formatShadowReport,
  SHADOW_EXIT,
  shadowExitCode,
} from "../../src/router/shadow/report-table.js";
import { type Cleanup, useCleanup } from "../helpers/cleanup.js";
import { type CliRun, runCli } from "../helpers/cli.js";
import { Harness } from "../helpers/switchyard-harness.js";
import { until } from "../helpers/wait-for.js";

const TOKEN = "cli-shadow-token-0123456789abcdef";
const WRONG = "not-the-token-fedcba9876543210";

/** `room:{id}` on the native core, shadowed on `archive`, another native backend. */
function yaml(verdict = ""): string {
  return `
api: { token: "\${TOKEN}" }
backends:
  archive: { kind: native }
namespaces:
  /:
    routes:
      - room: "room:{id}"
        backend: native
        shadow: { backend: archive${verdict} }
    events:
      join: { action: join, room: "{data.room}", allow: ["room:{id}"] }
      publish:
        action: broadcast
        room: "{data.room}"
        allow: ["room:{id}"]
        emit: message
        args: ["{data.payload}"]
        requireMembership: false
`;
}

/**
 * Runs `switchyard shadow ARGS` to completion. The token comes from `env` only: the
 * caller's own SWITCHYARD_API_TOKEN is never inherited.
 */
function shadow(
  cleanup: Cleanup,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  const { SWITCHYARD_API_TOKEN: _, ...inherited } = process.env;
  return runCli(["shadow", ...args], { env: { ...inherited, ...env }, cleanup });
}

async function report(harness: Harness): Promise<ShadowReport> {
  const res = await fetch(`${harness.url}/api/v1/shadow`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ShadowReport;
}

/** A node with `count` messages published to room:1 and compared. */
async function nodeWithTraffic(cleanup: Cleanup, count: number, verdict = ""): Promise<Harness> {
  const harness = await Harness.start(yaml(verdict), { TOKEN });
  cleanup.add(() => harness.close());
  const socket = await harness.connect({ transports: ["websocket"] });
  expect(await socket.emitWithAck("join", { room: "room:1" })).toEqual({ ok: true });
  for (let n = 0; n < count; n++) {
    expect(await socket.emitWithAck("publish", { room: "room:1", payload: { n } })).toEqual({
      ok: true,
    });
  }
  await until(
    async () => (await report(harness)).routes[0]?.counts.matched === count,
    `${count} messages matched`,
  );
  return harness;
}

/** The table's heading and the row of each route, as heading → cell. */
function rows(stdout: string): Record<string, string>[] {
  const lines = stdout.split("\n");
  const at = lines.findIndex((line) => line.startsWith("namespace "));
  expect(at).toBeGreaterThan(0);
  const headings = lines[at]!.split(/ {2,}/);
  const body = lines.slice(at + 1, lines.indexOf("", at));
  return body.map((line) => {
    const cells = line.split(/ {2,}/);
    expect(cells).toHaveLength(headings.length);
    return Object.fromEntries(headings.map((heading, i) => [heading, cells[i]!]));
  });
}

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("switchyard shadow", () => {
  const cleanup = useCleanup();

  it("prints the route, its counts and reasons, and exits 3 on insufficient data", async () => {
    const harness = await nodeWithTraffic(cleanup, 5);
    const { since } = await report(harness);
    const result = await shadow(cleanup, ["--url", harness.url], { SWITCHYARD_API_TOKEN: TOKEN });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(SHADOW_EXIT.insufficientData);
    expect(result.stdout.split("\n")[0]).toBe(
      `shadow report of ${harness.url}, evidence since ${since}`,
    );
    const [row, ...others] = rows(result.stdout);
    expect(others).toEqual([]);
    expect(row).toMatchObject({
      namespace: "/",
      room: "room:{id}",
      "primary → shadow": "native → archive",
      matched: "5",
      missing: "0",
      extra: "0",
      duplicates: "0",
      reordered: "0",
      mismatched: "0",
      dropped: "0",
      errors: "0",
      verdict: "insufficient-data",
    });
    for (const p of ["p50 ms", "p95 ms", "p99 ms"]) expect(row![p]).toMatch(/^\d+\.\d$/);
    expect(result.stdout).toContain(
      "\nreasons:\n  / room:{id} (native → archive):\n    5 of the 1000 messages needed have been compared\n",
    );
  });

  it("exits 0 when every route is ready, and --json prints the API's report", async () => {
    const harness = await nodeWithTraffic(cleanup, 5, ", verdict: { minMessages: 5 }");
    const table = await shadow(cleanup, ["--url", harness.url, "--token", TOKEN]);
    expect(table.code).toBe(SHADOW_EXIT.ready);
    expect(rows(table.stdout)[0]).toMatchObject({ matched: "5", verdict: "ready" });
    expect(table.stdout).not.toContain("reasons:");

    const json = await shadow(cleanup, ["--url", harness.url, "--json"], {
      SWITCHYARD_API_TOKEN: TOKEN,
    });
    expect(json.code).toBe(SHADOW_EXIT.ready);
    expect(JSON.parse(json.stdout)).toEqual(await report(harness));
  });

  it("--reset starts a new window first and says so", async () => {
    const harness = await nodeWithTraffic(cleanup, 5, ", verdict: { minMessages: 5 }");
    const before = await report(harness);
    const result = await shadow(cleanup, ["--url", harness.url, "--reset"], {
      SWITCHYARD_API_TOKEN: TOKEN,
    });
    expect(result.code).toBe(SHADOW_EXIT.insufficientData);
    expect(result.stdout).toMatch(new RegExp(`^shadow evidence reset on ${harness.url}\n`));
    expect(rows(result.stdout)[0]).toMatchObject({ matched: "0", "p50 ms": "-" });
    const after = await report(harness);
    expect(Date.parse(after.since)).toBeGreaterThanOrEqual(Date.parse(before.since));
    expect(after.routes[0]!.counts.matched).toBe(0);

    // With --json, stdout holds the report alone.
    const json = await shadow(cleanup, ["--url", harness.url, "--reset", "--json"], {
      SWITCHYARD_API_TOKEN: TOKEN,
    });
    expect(json.stderr).toBe(`shadow evidence reset on ${harness.url}\n`);
    expect((JSON.parse(json.stdout) as ShadowReport).routes[0]!.verdict).toBe("insufficient-data");
  });

  it("says so and exits 3 when no shadowed route has seen traffic", async () => {
    const harness = await Harness.start(yaml(), { TOKEN });
    cleanup.add(() => harness.close());
    const result = await shadow(cleanup, ["--url", harness.url], { SWITCHYARD_API_TOKEN: TOKEN });
    expect(result.code).toBe(SHADOW_EXIT.insufficientData);
    expect(result.stdout).toContain("no shadowed route has seen traffic on this node");
  });

  it("a wrong token: exit 2, the API's code on stderr, no token in any output", async () => {
    const harness = await nodeWithTraffic(cleanup, 1);
    const ways: { args: string[]; env: Record<string, string> }[] = [
      { args: ["--token", WRONG], env: {} },
      { args: [], env: { SWITCHYARD_API_TOKEN: WRONG } },
    ];
    for (const how of ways) {
      const result = await shadow(cleanup, ["--url", harness.url, ...how.args], how.env);
      expect(result.code).toBe(SHADOW_EXIT.failed);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/ answered 401 SWY_API_UNAUTHORIZED: /);
      for (const output of [result.stdout, result.stderr]) {
        expect(output).not.toContain(WRONG);
        expect(output).not.toContain(TOKEN);
      }
    }
  });

  it("exits 2 when the API cannot be reached or does not answer in time", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const refused = await shadow(cleanup, ["--url", url, "--token", TOKEN]);
    expect(refused.code).toBe(SHADOW_EXIT.failed);
    expect(refused.stderr).toContain(`cannot reach GET ${url}/api/v1/shadow: `);
    expect(refused.stderr).not.toContain(TOKEN);

    // A listener that accepts connections and never answers.
    const held = new Set<Socket>();
    const silent = createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanup.add(() => new Promise((resolve) => silent.close(resolve)));
    cleanup.add(() => {
      for (const socket of held) socket.destroy();
    });
    const port = (silent.address() as { port: number }).port;
    const slow = await shadow(cleanup, [
      "--url",
      `http://127.0.0.1:${port}`,
      "--token",
      TOKEN,
      "--timeout",
      "200",
    ]);
    expect(slow.code).toBe(SHADOW_EXIT.failed);
    expect(slow.stderr).toContain("within 200 ms");
  });

  it("exits 2 on usage errors: no token, a bad URL, a bad timeout", async () => {
    for (const [args, message] of [
      [[], "no API token"],
      [["--token", TOKEN, "--url", "ftp://example.org"], "--url must be an http"],
      [["--token", TOKEN, "--timeout", "0"], "--timeout"],
      [["--token", TOKEN, "--bogus"], "unknown option"],
    ] as const) {
      const result = await shadow(cleanup, [...args]);
      expect(result.code, args.join(" ")).toBe(SHADOW_EXIT.failed);
      expect(result.stderr).toContain(message);
    }
  });
});

describe("the shadow table and exit code", () => {
  const route = (verdict: ShadowRouteReport["verdict"], room: string): ShadowRouteReport => ({
    namespace: "/",
    room,
    primary: "native",
    shadow: "pusher",
    counts: {
      matched: 1200,
      missing: 3,
      extra: 0,
      duplicates: 0,
      reordered: 0,
      mismatched: 0,
      shadowDropped: 0,
      shadowErrors: 0,
    },
    latencyGap: { p50: 1.25, p95: 12, p99: null },
    verdict,
    reasons: verdict === "ready" ? [] : [`why ${room}`],
  });
  const since = "2025-01-01T00:00:00.000Z";

  it("not-ready wins over insufficient-data, which wins over ready", () => {
    const ready = route("ready", "a");
    const notReady = route("not-ready", "b");
    const insufficient = route("insufficient-data", "c");
    expect(shadowExitCode({ since, routes: [ready] })).toBe(0);
    expect(shadowExitCode({ since, routes: [ready, insufficient] })).toBe(3);
    expect(shadowExitCode({ since, routes: [insufficient, notReady, ready] })).toBe(1);
    expect(shadowExitCode({ since, routes: [] })).toBe(3);
  });

  it("pads each column to its widest cell, numbers to the right", () => {
    const text = formatShadowReport(
      { since, routes: [route("ready", "room:{id}"), route("not-ready", "x\u001b[2J")] },
      "http://node",
    );
    const lines = text.split("\n");
    expect(lines[2]).toBe(
      "namespace  room       primary → shadow  matched  missing  extra  duplicates  reordered  mismatched  dropped  errors  p50 ms  p95 ms  p99 ms  verdict",
    );
    expect(lines[3]).toBe(
      "/          room:{id}  native → pusher      1200        3      0           0          0           0        0       0     1.3    12.0       -  ready",
    );
    // Control characters from the network never reach the terminal.
    expect(lines[4]).toMatch(/^\/ {10}x\?\[2J {6}native → pusher {6}1200 /);
    expect(text).toContain("\nreasons:\n  / x?[2J (native → pusher):\n    why x?[2J\n");
    expect(text).not.toContain("\u001b");
  });
});

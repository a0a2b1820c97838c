/**
 * The routing micro-benchmark: room → (backend, channel) lookups per second with
 * 1,000 routes, as `npm run bench` runs it first (and `--only routing` alone).
 *
 * Three ways to look a room up:
 * - table: the compiled routing table, for a room with no local members (a publish
 *   from the API, a broadcast without membership): the exact map, the prefix trie,
 *   the candidate patterns, and the channel rendered and escaped;
 * - bound: a room with local members, whose binding the router keeps (what a
 *   client's broadcast to its own room costs);
 * - naive: the same routes as a list of patterns tried in order, the first-match
 *   design a table without an index would have (the comparison point).
 */

import { performance } from "node:perf_hooks";
import type { ChannelNaming } from "../src/egress/channel-naming.js";
import { NativeBackend } from "../src/egress/native/native-backend.js";
import { nativeFactory } from "../src/egress/native/native-factory.js";
import { BackendRegistry } from "../src/egress/registry.js";
import { loadConfigFromString } from "../src/mapping/compile.js";
import { formatDiagnostic } from "../src/mapping/diagnostic.js";
import { compileRoomPattern } from "../src/mapping/pattern.js";
import type { RouteTable } from "../src/mapping/types.js";
import { ChannelBindings } from "../src/router/channel-bindings.js";

/** Pusher's channel-name rules on an in-process kind, so lookups render and escape channels. */
const NAMING: ChannelNaming = {
  maxLength: 164,
  allowedText: "A-Z a-z 0-9 _ - = @ , . ;",
  escapeChar: "=",
  isAllowed: (char) => /^[A-Za-z0-9_\-=@,.;]$/.test(char),
};

const KINDS = new BackendRegistry().register(nativeFactory).register({
  kind: "bus",
  settingsSchema: { type: "object" },
  channelNaming: NAMING,
  create: (name) => new NativeBackend(name),
});

export const ROUTES = 1_000;
const TENANTS = 300;

/**
 * 1,000 routes the way a large app writes them: 300 tenants with a pattern for
 * their rooms and one for their direct messages, 399 exact rooms, and a catch-all.
 */
function routesYaml(): string {
  const lines = ["backends:", "  bus: { kind: bus }", "namespaces:", "  /:", "    routes:"];
  for (let t = 0; t < TENANTS; t++) {
    lines.push(
      `      - { room: "t${t}:room:{id}", backend: bus, channel: "private-t${t}-room-{id}" }`,
    );
    lines.push(
      `      - { room: "t${t}:dm:{a}:{b}", backend: bus, channel: "private-t${t}-dm-{a}-{b}" }`,
    );
  }
  for (let i = 0; i < ROUTES - 2 * TENANTS - 1; i++) {
    lines.push(`      - { room: "lobby-${i}", backend: native }`);
  }
  lines.push(`      - { room: "*", backend: bus, channel: "other-{room}" }`);
  return lines.join("\n");
}

/** Rooms that exercise every kind of route: tenant rooms and DMs, lobbies, strays. */
function room(i: number): string {
  const t = i % TENANTS;
  switch (i % 8) {
    case 0:
      return `lobby-${i % (ROUTES - 2 * TENANTS - 1)}`;
    case 1:
      return `t${t}:dm:user${i}:user${i + 1}`;
    case 2:
      return `stray:${i}`;
    default:
      return `t${t}:room:${i}`;
  }
}

export interface RoutingResult {
  readonly routes: number;
  readonly tablePerSec: number;
  readonly boundPerSec: number;
  readonly naivePerSec: number;
}

/** Runs `lookup` over `rooms` for about `ms`, returning lookups per second. */
function rate(rooms: readonly string[], lookup: (room: string) => unknown, ms: number): number {
  let sink = 0;
  let done = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 10_000; i++) {
      if (lookup(rooms[(done + i) % rooms.length]!) !== undefined) sink += 1;
    }
    done += 10_000;
    now = performance.now();
  }
  if (sink < 0) console.log(sink); // keeps the loop's results alive
  return done / ((now - start) / 1000);
}

/** Measures the three lookups; `ms` per measurement after an equal warmup. */
export function runRoutingBench(ms = 1_000): RoutingResult {
  const { config, diagnostics } = loadConfigFromString(
    routesYaml(),
    "routing-bench.yaml",
    {},
    KINDS,
  );
  if (config === undefined) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
  const table: RouteTable = config.namespaces.get("/")!.routes;

  const rooms = Array.from({ length: 200_000 }, (_, i) => room(i));
  // 10,000 rooms with local members, bound the way the router binds them.
  const bindings = new ChannelBindings();
  const backend = new NativeBackend("bus");
  const bound = rooms.slice(0, 10_000);
  for (const r of bound) {
    const placed = table.resolve(r);
    if (placed.ok)
      bindings.bind({
        nsp: "/",
        room: r,
        backend,
        channel: placed.channel,
        rename: placed.rename,
        ready: Promise.resolve(),
        inflight: 0,
        onIdle: undefined,
      });
  }
  const naive = naiveTable();
  const resolve = (r: string) => table.resolve(r);
  const lookupBound = (r: string) => bindings.get("/", r);
  rate(rooms, resolve, ms);
  const tablePerSec = rate(rooms, resolve, ms);
  rate(bound, lookupBound, ms);
  const boundPerSec = rate(bound, lookupBound, ms);
  rate(rooms, naive, ms);
  const naivePerSec = rate(rooms, naive, ms);
  return { routes: ROUTES, tablePerSec, boundPerSec, naivePerSec };
}

/** First match over a list, in the table's precedence order: what an unindexed table does. */
function naiveTable(): (room: string) => unknown {
  const patterns: string[] = [];
  for (let i = 0; i < ROUTES - 2 * TENANTS - 1; i++) patterns.push(`lobby-${i}`);
  for (let t = 0; t < TENANTS; t++) patterns.push(`t${t}:room:{id}`, `t${t}:dm:{a}:{b}`);
  const compiled = patterns.map(compileRoomPattern);
  return (r) => {
    for (const pattern of compiled) {
      const captures = pattern.match(r);
      if (captures !== undefined) return captures;
    }
    return "*";
  };
}

export function formatRouting(result: RoutingResult): string {
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const ns = (perSec: number) => (1e9 / perSec).toFixed(0);
  return [
    `Routing: room → backend and channel, ${result.routes.toLocaleString("en-US")} routes`,
    `  table (room without local members, channel rendered): ${f(result.tablePerSec)} lookups/s (${ns(result.tablePerSec)} ns)`,
    `  bound (room with local members):                      ${f(result.boundPerSec)} lookups/s (${ns(result.boundPerSec)} ns)`,
    `  naive first-match list, for comparison:                ${f(result.naivePerSec)} lookups/s (${ns(result.naivePerSec)} ns); table = ${(result.tablePerSec / result.naivePerSec).toFixed(1)}× naive`,
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(formatRouting(runRoutingBench()));
}

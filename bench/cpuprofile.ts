/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, e.g. a server of `bench/run.ts
 * --node-args=--cpu-prof --cpu-prof-dir DIR`): self time by function and by file, and the
 * inclusive time of the functions named with `--focus`.
 *
 *   npx tsx bench/cpuprofile.ts DIR/CPU.*.cpuprofile [--top 25] [--focus flush,writeGeneric]
 *     [--last SEC | --first SEC]
 *
 * Times are shares of the samples taken while the process was busy (`(idle)` left out), so two
 * profiles of different lengths compare; `(garbage collector)` is V8's GC, `(program)` native
 * work V8 cannot attribute (libuv, syscalls made outside JavaScript). `--last SEC` keeps the
 * samples of the profile's last SEC seconds only (e.g. an idle phase at the end of a run);
 * `--first SEC` its first SEC seconds only (e.g. the connect phase at the start of one).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  startTime: number;
  endTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  options: {
    top: { type: "string", default: "25" },
    focus: { type: "string" },
    last: { type: "string" },
    first: { type: "string" },
  },
  allowPositionals: true,
});
const top = Number(values.top);
const focus = values.focus?.split(",").filter((f) => f !== "") ?? [];
const lastUs = values.last === undefined ? Number.POSITIVE_INFINITY : Number(values.last) * 1e6;
const firstUs = values.first === undefined ? Number.POSITIVE_INFINITY : Number(values.first) * 1e6;

for (const file of positionals) summarise(file);

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const short = url.replace(/^.*\/(node_modules\/|dist\/|src\/)/, "$1").replace(/^node:/, "");
  return `${functionName || "(anonymous)"} ${short}${url ? `:${lineNumber + 1}` : ""}`;
}

function summarise(file: string): void {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let busy = 0;
  let idle = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (profile.endTime - at > lastUs || at - profile.startTime > firstUs) return;
    if (byId.get(id)?.callFrame.functionName === "(idle)") {
      idle += dt;
      return;
    }
    busy += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  console.log(`${file}: ${(busy / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle`);

  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const key = label(node);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const where = node.callFrame.url
      ? node.callFrame.url.replace(/^.*\/(node_modules\/[^/]+|dist|src)\//, "$1/")
      : node.callFrame.functionName;
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  }
  const print = (title: string, m: Map<string, number>) => {
    console.log(`  ${title}`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`  ${pct(us)}  ${k}`);
    }
  };
  print("self time by function", byFunction);
  print("self time by file", byFile);

  if (focus.length > 0) {
    // Inclusive: a sample counts once for a function however deep it recurses.
    const inclusive = new Map<string, number>();
    for (const [id, us] of self) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const name = byId.get(at)!.callFrame.functionName;
        if (focus.includes(name) && !seen.has(name)) {
          seen.add(name);
          inclusive.set(name, (inclusive.get(name) ?? 0) + us);
        }
      }
    }
    console.log("  inclusive time");
    for (const name of focus) console.log(`  ${pct(inclusive.get(name) ?? 0)}  ${name}`);
  }
  console.log("");
}

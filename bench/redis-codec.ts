/**
 * CPU per message of decoding a broadcast that another node published on Redis (the
 * receiving node's first step, before any socket sees it), in process: the `notepack.io`
 * decode alone, then the classic codec's whole decode (the same decode plus the checks of
 * src/egress/native/redis/cluster-codec.ts).
 *
 *   npx tsx bench/redis-codec.ts [--count 1000000] [--rounds 3]
 *
 * Prints µs per message for each round, CPU from `process.cpuUsage`.
 */
import { parseArgs } from "node:util";
import { decode, encode } from "notepack.io";
import { ClassicCodec } from "../src/egress/native/redis/classic-codec.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    rounds: { type: "string", default: "3" },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);

// What a socket.io node or a Switchyard node publishes for `io.to("room:42").emit("message", <100 B>)`.
const payload = encode([
  "another-node",
  { type: 2, data: ["message", "x".repeat(100)], nsp: "/" },
  { rooms: ["room:42"], except: [], flags: {} },
]);
const codec = new ClassicCodec("socket.io", "this-node");

function measure(label: string, run: () => unknown): void {
  const started = process.cpuUsage();
  for (let i = 0; i < count; i++) run();
  const used = process.cpuUsage(started);
  console.log(`${label.padEnd(28)} ${((used.user + used.system) / count).toFixed(3)} µs/message`);
}

console.log(
  `${count.toLocaleString("en-US")} decodes of a ${payload.length}-byte broadcast, node ${process.version}`,
);
for (let round = 0; round < rounds; round++) {
  measure("notepack.io decode", () => decode(payload));
  measure("classic codec decode", () => codec.decode("/", "broadcast", payload));
}

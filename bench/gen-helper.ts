/**
 * A generator helper process (started by bench/gen-helpers.ts): holds part of the fleet's
 * passive members, with the same client code as the main generator, and answers its requests
 * over the IPC channel. Exits when that channel closes, so it never outlives the harness.
 */

import type { HelperRequest, HelperResponse } from "./gen-helpers.js";
import { Fleet, type FleetOptions } from "./generator.js";

const options = JSON.parse(process.env.SWITCHYARD_BENCH_FLEET ?? "null") as FleetOptions | null;
if (options === null || process.send === undefined) {
  console.error("bench/gen-helper.ts is started by bench/gen-helpers.ts, with an IPC channel");
  process.exit(2);
}
const fleet = new Fleet({ ...options, helpers: [] });
const reply = (response: HelperResponse) => process.send?.(response);

process.on("message", (request: HelperRequest) => {
  switch (request.type) {
    case "connect":
      fleet.connectIndices(request.indices).then(
        () => reply({ id: request.id, ok: true }),
        (err: Error) => reply({ id: request.id, ok: false, error: err.message }),
      );
      return;
    case "counts":
      reply({ id: request.id, ok: true, counts: fleet.helperCounts(request.record) });
      return;
  }
});
process.on("disconnect", () => {
  fleet.destroyAll();
  process.exit(0);
});

/**
 * Fails any test during which Switchyard reported an internal error (a bug caught
 * before it could take the process down: switchyard_internal_errors_total). Vitest
 * itself fails the run on an unhandled rejection or exception.
 */
import { afterEach, beforeEach } from "vitest";
import { metrics } from "../../src/metrics.js";
import { isInternalErrorAllowed, resetInternalErrorAllowance } from "../helpers/internal-errors.js";

beforeEach(() => {
  metrics.internalErrors.reset();
  resetInternalErrorAllowance();
});

afterEach(async () => {
  const { values } = await metrics.internalErrors.get();
  const caught = values.filter((value) => value.value > 0);
  if (caught.length === 0 || isInternalErrorAllowed()) return;
  const where = caught.map((value) => `${String(value.labels.where)} ×${value.value}`).join(", ");
  throw new Error(`Switchyard reported internal errors during this test: ${where}`);
});

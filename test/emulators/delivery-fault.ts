/**
 * Per-delivery fault verdicts shared by the emulators. A test hook is told about
 * one delivery (one frame to one connection) and answers how it goes out, so a
 * test can drop, duplicate, delay, reorder or alter a chosen share of deliveries
 * and check a consumer against known truth.
 */

/**
 * A hook's verdict on one delivery: deliver as is (undefined), `"drop"` it, send
 * it twice (`"duplicate"`), send it after `{ delayMs }` or once `{ until }`
 * settles (both let later deliveries overtake it: a reorder), or send it once now
 * with its data replaced by `{ alter }` (its signature is the emulator's own).
 */
export type DeliveryFaultOf<Alter> =
  | "drop"
  | "duplicate"
  | { delayMs: number }
  | { until: Promise<unknown> }
  | { alter: Alter }
  | undefined;

/**
 * Carries out `verdict` for one delivery by calling `send` with the number of
 * copies (1, or 2 for `"duplicate"`) and the alter function, if any: now, later,
 * or never for `"drop"`. A rejected `until` releases the delivery as well.
 */
export function carryOutDelivery<Alter>(
  verdict: DeliveryFaultOf<Alter>,
  send: (copies: 1 | 2, alter: Alter | undefined) => void,
): void {
  if (verdict === "drop") return;
  if (verdict === undefined) send(1, undefined);
  else if (verdict === "duplicate") send(2, undefined);
  else if ("delayMs" in verdict) setTimeout(() => send(1, undefined), verdict.delayMs);
  else if ("until" in verdict) {
    const release = () => send(1, undefined);
    void verdict.until.then(release, release);
  } else send(1, verdict.alter);
}

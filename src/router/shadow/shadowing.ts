/**
 * Shadowing on one node (docs/shadow.md): writes each publication of a shadowed room to
 * its shadow as well, after the primary accepted it and without making its sender wait,
 * and feeds both sides' deliveries to the {@link ShadowComparator}, whose decisions it
 * counts in /metrics.
 */

import type { Logger } from "pino";
import type { Backend } from "../../egress/backend.js";
import { SwitchyardError } from "../../errors.js";
import type { ShadowBinding, ShadowRoute } from "../../mapping/types.js";
import { metrics } from "../../metrics.js";
import { type ComparedMessage, ShadowComparator } from "./comparator.js";
import { type ShadowReport, shadowReport } from "./report.js";

export interface ShadowingOptions {
  readonly log: Logger;
  /** The running backend of a name. */
  readonly backend: (name: string) => Backend | undefined;
  /** Shadow writes on their way at once, for every shadow together. Default 10,000. */
  readonly maxInflight?: number;
  /** Messages waiting for a decision (ShadowComparator). Default 100,000. */
  readonly maxPending?: number;
  /** How often waiting messages are decided, ms. Default 100. */
  readonly sweepEvery?: number;
}

export class Shadowing {
  readonly comparator: ShadowComparator;
  readonly #options: ShadowingOptions;
  readonly #maxInflight: number;
  #inflight = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(options: ShadowingOptions) {
    this.#options = options;
    this.#maxInflight = options.maxInflight ?? 10_000;
    this.comparator = new ShadowComparator({
      ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
      listener: {
        counted: (route, outcome, count) =>
          metrics.shadowMessages.inc({ route: route.id, outcome }, count),
        gap: (route, gapMs) => metrics.shadowLatencyGap.observe({ route: route.id }, gapMs / 1000),
        shed: (route) => metrics.shadowShed.inc({ route: route.id }),
      },
    });
    this.#timer = setInterval(() => this.comparator.sweep(), options.sweepEvery ?? 100);
    this.#timer.unref();
    metrics.shadowPendingSources.add(this.#pending);
  }

  readonly #pending = (): number => this.comparator.pending;

  /**
   * Writes a publication the primary accepted on `primaryChannel` to the room's shadow.
   * Never throws and never waits: a full queue or a refusal is counted
   * (`shadowDropped`, `shadowErrors`) and logged at debug.
   */
  write(shadow: ShadowBinding, primaryChannel: string, message: ComparedMessage): void {
    const { route } = shadow;
    const backend = this.#options.backend(shadow.backend);
    if (backend === undefined || this.#inflight >= this.#maxInflight) {
      const outcome = backend === undefined ? "shadowErrors" : "shadowDropped";
      this.comparator.notWritten(route, primaryChannel, message, outcome);
      return;
    }
    this.#inflight += 1;
    this.comparator.written(route, primaryChannel, message);
    const { event, args, stamp } = message;
    const publication = { channel: shadow.channel, event, args, readBack: true };
    backend.publish(stamp === undefined ? publication : { ...publication, stamp }).then(
      () => {
        this.#inflight -= 1;
      },
      (error: unknown) => {
        this.#inflight -= 1;
        this.comparator.notWritten(route, primaryChannel, message, "shadowErrors");
        this.#options.log.debug(
          {
            route: route.id,
            backend: shadow.backend,
            channel: shadow.channel,
            code: error instanceof SwitchyardError ? error.code : undefined,
            err: error,
          },
          "shadow write failed",
        );
      },
    );
  }

  /** A delivery of a shadowed room's primary channel reached this node. */
  primary(route: ShadowRoute, channel: string, message: ComparedMessage): void {
    this.comparator.primary(route, channel, message);
  }

  /** A delivery of the shadow channel of primary channel `channel` reached this node. */
  shadow(route: ShadowRoute, channel: string, message: ComparedMessage): void {
    this.comparator.shadow(route, channel, message);
  }

  report(options: { readonly channels?: boolean } = {}): ShadowReport {
    return shadowReport(this.comparator.evidence(), this.comparator.since, options);
  }

  reset(): void {
    this.comparator.reset();
  }

  close(): void {
    clearInterval(this.#timer);
    metrics.shadowPendingSources.delete(this.#pending);
  }
}

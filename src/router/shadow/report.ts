/**
 * The shadow report: each shadowed route's counts, latency gap and verdict, as
 * `GET /api/v1/shadow` answers it and `switchyard shadow` prints it (docs/shadow.md).
 */

import { parseRoomChannel } from "../../egress/registry.js";
import type { ShadowRoute, ShadowVerdictThresholds } from "../../mapping/types.js";
import type { RouteEvidence, ShadowCounts } from "./comparator.js";

export type ShadowVerdict = "ready" | "not-ready" | "insufficient-data";

export interface ShadowRouteReport {
  readonly namespace: string;
  readonly room: string;
  readonly primary: string;
  readonly shadow: string;
  readonly counts: ShadowCounts;
  /** Milliseconds; null before any message matched. */
  readonly latencyGap: { p50: number | null; p95: number | null; p99: number | null };
  readonly verdict: ShadowVerdict;
  readonly reasons: string[];
  /**
   * With `?channels=true`: the counts of each primary channel (a native core's by its
   * room's name), at most 1,000 per route.
   */
  readonly channels?: { channel: string; counts: ShadowCounts }[];
}

export interface ShadowReport {
  readonly routes: ShadowRouteReport[];
  /** When the evidence began: the node's start or the last reset (ISO 8601). */
  readonly since: string;
}

/**
 * The report of `evidence` gathered since `since` (ms since the epoch); with `channels`,
 * each route's counts per channel too.
 */
export function shadowReport(
  evidence: readonly RouteEvidence[],
  since: number,
  options: { readonly channels?: boolean } = {},
): ShadowReport {
  return {
    routes: evidence.map((e) => {
      const { verdict, reasons } = judge(e.route, e.counts, e.latencyGap.p99, e.shed);
      const report: ShadowRouteReport = {
        namespace: e.route.namespace,
        room: e.route.room,
        primary: e.route.primary,
        shadow: e.route.shadow,
        counts: { ...e.counts },
        latencyGap: { ...e.latencyGap },
        verdict,
        reasons,
      };
      if (options.channels !== true) return report;
      // A native core's channel is its room: shown as the room's name.
      const channels = [...e.channels].map(([channel, counts]) => ({
        channel: parseRoomChannel(channel)?.room ?? channel,
        counts: { ...counts },
      }));
      return { ...report, channels };
    }),
    since: new Date(since).toISOString(),
  };
}

/**
 * The verdict on a route's evidence. Ratios are per message the primary delivered
 * (matched, missing or mismatched), `reordered` per matched one; messages this node could
 * not write to the shadow count against `maxMissingRatio` too.
 */
export function judge(
  route: ShadowRoute,
  counts: Readonly<ShadowCounts>,
  p99: number | null,
  shed: number,
): { verdict: ShadowVerdict; reasons: string[] } {
  const t: ShadowVerdictThresholds = route.verdict;
  const compared = counts.matched + counts.missing + counts.mismatched;
  if (shed > 0) {
    return {
      verdict: "insufficient-data",
      reasons: [
        `${shed} messages were not compared: more waited for their copy at once than the node keeps (lower the shadow's percent or window, then reset)`,
      ],
    };
  }
  if (compared < t.minMessages) {
    return {
      verdict: "insufficient-data",
      reasons: [`${compared} of the ${t.minMessages} messages needed have been compared`],
    };
  }
  const reasons: string[] = [];
  const check = (count: number, base: number, max: number, what: string) => {
    const ratio = base === 0 ? 0 : count / base;
    if (ratio > max)
      reasons.push(`${what}: ${count} of ${base} (${percent(ratio)} > ${percent(max)})`);
  };
  check(counts.missing, compared, t.maxMissingRatio, "missing on the shadow");
  check(
    counts.shadowDropped + counts.shadowErrors,
    compared,
    t.maxMissingRatio,
    "not written to the shadow",
  );
  check(counts.extra, compared, t.maxExtraRatio, "only on the shadow");
  check(counts.duplicates, compared, t.maxDuplicateRatio, "duplicated by the shadow");
  check(counts.reordered, counts.matched, t.maxReorderedRatio, "out of order on the shadow");
  check(counts.mismatched, compared, t.maxMismatchedRatio, "different payload on the shadow");
  if (p99 !== null && p99 > t.maxP99GapMs) {
    reasons.push(`latency gap p99 ${p99} ms > ${t.maxP99GapMs} ms`);
  }
  return { verdict: reasons.length === 0 ? "ready" : "not-ready", reasons };
}

function percent(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(3))} %`;
}

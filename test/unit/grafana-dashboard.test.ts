import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metrics } from "../../src/metrics.js";
import { Harness } from "../helpers/switchyard-harness.js";

// config/grafana/switchyard.json is read by Grafana, never by Switchyard: this file keeps
// it honest by checking every PromQL query in it against the /metrics of a running
// Switchyard (the series names) and against the registry it serves (each metric's labels).

/** The uid of the dashboard's data source: its `datasource` variable. */
const DATASOURCE = "$" + "{datasource}";

const DASHBOARD_URL = new URL("../../config/grafana/switchyard.json", import.meta.url);

/** Labels Prometheus adds to every scraped series: allowed on any metric. */
const TARGET_LABELS = ["instance", "job"];

/** Grafana's own variables, usable in any query. */
const BUILT_IN_VARIABLES = [
  "__rate_interval",
  "__interval",
  "__interval_ms",
  "__range",
  "__range_s",
];

const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);

const FUNCTIONS = new Set([
  "abs",
  "absent",
  "absent_over_time",
  "avg_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "count_over_time",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "days_in_month",
  "delta",
  "deriv",
  "exp",
  "floor",
  "histogram_avg",
  "histogram_count",
  "histogram_fraction",
  "histogram_quantile",
  "histogram_sum",
  "hour",
  "idelta",
  "increase",
  "irate",
  "label_join",
  "label_replace",
  "last_over_time",
  "ln",
  "log10",
  "log2",
  "max_over_time",
  "min_over_time",
  "minute",
  "month",
  "predict_linear",
  "present_over_time",
  "quantile_over_time",
  "rate",
  "resets",
  "round",
  "scalar",
  "sgn",
  "sort",
  "sort_desc",
  "sqrt",
  "stddev_over_time",
  "stdvar_over_time",
  "sum_over_time",
  "time",
  "timestamp",
  "vector",
  "year",
]);

/** Words of PromQL that are neither metrics nor functions. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);

interface Token {
  readonly kind: "ident" | "string" | "number" | "range" | "variable" | "punct";
  readonly text: string;
}

/** Splits a PromQL expression (with Grafana variables) into tokens. */
function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  const patterns: [Token["kind"] | "space", RegExp][] = [
    ["space", /^(?:\s+|#[^\n]*)/],
    ["string", /^(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/],
    // A range or a subquery's `[5m:1m]`, `[$__rate_interval]`: durations, never names.
    ["range", /^\[[^\]]*\]/],
    ["variable", /^\$(?:\{[^}]*\}|\w+)/],
    ["ident", /^[A-Za-z_:][\w:]*/],
    ["number", /^(?:0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[a-z\d]*)/i],
    ["punct", /^(?:=~|!~|!=|==|<=|>=|[(){},=<>+\-*/%^@])/],
  ];
  let rest = expr;
  scan: while (rest.length > 0) {
    for (const [kind, pattern] of patterns) {
      const match = pattern.exec(rest);
      if (match === null) continue;
      if (kind !== "space") tokens.push({ kind, text: match[0] });
      rest = rest.slice(match[0].length);
      continue scan;
    }
    throw new Error(`cannot read ${JSON.stringify(rest)} in ${JSON.stringify(expr)}`);
  }
  return tokens;
}

/** Where each of `tokens`' parentheses closes, by the index of its `(`, and the reverse. */
function matchParens(tokens: readonly Token[]): Map<number, number> {
  const pairs = new Map<number, number>();
  const open: number[] = [];
  tokens.forEach((token, index) => {
    if (token.kind !== "punct") return;
    if (token.text === "(") open.push(index);
    if (token.text === ")") {
      const start = open.pop();
      if (start === undefined) throw new Error("unbalanced )");
      pairs.set(start, index);
      pairs.set(index, start);
    }
  });
  if (open.length > 0) throw new Error("unbalanced (");
  return pairs;
}

/** What a PromQL expression reads. */
interface Reading {
  /** Series names, with the token index of each. */
  readonly metrics: { name: string; at: number }[];
  /** Label matchers, each with the metric it selects (undefined: `{__name__=~…}` alone). */
  readonly selectors: { metric: string | undefined; labels: string[] }[];
  /** `by`/`without` lists with the token range of their aggregation's argument; `on` and the like cover the whole expression. */
  readonly groupings: { clause: string; labels: string[]; from: number; to: number }[];
  readonly functions: string[];
}

/** Reads the metrics, functions, label matchers and grouping labels of `expr`. */
function readPromQL(expr: string): Reading {
  const tokens = tokenize(expr);
  const parens = matchParens(tokens);
  const reading: Reading = { metrics: [], selectors: [], groupings: [], functions: [] };
  const isPunct = (index: number, text: string): boolean =>
    tokens[index]?.kind === "punct" && tokens[index]?.text === text;

  /** Reads `(a, b)` at `index`; returns the labels and the index after `)`. */
  const labelList = (index: number): [string[], number] => {
    if (!isPunct(index, "(")) return [[], index];
    const end = parens.get(index)!;
    const labels = tokens
      .slice(index + 1, end)
      .filter((token) => token.kind === "ident")
      .map((token) => token.text);
    return [labels, end + 1];
  };

  /** Reads the matchers of the `{` at `index`; returns the index after `}`. */
  const matchers = (index: number, metric: string | undefined, at: number): number => {
    const labels: string[] = [];
    let selected = metric;
    let i = index + 1;
    while (i < tokens.length && !isPunct(i, "}")) {
      const token = tokens[i]!;
      if (
        token.kind === "ident" &&
        tokens[i + 1]?.kind === "punct" &&
        tokens[i + 1]?.text !== ","
      ) {
        labels.push(token.text);
        const value = tokens[i + 2];
        if (token.text === "__name__" && tokens[i + 1]?.text === "=" && value?.kind === "string") {
          selected = value.text.slice(1, -1);
          reading.metrics.push({ name: selected, at });
        }
        i += 3;
      } else {
        i += 1;
      }
    }
    reading.selectors.push({ metric: selected, labels: labels.filter((l) => l !== "__name__") });
    return i + 1;
  };

  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.kind === "punct" && token.text === "{") {
      i = matchers(i, undefined, i);
      continue;
    }
    if (token.kind !== "ident") {
      i += 1;
      continue;
    }
    const word = token.text;
    if (word === "by" || word === "without") {
      const [labels, after] = labelList(i + 1);
      // `sum by (x) (arg)` or `sum (arg) by (x)`.
      const [from, to] = isPunct(i - 1, ")")
        ? [parens.get(i - 1)!, i - 1]
        : [after, parens.get(after) ?? after];
      reading.groupings.push({ clause: word, labels, from, to });
      i = after;
      continue;
    }
    if (["on", "ignoring", "group_left", "group_right"].includes(word)) {
      const [labels, after] = labelList(i + 1);
      reading.groupings.push({ clause: word, labels, from: 0, to: tokens.length });
      i = after;
      continue;
    }
    const isCall = next?.kind === "punct" && next.text === "(";
    const isAggregation =
      AGGREGATIONS.has(word) &&
      (isCall || (next?.kind === "ident" && ["by", "without"].includes(next.text)));
    if (isCall || isAggregation) {
      reading.functions.push(word);
      i += 1;
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase())) {
      i += 1;
      continue;
    }
    reading.metrics.push({ name: word, at: i });
    i = isPunct(i + 1, "{") ? matchers(i + 1, word, i) : i + 1;
  }
  return reading;
}

/** The series names of /metrics, each with the labels it can carry. */
type Exported = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Reads the series a Switchyard exports from its /metrics text: every family named by a
 * `# TYPE` line (listed even before its first sample), expanded into the names a query
 * uses (a histogram's `_bucket`, `_sum` and `_count`), with the label names of the
 * registered metric.
 */
function exportedSeries(text: string, labelsOf: ReadonlyMap<string, readonly string[]>): Exported {
  const series = new Map<string, Set<string>>();
  for (const [, family, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const labels = labelsOf.get(family!) ?? [];
    const add = (name: string, extra: string[] = []): void => {
      series.set(name, new Set([...labels, ...extra]));
    };
    switch (type) {
      case "histogram":
        add(`${family}_bucket`, ["le"]);
        add(`${family}_sum`);
        add(`${family}_count`);
        break;
      case "summary":
        add(family!, ["quantile"]);
        add(`${family}_sum`);
        add(`${family}_count`);
        break;
      case "counter":
        add(family!);
        // OpenMetrics names a counter's family without the `_total` of its samples.
        if (!family!.endsWith("_total")) add(`${family}_total`);
        break;
      default:
        add(family!);
    }
  }
  return series;
}

/** The label names of each registered metric, read from the registry /metrics serves. */
function registeredLabels(): Map<string, readonly string[]> {
  const labels = new Map<string, readonly string[]>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    // prom-client keeps each metric's configured labelNames on the instance.
    const names = "labelNames" in metric ? metric.labelNames : undefined;
    labels.set(metric.name, Array.isArray(names) ? names.map(String) : []);
  }
  return labels;
}

/** The problems of one PromQL expression against what the process exports; none when it is sound. */
function checkExpression(expr: string, exported: Exported, legend = ""): string[] {
  const problems: string[] = [];
  let reading: Reading;
  try {
    reading = readPromQL(expr);
  } catch (error) {
    return [`${(error as Error).message}`];
  }
  const labelsOf = (metric: string): ReadonlySet<string> =>
    new Set([...(exported.get(metric) ?? []), ...TARGET_LABELS]);
  for (const { name } of reading.metrics) {
    if (!exported.has(name)) problems.push(`${name} is not exported, in: ${expr}`);
  }
  for (const name of reading.functions) {
    if (!FUNCTIONS.has(name) && !AGGREGATIONS.has(name)) {
      problems.push(`${name}() is no PromQL function, in: ${expr}`);
    }
  }
  for (const { metric, labels } of reading.selectors) {
    if (metric === undefined || !exported.has(metric)) continue;
    for (const label of labels) {
      if (!labelsOf(metric).has(label)) {
        problems.push(`${metric} has no label ${label}, in: ${expr}`);
      }
    }
  }
  const known = new Set(reading.metrics.flatMap(({ name }) => [...labelsOf(name)]));
  for (const { clause, labels, from, to } of reading.groupings) {
    const scope = reading.metrics.filter(({ at }) => at > from && at < to).map(({ name }) => name);
    for (const label of labels) {
      if (clause === "by" || clause === "without") {
        if (scope.length === 0) problems.push(`${clause} (${label}) aggregates no metric: ${expr}`);
        for (const metric of scope) {
          if (exported.has(metric) && !labelsOf(metric).has(label)) {
            problems.push(`${metric} has no label ${label} to aggregate ${clause}, in: ${expr}`);
          }
        }
      } else if (!known.has(label)) {
        problems.push(`${clause} (${label}) names a label of no metric, in: ${expr}`);
      }
    }
  }
  const aggregated = reading.functions.some((name) => AGGREGATIONS.has(name));
  const kept = reading.groupings.filter(({ clause }) => clause === "by").flatMap((g) => g.labels);
  for (const [, label] of legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
    // An aggregation keeps only the labels of its `by` list; `without` keeps the rest.
    const isKept =
      !aggregated || reading.groupings.some(({ clause }) => clause === "without")
        ? known.has(label!)
        : kept.includes(label!);
    if (!isKept) problems.push(`the legend's {{${label}}} is not a label of: ${expr}`);
  }
  return problems;
}

/** The problems of a templating query: `label_values(selector, label)`, `query_result(expr)` or PromQL. */
function checkVariableQuery(query: string, exported: Exported): string[] {
  const labelValues = /^\s*label_values\((.*)\)\s*$/s.exec(query);
  if (labelValues !== null) {
    const args = labelValues[1]!;
    const comma = args.lastIndexOf(",");
    if (comma === -1) return [];
    const selector = args.slice(0, comma);
    const label = args.slice(comma + 1).trim();
    const problems = checkExpression(selector, exported);
    const metricsRead = readPromQL(selector).metrics.map(({ name }) => name);
    for (const metric of metricsRead) {
      const labels = new Set([...(exported.get(metric) ?? []), ...TARGET_LABELS]);
      if (exported.has(metric) && !labels.has(label))
        problems.push(`${metric} has no label ${label}, in: ${query}`);
    }
    return problems;
  }
  const queryResult = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  return checkExpression(queryResult !== null ? queryResult[1]! : query, exported);
}

interface Target {
  readonly expr?: string;
  readonly legendFormat?: string;
  readonly refId?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}

interface Panel {
  readonly id?: number;
  readonly type: string;
  readonly title?: string;
  readonly collapsed?: boolean;
  readonly gridPos?: {
    readonly x: number;
    readonly y: number;
    readonly w: number;
    readonly h: number;
  };
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { readonly query?: string };
  readonly definition?: string;
}

interface Dashboard {
  readonly schemaVersion: number;
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

/** Every panel of `panels`, the panels of collapsed rows included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** Every PromQL expression of the dashboard: its panels' targets and its query variables. */
function expressionsOf(dashboard: Dashboard): { where: string; expr: string; legend: string }[] {
  const found: { where: string; expr: string; legend: string }[] = [];
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) {
      if (target.expr === undefined) continue;
      found.push({
        where: `panel "${panel.title}" ${target.refId}`,
        expr: target.expr,
        legend: target.legendFormat ?? "",
      });
    }
  }
  return found;
}

function variableQueries(dashboard: Dashboard): { where: string; query: string }[] {
  return dashboard.templating.list
    .filter((variable) => variable.type === "query")
    .flatMap((variable) => {
      const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
      return [query, variable.definition]
        .filter((text): text is string => typeof text === "string" && text !== "")
        .map((text) => ({ where: `variable $${variable.name}`, query: text }));
    });
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_URL, "utf8")) as Dashboard;

const SWITCHYARD = `
server:
  connectionStateRecovery: {}
namespaces:
  /:
    events:
      join:
        action: join
        room: "{data.room}"
        ack: { ok: true }
      say:
        action: broadcast
        room: "{data.room}"
        emit: message
        ack: { ok: true }
`;

let harness: Harness;
let text: string;
let exported: Exported;

beforeAll(async () => {
  harness = await Harness.start(SWITCHYARD);
  // Traffic so that the labelled series of acks, joins and publications have samples.
  const socket = await harness.connect();
  await socket.emitWithAck("join", { room: "room:1" });
  await socket.emitWithAck("say", { room: "room:1" });
  const reply = await fetch(`${harness.url}/metrics`);
  expect(reply.status).toBe(200);
  text = await reply.text();
  exported = exportedSeries(text, registeredLabels());
});

afterAll(async () => {
  await harness?.close();
});

describe("reading PromQL", () => {
  it("takes series names, never functions, keywords, label names, strings or durations", () => {
    const reading = readPromQL(
      'histogram_quantile(0.99, sum by (le, action) (rate(switchyard_ack_latency_seconds_bucket{instance=~"$instance", action!="rate"}[$__rate_interval])))' +
        " / on(instance) group_left max without (le) (switchyard_connections offset 5m) > bool 0",
    );
    expect(reading.metrics.map(({ name }) => name)).toEqual([
      "switchyard_ack_latency_seconds_bucket",
      "switchyard_connections",
    ]);
    expect(reading.functions).toEqual(["histogram_quantile", "sum", "rate", "max"]);
    expect(reading.selectors).toEqual([
      { metric: "switchyard_ack_latency_seconds_bucket", labels: ["instance", "action"] },
    ]);
    expect(reading.groupings.map(({ clause, labels }) => [clause, labels])).toEqual([
      ["by", ["le", "action"]],
      ["on", ["instance"]],
      ["group_left", []],
      ["without", ["le"]],
    ]);
  });

  it("reads a metric named in {__name__=…} and the argument of a postfix by", () => {
    const reading = readPromQL('sum(rate({__name__="switchyard_errors_total"}[5m])) by (code)');
    expect(reading.metrics.map(({ name }) => name)).toEqual(["switchyard_errors_total"]);
    expect(
      checkExpression('sum(rate({__name__="switchyard_errors_total"}[5m])) by (code)', exported),
    ).toEqual([]);
  });
});

describe("the check of an expression", () => {
  it("reports a made-up metric name", () => {
    expect(
      checkExpression('sum(rate(switchyard_made_up_total{instance=~"$instance"}[5m]))', exported),
    ).toEqual([
      'switchyard_made_up_total is not exported, in: sum(rate(switchyard_made_up_total{instance=~"$instance"}[5m]))',
    ]);
  });

  it("reports a histogram named without _bucket, _sum or _count", () => {
    expect(checkExpression("rate(switchyard_ack_latency_seconds[5m])", exported)).toHaveLength(1);
  });

  it("reports a label the metric does not have, in a matcher, a by clause or a legend", () => {
    expect(checkExpression('switchyard_sockets{room="room:1"}', exported)).toEqual([
      'switchyard_sockets has no label room, in: switchyard_sockets{room="room:1"}',
    ]);
    expect(checkExpression("sum by (backend) (switchyard_sockets)", exported)).toEqual([
      "switchyard_sockets has no label backend to aggregate by, in: sum by (backend) (switchyard_sockets)",
    ]);
    expect(checkExpression("sum(switchyard_sockets)", exported, "{{namespace}}")).toEqual([
      "the legend's {{namespace}} is not a label of: sum(switchyard_sockets)",
    ]);
  });

  it("reports a function PromQL does not have", () => {
    expect(checkExpression("rat(switchyard_packets_in_total[5m])", exported)).toEqual([
      "rat() is no PromQL function, in: rat(switchyard_packets_in_total[5m])",
    ]);
  });

  it("accepts le on a histogram's buckets and the target labels on any metric", () => {
    expect(
      checkExpression(
        'histogram_quantile(0.5, sum by (le, instance, job) (rate(switchyard_forward_seconds_bucket{job="switchyard"}[5m])))',
        exported,
      ),
    ).toEqual([]);
  });
});

describe("what the running Switchyard exports", () => {
  it("lists its families with # HELP and # TYPE, labels as registered, process metrics unprefixed", () => {
    expect(exported.has("switchyard_connections")).toBe(true);
    expect(exported.has("switchyard_ack_latency_seconds_bucket")).toBe(true);
    expect(exported.has("process_cpu_seconds_total")).toBe(true);
    expect(exported.get("switchyard_ack_latency_seconds_bucket")).toEqual(
      new Set(["action", "outcome", "le"]),
    );
    for (const [, family] of text.matchAll(/^# TYPE (\S+) /gm)) {
      expect(text, family).toContain(`# HELP ${family} `);
    }
  });

  it("serves no sample with a label its registered metric lacks", () => {
    const strays: string[] = [];
    for (const [, name, labels] of text.matchAll(/^([A-Za-z_:][\w:]*)\{([^}]*)\} /gm)) {
      for (const [, label] of labels!.matchAll(/(\w+)="(?:[^"\\]|\\.)*"/g)) {
        if (!exported.get(name!)?.has(label!)) strays.push(`${name} ${label}`);
      }
    }
    expect(strays).toEqual([]);
  });
});

describe("config/grafana/switchyard.json", () => {
  const panels = allPanels(dashboard.panels);
  const expressions = expressionsOf(dashboard);

  it("is a Grafana dashboard on a Prometheus data source variable, with core panels only", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe("switchyard");
    const [datasource] = dashboard.templating.list;
    expect(datasource).toMatchObject({
      name: "datasource",
      type: "datasource",
      query: "prometheus",
    });
    const core = new Set(["row", "timeseries", "stat", "table", "state-timeline"]);
    for (const panel of panels) {
      expect(core, `panel "${panel.title}"`).toContain(panel.type);
      if (panel.type === "row") continue;
      expect(panel.datasource, `panel "${panel.title}"`).toEqual({
        type: "prometheus",
        uid: DATASOURCE,
      });
      expect(panel.targets?.length, `panel "${panel.title}"`).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource?.uid, `panel "${panel.title}"`).toBe(DATASOURCE);
      }
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      expect(new Set(refIds).size, `panel "${panel.title}"`).toBe(refIds.length);
    }
  });

  it("gives each panel its own id and a place on the 24-column grid", () => {
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      const grid = panel.gridPos!;
      expect(grid.x + grid.w, `panel "${panel.title}"`).toBeLessThanOrEqual(24);
    }
  });

  it("groups its panels in rows, each row with panels", () => {
    const top = dashboard.panels;
    expect(top[0]?.type).toBe("row");
    top.forEach((panel, index) => {
      if (panel.type !== "row") return;
      const following = top[index + 1];
      const hasPanels = panel.collapsed
        ? (panel.panels?.length ?? 0) > 0
        : following !== undefined && following.type !== "row";
      expect(hasPanels, `row "${panel.title}"`).toBe(true);
    });
  });

  it("names only variables it defines or Grafana's own", () => {
    const defined = new Set([
      ...dashboard.templating.list.map((variable) => variable.name),
      ...BUILT_IN_VARIABLES,
    ]);
    const texts = [
      ...expressions.map(({ expr }) => expr),
      ...variableQueries(dashboard).map(({ query }) => query),
    ];
    const used = texts.flatMap((expr) =>
      [...expr.matchAll(/\$\{?(\w+)/g)].map(([, name]) => name!),
    );
    expect(used.filter((name) => !defined.has(name))).toEqual([]);
  });

  it("has instance, namespace and backend variables from label_values", () => {
    const queries = Object.fromEntries(
      variableQueries(dashboard).map(({ where, query }) => [where, query]),
    );
    for (const name of ["instance", "namespace", "backend"]) {
      expect(queries[`variable $${name}`], name).toMatch(/^label_values\(/);
    }
  });

  it("queries only metrics and labels the running Switchyard exports", () => {
    expect(expressions.length).toBeGreaterThan(50);
    const problems = [
      ...expressions.flatMap(({ where, expr, legend }) =>
        checkExpression(expr, exported, legend).map((problem) => `${where}: ${problem}`),
      ),
      ...variableQueries(dashboard).flatMap(({ where, query }) =>
        checkVariableQuery(query, exported).map((problem) => `${where}: ${problem}`),
      ),
    ];
    expect(problems).toEqual([]);
  });
});

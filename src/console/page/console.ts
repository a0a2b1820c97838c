/**
 * The migration console's page: asks for the API token once (kept in this tab's
 * session storage), reads `GET /api/v1/console/stream` with fetch() so the token
 * travels in the Authorization header (EventSource cannot send one, and a token in an
 * address reaches logs), and draws each snapshot. Everything a client named (rooms,
 * namespaces) is written as text, never as markup.
 *
 * The charts are SVG polylines drawn here: three small line charts do not justify a
 * charting library, and the page loads nothing but its own three files.
 */
import type {
  ConsoleBackend,
  ConsoleRoom,
  ConsoleRoute,
  ConsoleSample,
  ConsoleShadowRoute,
  ConsoleSnapshot,
} from "../console-types.js";

const TOKEN_KEY = "switchyard-console-token";
const SNAPSHOT = "/api/v1/console/snapshot";
const STREAM = "/api/v1/console/stream";
/** Samples charted at most: ten minutes at one a second, as the node keeps. */
const MAX_SAMPLES = 600;
/** Samples a chart spans at least: a minute. */
const MIN_SPAN = 60;
/** Waits before opening a stream again, ms: after a drop, and after a 429. */
const RETRY_MS = 2000;
const BUSY_RETRY_MS = 5000;
const GAP_COLOURS = ["#2357c6", "#b26a00", "#7b3fc4", "#1a7f37", "#c62828", "#0f7c8c"];

function byId<T extends HTMLElement | SVGElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} missing from the page`);
  return element as unknown as T;
}

let history: ConsoleSample[] = [];
let stream: AbortController | undefined;
let retry: number | undefined;

// --- Login -----------------------------------------------------------------------

function showLogin(message = ""): void {
  stream?.abort();
  window.clearTimeout(retry);
  byId("console").hidden = true;
  byId("live").hidden = true;
  byId("logout").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = message;
  byId<HTMLInputElement>("token").focus();
}

function showConsole(): void {
  byId("login").hidden = true;
  byId("console").hidden = false;
  byId("live").hidden = false;
  byId("logout").hidden = false;
}

async function logIn(token: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(SNAPSHOT, { headers: { authorization: `Bearer ${token}` } });
  } catch {
    showLogin("The node cannot be reached.");
    return;
  }
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("That token is not this node's api.token.");
    return;
  }
  if (!res.ok) {
    showLogin(`The node answered ${res.status}.`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  showConsole();
  render((await res.json()) as ConsoleSnapshot);
  void openStream(token);
}

function logOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  byId<HTMLInputElement>("token").value = "";
  showLogin();
}

// --- The stream --------------------------------------------------------------------

function setLive(state: "connecting" | "live" | "down", text: string): void {
  const badge = byId("live-state");
  badge.dataset.state = state;
  badge.textContent = text;
}

function retryLater(token: string, ms: number): void {
  window.clearTimeout(retry);
  retry = window.setTimeout(() => void openStream(token), ms);
}

/** Reads the stream until it ends, drawing each event; then opens it again after a pause. */
async function openStream(token: string): Promise<void> {
  stream?.abort();
  const controller = new AbortController();
  stream = controller;
  setLive("connecting", "connecting");
  let res: Response;
  try {
    res = await fetch(STREAM, {
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
      signal: controller.signal,
      cache: "no-store",
    });
  } catch {
    if (!controller.signal.aborted) {
      setLive("down", "node unreachable: retrying");
      retryLater(token, RETRY_MS);
    }
    return;
  }
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("The token is no longer accepted.");
    return;
  }
  if (res.status === 429) {
    setLive("down", "too many consoles open on this node: retrying");
    retryLater(token, BUSY_RETRY_MS);
    return;
  }
  if (!res.ok || res.body === null) {
    setLive("down", `stream refused (${res.status}): retrying`);
    retryLater(token, RETRY_MS);
    return;
  }
  setLive("live", "live");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data: "))
          .map((line) => line.slice(6))
          .join("\n");
        if (data !== "") render(JSON.parse(data) as ConsoleSnapshot);
        end = buffer.indexOf("\n\n");
      }
    }
  } catch {
    // A dropped connection: opened again below.
  }
  if (controller.signal.aborted) return;
  setLive("down", "stream ended: retrying");
  retryLater(token, RETRY_MS);
}

// --- Drawing ------------------------------------------------------------------------

function cell(
  row: HTMLTableRowElement,
  text: string | number,
  field?: string,
): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = String(text);
  if (field !== undefined) td.dataset.field = field;
  return td;
}

function badge(td: HTMLElement, text: string, className: string): void {
  td.textContent = "";
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  td.append(span);
}

function fillTable<T>(
  id: string,
  items: readonly T[],
  fill: (row: HTMLTableRowElement, item: T) => void,
  empty: string,
): void {
  const body = byId<HTMLTableElement>(id).tBodies[0]!;
  body.replaceChildren();
  for (const item of items) fill(body.insertRow(), item);
  if (items.length === 0) {
    const row = body.insertRow();
    const td = cell(row, empty);
    td.colSpan = byId<HTMLTableElement>(id).tHead?.rows[0]?.cells.length ?? 1;
    td.className = "muted";
  }
}

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}

function target(t: { backend: string; channel?: string } | undefined): string {
  if (t === undefined) return "–";
  return t.channel === undefined ? t.backend : `${t.backend} · ${t.channel}`;
}

function render(snapshot: ConsoleSnapshot): void {
  if (snapshot.history !== undefined) history = [...snapshot.history];
  else if (snapshot.sample !== null && snapshot.sample.t > (history.at(-1)?.t ?? 0)) {
    history.push(snapshot.sample);
    if (history.length > MAX_SAMPLES) history.shift();
  }
  const { node, config, connections } = snapshot;
  byId("node-line").textContent =
    `v${node.version}${node.tag === null ? "" : ` · node ${node.tag}`} · updated ${time(snapshot.at)}`;
  const registry =
    node.registry === null ? "" : ` (${node.registry.map((n) => `${n.tag} ${n.url}`).join(", ")})`;
  byId("nodes").textContent = `${node.nodes === null ? "unknown" : String(node.nodes)}${registry}`;
  byId("connections").textContent = String(connections.total);
  byId("connections-protocols").textContent = `${connections.v4} / ${connections.v3}`;
  byId("config-source").textContent = config.source;
  byId("config-revision").textContent = `${config.revision}, ${time(config.loadedAt)}`;
  byId("config-reload").textContent =
    config.lastReload === null
      ? "none since start"
      : `${config.lastReload.result} at ${time(config.lastReload.at)}`;

  fillTable(
    "namespaces",
    snapshot.namespaces,
    (row, ns) => {
      row.dataset.namespace = ns.namespace;
      cell(row, ns.namespace);
      cell(row, ns.sockets, "sockets");
      cell(row, ns.v4, "v4");
      cell(row, ns.v3, "v3");
      cell(row, ns.rooms, "rooms");
    },
    "No namespace.",
  );
  fillTable("backends", snapshot.backends, drawBackend, "No backend.");
  fillTable("routes", snapshot.routes, drawRoute, "No routes: every room is on native.");
  fillTable("rooms", snapshot.rooms, drawRoom, "No room has members on this node.");
  byId("rooms-count").textContent =
    snapshot.roomsTotal > snapshot.rooms.length
      ? `${snapshot.rooms.length} of ${snapshot.roomsTotal}, most members first`
      : `${snapshot.roomsTotal}`;
  byId("shadow-since").textContent = `since ${new Date(snapshot.shadow.since).toLocaleString()}`;
  fillTable("shadow", snapshot.shadow.routes, drawShadow, "No shadowed route has seen a message.");
  fillTable(
    "errors",
    snapshot.errors,
    (row, error) => {
      cell(row, time(error.at));
      cell(row, error.code, "code");
      cell(row, error.count, "count");
    },
    "None in the last minutes.",
  );
  drawPassthrough(snapshot.passthrough);
  drawCharts(snapshot.shadow.routes);
}

function drawBackend(row: HTMLTableRowElement, backend: ConsoleBackend): void {
  row.dataset.backend = backend.name;
  row.dataset.ready = String(backend.isReady);
  row.className = backend.isReady ? "up" : "down";
  cell(row, `${backend.name} (${backend.kind})`);
  const status = cell(row, "", "status");
  badge(status, backend.isReady ? "ready" : "down", `status ${backend.isReady ? "up" : "down"}`);
  if (!backend.isReady) {
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = backend.reason ?? "";
    status.append(reason);
  }
  const subs = backend.subscriptions;
  cell(
    row,
    subs === null ? "in process" : `${subs.confirmed} + ${subs.pending} pending`,
    "subscriptions",
  );
  cell(row, backend.publishRate, "publish-rate");
  const errors = Object.entries(backend.errors).map(([key, n]) => `${key} ${n}`);
  if (backend.refused > 0) errors.unshift(`refused ${backend.refused}`);
  cell(row, errors.length === 0 ? "–" : errors.join(", "), "errors");
}

function drawRoute(row: HTMLTableRowElement, route: ConsoleRoute): void {
  cell(row, route.namespace);
  cell(row, route.room, "pattern");
  cell(row, route.backend, "backend");
  cell(row, route.channel ?? "(default)", "channel");
  const rollout = route.rollout;
  cell(
    row,
    rollout === undefined
      ? "–"
      : `${rollout.percent} % → ${target(rollout)}${rollout.shadow === undefined ? "" : ` (shadow ${target(rollout.shadow)})`}`,
    "rollout",
  );
  cell(
    row,
    route.shadow === undefined ? "–" : `${target(route.shadow)}, ${route.shadow.percent} %`,
    "shadow",
  );
}

function drawRoom(row: HTMLTableRowElement, room: ConsoleRoom): void {
  row.dataset.room = room.room;
  cell(row, room.namespace);
  cell(row, room.room, "room");
  cell(row, room.members, "members");
  cell(row, room.backend, "backend");
  cell(row, room.channel ?? "–", "channel");
  cell(
    row,
    room.route === undefined
      ? "none: native"
      : room.isRollout
        ? `${room.route}, rolled out`
        : room.route,
    "route",
  );
  cell(row, room.shadow === undefined ? "–" : target(room.shadow), "shadow");
}

function drawShadow(row: HTMLTableRowElement, route: ConsoleShadowRoute): void {
  row.dataset.route = route.id;
  row.title = route.reasons.join("\n");
  cell(row, route.id);
  cell(row, route.counts.matched ?? 0, "matched");
  cell(row, route.counts.missing ?? 0, "missing");
  cell(row, route.counts.extra ?? 0, "extra");
  const gap = route.latencyGap;
  const ms = (value: number | null) => (value === null ? "–" : String(value));
  cell(row, `${ms(gap.p50)} / ${ms(gap.p95)} / ${ms(gap.p99)}`, "gap");
  badge(cell(row, "", "verdict"), route.verdict, `status verdict-${route.verdict}`);
}

function drawPassthrough(split: ConsoleSnapshot["passthrough"]): void {
  const box = byId("passthrough");
  box.replaceChildren();
  if (split === null) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No passthrough in the file.";
    box.append(p);
    return;
  }
  const facts = document.createElement("p");
  facts.dataset.field = "passthrough";
  facts.textContent = `${split.percent} % of new connections to ${split.target}: ${split.legacy} relayed, ${split.switchyard} here`;
  const bar = document.createElement("div");
  bar.className = "split";
  const total = split.legacy + split.switchyard;
  for (const [side, count] of [
    ["legacy", split.legacy],
    ["switchyard", split.switchyard],
  ] as const) {
    const part = document.createElement("div");
    part.className = side;
    part.style.width = total === 0 ? "0" : `${(100 * count) / total}%`;
    part.title = `${side}: ${count}`;
    bar.append(part);
  }
  box.append(facts, bar);
  if (split.failing !== null) {
    const failing = document.createElement("p");
    failing.className = "error";
    failing.textContent = `Target failing: ${split.failing}`;
    box.append(failing);
  }
}

function drawCharts(routes: readonly ConsoleShadowRoute[]): void {
  const last = history.at(-1);
  byId("chart-connections-now").textContent = last === undefined ? "" : `(${last.connections})`;
  byId("chart-deliveries-now").textContent = last === undefined ? "" : `(${last.deliveries})`;
  chart("chart-connections", [history.map((s) => s.connections)]);
  chart("chart-deliveries", [history.map((s) => s.deliveries)]);
  const ids = routes.map((route) => route.id).slice(0, GAP_COLOURS.length);
  chart(
    "chart-gaps",
    ids.map((id) => history.map((s) => s.gaps[id] ?? null)),
  );
  byId("chart-gaps-now").textContent =
    last === undefined ? "" : ids.map((id) => `${last.gaps[id] ?? "–"}`).join(" · ");
}

/** One polyline per series over its samples (a minute at least), scaled to the highest value. */
function chart(id: string, series: readonly (readonly (number | null)[])[]): void {
  const svg = byId<SVGSVGElement>(id);
  svg.replaceChildren();
  const values = series.flat().filter((v): v is number => v !== null);
  const top = Math.max(1, ...values);
  const bottom = Math.min(0, ...values);
  series.forEach((points, index) => {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    // The span grows with the history, from a minute to the ten minutes kept.
    const span = Math.max(points.length, MIN_SPAN);
    const offset = span - points.length;
    const coords: string[] = [];
    points.forEach((value, i) => {
      if (value === null) return;
      const x = ((offset + i) / (span - 1)) * 300;
      const y = 98 - ((value - bottom) / (top - bottom)) * 94;
      coords.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    line.setAttribute("points", coords.join(" "));
    line.setAttribute("stroke", GAP_COLOURS[index % GAP_COLOURS.length]!);
    svg.append(line);
  });
  svg.dataset.points = String(series[0]?.length ?? 0);
}

// --- Start ----------------------------------------------------------------------------

byId<HTMLFormElement>("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = byId<HTMLInputElement>("token").value.trim();
  if (token !== "") void logIn(token);
});
byId("logout").addEventListener("click", logOut);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved === null) showLogin();
else void logIn(saved);

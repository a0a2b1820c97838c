/**
 * What the migration console's API answers (`GET /api/v1/console/snapshot`, and each
 * event of `GET /api/v1/console/stream`), shared by the server and the page
 * (src/console/page/console.ts), which imports the types only (the browser loads one file).
 */

/** One point of the charts: taken every {@link SAMPLE_INTERVAL_MS} on the node. */
export interface ConsoleSample {
  /** When, in ms since the epoch. */
  readonly t: number;
  /** Open Engine.IO sessions. */
  readonly connections: number;
  /** Socket.IO packets sent to clients per second over the last interval. */
  readonly deliveries: number;
  /** Each shadowed route's latency gap p95 in ms (null before a match), by route id. */
  readonly gaps: Readonly<Record<string, number | null>>;
}

/** Sessions or sockets by the Engine.IO protocol revision their client speaks. */
export interface ByProtocol {
  /** Engine.IO 3: socket.io 2.x clients. */
  readonly v3: number;
  /** Engine.IO 4: socket.io 3.x and later. */
  readonly v4: number;
}

export interface ConsoleTarget {
  readonly backend: string;
  /** The channel template as written; absent: the kind's default. */
  readonly channel?: string;
}

export interface ConsoleRoute extends ConsoleTarget {
  readonly namespace: string;
  /** The room pattern. */
  readonly room: string;
  readonly rollout?: ConsoleTarget & {
    readonly percent: number;
    readonly shadow?: ConsoleTarget & { readonly percent: number };
  };
  readonly shadow?: ConsoleTarget & { readonly percent: number };
}

export interface ConsoleRoom {
  readonly namespace: string;
  readonly room: string;
  /** Members on this node. */
  readonly members: number;
  readonly backend: string;
  /** Absent for the native core, which carries rooms by name. */
  readonly channel?: string;
  /** The route's room pattern that places it; absent: no route (the native core). */
  readonly route?: string;
  /** Whether the room's rollout bucket put it on the route's rollout target. */
  readonly isRollout: boolean;
  /** Its shadow target, when the room is shadowed. */
  readonly shadow?: { readonly backend: string; readonly channel: string };
}

export interface ConsoleBackend {
  readonly name: string;
  readonly kind: string;
  readonly isReady: boolean;
  /** Why not ready; null when ready. */
  readonly reason: string | null;
  /** Channels held, for the managed kinds; null for the native core. */
  readonly subscriptions: { readonly confirmed: number; readonly pending: number } | null;
  /** Publications accepted per second over the last interval. */
  readonly publishRate: number;
  /** Publications refused since start. */
  readonly refused: number;
  /** The kind's failure counts since start, by `publish:<reason>`, `connection:<reason>`, `subscribe:<reason>`. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface ConsoleShadowRoute {
  readonly id: string;
  readonly namespace: string;
  readonly room: string;
  readonly primary: string;
  readonly shadow: string;
  readonly counts: Readonly<Record<string, number>>;
  readonly latencyGap: {
    readonly p50: number | null;
    readonly p95: number | null;
    readonly p99: number | null;
  };
  readonly verdict: "ready" | "not-ready" | "insufficient-data";
  readonly reasons: readonly string[];
}

export interface ConsoleError {
  /** ms since the epoch: the sample in which the count rose. */
  readonly at: number;
  readonly code: string;
  /** How many in that interval. */
  readonly count: number;
}

export interface ConsoleSnapshot {
  /** When it was built, ms since the epoch. */
  readonly at: number;
  readonly node: {
    readonly version: string;
    /** ms since the epoch. */
    readonly startedAt: number;
    /** This node's cluster tag; null on a single node. */
    readonly tag: string | null;
    /** Nodes of the cluster as the native core on Redis counts them; 1 alone; null: unknown. */
    readonly nodes: number | null;
    /** The cluster's node registry (tag and URL of each live node); null when not known. */
    readonly registry: readonly { readonly tag: string; readonly url: string }[] | null;
  };
  readonly config: {
    readonly source: string;
    /** ms since the epoch. */
    readonly loadedAt: number;
    /** 1 at start, one more for each applied reload. */
    readonly revision: number;
    readonly lastReload: { readonly result: string; readonly at: number } | null;
  };
  readonly connections: { readonly total: number } & ByProtocol;
  readonly namespaces: readonly ({
    readonly namespace: string;
    readonly sockets: number;
    readonly rooms: number;
  } & ByProtocol)[];
  readonly routes: readonly ConsoleRoute[];
  /** At most {@link MAX_ROOMS_SHOWN}, most members first. */
  readonly rooms: readonly ConsoleRoom[];
  /** Rooms with local members in every namespace (all of them, shown or not). */
  readonly roomsTotal: number;
  readonly backends: readonly ConsoleBackend[];
  /** null when the file has no `passthrough:`. */
  readonly passthrough: {
    readonly target: string;
    /** The configured share relayed, percent. */
    readonly percent: number;
    /** Relayed connections open now (WebSocket and polling). */
    readonly legacy: number;
    /** Engine.IO sessions served here. */
    readonly switchyard: number;
    readonly failing: string | null;
  } | null;
  readonly shadow: { readonly since: string; readonly routes: readonly ConsoleShadowRoute[] };
  /** At most {@link MAX_RECENT_ERRORS}, newest first. */
  readonly errors: readonly ConsoleError[];
  /** Every code counted since start. */
  readonly errorTotals: Readonly<Record<string, number>>;
  /** The charts' history, oldest first: in the snapshot route and a stream's first event. */
  readonly history?: readonly ConsoleSample[];
  /** The newest sample. */
  readonly sample: ConsoleSample | null;
}

/** How often the node samples for the charts and a stream is sent a snapshot, ms. */
export const SAMPLE_INTERVAL_MS = 1000;
/** Samples kept: ten minutes. */
export const MAX_SAMPLES = 600;
/** Rooms a snapshot lists at most. */
export const MAX_ROOMS_SHOWN = 200;
/** Recent errors a snapshot lists at most. */
export const MAX_RECENT_ERRORS = 50;

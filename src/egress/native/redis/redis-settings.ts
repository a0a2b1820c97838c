/**
 * The `redis` block of a `native` backend's settings: its JSON Schema (checked when
 * the configuration loads) and the resolved settings with every default filled in.
 */

/**
 * How the nodes talk over Redis: `classic` and `sharded` as `@socket.io/redis-adapter`
 * names them, `streams` as `@socket.io/redis-streams-adapter` works.
 */
export type RedisMode = "classic" | "sharded" | "streams";

/** Which per-room channels a sharded node listens on (the adapter's `subscriptionMode`). */
export type ShardedSubscriptionMode = "static" | "dynamic" | "dynamic-private";

/** The block as written in YAML, after `${VAR}` expansion and schema validation. */
export interface NativeRedisSettingsInput {
  readonly url?: string;
  readonly key?: string;
  readonly mode?: RedisMode;
  readonly subscriptionMode?: ShardedSubscriptionMode;
  readonly requestsTimeout?: number;
  readonly streamName?: string;
  readonly streamCount?: number;
  readonly maxLen?: number;
  readonly readCount?: number;
  readonly blockTimeInMs?: number;
  readonly sessionKeyPrefix?: string;
}

/** What streams mode adds, with defaults applied (`@socket.io/redis-streams-adapter`'s names). */
export interface NativeRedisStreamsSettings {
  /** The stream, or the prefix of the streams `${streamName}-${i}` when `streamCount` > 1. */
  readonly streamName: string;
  /** How many streams the namespaces are spread over (by the adapter's hash of the name). */
  readonly streamCount: number;
  /** `XADD ... MAXLEN ~ maxLen`: about how many entries each stream keeps. */
  readonly maxLen: number;
  /** Entries read per stream by one XREAD. */
  readonly readCount: number;
  /** How long one XREAD blocks waiting for entries, in milliseconds. */
  readonly blockTimeInMs: number;
  /** Where kept sockets are persisted for connection state recovery: `<prefix><pid>`. */
  readonly sessionKeyPrefix: string;
}

/** The settings with defaults applied; durations in milliseconds. */
export interface NativeRedisSettings {
  readonly url: string;
  /** The adapter's `key` (classic) or `channelPrefix` (sharded). */
  readonly key: string;
  readonly mode: RedisMode;
  readonly subscriptionMode: ShardedSubscriptionMode;
  readonly requestsTimeout: number;
  /**
   * Present exactly in `streams` mode, so that the other modes' settings carry
   * nothing they do not use.
   */
  readonly streams?: NativeRedisStreamsSettings;
}

/** The defaults, as documented in the schema below (the adapter's own defaults). */
export const NATIVE_REDIS_DEFAULTS = {
  url: "redis://127.0.0.1:6379",
  key: "socket.io",
  mode: "classic",
  subscriptionMode: "dynamic",
  requestsTimeout: 5000,
} as const satisfies NativeRedisSettings;

/** Streams mode's defaults, those of `@socket.io/redis-streams-adapter` 0.3. */
export const NATIVE_REDIS_STREAMS_DEFAULTS = {
  streamName: "socket.io",
  streamCount: 1,
  maxLen: 10_000,
  readCount: 100,
  blockTimeInMs: 5000,
  sessionKeyPrefix: "sio:session:",
} as const satisfies NativeRedisStreamsSettings;

/** JSON Schema (draft-07) of the `redis` block. */
export const nativeRedisSettingsSchema: Readonly<Record<string, unknown>> = {
  description:
    "Carry the native core across nodes on Redis, wire-compatible with socket.io's `@socket.io/redis-adapter` 8.x and `@socket.io/redis-emitter` 5.x, or (mode `streams`) with `@socket.io/redis-streams-adapter` 0.3. Absent: rooms stay in this process.",
  type: "object",
  additionalProperties: false,
  properties: {
    url: {
      description: `Redis URL, \`redis://[user:password@]host:port[/db]\` or \`rediss://\` for TLS. Default \`${NATIVE_REDIS_DEFAULTS.url}\`.`,
      type: "string",
      pattern: "^rediss?://",
      default: NATIVE_REDIS_DEFAULTS.url,
    },
    key: {
      description: `The adapter's \`key\` (classic) or \`channelPrefix\` (sharded, streams): every node and emitter of one cluster uses the same. Default \`${NATIVE_REDIS_DEFAULTS.key}\`.`,
      type: "string",
      minLength: 1,
      default: NATIVE_REDIS_DEFAULTS.key,
    },
    mode: {
      description:
        "`classic`: PUBLISH/PSUBSCRIBE, like `createAdapter` (and the emitter). `sharded`: SPUBLISH/SSUBSCRIBE, like `createShardedAdapter` (Redis 7 or later; the emitter cannot reach it). `streams`: broadcasts and remote joins on a Redis stream, requests on PUBLISH/SUBSCRIBE, like `@socket.io/redis-streams-adapter`'s `createAdapter` (Redis 5 or later; the emitter cannot reach it; one more connection, the stream bounded by `maxLen`). Default `classic`.",
      enum: ["classic", "sharded", "streams"],
      default: NATIVE_REDIS_DEFAULTS.mode,
    },
    subscriptionMode: {
      description:
        "Sharded mode only, like the adapter's option: `static` (one channel per namespace), `dynamic` (plus one channel per room that is not a socket id) or `dynamic-private` (plus one per room, socket ids included). Every node must use the same. Default `dynamic`.",
      enum: ["static", "dynamic", "dynamic-private"],
      default: NATIVE_REDIS_DEFAULTS.subscriptionMode,
    },
    requestsTimeout: {
      description: `How long a cluster request this node makes (all rooms, fetch sockets) waits for every other node's answer before it fails with SWY_NATIVE_REDIS_TIMEOUT; also bounds each Redis command and the wait for the connections at start. In milliseconds; default ${NATIVE_REDIS_DEFAULTS.requestsTimeout}.`,
      type: "integer",
      minimum: 1,
      maximum: 600_000,
      default: NATIVE_REDIS_DEFAULTS.requestsTimeout,
    },
    streamName: {
      description: `Streams mode only, the adapter's option: the stream every node writes its broadcasts to and reads the others' from, or the prefix of \`<streamName>-<i>\` when \`streamCount\` is above 1. Every node must use the same. Default \`${NATIVE_REDIS_STREAMS_DEFAULTS.streamName}\`.`,
      type: "string",
      minLength: 1,
      default: NATIVE_REDIS_STREAMS_DEFAULTS.streamName,
    },
    streamCount: {
      description: `Streams mode only, the adapter's option: how many streams the namespaces are spread over (each namespace keeps to one, so its order holds). Every node must use the same. Default ${NATIVE_REDIS_STREAMS_DEFAULTS.streamCount}.`,
      type: "integer",
      minimum: 1,
      maximum: 1024,
      default: NATIVE_REDIS_STREAMS_DEFAULTS.streamCount,
    },
    maxLen: {
      description: `Streams mode only, the adapter's option: about how many entries a stream keeps (\`XADD MAXLEN ~\`); older ones are trimmed, and a client away longer than they last cannot recover. Default ${NATIVE_REDIS_STREAMS_DEFAULTS.maxLen}.`,
      type: "integer",
      minimum: 1,
      default: NATIVE_REDIS_STREAMS_DEFAULTS.maxLen,
    },
    readCount: {
      description: `Streams mode only, the adapter's option: the most entries one XREAD takes from a stream. Default ${NATIVE_REDIS_STREAMS_DEFAULTS.readCount}.`,
      type: "integer",
      minimum: 1,
      maximum: 100_000,
      default: NATIVE_REDIS_STREAMS_DEFAULTS.readCount,
    },
    blockTimeInMs: {
      description: `Streams mode only, the adapter's option: how long one XREAD waits for new entries before it is sent again, in milliseconds. Default ${NATIVE_REDIS_STREAMS_DEFAULTS.blockTimeInMs}.`,
      type: "integer",
      minimum: 1,
      maximum: 600_000,
      default: NATIVE_REDIS_STREAMS_DEFAULTS.blockTimeInMs,
    },
    sessionKeyPrefix: {
      description: `Streams mode only, the adapter's option: with \`server.connectionStateRecovery\` on, a disconnected socket is kept at \`<sessionKeyPrefix><pid>\` until its recovery window ends, so that its client recovers on any node. Every node must use the same. Default \`${NATIVE_REDIS_STREAMS_DEFAULTS.sessionKeyPrefix}\`.`,
      type: "string",
      minLength: 1,
      default: NATIVE_REDIS_STREAMS_DEFAULTS.sessionKeyPrefix,
    },
  },
};

/** Fills in the defaults of a block the schema accepted. */
export function resolveNativeRedisSettings(input: NativeRedisSettingsInput): NativeRedisSettings {
  const mode = input.mode ?? NATIVE_REDIS_DEFAULTS.mode;
  const settings = {
    url: input.url ?? NATIVE_REDIS_DEFAULTS.url,
    key: input.key ?? NATIVE_REDIS_DEFAULTS.key,
    mode,
    subscriptionMode: input.subscriptionMode ?? NATIVE_REDIS_DEFAULTS.subscriptionMode,
    requestsTimeout: input.requestsTimeout ?? NATIVE_REDIS_DEFAULTS.requestsTimeout,
  };
  if (mode !== "streams") return settings;
  const defaults = NATIVE_REDIS_STREAMS_DEFAULTS;
  return {
    ...settings,
    streams: {
      streamName: input.streamName ?? defaults.streamName,
      streamCount: input.streamCount ?? defaults.streamCount,
      maxLen: input.maxLen ?? defaults.maxLen,
      readCount: input.readCount ?? defaults.readCount,
      blockTimeInMs: input.blockTimeInMs ?? defaults.blockTimeInMs,
      sessionKeyPrefix: input.sessionKeyPrefix ?? defaults.sessionKeyPrefix,
    },
  };
}

/** The keys of one mode only: written under another mode they would do nothing. */
const MODE_ONLY: readonly [key: keyof NativeRedisSettingsInput, mode: RedisMode][] = [
  ["subscriptionMode", "sharded"],
  ["streamName", "streams"],
  ["streamCount", "streams"],
  ["maxLen", "streams"],
  ["readCount", "streams"],
  ["blockTimeInMs", "streams"],
  ["sessionKeyPrefix", "streams"],
];

/**
 * Keys of another mode than the block's: refused rather than ignored, since whoever
 * wrote `maxLen` under `classic` expects a stream that is not there.
 */
export function checkNativeRedisSettings(
  input: NativeRedisSettingsInput | undefined,
): { path: string[]; message: string }[] {
  if (input === undefined) return [];
  const mode = input.mode ?? NATIVE_REDIS_DEFAULTS.mode;
  return MODE_ONLY.filter(([key, only]) => input[key] !== undefined && only !== mode).map(
    ([key, only]) => ({
      path: ["redis", key],
      message: `\`${key}\` applies to \`mode: ${only}\` only, and this block is in \`${mode}\` mode: set \`mode: ${only}\` or remove it`,
    }),
  );
}

/**
 * The `redis` block of a `native` backend's settings: its JSON Schema (checked when
 * the configuration loads) and the resolved settings with every default filled in.
 */

/** How the nodes talk over Redis, as `@socket.io/redis-adapter` names it. */
export type RedisMode = "classic" | "sharded";

/** Which per-room channels a sharded node listens on (the adapter's `subscriptionMode`). */
export type ShardedSubscriptionMode = "static" | "dynamic" | "dynamic-private";

/** The block as written in YAML, after `${VAR}` expansion and schema validation. */
export interface NativeRedisSettingsInput {
  readonly url?: string;
  readonly key?: string;
  readonly mode?: RedisMode;
  readonly subscriptionMode?: ShardedSubscriptionMode;
  readonly requestsTimeout?: number;
}

/** The settings with defaults applied; durations in milliseconds. */
export interface NativeRedisSettings {
  readonly url: string;
  /** The adapter's `key` (classic) or `channelPrefix` (sharded). */
  readonly key: string;
  readonly mode: RedisMode;
  readonly subscriptionMode: ShardedSubscriptionMode;
  readonly requestsTimeout: number;
}

/** The defaults, as documented in the schema below (the adapter's own defaults). */
export const NATIVE_REDIS_DEFAULTS = {
  url: "redis://127.0.0.1:6379",
  key: "socket.io",
  mode: "classic",
  subscriptionMode: "dynamic",
  requestsTimeout: 5000,
} as const satisfies NativeRedisSettings;

/** JSON Schema (draft-07) of the `redis` block. */
export const nativeRedisSettingsSchema: Readonly<Record<string, unknown>> = {
  description:
    "Carry the native core across nodes on Redis, wire-compatible with socket.io's `@socket.io/redis-adapter` 8.x and `@socket.io/redis-emitter` 5.x. Absent: rooms stay in this process.",
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
      description: `The adapter's \`key\` (classic) or \`channelPrefix\` (sharded): every node and emitter of one cluster uses the same. Default \`${NATIVE_REDIS_DEFAULTS.key}\`.`,
      type: "string",
      minLength: 1,
      default: NATIVE_REDIS_DEFAULTS.key,
    },
    mode: {
      description:
        "`classic`: PUBLISH/PSUBSCRIBE, like `createAdapter` (and the emitter). `sharded`: SPUBLISH/SSUBSCRIBE, like `createShardedAdapter` (Redis 7 or later; the emitter cannot reach it). Default `classic`.",
      enum: ["classic", "sharded"],
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
  },
};

/** Fills in the defaults of a block the schema accepted. */
export function resolveNativeRedisSettings(input: NativeRedisSettingsInput): NativeRedisSettings {
  return {
    url: input.url ?? NATIVE_REDIS_DEFAULTS.url,
    key: input.key ?? NATIVE_REDIS_DEFAULTS.key,
    mode: input.mode ?? NATIVE_REDIS_DEFAULTS.mode,
    subscriptionMode: input.subscriptionMode ?? NATIVE_REDIS_DEFAULTS.subscriptionMode,
    requestsTimeout: input.requestsTimeout ?? NATIVE_REDIS_DEFAULTS.requestsTimeout,
  };
}

/**
 * The settings every managed kind shares (docs/backends/managed.md): their resolved
 * form, as written in YAML, and the schema and resolution helpers each kind's settings
 * module uses for them.
 */

/** The settings every managed kind has; durations in ms. */
export interface ManagedSettings {
  /** How long `start()` waits for the first connection. */
  readonly connectTimeout: number;
  /** How long a subscription request may go unanswered before it is retried. */
  readonly subscribeTimeout: number;
  /** The first delay before a failed subscription is requested again; it doubles. */
  readonly subscribeRetryDelay: number;
  readonly subscribeRetryMaxDelay: number;
  /** Longest time from `publish()` to its settlement. */
  readonly publishTimeout: number;
  /** Most publications per call of the kind's `send`. */
  readonly batchSize: number;
  /** Most calls of the kind's `send` in flight at once. */
  readonly maxInflight: number;
  /** Most publications waiting for a call; more are refused. */
  readonly maxQueued: number;
}

/** {@link ManagedSettings} as written in YAML: each may be left out. */
export type ManagedSettingsInput = { readonly [K in keyof ManagedSettings]?: number };

const MANAGED_KEYS: readonly (keyof ManagedSettings)[] = [
  "connectTimeout",
  "subscribeTimeout",
  "subscribeRetryDelay",
  "subscribeRetryMaxDelay",
  "publishTimeout",
  "batchSize",
  "maxInflight",
  "maxQueued",
];

/** The managed settings of `input`, each missing one from `defaults`. */
export function managedSettingsOf(
  input: ManagedSettingsInput,
  defaults: ManagedSettings,
): ManagedSettings {
  return Object.fromEntries(
    MANAGED_KEYS.map((key) => [key, input[key] ?? defaults[key]]),
  ) as unknown as ManagedSettings;
}

/** The JSON Schema of a duration setting, in ms (1 ms to 10 minutes). */
export function durationSchema(description: string, fallback: number): Record<string, unknown> {
  return {
    description: `${description} In milliseconds; default ${fallback}.`,
    type: "integer",
    minimum: 1,
    maximum: 600_000,
    default: fallback,
  };
}

/** `input` without its `undefined` entries, so that a spread keeps the defaults under it. */
export function definedOnly<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

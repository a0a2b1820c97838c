/**
 * The `settings` block of a `pusher` backend: its JSON Schema (checked when the
 * configuration loads) and the resolved settings with every default filled in.
 */

import {
  definedOnly,
  durationSchema,
  type ManagedSettings,
  type ManagedSettingsInput,
} from "../managed/managed-settings.js";

/** The settings as written in YAML, after `${VAR}` expansion and schema validation. */
export interface PusherSettingsInput extends ManagedSettingsInput {
  readonly appId: string | number;
  readonly key: string;
  readonly secret: string;
  readonly cluster?: string;
  readonly host?: string;
  readonly port?: number | string;
  readonly useTLS?: boolean;
  readonly maxDataBytes?: number;
  readonly presenceUserId?: string;
}

/** Settings with defaults applied; durations in milliseconds. */
export interface PusherSettings extends ManagedSettings {
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
  readonly cluster: string;
  /** A Pusher-compatible server's host for both REST and WebSocket; absent: the cluster's hosts. */
  readonly host?: string;
  /** Port of {@link host}; absent: 443 with TLS, 80 without. */
  readonly port?: number;
  readonly useTLS: boolean;
  readonly maxDataBytes: number;
  readonly presenceUserId: string;
}

/** Pusher's documented limits (docs/backends/pusher.md, "Limits"). */
export const PUSHER_LIMITS = {
  /** Events per `batch_events` call on multi-tenant clusters. */
  eventsPerBatch: 10,
  /** Bytes of an event's `data`; "10 KB", read as the stricter 10,000. */
  dataBytes: 10_000,
  /** The largest reading of "10 KB", for servers known to accept it. */
  dataBytesCeiling: 10_240,
  channelNameChars: 164,
  eventNameChars: 200,
} as const;

/** The defaults, as documented in the schema below. */
export const PUSHER_DEFAULTS = {
  cluster: "mt1",
  useTLS: true,
  connectTimeout: 10_000,
  subscribeTimeout: 10_000,
  subscribeRetryDelay: 1000,
  subscribeRetryMaxDelay: 30_000,
  publishTimeout: 5000,
  batchSize: PUSHER_LIMITS.eventsPerBatch,
  maxInflight: 4,
  maxQueued: 1000,
  maxDataBytes: PUSHER_LIMITS.dataBytes,
  presenceUserId: "switchyard",
} as const;

/** JSON Schema (draft-07) of the settings of kind `pusher`. */
export const pusherSettingsSchema: Readonly<Record<string, unknown>> = {
  type: "object",
  additionalProperties: false,
  required: ["appId", "key", "secret"],
  properties: {
    appId: {
      description: "The Pusher app id (App Keys page), e.g. `1234567`.",
      type: ["string", "integer"],
      minLength: 1,
    },
    key: {
      description: "The app key, public: pusher-js connects with it.",
      type: "string",
      minLength: 1,
    },
    secret: {
      description:
        "The app secret: signs REST calls and channel authorizations. Never logged; take it from the environment.",
      type: "string",
      minLength: 1,
      writeOnly: true,
    },
    cluster: {
      description: `The app's cluster, e.g. \`eu\`; ignored when \`host\` is set. Default \`${PUSHER_DEFAULTS.cluster}\`.`,
      type: "string",
      default: PUSHER_DEFAULTS.cluster,
    },
    host: {
      description:
        "Host of a Pusher-compatible server (soketi, an emulator), used for both the REST API and the WebSocket. Empty or absent: the cluster's hosts.",
      type: "string",
    },
    port: {
      description:
        "Port of `host` for REST and WebSocket. Default 443 with TLS, 80 without; an empty " +
        "string (an unset `PUSHER_PORT:-` default) means the default.",
      type: ["integer", "string"],
      pattern: "^([0-9]{1,5})?$",
      minimum: 1,
      maximum: 65_535,
    },
    useTLS: {
      description:
        "HTTPS and WSS. Default true; set false only for a local Pusher-compatible server.",
      type: "boolean",
      default: PUSHER_DEFAULTS.useTLS,
    },
    connectTimeout: durationSchema(
      "How long start() waits for the first connection before it lets Switchyard run with the backend not ready (it keeps reconnecting).",
      PUSHER_DEFAULTS.connectTimeout,
    ),
    subscribeTimeout: durationSchema(
      "How long a channel subscription may wait for Pusher's confirmation before it counts as failed and is retried.",
      PUSHER_DEFAULTS.subscribeTimeout,
    ),
    subscribeRetryDelay: durationSchema(
      "Back-off before the first retry of a failed subscription; it doubles on each further failure, and a random part of up to half of it is taken off.",
      PUSHER_DEFAULTS.subscribeRetryDelay,
    ),
    subscribeRetryMaxDelay: durationSchema(
      "The longest back-off between subscription retries.",
      PUSHER_DEFAULTS.subscribeRetryMaxDelay,
    ),
    publishTimeout: durationSchema(
      "Longest time from a publication's arrival to its answer, wherever it waits (behind its channel's earlier publications, for the connection or Pusher to come back, or for Pusher's reply); past it the publication fails with SWY_PUSHER_UNAVAILABLE. Also the longest REST call.",
      PUSHER_DEFAULTS.publishTimeout,
    ),
    batchSize: {
      description: `Most events sent in one REST call (\`batch_events\`); Pusher allows ${PUSHER_LIMITS.eventsPerBatch}. Default ${PUSHER_DEFAULTS.batchSize}.`,
      type: "integer",
      minimum: 1,
      maximum: PUSHER_LIMITS.eventsPerBatch,
      default: PUSHER_DEFAULTS.batchSize,
    },
    maxInflight: {
      description: `Most REST calls in flight at once. Default ${PUSHER_DEFAULTS.maxInflight}.`,
      type: "integer",
      minimum: 1,
      maximum: 64,
      default: PUSHER_DEFAULTS.maxInflight,
    },
    maxQueued: {
      description: `Most publications waiting for a REST call; beyond it a publication fails at once with SWY_PUSHER_QUEUE_FULL. Default ${PUSHER_DEFAULTS.maxQueued}.`,
      type: "integer",
      minimum: 1,
      maximum: 1_000_000,
      default: PUSHER_DEFAULTS.maxQueued,
    },
    maxDataBytes: {
      description: `Largest event \`data\` sent, in UTF-8 bytes; larger fails with SWY_PUSHER_PAYLOAD_TOO_LARGE before sending. Default ${PUSHER_DEFAULTS.maxDataBytes} (Pusher's "10 KB").`,
      type: "integer",
      minimum: 1,
      maximum: PUSHER_LIMITS.dataBytesCeiling,
      default: PUSHER_DEFAULTS.maxDataBytes,
    },
    presenceUserId: {
      description: `The user id the backend's connection presents on presence channels. Default \`${PUSHER_DEFAULTS.presenceUserId}\`.`,
      type: "string",
      minLength: 1,
      maxLength: 128,
      default: PUSHER_DEFAULTS.presenceUserId,
    },
  },
};

/** Fills in the defaults of settings the schema accepted. */
export function resolvePusherSettings(input: PusherSettingsInput): PusherSettings {
  const host = input.host === undefined || input.host === "" ? undefined : input.host;
  const port = input.port === undefined || input.port === "" ? undefined : Number(input.port);
  return {
    ...PUSHER_DEFAULTS,
    ...definedOnly(input),
    appId: String(input.appId),
    key: input.key,
    secret: input.secret,
    host,
    port,
  };
}

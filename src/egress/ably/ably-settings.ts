/**
 * The `settings` block of an `ably` backend: its JSON Schema (checked when the
 * configuration loads) and the resolved settings with every default filled in.
 */

import {
  definedOnly,
  durationSchema,
  type ManagedSettings,
  type ManagedSettingsInput,
} from "../managed/managed-settings.js";

/** The settings as written in YAML, after `${VAR}` expansion and schema validation. */
export interface AblySettingsInput extends ManagedSettingsInput {
  readonly key: string;
  readonly endpoint?: string;
  readonly host?: string;
  readonly port?: number | string;
  readonly tls?: boolean;
  readonly clientId?: string;
  readonly useBinaryProtocol?: boolean;
  readonly maxMessageSize?: number;
}

/** Settings with defaults applied; durations in milliseconds. */
export interface AblySettings extends ManagedSettings {
  /** `appId.keyId:secret`. Never logged. */
  readonly key: string;
  /**
   * Where the SDK connects: an Ably endpoint name (`main`, `sandbox`), or a host of an
   * Ably-compatible server (from `host`). Absent: Ably's default endpoint.
   */
  readonly endpoint?: string;
  /** Whether `endpoint` is a host of an Ably-compatible server (the `host` setting). */
  readonly isCustomHost: boolean;
  /** Port of a host endpoint; absent: 443 with TLS, 80 without. */
  readonly port?: number;
  readonly tls: boolean;
  readonly clientId?: string;
  readonly useBinaryProtocol: boolean;
  readonly maxMessageSize: number;
}

/** Ably's documented limits (docs/backends/ably.md, "Limits"). */
export const ABLY_LIMITS = {
  /** Bytes of one publish request (name + data + extras of all its messages), by default. */
  maxMessageSize: 65_536,
  /** Channel names have no hard limit; older browsers have trouble past this. */
  channelNameChars: 2048,
} as const;

/** The defaults, as documented in the schema below. */
export const ABLY_DEFAULTS = {
  tls: true,
  useBinaryProtocol: true,
  connectTimeout: 10_000,
  subscribeTimeout: 10_000,
  subscribeRetryDelay: 1000,
  subscribeRetryMaxDelay: 30_000,
  publishTimeout: 5000,
  batchSize: 100,
  maxInflight: 8,
  maxQueued: 10_000,
  maxMessageSize: ABLY_LIMITS.maxMessageSize,
} as const;

/** JSON Schema (draft-07) of the settings of kind `ably`. */
export const ablySettingsSchema: Readonly<Record<string, unknown>> = {
  type: "object",
  additionalProperties: false,
  required: ["key"],
  properties: {
    key: {
      description:
        "The Ably API key, `appId.keyId:secret` (app dashboard, API Keys). Never logged; take it from the environment.",
      type: "string",
      pattern: "^[^.:\\s]+\\.[^:\\s]+:\\S+$",
      patternErrorMessage: "must be an Ably API key: appId.keyId:secret",
      writeOnly: true,
    },
    endpoint: {
      description:
        "Ably's endpoint to use (a routing policy such as `main`), or the host name of an Ably-compatible server. Absent: Ably's default. Give either `endpoint` or `host`.",
      type: "string",
    },
    host: {
      description:
        "Host of an Ably-compatible server (an emulator), for both realtime and REST; empty or absent: Ably itself. The SDK's connectivity checks go to this host too, so nothing leaves for Ably's.",
      type: "string",
    },
    port: {
      description:
        "Port of `host`. Default 443 with TLS, 80 without; an empty string (an unset `ABLY_PORT:-` default) means the default.",
      type: ["integer", "string"],
      pattern: "^([0-9]{1,5})?$",
      minimum: 1,
      maximum: 65_535,
    },
    tls: {
      description:
        "WSS and HTTPS. Default true; set false only for a local Ably-compatible server (hosted Ably refuses keys over plain connections).",
      type: "boolean",
      default: ABLY_DEFAULTS.tls,
    },
    clientId: {
      description:
        "The clientId of the backend's connection, when the key requires one. Absent: none.",
      type: "string",
      minLength: 1,
    },
    useBinaryProtocol: {
      description:
        "MessagePack on the wire (the SDK's default in Node). Default true; false sends JSON.",
      type: "boolean",
      default: ABLY_DEFAULTS.useBinaryProtocol,
    },
    connectTimeout: durationSchema(
      "How long start() waits for the first connection before it lets Switchyard run with the backend not ready (it keeps reconnecting).",
      ABLY_DEFAULTS.connectTimeout,
    ),
    subscribeTimeout: durationSchema(
      "How long a channel attach may wait for Ably's answer before it counts as failed and is retried.",
      ABLY_DEFAULTS.subscribeTimeout,
    ),
    subscribeRetryDelay: durationSchema(
      "Back-off before the first retry of a failed attach; it doubles on each further failure, and a random part of up to half of it is taken off.",
      ABLY_DEFAULTS.subscribeRetryDelay,
    ),
    subscribeRetryMaxDelay: durationSchema(
      "The longest back-off between attach retries.",
      ABLY_DEFAULTS.subscribeRetryMaxDelay,
    ),
    publishTimeout: durationSchema(
      "Longest time from a publication's arrival to its answer, wherever it waits (behind its channel's earlier publications, for Ably to come back, or for Ably's reply); past it the publication fails with SWY_ABLY_UNAVAILABLE. Also the longest REST call.",
      ABLY_DEFAULTS.publishTimeout,
    ),
    batchSize: {
      description: `Most publications sent per round of REST calls (one call per channel, its messages in order). Default ${ABLY_DEFAULTS.batchSize}.`,
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: ABLY_DEFAULTS.batchSize,
    },
    maxInflight: {
      description: `Most rounds of REST calls in flight at once. Default ${ABLY_DEFAULTS.maxInflight}.`,
      type: "integer",
      minimum: 1,
      maximum: 64,
      default: ABLY_DEFAULTS.maxInflight,
    },
    maxQueued: {
      description: `Most publications waiting for a REST call; beyond it a publication fails at once with SWY_ABLY_QUEUE_FULL. Default ${ABLY_DEFAULTS.maxQueued}.`,
      type: "integer",
      minimum: 1,
      maximum: 1_000_000,
      default: ABLY_DEFAULTS.maxQueued,
    },
    maxMessageSize: {
      description: `Largest message sent, in bytes as Ably counts them (name and data); larger fails with SWY_ABLY_PAYLOAD_TOO_LARGE before sending. Default ${ABLY_DEFAULTS.maxMessageSize}, Ably's default \`maxMessageSize\`; raise it only when your account's limit is higher.`,
      type: "integer",
      minimum: 1,
      maximum: 16_777_216,
      default: ABLY_DEFAULTS.maxMessageSize,
    },
  },
};

/** Fills in the defaults of settings the schema accepted. */
export function resolveAblySettings(input: AblySettingsInput): AblySettings {
  const { host: rawHost, endpoint: rawEndpoint, port: rawPort, ...rest } = input;
  // Empty values come from unset `${VAR:-}` defaults: they count as absent.
  const host = rawHost === "" ? undefined : rawHost;
  const endpoint = host ?? (rawEndpoint === "" ? undefined : rawEndpoint);
  const port = rawPort === undefined || rawPort === "" ? undefined : Number(rawPort);
  return {
    ...ABLY_DEFAULTS,
    ...definedOnly(rest),
    key: input.key,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(port === undefined ? {} : { port }),
    isCustomHost: host !== undefined,
  };
}

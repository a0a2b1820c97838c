import type { BackendFactory } from "../registry.js";
import { NativeBackend } from "./native-backend.js";
import {
  checkNativeRedisSettings,
  type NativeRedisSettingsInput,
  nativeRedisSettingsSchema,
  resolveNativeRedisSettings,
} from "./redis/redis-settings.js";

/** The `settings` of kind `native`, as written in YAML. */
export interface NativeSettingsInput {
  readonly redis?: NativeRedisSettingsInput;
}

/**
 * Kind `native`: rooms carried in process, and across nodes on Redis when the
 * settings have a `redis` block (wire-compatible with `@socket.io/redis-adapter`,
 * so socket.io servers and `@socket.io/redis-emitter` share the rooms).
 */
export const nativeFactory = {
  kind: "native",
  settingsSchema: {
    type: "object",
    additionalProperties: false,
    properties: { redis: nativeRedisSettingsSchema },
  },
  checkSettings: (settings) => checkNativeRedisSettings(settings?.redis),
  // On Redis a publication is a broadcast every node (and every socket.io node) hands to
  // its members of the room: a shadow's copy would reach them.
  shadowProblem: (settings) =>
    settings?.redis === undefined
      ? undefined
      : "on Redis its publications reach every node's members of the room, so they would get each message twice",
  create: (name, settings, deps) =>
    new NativeBackend(name, {
      log: deps.log,
      ...(deps.limits === undefined ? {} : { limits: deps.limits }),
      ...(settings?.redis === undefined
        ? {}
        : { redis: resolveNativeRedisSettings(settings.redis) }),
    }),
} as const satisfies BackendFactory<NativeSettingsInput>;

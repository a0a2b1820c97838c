import type { BackendFactory } from "../registry.js";
import { NativeBackend } from "./native-backend.js";

/** Kind `native`: rooms carried in process. It takes no settings yet. */
export const nativeFactory = {
  kind: "native",
  settingsSchema: { type: "object", additionalProperties: false, properties: {} },
  create: (name) => new NativeBackend(name),
} as const satisfies BackendFactory<Record<string, never>>;

/**
 * The mapping's public surface: load a YAML file into a frozen SwitchyardConfig,
 * and print what is wrong with it.
 */

export { type LoadResult, loadConfig, loadConfigFromString } from "./compile.js";
export { formatDiagnostic, hasErrors } from "./diagnostic.js";
export type { Env } from "./load.js";
export { CONFIG_SCHEMA, DEFAULTS } from "./schema.js";
export { Secret } from "./secret.js";
export type * from "./types.js";
export { RESERVED_EVENTS } from "./validate.js";

import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import type { BackendRegistry } from "./egress/registry.js";
import { loadConfig } from "./mapping/compile.js";
import { formatDiagnostic } from "./mapping/diagnostic.js";
import type { Env } from "./mapping/load.js";
import type { SwitchyardConfig } from "./mapping/types.js";
import { metrics } from "./metrics.js";

/** What one reload did. */
export type ReloadResult =
  /** The new configuration is in force. */
  | "applied"
  /** The file has errors (logged); the last good configuration stays. */
  | "invalid"
  /** A new backend would not start (logged); the last good configuration stays. */
  | "failed"
  /** A file-watch event with the same text as the configuration in force. */
  | "unchanged";

/** What the reloader applies configurations to: a running Switchyard. */
export interface Reloadable {
  reload(config: SwitchyardConfig): Promise<unknown>;
}

export interface ReloaderOptions {
  readonly log: Logger;
  /** Also reload when the file changes on disk. Default false. */
  readonly watch?: boolean;
  /** Milliseconds a burst of file events is gathered into one reload; default 100. */
  readonly settleMs?: number;
  readonly env?: Env;
  readonly kinds?: BackendRegistry;
  /** Called after every reload with its result (tests wait on it). */
  readonly onReload?: (result: ReloadResult) => void;
}

/**
 * Reloads the mapping file on demand (SIGHUP) and, optionally, when it changes on
 * disk. A reload validates and compiles the file first: a file with errors changes
 * nothing and its diagnostics are logged, so the last good configuration stays in
 * force. Reloads never overlap: one asked for during another runs after it.
 *
 * The folder is watched rather than the file, because editors and config-management
 * tools replace a file by renaming a new one over it, which ends a watch on the file.
 */
export class ConfigReloader {
  readonly #file: string;
  readonly #target: Reloadable;
  readonly #options: ReloaderOptions;
  readonly #watcher: FSWatcher | undefined;
  #lastText: string | undefined;
  #running: Promise<ReloadResult> | undefined;
  #queued: Promise<ReloadResult> | undefined;
  #settle: NodeJS.Timeout | undefined;

  constructor(file: string, target: Reloadable, options: ReloaderOptions) {
    this.#file = file;
    this.#target = target;
    this.#options = options;
    this.#lastText = readText(file);
    if (options.watch === true) {
      const name = basename(file);
      this.#watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== null && changed !== name) return;
        clearTimeout(this.#settle);
        this.#settle = setTimeout(() => {
          void this.reload("watch");
        }, options.settleMs ?? 100);
      });
    }
  }

  /**
   * Loads the file and applies it. `watch` skips a file whose text has not changed;
   * `signal` always reloads (so a changed JWKS file or environment is picked up).
   * Never rejects.
   */
  reload(trigger: "signal" | "watch"): Promise<ReloadResult> {
    if (this.#running === undefined) {
      this.#running = this.#reload(trigger).finally(() => {
        this.#running = undefined;
      });
      return this.#running;
    }
    // One reload waits behind the running one and serves every request made meanwhile.
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined;
      return this.reload(trigger);
    });
    return this.#queued;
  }

  close(): void {
    clearTimeout(this.#settle);
    this.#watcher?.close();
  }

  async #reload(trigger: "signal" | "watch"): Promise<ReloadResult> {
    const result = await this.#apply(trigger);
    if (result !== "unchanged") metrics.reloads.inc({ result });
    this.#options.onReload?.(result);
    return result;
  }

  async #apply(trigger: "signal" | "watch"): Promise<ReloadResult> {
    const { log } = this.#options;
    const text = readText(this.#file);
    if (trigger === "watch" && (text === undefined || text === this.#lastText)) return "unchanged";
    const { config, diagnostics } = loadConfig(this.#file, this.#options.env, this.#options.kinds);
    for (const diagnostic of diagnostics) {
      const line = formatDiagnostic(diagnostic);
      if (diagnostic.severity === "error") log.error({ trigger }, line);
      else log.warn({ trigger }, line);
    }
    if (config === undefined) {
      log.error({ trigger, file: this.#file }, "configuration not reloaded: the file has errors");
      return "invalid";
    }
    try {
      await this.#target.reload(config);
    } catch (error) {
      log.error({ err: error, trigger }, "configuration not reloaded: a backend failed to start");
      return "failed";
    }
    this.#lastText = text;
    return "applied";
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

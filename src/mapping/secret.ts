import { inspect } from "node:util";

const SHOWN = "[secret]";

/**
 * A configuration value that must never be printed, such as `api.token`. Logs,
 * `JSON.stringify`, string conversion and `util.inspect` all show `[secret]`; only
 * {@link reveal} returns the value.
 */
export class Secret<T = string> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
    Object.freeze(this);
  }

  /** The value itself, for the one place that must compare it. */
  reveal(): T {
    return this.#value;
  }

  toJSON(): string {
    return SHOWN;
  }

  toString(): string {
    return SHOWN;
  }

  [inspect.custom](): string {
    return SHOWN;
  }
}

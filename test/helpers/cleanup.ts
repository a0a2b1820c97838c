import { afterAll, afterEach } from "vitest";

/**
 * Things to close after a test (or a whole file), closed in reverse order of
 * registration: clients before the servers they talk to.
 */
export class Cleanup {
  #tasks: (() => unknown)[] = [];

  /** Registers something to close; tasks run even when an earlier one fails. */
  add(task: () => unknown): void {
    this.#tasks.push(task);
  }

  async run(): Promise<void> {
    const tasks = this.#tasks.reverse();
    this.#tasks = [];
    const errors: unknown[] = [];
    for (const task of tasks) {
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
  }
}

/** A cleanup list run after every test of the file. */
export function useCleanup(): Cleanup {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  return cleanup;
}

/** A cleanup list run once, after the last test of the file. */
export function useFileCleanup(): Cleanup {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());
  return cleanup;
}

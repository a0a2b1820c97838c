/**
 * Event arguments as the caller declares them. Each emitter flavour types its
 * listeners its own way (Node's EventEmitter, socket.io-client, `ws`), so the
 * helpers take any and let the caller name the tuple.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above.
type AnyArgs = any[];

/** Anything with `on` and `off` or `removeListener`. */
export interface Listenable {
  on: (...args: AnyArgs) => unknown;
  off?: (...args: AnyArgs) => unknown;
  removeListener?: (...args: AnyArgs) => unknown;
}

/** How long a helper waits before it fails the test with a readable message. */
export const WAIT_LIMIT_MS = 5000;

function unsubscribe(
  emitter: Listenable,
  event: string,
  listener: (...args: never[]) => void,
): void {
  if (emitter.off !== undefined) emitter.off(event, listener);
  else emitter.removeListener?.(event, listener);
}

/**
 * Resolves with the arguments of the next `event`. Rejects after `limitMs` so a
 * missing event fails with its name rather than as a bare test timeout; the limit
 * is a deadline, never a synchronisation point.
 */
export function waitFor<T extends unknown[] = AnyArgs>(
  emitter: Listenable,
  event: string,
  limitMs = WAIT_LIMIT_MS,
): Promise<T> {
  return waitForMatch<T>(emitter, event, () => true, limitMs);
}

/** Resolves with the arguments of the first `event` whose arguments satisfy `predicate`. */
export function waitForMatch<T extends unknown[] = AnyArgs>(
  emitter: Listenable,
  event: string,
  predicate: (...args: T) => boolean,
  limitMs = WAIT_LIMIT_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const listener = (...args: unknown[]): void => {
      if (!predicate(...(args as T))) return;
      clearTimeout(timer);
      unsubscribe(emitter, event, listener);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      unsubscribe(emitter, event, listener);
      reject(new Error(`timed out after ${limitMs} ms waiting for "${event}"`));
    }, limitMs);
    emitter.on(event, listener);
  });
}

/** Rejects after `limitMs` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, what: string, limitMs = WAIT_LIMIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${limitMs} ms waiting for ${what}`)),
      limitMs,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once `condition` holds, checking it again on every turn of the event loop
 * (for state no event announces: an emulator's tables, a metric); fails with `what` after
 * `limitMs`.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  limitMs = WAIT_LIMIT_MS,
): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Sets `target[key]` as an own, enumerable property, even for the key `__proto__`:
 * `JSON.parse` makes `"__proto__"` an ordinary key, but assigning it with `=` would
 * replace the target's prototype instead (dropping the key and letting the object
 * inherit whatever the value holds). Every copy of untrusted data key by key uses this.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

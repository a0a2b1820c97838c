/**
 * Whether a value holds binary data anywhere: a Buffer, an ArrayBuffer, or any typed
 * array or DataView, at any depth. Shared by the Socket.IO encoder (binary events
 * become BINARY_EVENT with attachments) and the backends that must carry binary their
 * own way (Pusher's envelope, MessagePack on Redis).
 *
 * An object with a `toJSON` method is sent as what that method returns. By default
 * such an object counts as not binary (Socket.IO's encoder sends it as JSON); with
 * `followToJson` its own values and then its `toJSON()` result are searched, the rule
 * `@socket.io/redis-adapter` uses to choose MessagePack over JSON. Nesting deeper than
 * 64 levels counts as no binary.
 */
export function hasBinary(value: unknown, followToJson = false): boolean {
  return scan(value, followToJson, 0);
}

/** A Buffer, an ArrayBuffer, or a view of one. */
export function isBinary(value: unknown): value is Buffer | ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

const MAX_DEPTH = 64;

function scan(value: unknown, followToJson: boolean, depth: number): boolean {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return false;
  if (isBinary(value)) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (scan(item, followToJson, depth + 1)) return true;
    return false;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function" && !followToJson) return false;
  for (const key of Object.keys(value)) {
    if (scan((value as Record<string, unknown>)[key], followToJson, depth + 1)) return true;
  }
  return typeof toJSON === "function" && scan(toJSON.call(value), followToJson, depth + 1);
}

/**
 * Whether a value holds, at any depth up to 64, an object shaped like a Socket.IO
 * attachment placeholder (`{"_placeholder": true, ...}`). In a packet that also
 * carries binary, a client reads such an object as a reference to an attachment and,
 * when it names none, drops its whole connection; data from outside that mixes the
 * two is refused where it enters.
 */
export function hasPlaceholder(value: unknown): boolean {
  return findPlaceholder(value, 0);
}

function findPlaceholder(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH || isBinary(value)) {
    return false;
  }
  if (Array.isArray(value)) {
    for (const item of value) if (findPlaceholder(item, depth + 1)) return true;
    return false;
  }
  if ((value as { _placeholder?: unknown })._placeholder === true) return true;
  for (const key of Object.keys(value)) {
    if (findPlaceholder((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

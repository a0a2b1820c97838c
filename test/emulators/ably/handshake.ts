/**
 * The realtime upgrade request: its query parameters (reference §1) checked and
 * the API key authenticated (reference §12). Pure: no socket is touched.
 */
import {
  AblyCode,
  type Capability,
  type ErrorInfo,
  errorInfo,
  type Format,
  PROTOCOL_VERSIONS,
  parseKey,
} from "./protocol.js";

/** An API key of an emulated app, ready for lookups. */
export interface ResolvedKey {
  appId: string;
  /** `appId.keyId`, the part before the `:`. */
  keyName: string;
  secret: string;
  capability: Capability;
}

/** What a valid upgrade request asked for. */
export interface HandshakeParams {
  format: Format;
  version: number;
  key: ResolvedKey;
  /** The connection's clientId, from the `clientId` parameter; absent for anonymous clients. */
  clientId?: string;
  /** False when the client sent `echo=false` (echoMessages off). */
  echo: boolean;
  /** True when the client wants HEARTBEAT frames rather than WebSocket pings (browsers). */
  heartbeats: boolean;
  /** The connectionKey to resume (`resume`) or recover (`recover`), if any. */
  resumeKey?: string;
  /** ms; `remainPresentFor` transport param. */
  remainPresentFor?: number;
  /** ms; `heartbeatInterval` transport param, replacing maxIdleInterval for this connection. */
  heartbeatInterval?: number;
}

/** The outcome: the parameters, or the error to send (in `format`) before closing. */
export type HandshakeResult =
  | { ok: true; params: HandshakeParams }
  | { ok: false; format: Format; error: ErrorInfo };

/**
 * Checks `/?key=…&format=…&v=…` (reference §1, §12): a `format` other than json
 * or msgpack and a `v` outside 2–6 are 40000; missing credentials, an unknown
 * key and a wrong secret are 40101, as is a token (token auth is not emulated).
 */
export function checkHandshake(
  url: string | undefined,
  findKey: (keyName: string) => ResolvedKey | undefined,
): HandshakeResult {
  const query = new URL(url ?? "/", "http://emulator.invalid").searchParams;
  const formatParam = query.get("format") ?? "json";
  if (formatParam !== "json" && formatParam !== "msgpack") {
    return refuse("json", AblyCode.BAD_REQUEST, 400, `Unsupported format ${formatParam}`);
  }
  const format: Format = formatParam;
  const versionParam = query.get("v");
  const version = Number(versionParam);
  if (
    versionParam === null ||
    !Number.isInteger(version) ||
    version < PROTOCOL_VERSIONS.min ||
    version > PROTOCOL_VERSIONS.max
  ) {
    return refuse(
      format,
      AblyCode.BAD_REQUEST,
      400,
      `Unsupported protocol version ${versionParam ?? "(none)"}; this emulator speaks ${PROTOCOL_VERSIONS.min}-${PROTOCOL_VERSIONS.max}`,
    );
  }
  if (query.has("access_token")) {
    return refuse(
      format,
      AblyCode.INVALID_CREDENTIALS,
      401,
      "Token auth is not supported by this emulator; use an API key",
    );
  }
  const fullKey = query.get("key");
  if (fullKey === null) {
    return refuse(format, AblyCode.INVALID_CREDENTIALS, 401, "No authentication information");
  }
  const key = authenticate(fullKey, findKey);
  if (key === undefined) {
    return refuse(format, AblyCode.INVALID_CREDENTIALS, 401, "Invalid credentials");
  }
  const clientId = query.get("clientId") ?? undefined;
  if (clientId === "" || clientId === "*") {
    return refuse(format, AblyCode.INVALID_CLIENT_ID, 400, "Invalid clientId");
  }
  const params: HandshakeParams = {
    format,
    version,
    key,
    echo: query.get("echo") !== "false",
    heartbeats: query.get("heartbeats") === "true",
  };
  if (clientId !== undefined) params.clientId = clientId;
  const resumeKey = query.get("resume") ?? query.get("recover");
  if (resumeKey !== null) params.resumeKey = resumeKey;
  const remainPresentFor = milliseconds(query.get("remainPresentFor"));
  if (remainPresentFor !== undefined) params.remainPresentFor = remainPresentFor;
  const heartbeatInterval = milliseconds(query.get("heartbeatInterval"));
  if (heartbeatInterval !== undefined && heartbeatInterval > 0) {
    params.heartbeatInterval = heartbeatInterval;
  }
  return { ok: true, params };
}

/** The key named in `appId.keyId:secret` when the secret matches; undefined otherwise. */
export function authenticate(
  fullKey: string,
  findKey: (keyName: string) => ResolvedKey | undefined,
): ResolvedKey | undefined {
  const parsed = parseKey(fullKey);
  if (parsed === undefined) return undefined;
  const key = findKey(parsed.keyName);
  return key !== undefined && key.secret === parsed.secret ? key : undefined;
}

function milliseconds(value: string | null): number | undefined {
  if (value === null) return undefined;
  const ms = Number(value);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

function refuse(format: Format, code: number, status: number, message: string): HandshakeResult {
  return { ok: false, format, error: errorInfo(code, status, message) };
}

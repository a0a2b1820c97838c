/**
 * The HTTP half of the emulator: the REST endpoints ably-js calls (reference §13)
 * and the connectivity-check URL it probes (reference §15).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppChannels, HistoryQuery } from "./app-channels.js";
import { authenticate, type ResolvedKey } from "./handshake.js";
import {
  AblyCode,
  allowedOps,
  capabilityRefusal,
  channelNameProblem,
  decodeFrame,
  type ErrorInfo,
  encodeFrame,
  errorInfo,
  type Format,
  messageToWire,
  parseMessages,
  presenceToWire,
  randomId,
} from "./protocol.js";

/** What the REST handler needs from the emulator. */
export interface RestContext {
  findKey(keyName: string): ResolvedKey | undefined;
  channelsOf(appId: string): AppChannels;
  maxMessageSize: number;
  /** The error every publish is refused with while a test asks for it. */
  publishRejection(): ErrorInfo | undefined;
  /** Called with the number of messages accepted by one publish. */
  onPublished(count: number): void;
}

/** Largest request body read; a 64 KiB publish fits many times over, even as base64. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Largest `limit` a history request may ask for; more is served as this many. */
const MAX_HISTORY_LIMIT = 1000;

/** `limit` of a history request that names none. */
const DEFAULT_HISTORY_LIMIT = 100;

class RestError extends Error {
  readonly info: ErrorInfo;
  constructor(code: number, statusCode: number, message: string) {
    super(message);
    this.info = errorInfo(code, statusCode, message);
  }
}

interface Request {
  method: string;
  /** The raw, still-encoded channel path segment decoded once (reference §13, pitfall 8). */
  channel?: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

interface Reply {
  status: number;
  body: unknown;
  /** A plain-text body instead of one in the negotiated format. */
  text?: string;
  /** Extra response headers (history's `Link`). */
  headers?: Record<string, string>;
}

const ROUTES: {
  method: string;
  pattern: RegExp;
  isPublic?: boolean;
  run: (ctx: RestContext, request: Request, key: ResolvedKey | undefined) => Reply;
}[] = [
  { method: "GET", pattern: /^\/time$/, isPublic: true, run: () => ok(200, [Date.now()]) },
  {
    method: "GET",
    pattern: /^\/is-the-internet-up\.txt$/,
    isPublic: true,
    run: () => ({ status: 200, body: undefined, text: "yes\n" }),
  },
  {
    method: "POST",
    pattern: /^\/channels\/([^/]+)\/messages$/,
    run: (ctx, request, key) => publish(ctx, request, key!),
  },
  {
    method: "GET",
    pattern: /^\/channels\/([^/]+)\/messages$/,
    run: (ctx, request, key) => history(ctx, request, key!),
  },
  {
    method: "GET",
    pattern: /^\/channels\/([^/]+)\/presence$/,
    run: (ctx, request, key) => presence(ctx, request, key!),
  },
];

/**
 * Serves one request. Replies use the format the `accept` header asks for;
 * errors are `{"error": ErrorInfo}` with content-type exactly `application/json`
 * and the `x-ably-errorcode`/`x-ably-errormessage` headers, since ably-js parses
 * nothing else (reference §13).
 */
export async function handleRestRequest(
  ctx: RestContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const format: Format = /application\/x-msgpack/.test(req.headers.accept ?? "")
    ? "msgpack"
    : "json";
  try {
    const reply = await route(ctx, req);
    if (reply.text !== undefined) {
      res.writeHead(reply.status, { ...reply.headers, "content-type": "text/plain" });
      res.end(reply.text);
      return;
    }
    const body = encodeFrame(reply.body as object, format);
    res.writeHead(reply.status, {
      ...reply.headers,
      "content-type": format === "json" ? "application/json" : "application/x-msgpack",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  } catch (error) {
    const info =
      error instanceof RestError
        ? error.info
        : errorInfo(AblyCode.INTERNAL, 500, `Internal error: ${String(error)}`);
    const body = JSON.stringify({ error: info });
    res.writeHead(info.statusCode, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-ably-errorcode": String(info.code),
      // Header values must be Latin-1; channel names in messages need not be.
      "x-ably-errormessage": info.message.replace(/[^\x20-\x7e]/g, "?"),
    });
    res.end(body);
  }
}

async function route(ctx: RestContext, req: IncomingMessage): Promise<Reply> {
  const rawUrl = req.url ?? "/";
  const questionMark = rawUrl.indexOf("?");
  const path = questionMark === -1 ? rawUrl : rawUrl.slice(0, questionMark);
  const query = new URLSearchParams(questionMark === -1 ? "" : rawUrl.slice(questionMark + 1));
  const matching = ROUTES.filter((candidate) => candidate.pattern.test(path));
  if (matching.length === 0) throw new RestError(AblyCode.NOT_FOUND, 404, `No route ${path}`);
  const handler = matching.find((candidate) => candidate.method === req.method);
  if (handler === undefined) {
    throw new RestError(AblyCode.BAD_REQUEST, 405, `Method ${req.method} not allowed on ${path}`);
  }
  const key = handler.isPublic === true ? undefined : authorise(ctx, req);
  const match = handler.pattern.exec(path)!;
  const request: Request = {
    method: req.method ?? "GET",
    query,
    headers: req.headers,
    body: await readBody(req),
  };
  if (match[1] !== undefined) request.channel = decodeChannel(match[1]);
  return handler.run(ctx, request, key);
}

/** `Authorization: Basic base64(appId.keyId:secret)`; tokens are not emulated (reference §12). */
function authorise(ctx: RestContext, req: IncomingMessage): ResolvedKey {
  const header = req.headers.authorization ?? "";
  const match = /^Basic (.+)$/i.exec(header);
  if (match === null) {
    throw new RestError(
      AblyCode.INVALID_CREDENTIALS,
      401,
      header === "" ? "No authentication information" : "Only Basic (API key) auth is emulated",
    );
  }
  const key = authenticate(Buffer.from(match[1]!, "base64").toString("utf8"), (name) =>
    ctx.findKey(name),
  );
  if (key === undefined)
    throw new RestError(AblyCode.INVALID_CREDENTIALS, 401, "Invalid credentials");
  return key;
}

function decodeChannel(segment: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw new RestError(AblyCode.INVALID_CHANNEL_NAME, 400, "Malformed channel name in path");
  }
  const problem = channelNameProblem(name);
  if (problem !== undefined) {
    throw new RestError(AblyCode.INVALID_CHANNEL_NAME, 400, `Invalid channel name: ${problem}`);
  }
  return name;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(
          new RestError(
            AblyCode.MESSAGE_TOO_LARGE,
            413,
            `Request body larger than ${MAX_BODY_BYTES} bytes`,
          ),
        );
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function ok(status: number, body: unknown): Reply {
  return { status, body };
}

function requireOp(
  key: ResolvedKey,
  channel: string,
  op: "publish" | "history" | "subscribe",
): void {
  if (allowedOps(key.capability, channel).has(op)) return;
  const { code, statusCode, message } = capabilityRefusal(channel, op);
  throw new RestError(code, statusCode, message);
}

/**
 * `POST /channels/{name}/messages`: one message or an array, json or msgpack
 * per content-type. The SDK's idempotent ids (`<base>:<index>`, RSL1k) are
 * delivered once; repeats are answered but not delivered again.
 */
function publish(ctx: RestContext, request: Request, key: ResolvedKey): Reply {
  const channel = request.channel!;
  requireOp(key, channel, "publish");
  const rejection = ctx.publishRejection();
  if (rejection !== undefined) {
    throw new RestError(rejection.code, rejection.statusCode, rejection.message);
  }
  const isMsgpack = /application\/x-msgpack/.test(request.headers["content-type"] ?? "");
  let body: unknown;
  try {
    body = decodeFrame(request.body, isMsgpack ? "msgpack" : "json");
  } catch {
    throw new RestError(AblyCode.INVALID_MESSAGE, 400, "Request body could not be decoded");
  }
  const headerClientId = request.headers["x-ably-clientid"];
  const clientId =
    typeof headerClientId === "string"
      ? Buffer.from(headerClientId, "base64").toString("utf8")
      : undefined;
  const parsed = parseMessages(Array.isArray(body) ? body : [body], clientId, ctx.maxMessageSize);
  if (!Array.isArray(parsed)) throw new RestError(parsed.code, parsed.statusCode, parsed.message);
  const firstId = parsed[0]!.id;
  const base = firstId?.includes(":") ? firstId.slice(0, firstId.lastIndexOf(":")) : randomId(9);
  const timestamp = Date.now();
  const serials = ctx
    .channelsOf(key.appId)
    .get(channel)
    .publish(
      parsed.map((message, index) => ({
        ...message.payload,
        id: message.id ?? `${base}:${index}`,
        isIdempotent: message.id !== undefined,
        name: message.name,
        clientId: message.clientId,
        timestamp,
        extras: message.extras,
      })),
      { id: base, timestamp },
    );
  ctx.onPublished(parsed.length);
  return ok(201, { channel, messageId: base, serials });
}

/**
 * `GET /channels/{name}/messages`: one page of the emulator's bounded log,
 * newest first by default (reference §13). Query params: `limit` (default 100,
 * at most 1000), `direction` (`backwards` or `forwards`), `start` and `end`
 * (inclusive ms bounds on the message timestamp), `from_serial` (a channel
 * serial from ATTACHED: only what was published at or before it, as
 * `history({untilAttach: true})` sends it) and `cursor` (this emulator's own:
 * the serial of the message the page starts at). When more match, a `Link`
 * header carries `rel="first"`, `rel="current"` and `rel="next"` as relative
 * `./messages?…` URLs, which ably-js requests on the same path. Every link
 * carries `from_serial` fixed at the first page, so messages published while a
 * client pages do not shift the pages in either direction.
 */
function history(ctx: RestContext, request: Request, key: ResolvedKey): Reply {
  const channel = request.channel!;
  requireOp(key, channel, "history");
  const query = historyQuery(request.query);
  const format = /application\/x-msgpack/.test(request.headers.accept ?? "") ? "msgpack" : "json";
  const log = ctx.channelsOf(key.appId).peek(channel);
  if (log === undefined) {
    // Never used, so no serial can belong to it.
    const given = query.bound ?? query.cursor;
    if (given !== undefined) {
      throw new RestError(AblyCode.BAD_REQUEST, 400, `Unknown serial ${given} for ${channel}`);
    }
    return ok(200, []);
  }
  const page = log.history(query);
  if ("problem" in page) throw new RestError(AblyCode.BAD_REQUEST, 400, page.problem);
  const reply = ok(
    200,
    page.messages.map((message) => messageToWire(message, format)),
  );
  const links: Record<string, HistoryQuery> = {};
  if (page.next !== undefined || query.cursor !== undefined) {
    const { cursor: _cursor, ...first } = query;
    links.first = { ...first, bound: page.bound };
    links.current = { ...query, bound: page.bound };
  }
  if (page.next !== undefined) links.next = { ...query, bound: page.bound, cursor: page.next };
  const entries = Object.entries(links);
  if (entries.length > 0) {
    reply.headers = {
      link: entries
        .map(([rel, params]) => `<./messages?${linkQuery(params)}>; rel="${rel}"`)
        .join(", "),
    };
  }
  return reply;
}

/** Reads and checks the history query params; a bad one is a 400 naming it. */
function historyQuery(params: URLSearchParams): HistoryQuery {
  const limitParam = params.get("limit");
  let limit = DEFAULT_HISTORY_LIMIT;
  if (limitParam !== null) {
    limit = Number(limitParam);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RestError(AblyCode.BAD_REQUEST, 400, `Invalid limit ${limitParam}`);
    }
    limit = Math.min(limit, MAX_HISTORY_LIMIT);
  }
  const direction = params.get("direction") ?? "backwards";
  if (direction !== "backwards" && direction !== "forwards") {
    throw new RestError(AblyCode.BAD_REQUEST, 400, `Invalid direction ${direction}`);
  }
  const query: HistoryQuery = { limit, direction };
  for (const bound of ["start", "end"] as const) {
    const value = params.get(bound);
    if (value === null || value === "") continue;
    const time = Number(value);
    if (!Number.isInteger(time) || time < 0) {
      throw new RestError(AblyCode.BAD_REQUEST, 400, `Invalid ${bound} ${value}`);
    }
    query[bound] = time;
  }
  if (query.start !== undefined && query.end !== undefined && query.start > query.end) {
    throw new RestError(AblyCode.BAD_REQUEST, 400, "start must not be after end");
  }
  const fromSerial = params.get("from_serial");
  if (fromSerial !== null) query.bound = fromSerial;
  const cursor = params.get("cursor");
  if (cursor !== null) query.cursor = cursor;
  return query;
}

/**
 * The query of a history link. Values are percent-encoded with
 * encodeURIComponent (no `+` for spaces, no bare commas), since ably-js splits
 * the header on commas and decodes each value with decodeURIComponent.
 */
function linkQuery(query: HistoryQuery): string {
  const params: [string, string | number | undefined][] = [
    ["limit", query.limit],
    ["direction", query.direction],
    ["start", query.start],
    ["end", query.end],
    ["from_serial", query.bound],
    ["cursor", query.cursor],
  ];
  return params
    .filter((param): param is [string, string | number] => param[1] !== undefined)
    .map(([name, value]) => `${name}=${encodeURIComponent(String(value))}`)
    .join("&");
}

/** `GET /channels/{name}/presence`: the current members as PRESENT entries. */
function presence(ctx: RestContext, request: Request, key: ResolvedKey): Reply {
  const channel = request.channel!;
  requireOp(key, channel, "subscribe");
  const format = /application\/x-msgpack/.test(request.headers.accept ?? "") ? "msgpack" : "json";
  const members = ctx.channelsOf(key.appId).peek(channel)?.members() ?? [];
  return ok(
    200,
    members.map((member) => presenceToWire(member, format)),
  );
}

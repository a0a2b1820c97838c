/**
 * The HTTP half of the emulator: the signed REST API of reference §9 for
 * triggering events and querying channels.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppChannels } from "./app-channels.js";
import { channelKind, isValidChannelName, Limits, SOCKET_ID, utf8Length } from "./protocol.js";
import { verifyRestSignature } from "./signature.js";

/** An app as the REST side needs it. */
export interface RestApp {
  id: string;
  key: string;
  secret: string;
}

/** What the REST handler needs from the emulator. */
export interface RestContext {
  findApp(id: string): RestApp | undefined;
  channelsOf(appId: string): AppChannels;
  /** Called once per (event, channel) accepted for delivery. */
  onPublished(): void;
}

/** Largest request body read, in bytes; a batch of ten 10 KB events fits well within it. */
export const MAX_BODY_BYTES = 1024 * 1024;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** One validated event, ready to publish. */
interface EventToPublish {
  name: string;
  data: string;
  channels: string[];
  socketId?: string;
  info: string[];
}

const ROUTES: {
  method: string;
  pattern: RegExp;
  run: (
    ctx: RestContext,
    app: RestApp,
    body: unknown,
    query: Map<string, string>,
    channel?: string,
  ) => unknown;
}[] = [
  {
    method: "POST",
    pattern: /^\/apps\/([^/]+)\/events$/,
    run: (ctx, app, body) => trigger(ctx, app, body),
  },
  {
    method: "POST",
    pattern: /^\/apps\/([^/]+)\/batch_events$/,
    run: (ctx, app, body) => triggerBatch(ctx, app, body),
  },
  {
    method: "GET",
    pattern: /^\/apps\/([^/]+)\/channels$/,
    run: (ctx, app, _body, query) => listChannels(ctx.channelsOf(app.id), query),
  },
  {
    method: "GET",
    pattern: /^\/apps\/([^/]+)\/channels\/([^/]+)$/,
    run: (ctx, app, _body, query, channel) => channelInfo(ctx.channelsOf(app.id), channel!, query),
  },
  {
    method: "GET",
    pattern: /^\/apps\/([^/]+)\/channels\/([^/]+)\/users$/,
    run: (ctx, app, _body, _query, channel) => channelUsers(ctx.channelsOf(app.id), channel!),
  },
];

/**
 * Serves one REST request: 404 for unknown routes and apps, 401 for bad
 * signatures, 400 for invalid input, 413 for oversized data, else 200 with a
 * JSON body (`{}` for a plain trigger, as hosted Pusher answers).
 */
export async function handleRestRequest(
  ctx: RestContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const result = await route(ctx, req);
    const text = JSON.stringify(result);
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500;
    const message = error instanceof Error ? error.message : String(error);
    // Hosted Pusher explains errors in a plain-text body (reference §9, rest-api.md statuses).
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
    res.end(`${message}\n`);
  }
}

async function route(ctx: RestContext, req: IncomingMessage): Promise<unknown> {
  const rawUrl = req.url ?? "/";
  const questionMark = rawUrl.indexOf("?");
  const path = questionMark === -1 ? rawUrl : rawUrl.slice(0, questionMark);
  const query = new Map(
    new URLSearchParams(questionMark === -1 ? "" : rawUrl.slice(questionMark + 1)),
  );
  const matching = ROUTES.filter((candidate) => candidate.pattern.test(path));
  if (matching.length === 0) throw new HttpError(404, "Not found");
  const handler = matching.find((candidate) => candidate.method === req.method);
  if (handler === undefined) throw new HttpError(405, "Method not allowed");
  const match = handler.pattern.exec(path)!;
  const app = ctx.findApp(decodePathPart(match[1]!));
  // The docs do not say how an unknown app id is answered; 404 names the missing resource.
  if (app === undefined) throw new HttpError(404, `Unknown app ${match[1]}`);
  const body = await readBody(req);
  const reason = verifyRestSignature(
    app,
    { method: req.method ?? "GET", path, query, body },
    Math.floor(Date.now() / 1000),
  );
  if (reason !== null) throw new HttpError(401, reason);
  let parsed: unknown;
  if (body.length > 0) {
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      throw new HttpError(400, "Request body is not valid JSON");
    }
  }
  const channel = match[2] === undefined ? undefined : decodePathPart(match[2]);
  return handler.run(ctx, app, parsed, query, channel);
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, "Malformed path");
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `Request body larger than ${MAX_BODY_BYTES} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function asObject(body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, `${what} must be a JSON object`);
  }
  return body as Record<string, unknown>;
}

/**
 * Validates one event (trigger body or batch item). `data` must be a string;
 * 10 KB is checked on its UTF-8 bytes, last, so that a too-large but
 * otherwise valid event gets 413 rather than 400 (reference §10).
 */
function validateEvent(raw: unknown, isBatchItem: boolean): EventToPublish {
  const body = asObject(raw, isBatchItem ? "Each batch event" : "Request body");
  const { name, data, socket_id: socketId, info } = body;
  if (typeof name !== "string" || name === "") throw new HttpError(400, "name required");
  if (name.length > Limits.eventNameChars) {
    throw new HttpError(400, `Event name longer than ${Limits.eventNameChars} characters`);
  }
  if (typeof data !== "string") throw new HttpError(400, "data must be a string");
  let channels: unknown[];
  if (isBatchItem) {
    channels = [body.channel];
  } else if (body.channels !== undefined) {
    if (!Array.isArray(body.channels)) throw new HttpError(400, "channels must be an array");
    channels = body.channels;
  } else if (body.channel !== undefined) {
    channels = [body.channel];
  } else {
    throw new HttpError(400, "channels or channel required");
  }
  if (channels.length === 0) throw new HttpError(400, "At least one channel required");
  if (channels.length > Limits.channelsPerTrigger) {
    throw new HttpError(
      400,
      `Too many channels (${channels.length} > ${Limits.channelsPerTrigger})`,
    );
  }
  for (const channel of channels) {
    if (!isValidChannelName(channel)) {
      throw new HttpError(400, `Invalid channel name '${String(channel)}'`);
    }
  }
  if (socketId !== undefined && (typeof socketId !== "string" || !SOCKET_ID.test(socketId))) {
    throw new HttpError(400, `Invalid socket_id '${String(socketId)}'`);
  }
  if (info !== undefined && typeof info !== "string")
    throw new HttpError(400, "info must be a string");
  const attributes = parseInfo(info, ["user_count", "subscription_count"]);
  if (utf8Length(data) > Limits.dataBytes) {
    throw new HttpError(413, `Event data larger than ${Limits.dataBytes} bytes`);
  }
  const event: EventToPublish = {
    name,
    data,
    channels: [...new Set(channels as string[])],
    info: attributes,
  };
  if (socketId !== undefined) event.socketId = socketId;
  return event;
}

function parseInfo(info: string | undefined, allowed: string[]): string[] {
  if (info === undefined || info === "") return [];
  const attributes = info.split(",").map((attribute) => attribute.trim());
  for (const attribute of attributes) {
    if (!allowed.includes(attribute))
      throw new HttpError(400, `Unsupported info attribute '${attribute}'`);
  }
  return attributes;
}

function publish(ctx: RestContext, appId: string, event: EventToPublish): void {
  const channels = ctx.channelsOf(appId);
  for (const channel of event.channels) {
    // Encoded once per channel; `data` stays the publisher's string (reference §2).
    channels.deliver({ event: event.name, channel, data: event.data }, event.socketId);
    ctx.onPublished();
  }
}

/**
 * Counts for trigger `info`. user_count only applies to presence channels, so
 * it is left out elsewhere; subscription_count is given for every channel, as
 * in the docs' own example response (reference §9).
 */
function attributesFor(
  channels: AppChannels,
  channel: string,
  attributes: string[],
): Record<string, number> {
  const counts = channels.info(channel);
  const result: Record<string, number> = {};
  if (attributes.includes("user_count") && counts.userCount !== undefined) {
    result.user_count = counts.userCount;
  }
  if (attributes.includes("subscription_count"))
    result.subscription_count = counts.subscriptionCount;
  return result;
}

function trigger(ctx: RestContext, app: RestApp, body: unknown): unknown {
  const event = validateEvent(body, false);
  publish(ctx, app.id, event);
  if (event.info.length === 0) return {};
  const channels = ctx.channelsOf(app.id);
  return {
    channels: Object.fromEntries(
      event.channels.map((channel) => [channel, attributesFor(channels, channel, event.info)]),
    ),
  };
}

/** All events are validated before any is published, so a bad batch publishes nothing. */
function triggerBatch(ctx: RestContext, app: RestApp, body: unknown): unknown {
  const { batch } = asObject(body, "Request body");
  if (!Array.isArray(batch)) throw new HttpError(400, "batch must be an array");
  if (batch.length > Limits.eventsPerBatch) {
    throw new HttpError(400, `Batch too large (${batch.length} > ${Limits.eventsPerBatch})`);
  }
  const events = batch.map((item) => validateEvent(item, true));
  for (const event of events) publish(ctx, app.id, event);
  if (events.every((event) => event.info.length === 0)) return {};
  const channels = ctx.channelsOf(app.id);
  return {
    batch: events.map((event) => attributesFor(channels, event.channels[0]!, event.info)),
  };
}

/** `GET /channels`: occupied channels only; `user_count` needs a `presence-` prefix filter. */
function listChannels(channels: AppChannels, query: Map<string, string>): unknown {
  const prefix = query.get("filter_by_prefix") ?? "";
  const attributes = parseInfo(query.get("info"), ["user_count"]);
  if (attributes.includes("user_count") && !prefix.startsWith("presence-")) {
    throw new HttpError(400, "user_count may only be requested with filter_by_prefix=presence-");
  }
  const result: Record<string, Record<string, number>> = {};
  for (const name of channels.names()) {
    if (!name.startsWith(prefix)) continue;
    const counts = channels.info(name);
    result[name] = attributes.includes("user_count") ? { user_count: counts.userCount ?? 0 } : {};
  }
  return { channels: result };
}

/** `GET /channels/{name}`: `occupied` always; an attribute the channel kind lacks is 400. */
function channelInfo(channels: AppChannels, channel: string, query: Map<string, string>): unknown {
  if (!isValidChannelName(channel)) throw new HttpError(400, `Invalid channel name '${channel}'`);
  const attributes = parseInfo(query.get("info"), ["user_count", "subscription_count"]);
  const isPresence = channelKind(channel) === "presence";
  if (attributes.includes("user_count") && !isPresence) {
    throw new HttpError(400, "user_count is only available for presence channels");
  }
  const counts = channels.info(channel);
  const result: Record<string, unknown> = { occupied: counts.subscriptionCount > 0 };
  if (attributes.includes("user_count")) result.user_count = counts.userCount ?? 0;
  if (attributes.includes("subscription_count"))
    result.subscription_count = counts.subscriptionCount;
  return result;
}

/** `GET /channels/{name}/users`: presence channels only, else 400. */
function channelUsers(channels: AppChannels, channel: string): unknown {
  if (!isValidChannelName(channel) || channelKind(channel) !== "presence") {
    throw new HttpError(400, "Users can only be listed on presence channels");
  }
  return { users: channels.userIds(channel).map((id) => ({ id })) };
}

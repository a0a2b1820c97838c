import * as Ably from "ably";
import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import { clientOptions } from "./ably-realtime-link.js";
import type { AblySettings } from "./ably-settings.js";
import type { AblyOutgoing } from "./payload.js";

/** A message for one channel, encoded, with the extras that mark it as this node's. */
export interface ChannelMessage {
  readonly channel: string;
  readonly message: AblyOutgoing;
  /** Its id, given by the backend: where its channel's history holds it. */
  readonly id: string;
  /** What the message carries beside its data (see AblyBackend). */
  readonly extras: AblyExtras | undefined;
}

/** A message's `extras`: headers only. */
export interface AblyExtras {
  readonly headers: Readonly<Record<string, string>>;
}

/** Where the publisher reports whether Ably answers (the connection supervisor). */
interface Reachability {
  callFailed(reason: string): void;
  callSucceeded(): void;
}

/**
 * Ably's REST API as a backend calls it: one publish request per channel with that
 * channel's messages in order, and a probe (`GET /time`). It reports every answer, or
 * the lack of one, to `reachability`: no answer, a network error or a 5xx is Ably away;
 * a 4xx (a refused or throttled publication) is Ably up and refusing that call.
 *
 * REST rather than the realtime connection: a realtime connection accepts at most
 * `maxInboundRate` messages per second (50 by default), and REST calls of different
 * channels run side by side (docs/backends/ably.md, "Publishing").
 */
export class AblyRestPublisher {
  readonly #backend: string;
  readonly #rest: Ably.Rest;
  readonly #reachability: Reachability;

  constructor(backend: string, settings: AblySettings, reachability: Reachability) {
    this.#backend = backend;
    this.#reachability = reachability;
    this.#rest = new Ably.Rest({
      ...clientOptions(settings),
      httpRequestTimeout: settings.publishTimeout,
      // The backend's own ids would make retries idempotent; it never retries a call that
      // may have reached Ably (src/egress/managed/is-unsent-error.ts), so none are needed.
      idempotentRestPublishing: false,
    });
  }

  /**
   * Publishes `messages`, all of one channel, in one request, in order.
   *
   * @throws SwitchyardError SWY_ABLY_REJECTED (Ably refused it), SWY_ABLY_THROTTLED
   *   (429), or SWY_ABLY_UNAVAILABLE (no answer), with the SDK's error as the cause.
   */
  async publish(channel: string, messages: readonly ChannelMessage[]): Promise<void> {
    metrics.ablyRequests.inc({ backend: this.#backend });
    try {
      await this.#rest.channels
        .get(channel)
        .publish(
          messages.map(({ message, id, extras }) =>
            extras === undefined
              ? { id, name: message.name, data: message.data }
              : { id, name: message.name, data: message.data, extras },
          ),
        );
    } catch (error) {
      const wrapped = wrapRestError(error);
      if (isAblyAway(error)) this.#reachability.callFailed(wrapped.message);
      throw wrapped;
    }
    this.#reachability.callSucceeded();
    metrics.ablyPublished.inc({ backend: this.#backend }, messages.length);
  }

  /**
   * One page of `channel`'s history (`GET /channels/{name}/messages`) with Ably's
   * query parameters (`direction`, `limit`, `from_serial`); its `next()` gives the
   * following page.
   *
   * @throws SwitchyardError SWY_ABLY_REJECTED, SWY_ABLY_THROTTLED or SWY_ABLY_UNAVAILABLE.
   */
  async history(
    channel: string,
    params: Record<string, string | number>,
  ): Promise<Ably.PaginatedResult<Ably.InboundMessage>> {
    metrics.ablyRequests.inc({ backend: this.#backend });
    try {
      return await this.#rest.channels.get(channel).history(params);
    } catch (error) {
      throw wrapRestError(error);
    }
  }

  /** The page after `page` of a {@link history} read. */
  async next(
    page: Ably.PaginatedResult<Ably.InboundMessage>,
  ): Promise<Ably.PaginatedResult<Ably.InboundMessage> | undefined> {
    metrics.ablyRequests.inc({ backend: this.#backend });
    try {
      return (await page.next()) ?? undefined;
    } catch (error) {
      throw wrapRestError(error);
    }
  }

  /** Resolves when Ably answers at all; rejects with the kind of failure otherwise. */
  async probe(): Promise<void> {
    try {
      await this.#rest.time();
    } catch (error) {
      if (isAblyAway(error)) throw new Error(wrapRestError(error).message);
    }
  }
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" && status > 0 ? status : undefined;
}

/** No answer at all, or a server error: Ably is away rather than refusing this call. */
function isAblyAway(error: unknown): boolean {
  const status = statusOf(error);
  return status === undefined || status >= 500;
}

/**
 * An SDK error as a catalogue error, the SDK's error as its cause. Ably's own code and
 * message (about the publication, never a host) travel in the message; a network
 * failure says only what kind it was.
 */
function wrapRestError(error: unknown): SwitchyardError {
  const status = statusOf(error);
  const code = (error as { code?: unknown } | null)?.code;
  const text = (error as { message?: unknown } | null)?.message;
  if (status !== undefined && status < 500) {
    const detail = `${String(code)}: ${String(text)}`;
    return status === 429
      ? new SwitchyardError("SWY_ABLY_THROTTLED", [detail], { cause: error })
      : new SwitchyardError("SWY_ABLY_REJECTED", [detail], { cause: error });
  }
  const reason = /timeout|timed out|abort/i.test(String(text))
    ? "no answer in time"
    : status === undefined
      ? "the request failed"
      : `Ably answered HTTP ${status}`;
  return new SwitchyardError("SWY_ABLY_UNAVAILABLE", [reason], { cause: error });
}

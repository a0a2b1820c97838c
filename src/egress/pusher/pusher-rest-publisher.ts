import type PusherRest from "pusher";
import { SwitchyardError } from "../../errors.js";
import { metrics } from "../../metrics.js";
import type { Publication } from "../backend.js";
import type { EncodedEvent } from "./payload.js";

/** An event for one channel, encoded. */
interface ChannelEvent {
  readonly channel: string;
  readonly encoded: EncodedEvent;
  readonly publication: Pick<Publication, "readBack">;
}

/** Where the publisher reports whether Pusher answers (the connection supervisor). */
interface Reachability {
  callFailed(reason: string): void;
  callSucceeded(): void;
}

/** A channel that exists on no app: asking for it costs Pusher one lookup. */
const PROBE_PATH = "/channels/switchyard-probe";

/**
 * Pusher's REST API as a backend calls it: `events` for one event, `batch_events` for
 * several, and a probe. It reports every answer, or the lack of one, to
 * `reachability`: no answer, a network error or an HTTP 5xx is Pusher away; an HTTP
 * 4xx is Pusher up and refusing that call.
 */
export class PusherRestPublisher {
  readonly #backend: string;
  readonly #rest: PusherRest;
  readonly #reachability: Reachability;

  constructor(backend: string, rest: PusherRest, reachability: Reachability) {
    this.#backend = backend;
    this.#rest = rest;
    this.#reachability = reachability;
  }

  /**
   * Sends `batch` in one call, leaving the connection `socketId` out of the fan-out of
   * each event but read-back ones (Publication.readBack).
   *
   * @throws SwitchyardError SWY_PUSHER_REJECTED (an HTTP error status) or
   *   SWY_PUSHER_UNAVAILABLE (no answer), with the SDK's error as the cause.
   */
  async trigger(batch: readonly ChannelEvent[], socketId: string): Promise<void> {
    try {
      await this.#call(batch, socketId);
    } catch (error) {
      const wrapped = wrapRestError(error);
      if (isPusherAway(error)) this.#reachability.callFailed(wrapped.message);
      throw wrapped;
    }
    this.#reachability.callSucceeded();
    metrics.pusherPublished.inc({ backend: this.#backend }, batch.length);
  }

  /**
   * Resolves when Pusher answers at all; rejects otherwise, with the network's reason
   * ("connect ECONNREFUSED 127.0.0.1:6001") when there is one, for logs and `/readyz`.
   */
  async probe(): Promise<void> {
    try {
      await this.#rest.get({ path: PROBE_PATH });
    } catch (error) {
      if (isPusherAway(error))
        throw new Error(networkReason(error) ?? wrapRestError(error).message);
    }
  }

  #call(batch: readonly ChannelEvent[], socketId: string): Promise<unknown> {
    const excluded = ({ publication }: ChannelEvent) =>
      publication.readBack === true ? {} : { socket_id: socketId };
    if (batch.length === 1) {
      const [event] = batch as [ChannelEvent];
      metrics.pusherRequests.inc({ backend: this.#backend, endpoint: "events" });
      return this.#rest.trigger(
        event.channel,
        event.encoded.name,
        event.encoded.data,
        excluded(event),
      );
    }
    metrics.pusherRequests.inc({ backend: this.#backend, endpoint: "batch_events" });
    return this.#rest.triggerBatch(
      batch.map((event) => ({
        channel: event.channel,
        name: event.encoded.name,
        data: event.encoded.data,
        ...excluded(event),
      })),
    );
  }
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" ? status : undefined;
}

function isPusherAway(error: unknown): boolean {
  const status = statusOf(error);
  return status === undefined || status >= 500;
}

/**
 * node-fetch's reason for a request that got no answer ("connect ECONNREFUSED
 * 127.0.0.1:6001"), without the rest of its message: the URL carries the signature.
 */
function networkReason(error: unknown): string | undefined {
  const inner = (error as { error?: unknown } | null)?.error;
  return inner instanceof Error ? /, reason: (.+)$/s.exec(inner.message)?.[1] : undefined;
}

/**
 * An SDK error as a catalogue error, with the SDK error as its cause. The network error
 * names hosts and ports, and the request URL carries a signature: the message says only
 * what kind of failure it was, "no answer in time" (the SDK's `timeout` aborted it) or
 * "the request failed".
 */
function wrapRestError(error: unknown): SwitchyardError {
  const status = statusOf(error);
  if (status !== undefined) {
    return new SwitchyardError("SWY_PUSHER_REJECTED", [status], { cause: error });
  }
  const inner = (error as { error?: unknown } | null)?.error;
  const message = inner instanceof Error ? inner.message : String(error);
  const reason = /timeout|timed out|abort/i.test(message)
    ? "no answer in time"
    : "the request failed";
  return new SwitchyardError("SWY_PUSHER_UNAVAILABLE", [reason], { cause: error });
}

import { SwitchyardError } from "../errors.js";
import type { ServerConfig } from "../mapping/types.js";
import { metrics } from "../metrics.js";

/**
 * What one socket has spent: a few numbers, held by the socket's router state itself
 * (not an object of their own), so that a connection costs little more than before
 * budgets existed.
 */
export interface SocketBudget {
  /** Events the socket may still send at once (the token bucket's level). */
  tokens: number;
  /** When `tokens` was last refilled, in ms of `performance.now()`. */
  refilledAt: number;
  /** Its events waiting for the app (forward rules). */
  forwards: number;
}

/** The limits this file counts. */
export type BudgetLimits = Pick<
  ServerConfig,
  "eventsPerSecond" | "eventBurst" | "maxRoomsPerSocket" | "maxForwardsPerSocket" | "maxForwards"
>;

/** The `server.limits` keys a budget refusal names (the `limit` label of the metric). */
export type BudgetLimit =
  | "eventsPerSecond"
  | "maxRoomsPerSocket"
  | "maxForwardsPerSocket"
  | "maxForwards";

/**
 * The router's budgets of `server.limits`, counted in one place (docs/security.md
 * lists them): events per second per socket (a token bucket with a burst), rooms per
 * socket, and events waiting for the app per socket and in total. Each check either
 * takes from the budget or returns the coded error the sender gets, counted in
 * `switchyard_limit_refusals_total{limit}`.
 *
 * The other budgets are checked where their data is: `maxDepth` by every decoder,
 * `maxPublishesPerSocket` by the backends' publish queues, `maxQueuedBytes` by the
 * transports, `maxHttpBufferSize` and `maxAttachments` by the ingress.
 */
export class Budgets {
  readonly #limits: BudgetLimits;
  readonly #now: () => number;
  /** Events of every socket waiting for the app. */
  #forwards = 0;

  /**
   * @param limits The server's limits; they change at restart only.
   * @param now A monotonic clock in ms; default `performance.now`.
   */
  constructor(limits: BudgetLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Starts a new socket's budget: a full bucket, nothing waiting. */
  open(budget: SocketBudget): void {
    budget.tokens = this.#limits.eventBurst;
    budget.refilledAt = this.#now();
    budget.forwards = 0;
  }

  /** Takes one event from the socket's bucket; SWY_RATE_LIMITED when it is empty. */
  takeEvent(budget: SocketBudget): SwitchyardError | undefined {
    const { eventsPerSecond, eventBurst } = this.#limits;
    const now = this.#now();
    const tokens = Math.min(
      eventBurst,
      budget.tokens + ((now - budget.refilledAt) * eventsPerSecond) / 1000,
    );
    budget.refilledAt = now;
    if (tokens < 1) {
      budget.tokens = tokens;
      return refuse("eventsPerSecond", new SwitchyardError("SWY_RATE_LIMITED", [eventsPerSecond]));
    }
    budget.tokens = tokens - 1;
    return undefined;
  }

  /** Whether a socket already in `rooms` rooms may join one more; SWY_ROOM_LIMIT if not. */
  checkRooms(rooms: number): SwitchyardError | undefined {
    const { maxRoomsPerSocket } = this.#limits;
    if (rooms < maxRoomsPerSocket) return undefined;
    return refuse("maxRoomsPerSocket", new SwitchyardError("SWY_ROOM_LIMIT", [maxRoomsPerSocket]));
  }

  /**
   * Starts an event's call to the app, or returns SWY_FORWARD_BUSY when the socket or
   * the whole node has too many waiting. Call {@link endForward} once it settles.
   */
  startForward(budget: SocketBudget): SwitchyardError | undefined {
    const { maxForwardsPerSocket, maxForwards } = this.#limits;
    if (budget.forwards >= maxForwardsPerSocket) {
      return refuse(
        "maxForwardsPerSocket",
        new SwitchyardError("SWY_FORWARD_BUSY", [maxForwardsPerSocket]),
      );
    }
    if (this.#forwards >= maxForwards) {
      return refuse("maxForwards", new SwitchyardError("SWY_FORWARD_BUSY", [maxForwards]));
    }
    budget.forwards += 1;
    this.#forwards += 1;
    return undefined;
  }

  endForward(budget: SocketBudget): void {
    budget.forwards -= 1;
    this.#forwards -= 1;
  }
}

function refuse(limit: BudgetLimit, error: SwitchyardError): SwitchyardError {
  metrics.limitRefusals.inc({ limit });
  return error;
}

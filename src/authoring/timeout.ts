/**
 * Time bounds on a task: per-attempt running time, per-attempt queueing time, and a whole-action deadline.
 *
 * @example
 * ```ts
 * env.task({ timeout: "10m" }, fn);                                        // maxRuntime 600 s
 * env.task({ timeout: new Timeout({ maxRuntime: "10m", deadline: "1h" }) }, fn);
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, isPlainObject, show } from "../internal/validate.ts";
import { durationSeconds, type Duration } from "../internal/duration.ts";

export interface TimeoutOptions {
  /** Per attempt, time spent running; exceeding it fails the attempt (and retries if budget remains). @default 0 (unbounded) */
  maxRuntime?: Duration;
  /** Per attempt, time spent queued before it starts. @default 0 (unbounded) */
  maxQueuedTime?: Duration;
  /** Whole action across all attempts, from first enqueue; never retried. @default 0 (unbounded) */
  deadline?: Duration;
}

/** What `timeout` options accept: a bare `Duration` means `maxRuntime`. */
export type TimeoutRequest = Duration | Timeout | TimeoutOptions;

const KEYS = ["maxRuntime", "maxQueuedTime", "deadline"] as const;

/** Seconds, with 0 folded into `undefined` so "unbounded" has a single representation. */
function bound(d: Duration | undefined, option: string): number | undefined {
  if (d === undefined) return undefined;
  const s = durationSeconds(d, "Timeout", option);
  return s === 0 ? undefined : s;
}

class TimeoutImpl {
  /** Seconds; `undefined` = unbounded. */
  readonly maxRuntime?: number;
  /** Seconds; `undefined` = unbounded. */
  readonly maxQueuedTime?: number;
  /** Seconds; `undefined` = unbounded. */
  readonly deadline?: number;

  constructor(o: TimeoutOptions = {}) {
    checkKeys(o, KEYS, "Timeout");
    for (const k of KEYS) {
      const s = bound(o[k], k);
      if (s !== undefined) this[k] = s;
    }
    Object.freeze(this);
  }
}

/** Time bounds on a task; every bound defaults to unbounded. */
export const Timeout = callable(TimeoutImpl);
export type Timeout = TimeoutImpl;

/** Turns a `timeout` option into a `Timeout`. */
export function normalizeTimeout(req: TimeoutRequest, owner: string): Timeout {
  if (req instanceof Timeout) return req;
  if (typeof req === "number" || typeof req === "string") {
    const s = durationSeconds(req, owner, "timeout");
    return s === 0 ? new Timeout() : new Timeout({ maxRuntime: s });
  }
  if (isPlainObject(req)) return new Timeout(req);
  throw new ValidationError(
    `${owner}: timeout must be a duration, a Timeout or { maxRuntime, maxQueuedTime, deadline }, got ${show(req)}. Use e.g. timeout: "10m".`,
    { field: "timeout" },
  );
}

/**
 * How many times a failed task is retried, and how long to wait between attempts.
 *
 * @example
 * ```ts
 * env.task({ retries: new RetryStrategy({ count: 5, backoff: new Backoff({ base: "10s", factor: 2, cap: "5m" }) }) }, fn);
 * // delays: 10s, 20s, 40s, 80s, 160s
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, isPlainObject, show } from "../internal/validate.ts";
import { durationSeconds, type Duration } from "../internal/duration.ts";

export interface BackoffOptions {
  /** Delay before the first retry. */
  base: Duration;
  /** Multiplier applied per retry; must be >= 1. @default 1 */
  factor?: number;
  /** Upper bound on any delay; required when `factor > 1`. @default undefined */
  cap?: Duration;
}

class BackoffImpl {
  /** Seconds. */
  readonly base: number;
  readonly factor: number;
  /** Seconds; `undefined` = uncapped (only possible with `factor` 1). */
  readonly cap?: number;

  constructor(o: BackoffOptions) {
    checkKeys(o, ["base", "factor", "cap"], "Backoff");
    if (o === undefined || o.base === undefined) {
      throw new ValidationError('Backoff: base is required. Use new Backoff({ base: "10s" }).', { field: "base" });
    }
    this.base = durationSeconds(o.base, "Backoff", "base");
    const factor = o.factor ?? 1;
    if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
      // show() renders Infinity/NaN as JSON null; the number itself is what the user wrote.
      const got = typeof factor === "number" ? String(factor) : show(factor);
      throw new ValidationError(`Backoff: factor must be a finite number >= 1, got ${got}. Use e.g. factor: 2.`, { field: "factor" });
    }
    this.factor = factor;
    if (o.cap !== undefined) this.cap = durationSeconds(o.cap, "Backoff", "cap");
    // An uncapped exponential backoff grows without bound, which is never what a retry schedule wants.
    if (factor > 1 && this.cap === undefined) {
      throw new ValidationError(`Backoff.cap is required when factor > 1 (got factor ${factor}). Add e.g. cap: "5m".`, { field: "cap" });
    }
    Object.freeze(this);
  }

  /** Seconds to wait before retry `n` (0-based): `min(base * factor ** n, cap)`. */
  computeDelay(n: number): number {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      throw new ValidationError(`Backoff.computeDelay: n must be an integer >= 0 (0 = first retry), got ${show(n)}.`, { field: "n" });
    }
    return Math.min(this.base * this.factor ** n, this.cap ?? Infinity);
  }
}

/** Delay schedule between retries. */
export const Backoff = callable(BackoffImpl);
export type Backoff = BackoffImpl;

export interface RetryStrategyOptions {
  /** User retries: attempts = count + 1. */
  count: number;
  /** Without it, retries start immediately. @default undefined */
  backoff?: Backoff | BackoffOptions;
}

class RetryStrategyImpl {
  readonly count: number;
  readonly backoff?: Backoff;

  constructor(o: RetryStrategyOptions) {
    checkKeys(o, ["count", "backoff"], "RetryStrategy");
    const count = o?.count;
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
      throw new ValidationError(`RetryStrategy: count must be an integer >= 0, got ${show(count)}. Use e.g. count: 3.`, { field: "count" });
    }
    this.count = count;
    if (o.backoff !== undefined) {
      if (o.backoff instanceof Backoff) this.backoff = o.backoff;
      else if (isPlainObject(o.backoff)) this.backoff = new Backoff(o.backoff);
      else {
        throw new ValidationError(`RetryStrategy: backoff must be a Backoff, got ${show(o.backoff)}. Use backoff: new Backoff({ base: "10s" }).`, {
          field: "backoff",
        });
      }
    }
    Object.freeze(this);
  }
}

/** Number of user retries and the optional backoff between them. */
export const RetryStrategy = callable(RetryStrategyImpl);
export type RetryStrategy = RetryStrategyImpl;

/** Turns a `retries` option (a count or a `RetryStrategy`) into a `RetryStrategy`. */
export function normalizeRetries(req: number | RetryStrategy, owner: string): RetryStrategy {
  if (req instanceof RetryStrategy) return req;
  if (typeof req !== "number" || !Number.isInteger(req) || req < 0) {
    throw new ValidationError(`${owner}: retries must be an integer >= 0 or a RetryStrategy, got ${show(req)}. Use e.g. retries: 3.`, {
      field: "retries",
    });
  }
  return new RetryStrategy({ count: req });
}

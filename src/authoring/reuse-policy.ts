/**
 * Warm worker pools: actions of a reusable environment run in long-lived processes instead of a fresh one each.
 *
 * @example
 * ```ts
 * new TaskEnvironment({ name: "inference", reusable: new ReusePolicy({ replicas: [1, 4], concurrency: 8, idleTtl: "10m" }) });
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, show } from "../internal/validate.ts";
import { durationSeconds, type Duration } from "../internal/duration.ts";

export type ReuseScope = "global" | "run";

export interface ReusePolicyOptions {
  /** Worker count, or a `[min, max]` autoscaling range. @default 2 (→ [2, 2]) */
  replicas?: number | readonly [min: number, max: number];
  /** The whole pool shuts down after this much idle time; at least 30 s. @default 30 */
  idleTtl?: Duration;
  /** Concurrent actions per replica (> 1 needs `async function` tasks). @default 1 */
  concurrency?: number;
  /** Idle time before one replica is scaled down; at least 30 s. @default 30 */
  scaledownTtl?: Duration;
  /** `"run"` gives every run its own pool. @default "global" */
  scope?: ReuseScope;
}

const MIN_TTL_SECONDS = 30;

function replicasPair(v: unknown): readonly [number, number] {
  const isInt = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x);
  let pair: [number, number];
  if (isInt(v)) pair = [v, v];
  else if (Array.isArray(v) && v.length === 2 && isInt(v[0]) && isInt(v[1])) pair = [v[0], v[1]];
  else {
    throw new ValidationError(
      `ReusePolicy: replicas must be an integer or a [min, max] pair of integers, got ${show(v)}. Use e.g. replicas: 2 or replicas: [1, 4].`,
      { field: "replicas" },
    );
  }
  const [min, max] = pair;
  if (min < 0) throw new ValidationError(`ReusePolicy: replicas minimum must be >= 0, got ${min}. Use e.g. replicas: [0, ${Math.max(max, 1)}].`, { field: "replicas" });
  if (max < 1) throw new ValidationError(`ReusePolicy: replicas maximum must be >= 1, got ${max}. Use e.g. replicas: [${min}, ${Math.max(min, 1)}].`, { field: "replicas" });
  if (min > max) throw new ValidationError(`ReusePolicy: replicas minimum ${min} is greater than maximum ${max}. Use replicas: [${max}, ${min}].`, { field: "replicas" });
  return Object.freeze(pair);
}

function ttl(v: Duration | undefined, option: string): number {
  if (v === undefined) return MIN_TTL_SECONDS;
  const s = durationSeconds(v, "ReusePolicy", option);
  // Shorter TTLs make pools churn faster than workers can start, defeating reuse.
  if (s < MIN_TTL_SECONDS) {
    throw new ValidationError(
      `ReusePolicy: ${option} must be at least ${MIN_TTL_SECONDS} seconds, got ${show(v)}. Use ${option} >= ${MIN_TTL_SECONDS} (or "${MIN_TTL_SECONDS}s").`,
      { field: option },
    );
  }
  return s;
}

class ReusePolicyImpl {
  readonly replicas: readonly [number, number];
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Seconds. */
  readonly idleTtl: number;
  /** Seconds. */
  readonly scaledownTtl: number;
  readonly concurrency: number;
  readonly scope: ReuseScope;

  constructor(o: ReusePolicyOptions = {}) {
    checkKeys(o, ["replicas", "idleTtl", "concurrency", "scaledownTtl", "scope"], "ReusePolicy");
    this.replicas = replicasPair(o.replicas ?? 2);
    [this.minReplicas, this.maxReplicas] = this.replicas;
    this.idleTtl = ttl(o.idleTtl, "idleTtl");
    this.scaledownTtl = ttl(o.scaledownTtl, "scaledownTtl");
    const concurrency = o.concurrency ?? 1;
    if (typeof concurrency !== "number" || !Number.isInteger(concurrency) || concurrency < 1) {
      throw new ValidationError(`ReusePolicy: concurrency must be an integer >= 1, got ${show(o.concurrency)}. Use e.g. concurrency: 4.`, {
        field: "concurrency",
      });
    }
    this.concurrency = concurrency;
    const scope = o.scope ?? "global";
    if (scope !== "global" && scope !== "run") {
      throw new ValidationError(`ReusePolicy: scope must be "global" or "run", got ${show(o.scope)}.`, { field: "scope" });
    }
    this.scope = scope;
    if (this.maxReplicas === 1 && this.concurrency === 1) {
      // A parent waiting on a child in the same pool would hold the only slot the child needs.
      console.warn(
        "ReusePolicy: maxReplicas 1 with concurrency 1 runs one action at a time; a task that awaits another task of the same environment will starve. Use replicas >= 2 or concurrency > 1.",
      );
    }
    Object.freeze(this);
  }

  /** Most actions the pool runs at once. */
  get capacity(): number {
    return this.maxReplicas * this.concurrency;
  }
}

/** How a reusable environment's warm worker pool is sized and retired. */
export const ReusePolicy = callable(ReusePolicyImpl);
export type ReusePolicy = ReusePolicyImpl;

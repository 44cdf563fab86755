/**
 * The two value classes a `ClusteredTaskEnvironment` is configured with: `TorchRun` (how each node launches
 * its processes) and `ClusterFailurePolicy` (how the whole group restarts).
 *
 * @example
 * ```ts
 * new TorchRun({ rdzvBackend: "c10d", maxRestarts: 2 });
 * new ClusterFailurePolicy({ maxRestarts: 3, restartOnHostMaintenance: true });
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, show } from "../internal/validate.ts";

export type RdzvBackend = "static" | "c10d";
const RDZV_BACKENDS: readonly RdzvBackend[] = ["static", "c10d"];

export interface TorchRunOptions {
  /** torchrun `--rdzv-backend`: `"static"` relies on whole-group restarts, `"c10d"` allows elastic recovery. @default "static" */
  rdzvBackend?: RdzvBackend;
  /** torchrun `--max-restarts`: in-node worker-group restarts before the node fails. @default 0 */
  maxRestarts?: number;
}

function nonNegativeInt(v: unknown, owner: string, option: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new ValidationError(`${owner}: ${option} must be an integer >= 0, got ${show(v)}. Use e.g. ${option}: 0.`, { field: option });
  }
  return v;
}

class TorchRunImpl {
  readonly rdzvBackend: RdzvBackend;
  readonly maxRestarts: number;

  constructor(o: TorchRunOptions = {}) {
    checkKeys(o, ["rdzvBackend", "maxRestarts"], "TorchRun");
    const backend = o.rdzvBackend ?? "static";
    if (!RDZV_BACKENDS.includes(backend)) {
      throw new ValidationError(`TorchRun: rdzvBackend must be one of ${RDZV_BACKENDS.join(", ")}, got ${show(backend)}. Use rdzvBackend: "static" or "c10d".`, {
        field: "rdzvBackend",
      });
    }
    this.rdzvBackend = backend;
    this.maxRestarts = nonNegativeInt(o.maxRestarts ?? 0, "TorchRun", "maxRestarts");
    Object.freeze(this);
  }
}

/** torchrun launcher settings (← flyte-sdk `TorchRun`); the only runtime clustered environments support. */
export const TorchRun = callable(TorchRunImpl);
export type TorchRun = TorchRunImpl;
/** The launcher of a clustered environment; only `TorchRun` today. */
export type Runtime = TorchRun;

export interface ClusterFailurePolicyOptions {
  /** Whole-group (JobSet) restarts within one attempt before the attempt fails. @default 0 */
  maxRestarts?: number;
  /** Restarts caused by node maintenance/eviction do not count against `maxRestarts`. @default false */
  restartOnHostMaintenance?: boolean;
}

class ClusterFailurePolicyImpl {
  readonly maxRestarts: number;
  readonly restartOnHostMaintenance: boolean;

  constructor(o: ClusterFailurePolicyOptions = {}) {
    checkKeys(o, ["maxRestarts", "restartOnHostMaintenance"], "ClusterFailurePolicy");
    this.maxRestarts = nonNegativeInt(o.maxRestarts ?? 0, "ClusterFailurePolicy", "maxRestarts");
    const rohm = o.restartOnHostMaintenance ?? false;
    if (typeof rohm !== "boolean") {
      throw new ValidationError(`ClusterFailurePolicy: restartOnHostMaintenance must be true or false, got ${show(rohm)}.`, {
        field: "restartOnHostMaintenance",
      });
    }
    this.restartOnHostMaintenance = rohm;
    Object.freeze(this);
  }
}

/** JobSet-level restart policy (← flyte-sdk `ClusterFailurePolicy`). */
export const ClusterFailurePolicy = callable(ClusterFailurePolicyImpl);
export type ClusterFailurePolicy = ClusterFailurePolicyImpl;

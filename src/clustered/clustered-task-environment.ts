/**
 * `ClusteredTaskEnvironment`: a `TaskEnvironment` whose tasks run as a group of processes spread over
 * several nodes (torchrun-style distributed training). It validates the cluster shape, serialises it as the
 * `ClusteredTaskSpec` wire dict, renders a Kubernetes JobSet, and its tasks run locally as real processes.
 *
 * @example
 * ```ts
 * const train = new ClusteredTaskEnvironment({ name: "ddp", replicas: 2, nprocPerNode: 4,
 *   resources: new Resources({ gpu: "H100:4" }), runtime: new TorchRun({ rdzvBackend: "c10d" }) });
 * export const fit = train.task(async function fit({ epochs }: { epochs: number }) { ... });
 * train.toJobSet({ name: "fit-20240101", task: fit });
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkKeys, show } from "../internal/validate.ts";
import { Resources } from "../authoring/resources.ts";
import { FunctionTaskTemplate } from "../authoring/function-task-template.ts";
import type { TaskTemplate, TaskFunction, TaskOptions } from "../authoring/task-template.ts";
import {
  TASK_ENVIRONMENT_OPTION_KEYS, TaskEnvironment, type TaskEnvironmentOptions,
} from "../authoring/task-environment.ts";
import { ClusterFailurePolicy, TorchRun, type Runtime } from "./policies.ts";
import { ClusteredTaskTemplate } from "./clustered-task-template.ts";
import { buildJobSet, type JobSetManifest, type JobSetOptions } from "./jobset.ts";

export interface ClusteredTaskEnvironmentOptions extends TaskEnvironmentOptions {
  /** Number of pods (= nodes). Required. */
  replicas: number;
  /** Processes per pod (torchrun `--nproc-per-node`); at most the GPUs per pod when a GPU is requested. Required. */
  nprocPerNode: number;
  /** How each node launches its processes. @default new TorchRun() */
  runtime?: Runtime;
  /** Network fabric between nodes; only "tcp" today. @default "tcp" */
  interconnect?: "tcp";
  /** Whole-group restart policy. @default new ClusterFailurePolicy() */
  failurePolicy?: ClusterFailurePolicy;
  /** Seconds the JobSet is kept after it finishes. @default undefined (the cluster's default) */
  ttlSecondsAfterFinished?: number;
}

export interface ClusteredCloneWithOptions extends Partial<Omit<ClusteredTaskEnvironmentOptions, "name">> {
  name: string;
}

/** The `ClusteredTaskSpec` protobuf message in protobuf-JSON field names (API.md §14). */
export interface ClusteredTaskSpecJSON {
  replicas: number;
  nprocPerNode: number;
  runtime: { torchrun: { rdzvBackend: "STATIC" | "C10D"; maxRestarts: number } };
  interconnect: "TCP";
  failurePolicy: { maxRestarts: number; restartOnHostMaintenance: boolean };
  ttlSecondsAfterFinished?: number;
}

const CLUSTER_KEYS = ["replicas", "nprocPerNode", "runtime", "interconnect", "failurePolicy", "ttlSecondsAfterFinished"] as const;
export const CLUSTERED_ENVIRONMENT_OPTION_KEYS = [...TASK_ENVIRONMENT_OPTION_KEYS, ...CLUSTER_KEYS] as const;

interface ClusterFields {
  replicas: number;
  nprocPerNode: number;
  runtime: TorchRun;
  interconnect: "tcp";
  failurePolicy: ClusterFailurePolicy;
  ttlSecondsAfterFinished?: number;
}

const OWNER = "ClusteredTaskEnvironment";

/**
 * Validates the cluster-specific options. Runs before the base constructor so a rejected environment never
 * reaches the global registry.
 */
function resolveCluster(o: ClusteredTaskEnvironmentOptions): ClusterFields {
  const at = `${OWNER} ${show(o.name)}`;
  if (o.reusable !== undefined) {
    throw new ValidationError(`${OWNER} does not support reusable environments (${at} sets reusable). Remove reusable: every run starts a fresh process group.`, {
      field: "reusable",
    });
  }
  const count = (v: unknown, option: "replicas" | "nprocPerNode", example: number): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
      throw new ValidationError(`${at}: ${option} must be >= 1, got ${show(v)}. Pass an integer such as ${option}: ${example}.`, { field: option });
    }
    return v;
  };
  const replicas = count(o.replicas, "replicas", 2);
  const nprocPerNode = count(o.nprocPerNode, "nprocPerNode", 1);
  const device = o.resources instanceof Resources ? o.resources.getDevice() : undefined;
  if (device && device.quantity < nprocPerNode) {
    throw new ValidationError(
      `${at}: resources.gpu (${device.quantity}) must be >= nprocPerNode (${nprocPerNode}). Each process drives its own accelerator; lower nprocPerNode to ${device.quantity} or request ${nprocPerNode} per node.`,
      { field: "nprocPerNode" },
    );
  }
  const runtime = o.runtime ?? new TorchRun();
  if (!(runtime instanceof TorchRun)) {
    const type = (runtime as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof runtime;
    throw new ValidationError(`${at}: unsupported runtime type: ${type}. Use runtime: new TorchRun({ rdzvBackend: "static" }).`, { field: "runtime" });
  }
  const interconnect = o.interconnect ?? "tcp";
  if (interconnect !== "tcp") {
    throw new ValidationError(`${at}: interconnect must be one of tcp, got ${show(interconnect)}. Use interconnect: "tcp" (or leave it out).`, { field: "interconnect" });
  }
  const failurePolicy = o.failurePolicy ?? new ClusterFailurePolicy();
  if (!(failurePolicy instanceof ClusterFailurePolicy)) {
    throw new ValidationError(`${at}: failurePolicy must be a ClusterFailurePolicy, got ${show(failurePolicy)}. Use new ClusterFailurePolicy({ maxRestarts: 1 }).`, {
      field: "failurePolicy",
    });
  }
  const out: ClusterFields = { replicas, nprocPerNode, runtime, interconnect, failurePolicy };
  if (o.ttlSecondsAfterFinished !== undefined) {
    const ttl = o.ttlSecondsAfterFinished;
    // int32 in the JobSet CRD.
    if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 0 || ttl > 2 ** 31 - 1) {
      throw new ValidationError(`${at}: ttlSecondsAfterFinished must be an integer >= 0 (seconds), got ${show(ttl)}. Use e.g. ttlSecondsAfterFinished: 3600.`, {
        field: "ttlSecondsAfterFinished",
      });
    }
    out.ttlSecondsAfterFinished = ttl;
  }
  return out;
}

export class ClusteredTaskEnvironment extends TaskEnvironment {
  readonly replicas: number;
  readonly nprocPerNode: number;
  readonly runtime: TorchRun;
  readonly interconnect: "tcp";
  readonly failurePolicy: ClusterFailurePolicy;
  readonly ttlSecondsAfterFinished?: number;

  constructor(options: ClusteredTaskEnvironmentOptions) {
    if (typeof options !== "object" || options === null) {
      throw new ValidationError(`${OWNER}: options are required, got ${show(options)}. Use new ${OWNER}({ name: "ddp", replicas: 2, nprocPerNode: 1 }).`);
    }
    checkKeys(options, CLUSTERED_ENVIRONMENT_OPTION_KEYS, OWNER);
    const cluster = resolveCluster(options);
    const base: Record<string, unknown> = { ...options };
    for (const k of CLUSTER_KEYS) delete base[k];
    super(base as unknown as TaskEnvironmentOptions);
    this.replicas = cluster.replicas;
    this.nprocPerNode = cluster.nprocPerNode;
    this.runtime = cluster.runtime;
    this.interconnect = cluster.interconnect;
    this.failurePolicy = cluster.failurePolicy;
    if (cluster.ttlSecondsAfterFinished !== undefined) this.ttlSecondsAfterFinished = cluster.ttlSecondsAfterFinished;
  }

  /** Processes in the whole group: `replicas × nprocPerNode`. */
  get worldSize(): number {
    return this.replicas * this.nprocPerNode;
  }

  /** @internal Tasks declared with `env.task` become `ClusteredTaskTemplate`s. */
  override addTask<T extends TaskTemplate>(options: TaskOptions, fn: TaskFunction | undefined, templateClass: new (o: never) => T, sourceFile?: string): T {
    const cls = templateClass === (FunctionTaskTemplate as unknown) ? (ClusteredTaskTemplate as unknown as new (o: never) => T) : templateClass;
    return super.addTask(options, fn, cls, sourceFile);
  }

  /** The `ClusteredTaskSpec` wire dict (task `custom` payload); every field explicit, TTL only when set. */
  toCustomDict(): ClusteredTaskSpecJSON {
    const out: ClusteredTaskSpecJSON = {
      replicas: this.replicas,
      nprocPerNode: this.nprocPerNode,
      runtime: { torchrun: { rdzvBackend: this.runtime.rdzvBackend === "c10d" ? "C10D" : "STATIC", maxRestarts: this.runtime.maxRestarts } },
      interconnect: "TCP",
      failurePolicy: { maxRestarts: this.failurePolicy.maxRestarts, restartOnHostMaintenance: this.failurePolicy.restartOnHostMaintenance },
    };
    if (this.ttlSecondsAfterFinished !== undefined) out.ttlSecondsAfterFinished = this.ttlSecondsAfterFinished;
    return out;
  }

  /** A `jobset.x-k8s.io/v1alpha2` JobSet running one task (or the given args) on `replicas` pods. */
  toJobSet(o: JobSetOptions): JobSetManifest {
    return buildJobSet(this, o);
  }

  /** A copy with some options replaced (cluster options included). Tasks are not copied. */
  override cloneWith(options: ClusteredCloneWithOptions): ClusteredTaskEnvironment {
    checkKeys(options, CLUSTERED_ENVIRONMENT_OPTION_KEYS, `${OWNER}.cloneWith`);
    if (!options || typeof options.name !== "string") {
      throw new ValidationError(`${OWNER}.cloneWith: name is required, got ${show(options?.name)}. Pass cloneWith({ name: "new-name", ... }).`, { field: "name" });
    }
    const base = this.cloneOptions();
    const merged: Record<string, unknown> = { ...base, ...options, dependsOn: [...(options.dependsOn ?? base.dependsOn ?? [])] };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    return new ClusteredTaskEnvironment(merged as unknown as ClusteredTaskEnvironmentOptions);
  }

  protected override cloneOptions(): ClusteredTaskEnvironmentOptions {
    return {
      ...super.cloneOptions(),
      replicas: this.replicas, nprocPerNode: this.nprocPerNode, runtime: this.runtime, interconnect: this.interconnect,
      failurePolicy: this.failurePolicy, ttlSecondsAfterFinished: this.ttlSecondsAfterFinished,
    };
  }
}

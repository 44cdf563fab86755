/**
 * `ClusteredTaskTemplate`: the task type of clustered environments (`"clustered-task"`, version 1). Executing
 * one starts the local process group (see `launcher.ts`); serialising one yields the `ClusteredTaskSpec`
 * custom dict and `clustered ...` container args; `toJobSet` renders it for Kubernetes.
 */
import { ValidationError } from "../errors.ts";
import { Resources } from "../authoring/resources.ts";
import { FunctionTaskTemplate, type FunctionTaskTemplateOptions } from "../authoring/function-task-template.ts";
import type { OverrideOptions, TaskTemplate } from "../authoring/task-template.ts";
import type { ClusteredTaskEnvironment } from "./clustered-task-environment.ts";
import type { JobSetManifest, JobSetOptions } from "./jobset.ts";
import { launchLocal } from "./launcher.ts";
import { currentActionScope } from "../internal/action-scope.ts";
import { deployedVersionOf } from "../internal/deployed-versions.ts";
import type { TaskContext } from "../run/context.ts";
import { getRuntime, type Runtime } from "../run/runtime.ts";

function runtimeIfOpen(): Runtime | undefined {
  try {
    return getRuntime();
  } catch {
    return undefined;
  }
}

function clusterOf(task: TaskTemplate): ClusteredTaskEnvironment | undefined {
  const env = task.env as Partial<ClusteredTaskEnvironment> | undefined;
  return env && typeof env.replicas === "number" && typeof env.toCustomDict === "function" ? (env as ClusteredTaskEnvironment) : undefined;
}

export class ClusteredTaskTemplate<I = any, O = any> extends FunctionTaskTemplate<I, O> {
  constructor(o: FunctionTaskTemplateOptions) {
    super({ ...o, taskType: "clustered-task", taskTypeVersion: 1 });
  }

  /** `this` typed as the callable task (class-typed `this` lacks the merged call signature). */
  private asTask(): TaskTemplate<I, O> {
    return this as unknown as TaskTemplate<I, O>;
  }

  /** The clustered environment the task belongs to. */
  get cluster(): ClusteredTaskEnvironment {
    const env = clusterOf(this.asTask());
    if (!env) {
      throw new ValidationError(`Task "${this.name}" is a ClusteredTaskTemplate outside a ClusteredTaskEnvironment. Declare it with clusteredEnv.task(...).`);
    }
    return env;
  }

  /**
   * Runs the function on `replicas × nprocPerNode` local processes and resolves to rank 0's return value; in a
   * worker of the cluster backend running deployed code whose config has `kubernetes`, as a JobSet instead (see submit.ts).
   */
  override async execute(inputs: I): Promise<O> {
    const parent = currentActionScope()?.context as TaskContext | undefined;
    const rt = parent && parent.mode !== "local" ? runtimeIfOpen() : undefined;
    // Only deployed code can run in the JobSet's pods (they load the same version); a development worker started
    // from a file, or a hybrid run executing here, runs the ranks itself.
    if (parent && rt?.config.backend === "cluster" && rt.config.kubernetes && deployedVersionOf(this.sourceFile) !== undefined) {
      const { runAsJobSet } = await import("./submit.ts");
      return (await runAsJobSet(this.asTask(), this.cluster, inputs, parent, rt)) as O;
    }
    return (await launchLocal(this.asTask(), this.cluster, inputs)) as O;
  }

  /** A direct call (outside a run) also runs the whole process group: ranks need their RANK/WORLD_SIZE. */
  override forward(inputs: I): Promise<O> {
    return this.execute(inputs);
  }

  /** The `ClusteredTaskSpec` dict; `{}` when the environment is not reachable (as flyte-sdk). */
  override customConfig(_sctx: unknown): Record<string, unknown> {
    return { ...(clusterOf(this.asTask())?.toCustomDict() ?? {}) };
  }

  /** Pods start the `clustered` launcher instead of `a0`; the rest of the args are unchanged. */
  override containerArgs(sctx: unknown): string[] {
    return ["clustered", ...super.containerArgs(sctx).slice(1)];
  }

  /** The JobSet that runs this task on Kubernetes. */
  toJobSet(o: Omit<JobSetOptions, "task">): JobSetManifest {
    return this.cluster.toJobSet({ ...o, task: this.asTask() });
  }

  override override(options: OverrideOptions): TaskTemplate<I, O> {
    const at = `Task "${this.name}"`;
    if (options?.reusable !== undefined && options.reusable !== "off") {
      throw new ValidationError(`${at}: clustered tasks do not support reusable environments. Remove reusable from override().`, { field: "reusable" });
    }
    const env = clusterOf(this.asTask());
    if (env && options?.resources instanceof Resources) {
      const device = options.resources.getDevice();
      if (device && device.quantity < env.nprocPerNode) {
        throw new ValidationError(
          `${at}: resources.gpu (${device.quantity}) must be >= nprocPerNode (${env.nprocPerNode}). Each process drives its own accelerator; request ${env.nprocPerNode} per node.`,
          { field: "resources" },
        );
      }
    }
    return super.override(options);
  }
}

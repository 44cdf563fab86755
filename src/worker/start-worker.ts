/**
 * `startWorker()`: what `flyte worker --env X` runs, for a process that wants to be a worker itself. The worker
 * executes actions of the given environments for every run of the cluster backend this process is configured for.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import { listLoadedEnvironments } from "../authoring/environment.ts";
import { InitializationError, ValidationError } from "../errors.ts";
import { join } from "node:path";
import { getRuntime } from "../run/runtime.ts";
import { deployedCode } from "./deployed-code.ts";
import type { ActionJob, WorkerRow } from "../queue/action-queue.ts";
import type { TaskResolver } from "../queue/worker.ts";

export interface StartWorkerOptions {
  /** Environments whose actions this worker executes (at least one). */
  envs: string[];
  /** Attempts executing at once. @default 1 */
  concurrency?: number;
  /** Only actions of tasks with this `queue` option. */
  queue?: string;
  /**
   * Where task code comes from: `"deployed"` (default) = the bundle of the version each action names (`flyte
   * deploy`), unpacked under the state dir; `"loaded"` = the environments this process has loaded (development:
   * start the worker from the file that defines them), whatever version an action names.
   */
  code?: "deployed" | "loaded";
  /**
   * `"process"`: each attempt of a non-reusable environment runs in a fresh child process (memory limit from
   * `resources.memory` → `OOMError`, `maxRuntime` enforced by killing it, CPU requests bounding how many run at
   * once). @default "none" (attempts run in the worker's process)
   */
  isolation?: "none" | "process";
  /**
   * Preemptible capacity: the worker takes only actions of interruptible tasks (workers without it take both), and
   * `interrupt()` fails what it runs with `TaskInterruptedError`, retried elsewhere without spending retries.
   */
  interruptible?: boolean;
  /** Progress: an action started here, or ended here (with its phase and duration). */
  onAction?: (e: { run: string; action: string; task: string; phase: string; ms?: number }) => void;
}

export interface WorkerHandle {
  readonly id: string;
  /** Attempts executing now. */
  readonly running: number;
  /** Stops claiming actions and waits for the running ones. */
  stop(): Promise<void>;
  /**
   * Gives up the actions this worker holds at once, for other workers to retry (a drain that ran out of time):
   * nothing waits for its registration to expire. Call it before the process exits with attempts still running.
   */
  abandon(): Promise<void>;
  /** Preemption: attempts running here fail with `TaskInterruptedError` and go back to the queue (see `interruptible`). */
  interrupt(): void;
}

export async function startWorker(o: StartWorkerOptions): Promise<WorkerHandle> {
  const rt = getRuntime();
  if (rt.config.backend !== "cluster" || !rt.queue) {
    throw new InitializationError("flyte worker needs backend: cluster (a PostgreSQL databaseUrl shared with whoever starts runs). Create a config with: flyte gen config --backend cluster", { code: "BackendNotCluster" });
  }
  if (o.envs.length === 0) throw new ValidationError("startWorker: name at least one environment (--env NAME).", { field: "envs" });
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError(`startWorker: concurrency must be an integer >= 1, got ${JSON.stringify(o.concurrency)}.`, { field: "concurrency" });
  }
  const code = o.code ?? "deployed";
  const known = code === "loaded"
    ? new Set(listLoadedEnvironments().map((e) => e.name))
    : new Set((await rt.store.listTasks({ project: rt.config.project, domain: rt.config.domain })).map((t) => t.environment));
  const unknown = o.envs.filter((e) => !known.has(e));
  if (unknown.length > 0) {
    throw new ValidationError(
      code === "loaded"
        ? `No environment named ${unknown.map((e) => JSON.stringify(e)).join(", ")} is defined in the loaded code. Defined: ${[...known].join(", ") || "none"}.`
        : `No environment named ${unknown.map((e) => JSON.stringify(e)).join(", ")} is deployed in ${rt.config.project}/${rt.config.domain}. Deployed: ${[...known].join(", ") || "none"}. Deploy with: flyte deploy <file.ts>`,
      { field: "envs" },
    );
  }
  const resolveTask = code === "loaded"
    ? loadedTasks()
    : deployedCode({ store: rt.store, blobStore: rt.blobStore, project: rt.config.project, domain: rt.config.domain, cacheDir: join(rt.config.stateDir, "bundles") });
  // Loaded here: graphile-worker and pg are for workers, not for every `import "flyte-ts"`.
  const { Worker } = await import("../queue/worker.ts");
  const worker = new Worker({
    envs: o.envs, concurrency, ...(o.queue ? { queue: o.queue } : {}), store: rt.store, blobStore: rt.blobStore, secrets: rt.secrets,
    actionQueue: rt.queue, rawDataPath: rt.config.rawDataPath.includes("://") ? rt.config.rawDataPath : rt.blobStore.uriFor("raw"),
    systemRetries: rt.config.systemRetries, offload: rt.config.offload, durability: rt.config.durability, resolveTask, databaseUrl: rt.config.databaseUrl!,
    ...(o.isolation === "process" ? { isolation: "process" as const } : {}),
    ...(o.interruptible ? { interruptible: true } : {}),
    ...(o.onAction ? { onAction: (e: { job: ActionJob; phase: string; ms?: number }) => o.onAction!({ run: e.job.run, action: e.job.action, task: e.job.task, phase: e.phase, ...(e.ms !== undefined ? { ms: e.ms } : {}) }) } : {}),
  });
  await worker.start();
  return {
    id: worker.id,
    get running() {
      return worker.running;
    },
    stop: () => worker.stop(),
    abandon: () => worker.abandon(),
    interrupt: () => worker.interrupt(),
  };
}

/** Tasks of the environments this process loaded, by FQN. */
function loadedTasks(): TaskResolver {
  return async (fqn: string) => {
    for (const env of listLoadedEnvironments()) {
      const tasks = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks;
      const t = tasks?.get(fqn);
      if (t) return t;
    }
    throw new ValidationError(`This worker has no task "${fqn}": start it from the file that defines it (flyte worker <file.ts> --env ...).`, { field: "task" });
  };
}

/** A worker registered with the cluster backend (`flyte get workers`): its registration, with times as dates. */
export interface WorkerInfo extends Omit<WorkerRow, "startedAt" | "heartbeatAt"> {
  startedAt: Date;
  heartbeatAt: Date;
}

/** The workers registered now (those that stopped heart-beating are removed by the others). */
export async function listWorkers(): Promise<WorkerInfo[]> {
  const rt = getRuntime();
  if (rt.config.backend !== "cluster" || !rt.queue) {
    throw new InitializationError("Workers exist only with backend: cluster. Create a config with: flyte gen config --backend cluster", { code: "BackendNotCluster" });
  }
  return (await rt.queue.listWorkers()).map((w) => ({ ...w, startedAt: new Date(w.startedAt), heartbeatAt: new Date(w.heartbeatAt) }));
}

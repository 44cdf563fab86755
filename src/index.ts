/**
 * `flyte-ts`: author, run and cache Flyte 2 tasks in TypeScript.
 *
 * @example
 * ```ts
 * import { TaskEnvironment, run } from "flyte-ts";
 * const env = new TaskEnvironment({ name: "hello" });
 * export const square = env.task(async function square({ x }: { x: number }) { return x * x; });
 * export const main = env.task(async function main({ n }: { n: number }) {
 *   return (await Promise.all(Array.from({ length: n }, (_, x) => square({ x })))).reduce((a, b) => a + b, 0);
 * });
 * const r = await run(main, { n: 5 }); console.log(await r.outputs()); // 30
 * ```
 * @module
 */

// Environments and tasks
export { Environment, listLoadedEnvironments } from "./authoring/environment.ts";
export type { EnvironmentOptions } from "./authoring/environment.ts";
export { TaskEnvironment } from "./authoring/task-environment.ts";
export type { TaskEnvironmentOptions, CloneWithOptions } from "./authoring/task-environment.ts";
export type {
  TaskTemplate, TaskOptions, OverrideOptions, TaskFunction, InputsOf, OutputOf, SchemaLike, Infer, InferInput, TaskInterface,
} from "./authoring/task-template.ts";

// Value classes
export { Resources, Device, GPU, TPU, Neuron, AMD_GPU, HABANA_GAUDI } from "./authoring/resources.ts";
export type { ResourcesOptions, Accelerator, DeviceClass, CpuValue, GPUType } from "./authoring/resources.ts";
export { Image } from "./images/image.ts";
export { build } from "./images/build-engine.ts";
export type { BuildOptions, BuildResult } from "./images/build-engine.ts";
export { Cache, FunctionBodyPolicy } from "./authoring/cache.ts";
export type { CacheOptions, CachePolicy, CacheBehavior, CacheRequest, VersionParameters } from "./authoring/cache.ts";
export { RetryStrategy, Backoff } from "./authoring/retry-strategy.ts";
export { Timeout } from "./authoring/timeout.ts";
export type { TimeoutRequest } from "./authoring/timeout.ts";
export { ReusePolicy } from "./authoring/reuse-policy.ts";
export { Secret } from "./secrets/secret.ts";
export type { SecretRequest } from "./secrets/secret.ts";
export { PodTemplate } from "./authoring/pod-template.ts";
export type { K8sPodSpec } from "./authoring/pod-template.ts";
export { Trigger, Cron, FixedRate, TriggerTime } from "./authoring/trigger.ts";
export type { TriggerOptions } from "./authoring/trigger.ts";
export { Documentation } from "./authoring/documentation.ts";
export type { Link } from "./authoring/documentation.ts";
export { parseDuration } from "./internal/duration.ts";
export type { Duration } from "./internal/duration.ts";

// Running
export { init, initFromConfig } from "./run/runtime.ts";
export type { InitOptions } from "./run/config.ts";
export { run, withRunContext, getRun } from "./run/run.ts";
export type { RunContextOptions } from "./run/run.ts";
export type { Run, RunDetails, RunSource, ActionDetails, ActionCacheDetails, ErrorDetails, LogLine, ActionPhase } from "./run/run-handle.ts";
export { ACTION_PHASES, TERMINAL_PHASES } from "./run/run-handle.ts";
export type { Action, ActionIo, TaskInterfaceSchema } from "./run/action-handle.ts";
export type { RunWatcher, RunWatch, ActionUpdate, LiveLogLine } from "./run/watch.ts";
export { listRuns } from "./run/list-runs.ts";
export type { ListRunsOptions, RunSummary, RunTriggerInfo } from "./run/list-runs.ts";
export { clearCache } from "./run/clear-cache.ts";
export { listWorkers, startWorker } from "./worker/start-worker.ts";
export type { StartWorkerOptions, WorkerHandle, WorkerInfo } from "./worker/start-worker.ts";

// Deploying
export { deploy } from "./deploy/deploy.ts";
export type { DeployOptions, DeployResult, DeployedImage, CopyStyle, TaskSpec } from "./deploy/deploy.ts";
export { listDeployedTasks, getDeployedTask } from "./deploy/deployed-tasks.ts";
export type { DeployedTask, ListDeployedTasksOptions } from "./deploy/deployed-tasks.ts";

// Schedules
export { startScheduler } from "./schedule/serve.ts";
export type { StartSchedulerOptions, SchedulerHandle } from "./schedule/serve.ts";
export { listDeployedTriggers, updateTrigger, deleteTrigger } from "./schedule/triggers.ts";
export type { DeployedTrigger } from "./schedule/triggers.ts";

// Inside tasks
export { ctx, getCustomContext, customContext, getSecret } from "./run/context.ts";
export type { TaskContext } from "./run/context.ts";
export { group } from "./run/group.ts";
export { map } from "./run/map.ts";
export type { MapOptions, MapResult } from "./run/map.ts";
export { trace } from "./run/trace.ts";
export * as report from "./report/index.ts";

// Sandboxed orchestration (env.sandbox.orchestrator); importing the module registers `env.sandbox`
import "./sandbox/namespace.ts";
export type { SandboxNamespace, SandboxOptions, CodeSandboxOptions } from "./sandbox/namespace.ts";
export type { SandboxedTaskTemplate, CodeTaskTemplate } from "./sandbox/sandboxed-task-template.ts";

export { version } from "./version.ts";

/**
 * `flyte-ts/clustered`: multi-node distributed tasks (← flyte-sdk `flyte.clustered`). A clustered task runs
 * as `replicas × nprocPerNode` processes wired up like torchrun workers: as a Kubernetes JobSet on a cluster,
 * and as real local processes in `run()`, so distributed code can be tested before it is deployed.
 *
 * @example
 * ```ts
 * import { ctx, run } from "flyte-ts";
 * import { ClusteredTaskEnvironment, TorchRun } from "flyte-ts/clustered";
 * const ddp = new ClusteredTaskEnvironment({ name: "ddp", replicas: 2, nprocPerNode: 2, runtime: new TorchRun() });
 * export const whoami = ddp.task(async function whoami() { return `${ctx()!.rank} of ${ctx()!.worldSize}`; });
 * const r = await run(whoami); console.log(await r.outputs()); // "0 of 4" (rank 0's return value)
 * console.log(ddp.toJobSet({ name: "whoami-1", task: whoami }));
 * ```
 * @module
 */
export { ClusteredTaskEnvironment } from "./clustered-task-environment.ts";
export type { ClusteredTaskEnvironmentOptions, ClusteredCloneWithOptions, ClusteredTaskSpecJSON } from "./clustered-task-environment.ts";
export { ClusteredTaskTemplate } from "./clustered-task-template.ts";
export { TorchRun, ClusterFailurePolicy } from "./policies.ts";
export type { Runtime, RdzvBackend, TorchRunOptions, ClusterFailurePolicyOptions } from "./policies.ts";
export type { JobSetManifest, JobSetOptions } from "./jobset.ts";

/**
 * A clustered action on Kubernetes: when a worker of the cluster backend executes a clustered task and the config
 * has `kubernetes`, the attempt becomes a JobSet (API.md §14) instead of local rank processes. The worker writes
 * the inputs to blob storage, creates the JobSet (its pods run `flyte clustered --version <deployed version>`, wired
 * to the installation's ConfigMap and Secrets), follows it until the JobSet controller marks it Completed or Failed
 * (pod failures go through the JobSet's failure policy first), and reads back rank 0's return value, which pod 0
 * wrote to blob storage. The JobSet is deleted `kubernetes.ttlSeconds` (0) after it ends, or at once when the
 * action is aborted. A JobSet the API server rejects fails the attempt with the server's message.
 */
import { createHash } from "node:crypto";
import { deserialize, serialize } from "node:v8";
import { NonRecoverableError } from "../errors.ts";
import { deployedVersionOf } from "../internal/deployed-versions.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { TaskContext } from "../run/context.ts";
import type { Runtime } from "../run/runtime.ts";
import type { ClusteredTaskEnvironment } from "./clustered-task-environment.ts";
import { runtimeWiring } from "./cluster-wiring.ts";
import { inClusterConnection, JobSetClient, kubeconfigConnection, type KubeConnection } from "./jobset-client.ts";
import { jobSetNameFor } from "./jobset.ts";

function connection(k: NonNullable<Runtime["config"]["kubernetes"]>): KubeConnection {
  if (k.inCluster) return inClusterConnection(k.namespace);
  return kubeconfigConnection(k.kubeconfig, { ...(k.context ? { context: k.context } : {}), ...(k.namespace ? { namespace: k.namespace } : {}) });
}

export async function runAsJobSet(task: TaskTemplate, cluster: ClusteredTaskEnvironment, inputs: unknown, parent: TaskContext, rt: Runtime): Promise<unknown> {
  const k = rt.config.kubernetes!;
  const version = deployedVersionOf(task.sourceFile);
  if (version === undefined) {
    throw new NonRecoverableError(
      `Task "${task.name}": a clustered task runs on Kubernetes from deployed code, but this worker loaded it from a file (flyte worker <file>). Deploy it with flyte deploy and start the worker without a file.`,
      { code: "ClusteredNotDeployed" },
    );
  }
  const client = new JobSetClient(connection(k));
  const { project = rt.config.project, domain = rt.config.domain } = parent.action;
  const id = createHash("sha256").update(`${project}/${domain}/${parent.runName}/${parent.actionName}/${parent.attempt}`).digest("hex").slice(0, 10);
  const name = jobSetNameFor(`${task.taskName.slice(0, 30)}-${id}`, cluster.replicas);
  const inputsUri = (await rt.blobStore.put(`clustered/${name}/inputs.bin`, serialize(inputs))).uri;
  const outputsUri = rt.blobStore.uriFor(`clustered/${name}/output.bin`);
  const manifest = cluster.toJobSet({
    name, namespace: client.namespace, task,
    args: ["--task", task.name, "--version", version, "--inputs-uri", inputsUri, "--outputs-uri", outputsUri],
    labels: { "flyte.org/run": jobSetNameFor(parent.runName, 1).slice(0, 63) },
  });
  const pod = manifest.spec.replicatedJobs[0].template.spec!.template!.spec!;
  const primary = pod.containers[0]!;
  const wiring = runtimeWiring();
  primary.env = [...(primary.env ?? []), ...wiring.env, { name: "FLYTE_PROJECT", value: project }, { name: "FLYTE_DOMAIN", value: domain }];
  primary.envFrom = [...(primary.envFrom ?? []), ...wiring.envFrom];
  primary.volumeMounts = [...(primary.volumeMounts ?? []), ...wiring.volumeMounts];
  pod.volumes = [...(pod.volumes ?? []), ...wiring.volumes];
  pod.serviceAccountName ??= "flyte-worker";
  process.stderr.write(`[clustered] submitted JobSet ${client.namespace}/${name} (${cluster.replicas} pods x ${cluster.nprocPerNode} ranks)\n`);
  await client.run(manifest, { signal: parent.signal, ttlSeconds: k.ttlSeconds ?? 0 });
  let bytes: Uint8Array;
  try {
    bytes = await rt.blobStore.getBytes(outputsUri);
  } catch (e) {
    throw new NonRecoverableError(`JobSet ${name} completed, but pod 0 left no output at ${outputsUri} (${(e as Error).message}).`, { code: "ClusteredNoOutput", cause: e });
  }
  return deserialize(Buffer.from(bytes));
}

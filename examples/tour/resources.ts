/**
 * Resources and devices: CPU/memory requests and limits, accelerators with partitions, and a bigger machine for
 * one call. Locally they are recorded; on Kubernetes they become container requests/limits.
 *   npx flyte run examples/tour/resources.ts main
 */
import { GPU, Resources, TaskEnvironment } from "flyte-ts";

// [request, limit] pairs for cpu and memory; disk is ephemeral storage.
const cpuEnv = new TaskEnvironment({
  name: "tour-resources",
  resources: new Resources({ cpu: [1, 2], memory: ["1Gi", "2Gi"], disk: "10Gi" }),
});

// One MIG slice of an A100, all of /dev/shm, on preemptible capacity.
const gpuEnv = cpuEnv.cloneWith({
  name: "tour-resources-gpu",
  resources: new Resources({ cpu: 4, memory: "16Gi", gpu: GPU({ device: "A100", quantity: 1, partition: "1g.5gb" }), shm: "auto" }),
  interruptible: true,
});

export const preprocess = cpuEnv.task(async function preprocess({ rows }: { rows: number }) {
  return rows * 2;
});

export const train = gpuEnv.task(async function train({ rows }: { rows: number }) {
  return `trained on ${rows} rows`;
});

export const main = cpuEnv.task(async function main({ rows = 100 }: { rows?: number }) {
  const prepared = await preprocess({ rows });
  // More memory for one call only (e.g. after an OOMError): override returns a copy of the task.
  const bigger = preprocess.override({ resources: new Resources({ cpu: 8, memory: "32Gi" }) });
  const result = await train({ rows: await bigger({ rows: prepared }) });
  const device = train.resources?.getDevice();
  return { result, gpu: device ? `${device.device}:${device.quantity} (${device.partition})` : "none" };
});

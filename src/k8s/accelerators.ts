/**
 * Where an accelerator request lands on Kubernetes: the node label that selects nodes with that device (the
 * scheme flytepropeller uses by default: `k8s.amazonaws.com/accelerator` = a device name such as
 * `nvidia-tesla-t4`, and `k8s.amazonaws.com/gpu-partition-size` for MIG partitions; TPUs use GKE's labels), plus
 * the toleration GPU node pools are usually tainted with. An accelerator with no known label is an error listing
 * the known ones: a pod that selects no device type may land on the wrong hardware.
 */
import { ValidationError } from "../errors.ts";
import type { Device } from "../authoring/resources.ts";

/** Device name (as `Resources({ gpu: "<name>:<n>" })` spells it) → node label value. */
const DEVICE_LABELS: Readonly<Record<string, string>> = {
  T4: "nvidia-tesla-t4",
  V100: "nvidia-tesla-v100",
  A10: "nvidia-a10",
  A10G: "nvidia-a10g",
  A100: "nvidia-tesla-a100",
  "A100 80G": "nvidia-a100-80gb",
  L4: "nvidia-l4",
  L40s: "nvidia-l40s",
  H100: "nvidia-h100",
  H200: "nvidia-h200",
  B200: "nvidia-b200",
  "RTX PRO 6000": "nvidia-rtx-pro-6000",
  GB10: "nvidia-gb10",
  MI100: "amd-mi100", MI210: "amd-mi210", MI250: "amd-mi250", MI250X: "amd-mi250x", MI300A: "amd-mi300a", MI300X: "amd-mi300x",
  MI325X: "amd-mi325x", MI350X: "amd-mi350x", MI355X: "amd-mi355x",
  Inf1: "aws-inf1", Inf2: "aws-inf2", Trn1: "aws-trn1", Trn1n: "aws-trn1n", Trn2: "aws-trn2", Trn2u: "aws-trn2u",
  Gaudi1: "habana-gaudi1",
  V5P: "tpu-v5p-slice",
  V6E: "tpu-v6e-slice",
};

export const DEFAULT_ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator";
export const PARTITION_LABEL = "k8s.amazonaws.com/gpu-partition-size";
const TPU_ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator";
const TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology";

/** Taint keys of accelerator node pools, per device class (tolerated with `Exists`). */
const DEVICE_TAINTS: Readonly<Record<string, string>> = {
  GPU: "nvidia.com/gpu",
  AMD_GPU: "amd.com/gpu",
  NEURON: "aws.amazon.com/neuron",
  HABANA_GAUDI: "habana.ai/gaudi",
  TPU: "google.com/tpu",
};

export interface AcceleratorPlacement {
  nodeSelector: Record<string, string>;
  tolerations: { key: string; operator: "Exists"; effect: "NoSchedule" }[];
}

/** Node selector and tolerations for `device`; `owner` names the environment in errors. */
export function acceleratorPlacement(device: Device, owner: string, label = DEFAULT_ACCELERATOR_LABEL): AcceleratorPlacement {
  const tolerations = [{ key: DEVICE_TAINTS[device.deviceClass]!, operator: "Exists" as const, effect: "NoSchedule" as const }];
  if (device.device === undefined) return { nodeSelector: {}, tolerations };
  const value = DEVICE_LABELS[device.device];
  if (value === undefined) {
    throw new ValidationError(
      `${owner}: accelerator ${JSON.stringify(device.device)} has no known node selector, so its pods could land on any ${device.deviceClass} node. Known accelerators: ${Object.keys(DEVICE_LABELS).join(", ")}. Use one of them, or leave device unset and select nodes with a podTemplate nodeSelector.`,
      { field: "resources" },
    );
  }
  const nodeSelector: Record<string, string> = device.deviceClass === "TPU" ? { [TPU_ACCELERATOR_LABEL]: value } : { [label]: value };
  if (device.partition !== undefined) nodeSelector[device.deviceClass === "TPU" ? TPU_TOPOLOGY_LABEL : PARTITION_LABEL] = device.partition;
  return { nodeSelector, tolerations };
}

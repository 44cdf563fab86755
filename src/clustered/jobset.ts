/**
 * Renders a clustered environment (and optionally one of its tasks) as a `jobset.x-k8s.io/v1alpha2` JobSet:
 * one replicated job `workers` whose Indexed Job runs `replicas` pods; every pod's primary container runs the
 * `clustered` launcher, which starts `nprocPerNode` processes with torchrun. The shape follows Flyte's
 * clustered backend plugin so a cluster with the JobSet controller accepts it unchanged.
 */
import type { IJobTemplateSpec } from "kubernetes-models/batch/v1/JobTemplateSpec";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import { ValidationError } from "../errors.ts";
import { checkKeys, show, validateStringRecord } from "../internal/validate.ts";
import { toK8sResources, type Resources } from "../authoring/resources.ts";
import { PodTemplate } from "../authoring/pod-template.ts";
import { normalizeSecrets, SECRETS_MOUNT, type Secret } from "../secrets/secret.ts";
import { Image } from "../images/image.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { ClusteredTaskEnvironment } from "./clustered-task-environment.ts";

/** Port the rendezvous store listens on in every pod (fixed by the platform, as in flyte-sdk). */
export const RDZV_PORT = 29500;
/** Name of the single replicated job; part of every pod's DNS name. */
export const REPLICATED_JOB = "workers";

export interface JobSetOptions {
  /** JobSet name; also the headless Service (pod subdomain). An RFC 1035 label. */
  name: string;
  /** @default "default" */
  namespace?: string;
  /** Container image URI. @default the task's image, else the environment's (`"auto"` → the default base image) */
  image?: string;
  /** The task the pods run: its args, resources, env vars, secrets and pod template win over the environment's. */
  task?: TaskTemplate;
  /** Arguments after the `clustered` launcher sub-command. @default the task's container args, else none */
  args?: string[];
  /** Extra labels on the JobSet. */
  labels?: Record<string, string>;
}

/** A JobSet manifest (plain JSON, ready for YAML). */
export interface JobSetManifest {
  apiVersion: "jobset.x-k8s.io/v1alpha2";
  kind: "JobSet";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    network: { enableDNSHostnames: true; subdomain: string };
    successPolicy: { operator: "All" };
    failurePolicy: {
      maxRestarts: number;
      rules?: { name: string; action: "RestartJobSetAndIgnoreMaxRestarts"; onJobFailureReasons: ["PodFailurePolicy"] }[];
    };
    ttlSecondsAfterFinished?: number;
    replicatedJobs: [{ name: typeof REPLICATED_JOB; replicas: 1; template: IJobTemplateSpec }];
  };
}

const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Set by the launcher or Kubernetes; a user value would silently break the rendezvous. */
const RESERVED_ENV = [
  "NNODES", "NPROC_PER_NODE", "RDZV_BACKEND", "MASTER_ADDR", "NODE_RANK", "JOBSET_NAME", "POD_NAMESPACE", "JOBSET_RESTART_ATTEMPT",
  "JOBSET_MAX_RESTARTS", "JOB_COMPLETION_INDEX", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
];

const fieldRef = (name: string, fieldPath: string): IEnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** MASTER_ADDR of a JobSet: the fully qualified DNS name of pod 0 of job 0. */
export function masterAddress(name: string, namespace: string): string {
  return `${name}-${REPLICATED_JOB}-0-0.${name}.${namespace}.svc.cluster.local`;
}

/** The port the group rendezvouses on: `envVars.MASTER_PORT` when the user pinned one, else 29500. */
export function pinnedMasterPort(envVars: Readonly<Record<string, string>> | undefined, owner: string): number | undefined {
  const raw = envVars?.MASTER_PORT;
  if (raw === undefined) return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535) {
    throw new ValidationError(`${owner}: envVars.MASTER_PORT must be a TCP port between 1 and 65535, got ${show(raw)}. Remove it to use ${RDZV_PORT}.`, {
      field: "envVars",
    });
  }
  return port;
}

export function buildJobSet(env: ClusteredTaskEnvironment, o: JobSetOptions): JobSetManifest {
  const owner = `${env.constructor.name} "${env.name}".toJobSet`;
  if (typeof o !== "object" || o === null) throw new ValidationError(`${owner}: options are required. Pass toJobSet({ name: "train-1" }).`);
  checkKeys(o, ["name", "namespace", "image", "task", "args", "labels"], owner);
  const name = checkName(o.name, env.replicas, owner);
  const namespace = o.namespace ?? "default";
  if (typeof namespace !== "string" || namespace.length > 63 || !LABEL_1123.test(namespace)) {
    throw new ValidationError(`${owner}: namespace must be a Kubernetes namespace name (lowercase letters, digits, "-", at most 63), got ${show(namespace)}.`, {
      field: "namespace",
    });
  }
  const task = o.task;
  if (task !== undefined && task.env !== env) {
    throw new ValidationError(`${owner}: task ${show(task?.name ?? task)} does not belong to environment "${env.name}". Pass one of its tasks: ${[...env.tasks.keys()].join(", ") || "(none declared)"}.`, {
      field: "task",
    });
  }
  if (o.args !== undefined && (!Array.isArray(o.args) || o.args.some((a) => typeof a !== "string"))) {
    throw new ValidationError(`${owner}: args must be an array of strings, got ${show(o.args)}.`, { field: "args" });
  }
  const labels = validateStringRecord(o.labels, owner, "labels") ?? {};
  for (const [k, v] of Object.entries({ ...labels, "flyte.org/environment": env.name })) checkLabel(k, v, owner);
  if (o.image !== undefined && (typeof o.image !== "string" || o.image === "")) {
    throw new ValidationError(`${owner}: image must be an image URI, got ${show(o.image)}.`, { field: "image" });
  }
  const image = o.image ?? (task ? task.image : env.image instanceof Image ? env.image : env.image === "auto" ? Image.fromDebianBase() : Image.fromBaseImage(env.image));
  const resources = task ? task.resources : env.resources;
  const envVars = (task ? task.envVars : env.envVars) ?? {};
  const secrets = task ? task.secrets : normalizeSecrets(env.secrets, owner);
  const podTemplate = task ? task.podTemplate : env.podTemplate;
  const args = o.args ? ["clustered", ...o.args] : task ? task.containerArgs({}) : ["clustered"];
  for (const k of Object.keys(envVars)) {
    if (RESERVED_ENV.includes(k)) {
      throw new ValidationError(`${owner}: envVars.${k} is set by the clustered launcher for every process. Remove it from envVars.`, { field: "envVars" });
    }
  }
  const port = pinnedMasterPort(envVars, owner) ?? RDZV_PORT;

  const mounts = secretMounts(secrets, owner);
  const containerEnv: IEnvVar[] = [
    ...Object.entries(envVars).filter(([k]) => k !== "MASTER_PORT").map(([k, value]) => ({ name: k, value })),
    ...mounts.env,
    { name: "NNODES", value: String(env.replicas) },
    { name: "NPROC_PER_NODE", value: String(env.nprocPerNode) },
    { name: "RDZV_BACKEND", value: env.runtime.rdzvBackend },
    { name: "TORCH_MAX_RESTARTS", value: String(env.runtime.maxRestarts) },
    { name: "MASTER_ADDR", value: masterAddress(name, namespace) },
    { name: "MASTER_PORT", value: String(port) },
    { name: "JOBSET_MAX_RESTARTS", value: String(env.failurePolicy.maxRestarts) },
    fieldRef("JOBSET_NAME", "metadata.labels['jobset.sigs.k8s.io/jobset-name']"),
    fieldRef("POD_NAMESPACE", "metadata.namespace"),
    fieldRef("JOBSET_RESTART_ATTEMPT", "metadata.labels['jobset.sigs.k8s.io/restart-attempt']"),
    fieldRef("NODE_RANK", "metadata.annotations['batch.kubernetes.io/job-completion-index']"),
  ];
  const { podSpec, primary, podLabels, podAnnotations } = podBase(podTemplate, env.name);
  const volumes: IVolume[] = [...((podSpec.volumes as IVolume[] | undefined) ?? []), ...mounts.volumes];
  const volumeMounts: IVolumeMount[] = [...(primary.volumeMounts ?? []), ...mounts.volumeMounts];
  const shm = resources?.getSharedMemory();
  if (shm !== undefined) {
    // PyTorch data loaders and NCCL use /dev/shm; the container default of 64Mi is too small for training.
    volumes.push({ name: "dshm", emptyDir: { medium: "Memory", ...(shm ? { sizeLimit: shm } : {}) } });
    volumeMounts.push({ name: "dshm", mountPath: "/dev/shm" });
  }
  const container: IContainer = {
    ...primary,
    image: typeof image === "string" ? image : image.uri,
    args,
    ports: [...(primary.ports ?? []).filter((p) => p.name !== "rdzv"), { name: "rdzv", containerPort: port }],
    env: [...(primary.env ?? []).filter((e) => !containerEnv.some((c) => c.name === e.name)), ...containerEnv],
  };
  const k8sResources = resources ? containerResources(resources) : undefined;
  if (k8sResources) container.resources = k8sResources;
  if (volumeMounts.length) container.volumeMounts = volumeMounts;
  const spec: IPodSpec = {
    ...podSpec,
    // podFailurePolicy requires Never, and a failed process must fail the Job so the JobSet restarts the group.
    restartPolicy: "Never",
    containers: [container, ...((podSpec.containers as IContainer[]).filter((c) => c.name !== primary.name))],
  };
  if (volumes.length) spec.volumes = volumes;

  const jobTemplate: IJobTemplateSpec = {
    spec: {
      parallelism: env.replicas,
      completions: env.replicas,
      completionMode: "Indexed",
      backoffLimit: 0,
      template: { metadata: { labels: podLabels, ...(Object.keys(podAnnotations).length ? { annotations: podAnnotations } : {}) }, spec },
    },
  };
  const failurePolicy: JobSetManifest["spec"]["failurePolicy"] = { maxRestarts: env.failurePolicy.maxRestarts };
  if (env.failurePolicy.restartOnHostMaintenance) {
    // A pod evicted for node maintenance fails its Job through this pod failure policy, and the JobSet rule
    // restarts the group without spending the restart budget on it.
    failurePolicy.rules = [{ name: "hostMaintenance", action: "RestartJobSetAndIgnoreMaxRestarts", onJobFailureReasons: ["PodFailurePolicy"] }];
    jobTemplate.spec!.podFailurePolicy = { rules: [{ action: "FailJob", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] };
  }
  const manifest: JobSetManifest = {
    apiVersion: "jobset.x-k8s.io/v1alpha2",
    kind: "JobSet",
    metadata: { name, namespace, labels: { "flyte.org/environment": env.name, ...labels } },
    spec: {
      network: { enableDNSHostnames: true, subdomain: name },
      successPolicy: { operator: "All" },
      failurePolicy,
      replicatedJobs: [{ name: REPLICATED_JOB, replicas: 1, template: jobTemplate }],
    },
  };
  if (env.ttlSecondsAfterFinished !== undefined) manifest.spec.ttlSecondsAfterFinished = env.ttlSecondsAfterFinished;
  return manifest;
}

/** Longest JobSet name whose pod names "<name>-workers-<job>-<pod>-xxxxx" stay RFC 1035 labels (≤ 63), as the webhook requires. */
function maxNameLength(replicas: number): number {
  return 63 - `-${REPLICATED_JOB}-0-`.length - String(replicas - 1).length - "-xxxxx".length;
}

/** A valid JobSet name derived from free text (e.g. a task FQN): kebab-case, starting with a letter, short enough. */
export function jobSetNameFor(text: string, replicas: number): string {
  const kebab = text
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^[^a-z]+/, "");
  return (kebab || "task").slice(0, maxNameLength(replicas)).replace(/-+$/, "");
}

function checkName(name: unknown, replicas: number, owner: string): string {
  const max = maxNameLength(replicas);
  if (typeof name !== "string" || !LABEL_1035.test(name) || name.length > max) {
    throw new ValidationError(
      `${owner}: name must be a lowercase RFC 1035 label (a-z, 0-9, "-", starting with a letter) of at most ${max} characters for ${replicas} replicas, got ${show(name)}. Use e.g. name: "train-1".`,
      { field: "name" },
    );
  }
  return name;
}

function checkLabel(key: string, value: string, owner: string): void {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const local = key.slice(slash + 1);
  const keyOk = local.length >= 1 && local.length <= 63 && LABEL_VALUE.test(local) && (prefix === undefined || (prefix.length <= 253 && SUBDOMAIN.test(prefix)));
  if (!keyOk) throw new ValidationError(`${owner}: label key ${show(key)} is not a valid Kubernetes label key. Use e.g. "team" or "example.com/team".`, { field: "labels" });
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new ValidationError(`${owner}: label ${key}=${show(value)} is not a valid Kubernetes label value (at most 63 of A-Z a-z 0-9 - _ .).`, { field: "labels" });
  }
}

/** Requests/limits as quantity strings; `undefined` when nothing is set. */
export function containerResources(r: Resources): IContainer["resources"] | undefined {
  const { requests, limits } = toK8sResources(r);
  if (!Object.keys(requests).length && !Object.keys(limits).length) return undefined;
  return { requests, limits };
}

export interface PodBase {
  podSpec: IPodSpec;
  primary: IContainer;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
}

/** The pod template's spec with its primary container split out (a named cluster-side template is applied by the platform). */
export function podBase(pt: string | PodTemplate | undefined, envName: string): PodBase {
  const podLabels: Record<string, string> = { "flyte.org/environment": envName };
  if (!(pt instanceof PodTemplate)) return { podSpec: { containers: [] }, primary: { name: "primary" }, podLabels, podAnnotations: {} };
  const k8s = pt.toK8sPod();
  const podSpec = k8s.podSpec as unknown as IPodSpec;
  const primary = podSpec.containers.find((c) => c.name === k8s.primaryContainerName)!;
  return { podSpec, primary, podLabels: { ...k8s.metadata.labels, ...podLabels }, podAnnotations: { ...k8s.metadata.annotations } };
}

/**
 * Secrets come from Kubernetes Secrets named after the secret's group (or its key when it has no group), with
 * the secret's key as the data key: env-var secrets through `secretKeyRef`, mounted ones as files at
 * `/etc/flyte/secrets/<group>/<key>` (the layout `FLYTE_SECRETS_DIR` has locally).
 */
export function secretMounts(secrets: readonly Secret[], owner: string): { env: IEnvVar[]; volumes: IVolume[]; volumeMounts: IVolumeMount[] } {
  const env: IEnvVar[] = [];
  const volumes: IVolume[] = [];
  const volumeMounts: IVolumeMount[] = [];
  const volumeOf = new Map<string, string>();
  for (const s of secrets) {
    const secretName = s.group ?? s.key;
    if (secretName.length > 253 || !SUBDOMAIN.test(secretName)) {
      throw new ValidationError(
        `${owner}: secret ${show(s.group ? `${s.group}/${s.key}` : s.key)} maps to Kubernetes Secret ${show(secretName)}, which is not a valid Secret name (lowercase letters, digits, "-", "."). Give the Secret a group that is, e.g. new Secret({ key: ${show(s.key)}, group: "training" }).`,
        { field: "secrets" },
      );
    }
    if (s.asEnvVar) env.push({ name: s.asEnvVar, valueFrom: { secretKeyRef: { name: secretName, key: s.key } } });
    if (s.mount) {
      let vol = volumeOf.get(secretName);
      if (!vol) {
        vol = `flyte-secret-${volumeOf.size}`;
        volumeOf.set(secretName, vol);
        volumes.push({ name: vol, secret: { secretName } });
      }
      volumeMounts.push({ name: vol, mountPath: `${SECRETS_MOUNT}/${s.group ? `${s.group}/` : ""}${s.key}`, subPath: s.key, readOnly: true });
    }
  }
  if (volumeMounts.length) env.push({ name: "FLYTE_SECRETS_DIR", value: SECRETS_MOUNT });
  return { env, volumes, volumeMounts };
}

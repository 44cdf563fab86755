/**
 * A whole flyte-ts installation on Kubernetes as plain manifests (`flyte k8s manifests`, API.md §16):
 *
 * | Object                                   | For                                                                   |
 * |------------------------------------------|-----------------------------------------------------------------------|
 * | ServiceAccount `flyte` + Role + RoleBinding | the scheduler; may create/get/list/watch/delete JobSets, nothing else |
 * | ServiceAccount `flyte-worker`             | worker pods (no API access)                                           |
 * | ConfigMap `flyte-config`                  | `config.yaml` (backend: cluster, storage, secrets from env)           |
 * | Deployment `flyte-scheduler`              | `flyte serve --no-workers`                                             |
 * | Deployment + Service `flyte-ui`           | `flyte ui` on port 8080, token from Secret `flyte-ui`                  |
 * | Deployment `flyte-worker-<env>[-<queue>]` | `flyte worker --env <env>` in the environment's image, one per queue  |
 * | PodDisruptionBudget per worker Deployment | at most one worker pod evicted at a time (its attempts drain)          |
 * | ScaledObject (KEDA) / HPA                 | reusable environments: replicas min..max from `ReusePolicy`            |
 * | TriggerAuthentication `flyte-db` (KEDA)   | the PostgreSQL trigger's connection, from Secret `flyte-db`            |
 *
 * Not generated (the operator creates them): the namespace, Secret `flyte-db` (key `url`: the PostgreSQL URL),
 * Secret `flyte-ui` (key `token`), optional Secret `flyte-storage` (S3 credentials as env vars), and one Secret per
 * task secret (named after the secret's group, else its key; data key = the secret's key).
 */
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IToleration } from "kubernetes-models/v1/Toleration";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import { stringify } from "yaml";
import { ValidationError } from "../errors.ts";
import { taskIdentifier } from "../internal/task-identifier.ts";
import type { Environment } from "../authoring/environment.ts";
import { TaskEnvironment } from "../authoring/task-environment.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { Image } from "../images/image.ts";
import { normalizeSecrets, type Secret } from "../secrets/secret.ts";
import { containerResources, podBase } from "../clustered/jobset.ts";
import { DB_SECRET, runtimeWiring, STATE_DIR } from "../clustered/cluster-wiring.ts";
import { acceleratorPlacement, DEFAULT_ACCELERATOR_LABEL } from "./accelerators.ts";

/** A Kubernetes object as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface InstallationOptions {
  /** @default "flyte" */
  namespace?: string;
  /** Environments whose workers to deploy (the file's, with their dependsOn). */
  environments: readonly Environment[];
  /** Image of the scheduler and the UI: any image with flyte-ts installed (e.g. an environment's). */
  controlImage: string;
  /** Autoscale reusable environments with KEDA (queue depth); false = a CPU HPA. @default true */
  keda?: boolean;
  project?: string;
  domain?: string;
  /** Blob storage every pod shares (`storage.url`), e.g. `s3://bucket/flyte`. */
  storageUrl: string;
  /** S3 endpoint/region for `storage.s3` (MinIO and the like). */
  s3?: { endpoint?: string; region?: string; forcePathStyle?: boolean };
  /** Tolerations of interruptible environments' pods. @default [{ key: "flyte.org/interruptible", operator: "Equal", value: "true", effect: "NoSchedule" }] */
  interruptibleTolerations?: IToleration[];
  /** Node labels interruptible pods require (node affinity). @default { "flyte.org/interruptible": "true" } */
  interruptibleNodeLabels?: Record<string, string>;
  /** Node label key selecting the accelerator type. @default "k8s.amazonaws.com/accelerator" */
  acceleratorLabel?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const UI_PORT = 8080;
/** `flyte worker` drains for 30 s on SIGTERM; the pod gets a little more before SIGKILL. */
const WORKER_GRACE_S = 40;
const PART_OF = { "app.kubernetes.io/part-of": "flyte-ts" };

export const UI_SECRET = "flyte-ui";

/** Throws unless `ns` is a DNS label (RFC 1123, at most 63 characters), as Kubernetes requires of namespaces. */
export function checkNamespace(ns: unknown): string {
  if (typeof ns !== "string" || ns.length > 63 || !DNS_LABEL.test(ns)) {
    throw new ValidationError(
      `--namespace ${JSON.stringify(ns)} is not a DNS label: Kubernetes namespaces are at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit (e.g. "flyte").`,
      { field: "namespace" },
    );
  }
  return ns;
}

/** A DNS label made from free text (an environment or queue name). */
export function dnsLabel(text: string, max = 63): string {
  const s = text.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-+/, "");
  return s.slice(0, max).replace(/-+$/, "") || "x";
}

/** The image URI an environment's workers run. */
export function environmentImageUri(env: Environment): string {
  const image = env.image instanceof Image ? env.image : env.image === "auto" ? Image.fromDebianBase() : Image.fromBaseImage(env.image);
  return image.uri;
}

/** The environment itself, then its `dependsOn`, depth first, each once. */
export function withDependencies(envs: readonly Environment[]): Environment[] {
  const out: Environment[] = [];
  const visit = (e: Environment) => {
    if (out.includes(e)) return;
    out.push(e);
    e.dependsOn.forEach(visit);
  };
  envs.forEach(visit);
  return out;
}

function envVar(name: string, value: string): IEnvVar {
  return { name, value };
}

function secretRef(name: string, secret: string, key: string): IEnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/** `FLYTE_SECRET_<GROUP>_<KEY>`: where the `env` secret backend looks a secret up (API.md §17). */
function secretEnvName(s: Secret): string {
  return `FLYTE_SECRET_${(s.group ? `${s.group}_${s.key}` : s.key).replaceAll("-", "_").toUpperCase()}`;
}

/** A `ClusteredTaskEnvironment` (duck-typed: clustered/ registers nothing here). */
function isClustered(env: Environment): boolean {
  const e = env as Partial<{ replicas: number; nprocPerNode: number; toJobSet: unknown }>;
  return typeof e.replicas === "number" && typeof e.nprocPerNode === "number" && typeof e.toJobSet === "function";
}

function labels(component: string, extra: Record<string, string> = {}): Record<string, string> {
  return { "app.kubernetes.io/name": "flyte-ts", "app.kubernetes.io/component": component, ...PART_OF, ...extra };
}

function deployment(name: string, ns: string, podLabels: Record<string, string>, replicas: number, spec: IPodSpec, annotations: Record<string, string> = {}): K8sObject {
  const selector = { "app.kubernetes.io/name": "flyte-ts", "app.kubernetes.io/instance": name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns, labels: { ...podLabels, "app.kubernetes.io/instance": name } },
    spec: {
      replicas,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...podLabels, ...selector }, ...(Object.keys(annotations).length ? { annotations } : {}) },
        spec,
      },
    },
  };
}

/** The distinct queues the tasks of `env` use (`undefined` = no queue), in first-use order. */
function queuesOf(env: Environment): (string | undefined)[] {
  const tasks = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks;
  const envQueue = env instanceof TaskEnvironment ? env.queue : undefined;
  const qs = new Set<string | undefined>();
  for (const t of tasks?.values() ?? []) qs.add(t.queue ?? envQueue);
  if (qs.size === 0) qs.add(envQueue);
  return [...qs];
}

interface Ctx {
  ns: string;
  o: InstallationOptions;
}

function workerObjects(env: Environment, c: Ctx, usedNames: Set<string>): K8sObject[] {
  const owner = `Environment "${env.name}"`;
  const { ns, o } = c;
  const reusable = env instanceof TaskEnvironment ? env.reusable : undefined;
  const image = environmentImageUri(env);
  const secrets = normalizeSecrets(env.secrets, owner);
  const { podSpec, primary, podLabels, podAnnotations } = podBase(env.podTemplate, env.name);
  const wiring = runtimeWiring();
  const device = env.resources?.getDevice();
  const placement = device ? acceleratorPlacement(device, owner, o.acceleratorLabel ?? DEFAULT_ACCELERATOR_LABEL) : undefined;
  const out: K8sObject[] = [];
  for (const queue of queuesOf(env)) {
    let name = dnsLabel(`flyte-worker-${env.name}${queue ? `-${queue}` : ""}`, 63);
    for (let i = 2; usedNames.has(name); i++) name = `${dnsLabel(`flyte-worker-${env.name}${queue ? `-${queue}` : ""}`, 60)}-${i}`;
    usedNames.add(name);
    const concurrency = reusable?.concurrency ?? 1;
    const env0: IEnvVar[] = [
      ...Object.entries(env.envVars ?? {}).map(([k, v]) => envVar(k, v)),
      ...secrets.map((s) => secretRef(secretEnvName(s), s.group ?? s.key, s.key)),
      ...wiring.env,
    ];
    const container: IContainer = {
      ...primary,
      name: primary.name,
      image,
      command: ["flyte"],
      args: ["worker", "--env", env.name, "--concurrency", String(concurrency), ...(queue ? ["--queue", queue] : [])],
      env: [...(primary.env ?? []).filter((e) => !env0.some((x) => x.name === e.name)), ...env0],
      envFrom: [...(primary.envFrom ?? []), ...wiring.envFrom],
      volumeMounts: [...(primary.volumeMounts ?? []), ...wiring.volumeMounts],
    };
    const res = env.resources ? containerResources(env.resources) : undefined;
    if (res) container.resources = res;
    const tolerations: IToleration[] = [...((podSpec.tolerations as IToleration[] | undefined) ?? []), ...(placement?.tolerations ?? [])];
    const nodeSelector: Record<string, string> = { ...((podSpec.nodeSelector as Record<string, string> | undefined) ?? {}), ...(placement?.nodeSelector ?? {}) };
    const spec: IPodSpec = {
      ...podSpec,
      // Workers of a clustered environment submit its actions as JobSets: they run as the account that may.
      serviceAccountName: (podSpec.serviceAccountName as string | undefined) ?? (isClustered(env) ? "flyte-jobsets" : "flyte-worker"),
      terminationGracePeriodSeconds: (podSpec.terminationGracePeriodSeconds as number | undefined) ?? WORKER_GRACE_S,
      containers: [container, ...podSpec.containers.filter((x) => x.name !== primary.name)],
      volumes: [...((podSpec.volumes as IVolume[] | undefined) ?? []), ...wiring.volumes],
    };
    if (env.interruptible) {
      tolerations.push(...(o.interruptibleTolerations ?? [{ key: "flyte.org/interruptible", operator: "Equal", value: "true", effect: "NoSchedule" }]));
      const required = Object.entries(o.interruptibleNodeLabels ?? { "flyte.org/interruptible": "true" });
      if (required.length) {
        spec.affinity = {
          ...(podSpec.affinity as IPodSpec["affinity"]),
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: required.map(([key, value]) => ({ key, operator: "In", values: [value] })) }],
            },
          },
        };
      }
    }
    if (tolerations.length) spec.tolerations = tolerations;
    if (Object.keys(nodeSelector).length) spec.nodeSelector = nodeSelector;
    const podL = { ...podLabels, ...labels("worker", { "flyte.org/environment": dnsLabel(env.name), ...(queue ? { "flyte.org/queue": dnsLabel(queue) } : {}) }) };
    const min = reusable ? reusable.minReplicas : 1;
    const dep = deployment(name, ns, podL, reusable && (o.keda ?? true) ? min : Math.max(1, min), spec, podAnnotations);
    out.push(dep);
    out.push({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name, namespace: ns, labels: podL },
      spec: { maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/name": "flyte-ts", "app.kubernetes.io/instance": name } } },
    });
    if (reusable) {
      if (o.keda ?? true) {
        out.push({
          apiVersion: "keda.sh/v1alpha1",
          kind: "ScaledObject",
          metadata: { name, namespace: ns, labels: podL },
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
            minReplicaCount: reusable.minReplicas,
            maxReplicaCount: reusable.maxReplicas,
            pollingInterval: 10,
            cooldownPeriod: reusable.scaledownTtl,
            triggers: [{
              type: "postgresql",
              name: "queued-actions",
              metadata: {
                // Actions queued or running for these workers, interruptible ones too (they take both kinds; graphile-worker's
                // jobs view; failed-for-good ones excluded).
                query: `SELECT count(*) FROM flyte_queue.jobs WHERE task_identifier IN ('${taskIdentifier(env.name, queue)}', '${taskIdentifier(env.name, queue, true)}') AND attempts < max_attempts`,
                targetQueryValue: String(concurrency),
                activationTargetQueryValue: "0",
              },
              authenticationRef: { name: DB_SECRET },
            }],
          },
        });
      } else {
        out.push({
          apiVersion: "autoscaling/v2",
          kind: "HorizontalPodAutoscaler",
          metadata: { name, namespace: ns, labels: podL },
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
            minReplicas: Math.max(1, reusable.minReplicas),
            maxReplicas: reusable.maxReplicas,
            metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
            behavior: { scaleDown: { stabilizationWindowSeconds: reusable.scaledownTtl } },
          },
        });
      }
    }
  }
  return out;
}

function configYaml(o: InstallationOptions): string {
  const config = {
    backend: "cluster",
    project: o.project ?? "default",
    domain: o.domain ?? "development",
    run: { mode: "remote" },
    store: { stateDir: STATE_DIR },
    storage: { url: o.storageUrl, ...(o.s3 && Object.keys(o.s3).length ? { s3: o.s3 } : {}) },
    secrets: { backend: "env" },
    // Workers of clustered environments submit their actions as JobSets in this namespace (needs the JobSet controller).
    kubernetes: { inCluster: true, namespace: o.namespace ?? "flyte" },
  };
  return stringify(config, { lineWidth: 0 });
}

/** Every object of the installation, in the order `kubectl apply` should create them. */
export function installation(o: InstallationOptions): K8sObject[] {
  const ns = checkNamespace(o.namespace ?? "flyte");
  const c: Ctx = { ns, o };
  const wiring = runtimeWiring();
  const sa = (name: string): K8sObject => ({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: ns, labels: labels(name === "flyte" ? "scheduler" : "worker") } });
  const objects: K8sObject[] = [
    sa("flyte"),
    sa("flyte-worker"),
    sa("flyte-jobsets"),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "flyte-jobsets", namespace: ns, labels: labels("scheduler") },
      rules: [{ apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "get", "list", "watch", "delete"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "flyte-jobsets", namespace: ns, labels: labels("scheduler") },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "flyte-jobsets" },
      subjects: [{ kind: "ServiceAccount", name: "flyte", namespace: ns }, { kind: "ServiceAccount", name: "flyte-jobsets", namespace: ns }],
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "flyte-config", namespace: ns, labels: labels("config") }, data: { "config.yaml": configYaml(o) } },
  ];
  const control = (args: string[], extraEnv: IEnvVar[] = [], ports: IContainer["ports"] = undefined): IPodSpec => ({
    serviceAccountName: "flyte",
    containers: [{
      name: "primary",
      image: o.controlImage,
      command: ["flyte"],
      args,
      env: [...wiring.env, ...extraEnv],
      envFrom: wiring.envFrom,
      volumeMounts: wiring.volumeMounts,
      ...(ports ? { ports } : {}),
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
    }],
    volumes: wiring.volumes,
  });
  objects.push(deployment("flyte-scheduler", ns, labels("scheduler"), 1, control(["serve", "--no-workers"])));
  const uiSpec = control(
    ["ui", "--host", "0.0.0.0", "--port", String(UI_PORT), "--token", "$(FLYTE_UI_TOKEN)"],
    [secretRef("FLYTE_UI_TOKEN", UI_SECRET, "token")],
    [{ name: "http", containerPort: UI_PORT }],
  );
  uiSpec.serviceAccountName = "flyte-worker";
  objects.push(deployment("flyte-ui", ns, labels("ui"), 1, uiSpec));
  objects.push({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "flyte-ui", namespace: ns, labels: labels("ui") },
    spec: { selector: { "app.kubernetes.io/name": "flyte-ts", "app.kubernetes.io/instance": "flyte-ui" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
  });
  const used = new Set<string>();
  const workers = withDependencies(o.environments).flatMap((e) => workerObjects(e, c, used));
  if ((o.keda ?? true) && workers.some((w) => w.kind === "ScaledObject")) {
    objects.push({
      apiVersion: "keda.sh/v1alpha1",
      kind: "TriggerAuthentication",
      metadata: { name: DB_SECRET, namespace: ns, labels: labels("worker") },
      spec: { secretTargetRef: [{ parameter: "connection", name: DB_SECRET, key: "url" }] },
    });
  }
  objects.push(...workers);
  return objects;
}

/** A file name for one object in `--output <dir>`: `<nn>-<kind>-<name>.yaml`, in apply order. */
export function objectFileName(o: K8sObject, index: number): string {
  return `${String(index + 1).padStart(2, "0")}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`;
}

import { Command } from "commander";
import { describe, expect, it, vi } from "vitest";
import { parseAllDocuments } from "yaml";
import { AMD_GPU, PodTemplate, Resources, Secret, TaskEnvironment } from "flyte-ts";
import { ValidationError } from "flyte-ts/errors";
import { ClusterFailurePolicy, ClusteredTaskEnvironment, TorchRun, type JobSetManifest } from "flyte-ts/clustered";
import { registerK8sCommand } from "../src/cli/commands/k8s.ts";
import { jobSetSchemaErrors, manifestErrors } from "./fixtures/clustered/jobset-validator.ts";

const FIXTURE = new URL("./fixtures/clustered/tasks.ts", import.meta.url).pathname;

const valid = (m: JobSetManifest) => {
  expect(manifestErrors(m)).toEqual([]);
  return m;
};
const podSpec = (m: JobSetManifest) => m.spec.replicatedJobs[0].template.spec!.template.spec!;
const primary = (m: JobSetManifest) => podSpec(m).containers[0]!;
const envOf = (m: JobSetManifest) => Object.fromEntries((primary(m).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

const minimal = new ClusteredTaskEnvironment({ name: "js-min", replicas: 2, nprocPerNode: 1, image: "ghcr.io/acme/train:1" });
const step = minimal.task(async function step() {
  return 1;
});

describe("toJobSet: shape", () => {
  it("emits one replicated job of Indexed pods running the clustered launcher", () => {
    const m = valid(minimal.toJobSet({ name: "train-1", task: step }));
    expect([m.apiVersion, m.kind]).toEqual(["jobset.x-k8s.io/v1alpha2", "JobSet"]);
    expect(m.metadata).toEqual({ name: "train-1", namespace: "default", labels: { "flyte.org/environment": "js-min" } });
    expect(m.spec.network).toEqual({ enableDNSHostnames: true, subdomain: "train-1" });
    expect(m.spec.successPolicy).toEqual({ operator: "All" });
    expect(m.spec.failurePolicy).toEqual({ maxRestarts: 0 });
    expect("ttlSecondsAfterFinished" in m.spec).toBe(false);
    const [rj] = m.spec.replicatedJobs;
    expect([rj.name, rj.replicas]).toEqual(["workers", 1]);
    const js = rj.template.spec!;
    expect([js.parallelism, js.completions, js.completionMode, js.backoffLimit, js.podFailurePolicy]).toEqual([2, 2, "Indexed", 0, undefined]);
    expect(podSpec(m).restartPolicy).toBe("Never");
    const c = primary(m);
    expect([c.name, c.image, c.args, c.ports, c.resources]).toEqual(["primary", "ghcr.io/acme/train:1", ["clustered", "--task", "js-min.step"], [{ name: "rdzv", containerPort: 29500 }], undefined]);
    expect(envOf(m)).toEqual({
      NNODES: "2", NPROC_PER_NODE: "1", RDZV_BACKEND: "static", TORCH_MAX_RESTARTS: "0", MASTER_PORT: "29500", JOBSET_MAX_RESTARTS: "0",
      MASTER_ADDR: "train-1-workers-0-0.train-1.default.svc.cluster.local",
      JOBSET_NAME: { fieldRef: { fieldPath: "metadata.labels['jobset.sigs.k8s.io/jobset-name']" } },
      POD_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
      JOBSET_RESTART_ATTEMPT: { fieldRef: { fieldPath: "metadata.labels['jobset.sigs.k8s.io/restart-attempt']" } },
      NODE_RANK: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
    });
  });

  it("maps resources, GPUs, env vars, secrets, pod template, failure policy, TTL and c10d", () => {
    const e = new ClusteredTaskEnvironment({
      name: "js-full", replicas: 4, nprocPerNode: 8,
      resources: new Resources({ cpu: [1, 4], memory: "64Gi", gpu: "A100:8", disk: "100Gi", shm: "auto" }),
      envVars: { NCCL_DEBUG: "INFO", FLYTE_LAUNCHER: "torchrun" },
      secrets: ["hf-token", new Secret({ key: "wandb", group: "ml-keys", mount: "/etc/flyte/secrets" })],
      podTemplate: new PodTemplate({
        podSpec: { containers: [{ name: "primary", env: [{ name: "FROM_TEMPLATE", value: "1" }] }, { name: "sidecar", image: "busybox" }], nodeSelector: { pool: "gpu" } },
        labels: { team: "ml" }, annotations: { note: "x" },
      }),
      runtime: new TorchRun({ rdzvBackend: "c10d", maxRestarts: 2 }),
      failurePolicy: new ClusterFailurePolicy({ maxRestarts: 3, restartOnHostMaintenance: true }),
      ttlSecondsAfterFinished: 600,
    });
    const fit = e.task(async function fit() {
      return 0;
    });
    const m = valid(e.toJobSet({ name: "fit-7", namespace: "ml", task: fit, labels: { run: "r7" } }));
    expect(m.metadata).toEqual({ name: "fit-7", namespace: "ml", labels: { "flyte.org/environment": "js-full", run: "r7" } });
    expect(m.spec.ttlSecondsAfterFinished).toBe(600);
    expect(m.spec.failurePolicy).toEqual({ maxRestarts: 3, rules: [{ name: "hostMaintenance", action: "RestartJobSetAndIgnoreMaxRestarts", onJobFailureReasons: ["PodFailurePolicy"] }] });
    const js = m.spec.replicatedJobs[0].template.spec!;
    expect([js.parallelism, js.completions]).toEqual([4, 4]);
    expect(js.podFailurePolicy).toEqual({ rules: [{ action: "FailJob", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }] });
    const c = primary(m);
    expect(c.image).toMatch(/^flyte-ts:[0-9a-f]{32}$/);
    expect(c.resources).toEqual({
      requests: { cpu: "1", memory: "64Gi", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "8" },
      limits: { cpu: "4", memory: "64Gi", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "8" },
    });
    const env = envOf(m);
    expect(env).toMatchObject({
      NCCL_DEBUG: "INFO", FLYTE_LAUNCHER: "torchrun", FROM_TEMPLATE: "1", RDZV_BACKEND: "c10d", TORCH_MAX_RESTARTS: "2", JOBSET_MAX_RESTARTS: "3",
      NNODES: "4", NPROC_PER_NODE: "8", MASTER_ADDR: "fit-7-workers-0-0.fit-7.ml.svc.cluster.local", FLYTE_SECRETS_DIR: "/etc/flyte/secrets",
      HF_TOKEN: { secretKeyRef: { name: "hf-token", key: "hf-token" } },
    });
    expect(c.volumeMounts).toEqual([
      { name: "flyte-secret-0", mountPath: "/etc/flyte/secrets/ml-keys/wandb", subPath: "wandb", readOnly: true },
      { name: "dshm", mountPath: "/dev/shm" },
    ]);
    const pod = podSpec(m);
    expect(pod.volumes).toEqual([{ name: "flyte-secret-0", secret: { secretName: "ml-keys" } }, { name: "dshm", emptyDir: { medium: "Memory" } }]);
    expect(pod.containers.map((x) => x.name)).toEqual(["primary", "sidecar"]);
    expect(pod.nodeSelector).toEqual({ pool: "gpu" });
    expect(m.spec.replicatedJobs[0].template.spec!.template.metadata).toEqual({ labels: { team: "ml", "flyte.org/environment": "js-full" }, annotations: { note: "x" } });
  });

  it("without a task uses the environment's settings; other accelerators map to their resource names", () => {
    const e = new ClusteredTaskEnvironment({ name: "js-amd", replicas: 1, nprocPerNode: 1, resources: new Resources({ gpu: AMD_GPU("MI300X"), shm: "16Gi" }) });
    const m = valid(e.toJobSet({ name: "amd", args: ["--task", "x.y"], image: "img:1" }));
    expect(primary(m).args).toEqual(["clustered", "--task", "x.y"]);
    expect(primary(m).resources).toEqual({ requests: { "amd.com/gpu": "1" }, limits: { "amd.com/gpu": "1" } });
    expect(podSpec(m).volumes).toEqual([{ name: "dshm", emptyDir: { medium: "Memory", sizeLimit: "16Gi" } }]);
    expect(valid(minimal.toJobSet({ name: "bare" })).spec.replicatedJobs[0].template.spec!.template.spec!.containers[0]!.args).toEqual(["clustered"]);
    const o = step.override({ resources: new Resources({ cpu: 2 }), envVars: { X: "1" } });
    const mo = valid(minimal.toJobSet({ name: "over", task: o }));
    expect([primary(mo).resources, envOf(mo).X]).toEqual([{ requests: { cpu: "2" }, limits: { cpu: "2" } }, "1"]);
  });

  it("a pinned MASTER_PORT moves the rendezvous port", () => {
    const e = new ClusteredTaskEnvironment({ name: "js-port", replicas: 2, nprocPerNode: 1, envVars: { MASTER_PORT: "23456" } });
    const m = valid(e.toJobSet({ name: "p" }));
    expect([primary(m).ports, envOf(m).MASTER_PORT]).toEqual([[{ name: "rdzv", containerPort: 23456 }], "23456"]);
  });
});

describe("toJobSet: validation", () => {
  const err = (f: () => unknown, re: RegExp) => {
    expect(f).toThrow(ValidationError);
    expect(f).toThrow(re);
  };
  it("rejects names, namespaces, labels, tasks and env vars a cluster would refuse", () => {
    err(() => minimal.toJobSet({ name: "Bad_Name" }), /name must be a lowercase RFC 1035 label .* got "Bad_Name"/);
    err(() => minimal.toJobSet({ name: "1abc" }), /RFC 1035/);
    err(() => minimal.toJobSet({ name: "a".repeat(46) }), /at most 45 characters for 2 replicas/);
    expect(manifestErrors(minimal.toJobSet({ name: "a".repeat(45) }))).toEqual([]);
    err(() => minimal.toJobSet({ name: "ok", namespace: "Bad NS" }), /namespace must be a Kubernetes namespace name/);
    err(() => minimal.toJobSet({ name: "ok", labels: { "bad key!": "v" } }), /label key "bad key!"/);
    err(() => minimal.toJobSet({ name: "ok", labels: { k: "x".repeat(64) } }), /not a valid Kubernetes label value/);
    const other = new TaskEnvironment({ name: "js-other" }).task(async function foreign() {
      return 1;
    });
    err(() => minimal.toJobSet({ name: "ok", task: other }), /task "js-other.foreign" does not belong to environment "js-min"/);
    err(() => minimal.toJobSet({ name: "ok", nme: "x" } as never), /Unknown option "nme"/);
    const reserved = new ClusteredTaskEnvironment({ name: "js-reserved", replicas: 1, nprocPerNode: 1, envVars: { WORLD_SIZE: "8" } });
    err(() => reserved.toJobSet({ name: "ok" }), /envVars\.WORLD_SIZE is set by the clustered launcher/);
    const badSecret = new ClusteredTaskEnvironment({ name: "js-secret", replicas: 1, nprocPerNode: 1, secrets: ["API_KEY"] });
    err(() => badSecret.toJobSet({ name: "ok" }), /not a valid Secret name/);
  });

  it("the strict schema catches what a typo would break (so a pass means something)", () => {
    const m = structuredClone(minimal.toJobSet({ name: "typo" })) as unknown as { spec: Record<string, unknown> };
    m.spec.ttlSecondsAfterFinish = 5;
    expect(jobSetSchemaErrors(m).join("\n")).toMatch(/must NOT have additional properties \(ttlSecondsAfterFinish\)/);
    const n = structuredClone(minimal.toJobSet({ name: "typo" }));
    (n.spec.failurePolicy as Record<string, unknown>).rules = [{ name: "r", action: "Explode" }];
    expect(jobSetSchemaErrors(n).join("\n")).toMatch(/must be equal to one of the allowed values/);
    const p = structuredClone(minimal.toJobSet({ name: "typo" }));
    (p.spec.replicatedJobs[0].template.spec as unknown as Record<string, unknown>).parallelism = "two";
    expect(manifestErrors(p).length).toBeGreaterThan(0);
  });
});

describe("flyte k8s manifests --jobsets", () => {
  async function cli(...args: string[]): Promise<string> {
    const program = new Command("flyte").option("--output-format <f>", "table, json or yaml", "table").exitOverride();
    registerK8sCommand(program);
    const global = args[0] === "--output-format" ? args.splice(0, 2) : [];
    let out = "";
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    try {
      await program.parseAsync(["node", "flyte", ...global, "k8s", "manifests", "--jobsets", ...args]);
    } finally {
      spy.mockRestore();
    }
    return out;
  }

  it("prints a valid JobSet per clustered task of the file", async () => {
    const docs = parseAllDocuments(await cli(FIXTURE, "--namespace", "ml", "--image", "ghcr.io/acme/img:2")).map((d) => d.toJSON() as JobSetManifest);
    expect(docs.length).toBeGreaterThanOrEqual(8);
    for (const d of docs) {
      expect(manifestErrors(d)).toEqual([]);
      expect([d.metadata.namespace, primary(d).image]).toEqual(["ml", "ghcr.io/acme/img:2"]);
    }
    const grid = docs.find((d) => d.metadata.name === "cl-grid-rank-info")!;
    // The pods' launcher loads the file from the image's working directory (the path relative to where this ran).
    expect(primary(grid).args).toEqual(["clustered", "--task", "cl-grid.rankInfo", "test/fixtures/clustered/tasks.ts"]);
    const [versioned] = parseAllDocuments(await cli(FIXTURE, "--task", "cl-grid.rankInfo", "--version", "v7")).map((d) => d.toJSON() as JobSetManifest);
    expect(primary(versioned!).args).toEqual(["clustered", "--task", "cl-grid.rankInfo", "--version", "v7"]);
    expect(grid.spec.replicatedJobs[0].template.spec!.parallelism).toBe(2);
    const gpu = docs.find((d) => d.metadata.labels["flyte.org/environment"] === "cl-gpu")!;
    expect(primary(gpu).resources).toEqual({ requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } });
  });

  it("--task selects one task; --output-format json prints a JSON array", async () => {
    expect(parseAllDocuments(await cli(FIXTURE, "--task", "rankInfo")).length).toBe(1);
    const json = JSON.parse(await cli("--output-format", "json", FIXTURE, "--task", "cl-grid.rankInfo")) as JobSetManifest[];
    expect(json.map((d) => d.metadata.name)).toEqual(["cl-grid-rank-info"]);
    await expect(cli(FIXTURE, "--task", "nope")).rejects.toThrow(/--task "nope" is not a clustered task/);
  });
});

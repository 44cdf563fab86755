/**
 * `flyte k8s manifests`: a whole installation, every object validated the way a cluster would (see
 * fixtures/k8s/validators.ts), the mapping of environments onto worker Deployments, the examples' golden YAML,
 * and the errors bad input gets. Images are checked against a registry served by this test.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { flyteIn } from "./helpers/cli.ts";
import { exampleFiles, GOLDEN_ARGS, goldenPath, normalize, REGENERATE } from "./helpers/k8s-golden.ts";
import { REPO } from "./helpers/runtime.ts";
import { objectErrors } from "./fixtures/k8s/validators.ts";
import { resolveConfig } from "../src/run/config.ts";

const FIXTURE = "test/fixtures/k8s/envs.ts";
const BAD = "test/fixtures/k8s/bad-envs.ts";

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, any>;

/** A registry (HEAD/GET /v2/<repo>/manifests/<tag>) that has nothing, or, once `hasAll`, everything but `missing`. */
let hasAll = false;
const missing = new Set<string>();
let registry: Server;
let host = "";

beforeAll(async () => {
  registry = createServer((req, res) => {
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? "");
    res.statusCode = m && hasAll && !missing.has(`${m[1]}:${m[2]}`) ? 200 : 404;
    res.setHeader("content-type", "application/vnd.oci.image.manifest.v1+json");
    res.end();
  });
  await new Promise<void>((r) => registry.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(registry.address() as { port: number }).port}`;
  // Read when the fixture loads (first CLI call below).
  process.env.K8S_TEST_REGISTRY = `${host}/acme`;
});
afterAll(() => {
  registry.close();
  delete process.env.K8S_TEST_REGISTRY;
});

async function manifests(args: string[]): Promise<{ code: number | null; objects: Obj[]; stdout: string; stderr: string }> {
  const r = await flyteIn(REPO, ["k8s", "manifests", ...args]);
  const objects = r.code === 0 && !args.includes("--output") ? parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj) : [];
  return { ...r, objects };
}

const find = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(", ")}`);
  return o;
};
const primary = (d: Obj) => d.spec.template.spec.containers[0];
const envMap = (c: { env: { name: string; value?: string; valueFrom?: unknown }[] }) => Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));

describe("flyte k8s manifests: a whole installation", () => {
  let objects: Obj[] = [];

  it("refuses images that were never pushed, naming flyte build, then prints once they are", async () => {
    const unpushed = await manifests([FIXTURE, "--storage-url", "s3://data/flyte", "--image", `${host}/acme/control:1`]);
    expect(unpushed.code).toBe(1);
    expect(unpushed.stderr).toMatch(new RegExp(`Environment "k8s-base": image ${host.replace(".", "\\.")}/acme/base:[0-9a-f]{32} was never built and pushed \\(its registry does not have it\\)\\. Build and push it with: flyte build ${FIXTURE} k8s-base`));
    // Every environment's image pushed, the control image not yet: that one is refused.
    hasAll = true;
    missing.add("acme/control:1");
    const control = await manifests([FIXTURE, "--storage-url", "s3://data/flyte", "--image", `${host}/acme/control:1`]);
    expect(control.stderr).toContain(`The scheduler/UI image (--image): image ${host}/acme/control:1 was never built and pushed`);
    missing.delete("acme/control:1");
    const ok = await manifests([FIXTURE, "--namespace", "ml-prod", "--storage-url", "s3://data/flyte", "--s3-endpoint", "http://minio:9000", "--image", `${host}/acme/control:1`]);
    expect(ok.code, ok.stderr).toBe(0);
    objects = ok.objects;
  });

  it("every object validates: core kinds with kubernetes-models, KEDA objects with their schema", () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) expect(objectErrors(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(["ml-prod"]));
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "ServiceAccount/flyte", "ServiceAccount/flyte-worker", "ServiceAccount/flyte-jobsets", "Role/flyte-jobsets", "RoleBinding/flyte-jobsets", "ConfigMap/flyte-config",
      "Deployment/flyte-scheduler", "Deployment/flyte-ui", "Service/flyte-ui", "TriggerAuthentication/flyte-db",
      "Deployment/flyte-worker-k8s-base", "PodDisruptionBudget/flyte-worker-k8s-base",
      "Deployment/flyte-worker-k8s-gpu", "PodDisruptionBudget/flyte-worker-k8s-gpu",
      "Deployment/flyte-worker-k8s-spot-batch", "PodDisruptionBudget/flyte-worker-k8s-spot-batch", "ScaledObject/flyte-worker-k8s-spot-batch",
      "Deployment/flyte-worker-k8s-spot-urgent", "PodDisruptionBudget/flyte-worker-k8s-spot-urgent", "ScaledObject/flyte-worker-k8s-spot-urgent",
      "Deployment/flyte-worker-k8s-ddp", "PodDisruptionBudget/flyte-worker-k8s-ddp",
    ]);
  });

  it("the validators reject what a cluster would", () => {
    const dep = structuredClone(find(objects, "Deployment", "flyte-worker-k8s-gpu"));
    dep.spec.replicas = "2";
    expect(objectErrors(dep).join()).toMatch(/replicas must be integer/);
    const so = structuredClone(find(objects, "ScaledObject", "flyte-worker-k8s-spot-batch"));
    so.spec.maxReplicas = 3;
    so.spec.triggers[0].metadata.querry = "x";
    expect(objectErrors(so).join("\n")).toMatch(/must NOT have additional properties[\s\S]*no parameter querry/);
    // KEDA's own CRD schema (@kubernetes-models/keda): a ScaledObject must say what it scales.
    const target = structuredClone(find(objects, "ScaledObject", "flyte-worker-k8s-spot-batch"));
    delete target.spec.scaleTargetRef;
    expect(objectErrors(target).join("\n")).toMatch(/ScaledObject flyte-worker-k8s-spot-batch: .*scaleTargetRef/);
    const bad = structuredClone(find(objects, "Service", "flyte-ui"));
    bad.metadata.name = "Flyte_UI";
    expect(objectErrors(bad).join()).toMatch(/not an RFC 1123 subdomain/);
  });

  it("the scheduler may only manage JobSets; config, database and storage come from the ConfigMap and Secrets", () => {
    expect(find(objects, "Role", "flyte-jobsets").rules).toEqual([{ apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "get", "list", "watch", "delete"] }]);
    expect(find(objects, "RoleBinding", "flyte-jobsets").subjects).toEqual([
      { kind: "ServiceAccount", name: "flyte", namespace: "ml-prod" }, { kind: "ServiceAccount", name: "flyte-jobsets", namespace: "ml-prod" },
    ]);
    // Only the workers of the clustered environment (which submit its actions as JobSets) run as the account that may.
    expect(objects.filter((o) => o.kind === "Deployment").map((d) => [d.metadata.name, d.spec.template.spec.serviceAccountName])).toEqual([
      ["flyte-scheduler", "flyte"], ["flyte-ui", "flyte-worker"], ["flyte-worker-k8s-base", "flyte-worker"], ["flyte-worker-k8s-gpu", "flyte-worker"],
      ["flyte-worker-k8s-spot-batch", "flyte-worker"], ["flyte-worker-k8s-spot-urgent", "flyte-worker"], ["flyte-worker-k8s-ddp", "flyte-jobsets"],
    ]);
    expect(parse(find(objects, "ConfigMap", "flyte-config").data["config.yaml"])).toEqual({
      backend: "cluster", project: "default", domain: "development", run: { mode: "remote" }, store: { stateDir: "/app/.flyte" },
      storage: { url: "s3://data/flyte", s3: { endpoint: "http://minio:9000", forcePathStyle: true } }, secrets: { backend: "env" },
      kubernetes: { inCluster: true, namespace: "ml-prod" },
    });
    // flyte-ts itself accepts it (strict: an unknown key would stop every pod at start).
    const cfgFile = join(mkdtempSync(join(tmpdir(), "flyte-k8s-cfg-")), "config.yaml");
    writeFileSync(cfgFile, find(objects, "ConfigMap", "flyte-config").data["config.yaml"]);
    process.env.FLYTE_DATABASE_URL = "postgres://u:p@db:5432/flyte";
    try {
      const cfg = resolveConfig({}, cfgFile);
      expect([cfg.backend, cfg.storage, cfg.stateDir, cfg.secretsBackend, cfg.kubernetes]).toEqual(["cluster", "s3://data/flyte", "/app/.flyte", "env", { inCluster: true, namespace: "ml-prod" }]);
    } finally {
      delete process.env.FLYTE_DATABASE_URL;
    }
    const sched = find(objects, "Deployment", "flyte-scheduler");
    expect([primary(sched).image, primary(sched).command, primary(sched).args, sched.spec.template.spec.serviceAccountName]).toEqual([`${host}/acme/control:1`, ["flyte"], ["serve", "--no-workers"], "flyte"]);
    expect(envMap(primary(sched))).toEqual({ FLYTE_CONFIG: "/etc/flyte/config.yaml", FLYTE_DATABASE_URL: { secretKeyRef: { name: "flyte-db", key: "url" } } });
    const ui = find(objects, "Deployment", "flyte-ui");
    expect(primary(ui).args).toEqual(["ui", "--host", "0.0.0.0", "--port", "8080", "--token", "$(FLYTE_UI_TOKEN)"]);
    expect(ui.spec.template.spec.serviceAccountName).toBe("flyte-worker");
    expect(find(objects, "Service", "flyte-ui").spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http" }]);
  });

  it("maps an environment's image, resources, GPUs, pod template, env vars and secrets onto its worker Deployment", () => {
    const d = find(objects, "Deployment", "flyte-worker-k8s-gpu");
    const pod = d.spec.template.spec;
    const c = primary(d);
    expect(c.image).toMatch(new RegExp(`^${host.replace(".", "\\.")}/acme/gpu:[0-9a-f]{32}$`));
    expect([c.command, c.args]).toEqual([["flyte"], ["worker", "--env", "k8s-gpu", "--concurrency", "1"]]);
    expect(c.resources).toEqual({
      requests: { cpu: "2", memory: "16Gi", "ephemeral-storage": "50Gi", "nvidia.com/gpu": "2" },
      limits: { cpu: "4", memory: "16Gi", "ephemeral-storage": "50Gi", "nvidia.com/gpu": "2" },
    });
    expect(pod.nodeSelector).toEqual({ pool: "ml", "k8s.amazonaws.com/accelerator": "nvidia-tesla-a100" });
    expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(pod.containers.map((x: { name: string }) => x.name)).toEqual(["primary", "sidecar"]);
    expect(d.spec.template.metadata.labels.team).toBe("ml");
    expect(envMap(c)).toEqual({
      FROM_TEMPLATE: "1", LOG_LEVEL: "debug",
      FLYTE_SECRET_HF_TOKEN: { secretKeyRef: { name: "hf-token", key: "hf-token" } },
      FLYTE_SECRET_OPENAI_API_KEY: { secretKeyRef: { name: "openai", key: "api-key" } },
      FLYTE_CONFIG: "/etc/flyte/config.yaml", FLYTE_DATABASE_URL: { secretKeyRef: { name: "flyte-db", key: "url" } },
    });
    expect([pod.serviceAccountName, pod.terminationGracePeriodSeconds]).toEqual(["flyte-worker", 40]);
    expect(find(objects, "PodDisruptionBudget", "flyte-worker-k8s-gpu").spec).toEqual({
      maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/name": "flyte-ts", "app.kubernetes.io/instance": "flyte-worker-k8s-gpu" } },
    });
  });

  it("a reusable, interruptible environment gets a worker per queue, tolerations/affinity, and a KEDA ScaledObject on its queue depth", () => {
    const batch = find(objects, "Deployment", "flyte-worker-k8s-spot-batch");
    expect(primary(batch).args).toEqual(["worker", "--env", "k8s-spot", "--concurrency", "4", "--queue", "batch"]);
    expect(primary(find(objects, "Deployment", "flyte-worker-k8s-spot-urgent")).args).toEqual(["worker", "--env", "k8s-spot", "--concurrency", "4", "--queue", "urgent"]);
    expect(batch.spec.replicas).toBe(0);
    expect(batch.spec.template.spec.tolerations).toEqual([{ key: "flyte.org/interruptible", operator: "Equal", value: "true", effect: "NoSchedule" }]);
    expect(batch.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: "flyte.org/interruptible", operator: "In", values: ["true"] }] },
    ]);
    const so = find(objects, "ScaledObject", "flyte-worker-k8s-spot-batch");
    expect(so.spec).toEqual({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "flyte-worker-k8s-spot-batch" },
      minReplicaCount: 0, maxReplicaCount: 5, pollingInterval: 10, cooldownPeriod: 120,
      triggers: [{
        type: "postgresql", name: "queued-actions",
        metadata: { query: "SELECT count(*) FROM flyte_queue.jobs WHERE task_identifier IN ('flyte/k8s-spot/batch', 'flyte/k8s-spot/batch:interruptible') AND attempts < max_attempts", targetQueryValue: "4", activationTargetQueryValue: "0" },
        authenticationRef: { name: "flyte-db" },
      }],
    });
    expect(find(objects, "TriggerAuthentication", "flyte-db").spec).toEqual({ secretTargetRef: [{ parameter: "connection", name: "flyte-db", key: "url" }] });
  });

  it("--no-keda gives reusable environments an HPA; interruptible placement and the accelerator label are configurable; --output writes one file per object", async () => {
    const out = mkdtempSync(join(tmpdir(), "flyte-k8s-out-"));
    const args = [FIXTURE, "--storage-url", "s3://data/flyte", "--image", `${host}/acme/control:1`, "--no-keda",
      "--interruptible-toleration", "cloud.google.com/gke-spot:NoSchedule", "--interruptible-node-label", "cloud.google.com/gke-spot=true", "--accelerator-label", "cloud.google.com/gke-accelerator"];
    const r = await manifests(args);
    expect(r.code, r.stderr).toBe(0);
    for (const o of r.objects) expect(objectErrors(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    expect(r.objects.some((o) => o.apiVersion.startsWith("keda.sh"))).toBe(false);
    const hpa = find(r.objects, "HorizontalPodAutoscaler", "flyte-worker-k8s-spot-batch");
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([1, 5]);
    const spot = find(r.objects, "Deployment", "flyte-worker-k8s-spot-batch").spec.template.spec;
    expect(spot.tolerations).toEqual([{ key: "cloud.google.com/gke-spot", operator: "Exists", effect: "NoSchedule" }]);
    expect(spot.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key).toBe("cloud.google.com/gke-spot");
    expect(find(r.objects, "Deployment", "flyte-worker-k8s-gpu").spec.template.spec.nodeSelector["cloud.google.com/gke-accelerator"]).toBe("nvidia-tesla-a100");
    const written = await manifests([...args, "--output", out]);
    expect(written.code, written.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files.length).toBe(r.objects.length);
    expect(files[0]).toBe("01-serviceaccount-flyte.yaml");
    expect(parse(readFileSync(join(out, files.find((f) => f.includes("horizontalpodautoscaler"))!), "utf8")).kind).toBe("HorizontalPodAutoscaler");
  });

  it("without a file: the control plane only (no workers); --jobsets needs a file; --task/--version need --jobsets", async () => {
    const r = await manifests(["--storage-url", "s3://data/flyte", "--skip-image-check"]);
    expect(r.code, r.stderr).toBe(0);
    for (const o of r.objects) expect(objectErrors(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    expect(r.objects.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name)).toEqual(["flyte-scheduler", "flyte-ui"]);
    expect((await manifests(["--jobsets"])).stderr).toContain("--jobsets needs the file that defines the clustered tasks.");
    expect((await manifests([FIXTURE, "--version", "v1", "--storage-url", "s3://d/f"])).stderr).toContain("--task and --version apply to --jobsets only.");
  });

  it("bad input: a namespace that is not a DNS label, an accelerator with no known node selector, an image without a registry", async () => {
    const ns = await manifests([FIXTURE, "--namespace", "Prod_NS", "--storage-url", "s3://data/flyte", "--skip-image-check"]);
    expect([ns.code, ns.stderr]).toEqual([1, expect.stringContaining('--namespace "Prod_NS" is not a DNS label')]);
    const gpu = await manifests([BAD, "--storage-url", "s3://data/flyte", "--skip-image-check"]);
    expect(gpu.code).toBe(1);
    expect(gpu.stderr).toContain('Environment "k8s-bad-gpu": accelerator "X9000" has no known node selector');
    expect(gpu.stderr).toContain("Known accelerators: T4, V100, A10, A10G, A100, A100 80G, L4, L40s, H100, H200, B200");
    const noRegistry = await manifests([BAD, "--storage-url", "s3://data/flyte"]);
    expect(noRegistry.stderr).toMatch(/Environment "k8s-bad-gpu": image flyte-ts:[0-9a-f]{32} has no registry, so a cluster cannot pull it\. .*flyte build test\/fixtures\/k8s\/bad-envs\.ts k8s-bad-gpu/);
    const storage = await manifests([FIXTURE, "--skip-image-check"]);
    expect([storage.code, storage.stderr]).toEqual([2, expect.stringContaining("--storage-url s3://bucket/prefix is required")]);
    const tol = await manifests([FIXTURE, "--storage-url", "s3://d/f", "--skip-image-check", "--interruptible-toleration", "spot"]);
    expect(tol.stderr).toContain('--interruptible-toleration must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute, got "spot"');
  });
});

describe("flyte k8s manifests: golden YAML of the examples", () => {
  for (const example of exampleFiles()) {
    it(example, async () => {
      const golden = goldenPath(example);
      if (!existsSync(golden)) throw new Error(`No golden manifests for ${example} (${golden}). Generate them deliberately with: ${REGENERATE}, and review them.`);
      const r = await flyteIn(REPO, ["k8s", "manifests", example, ...GOLDEN_ARGS]);
      expect(r.code, r.stderr).toBe(0);
      for (const d of parseAllDocuments(r.stdout)) {
        const o = d.toJSON() as Obj;
        expect(objectErrors(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
      }
      expect(normalize(r.stdout), `differs from ${golden}; if the change is intended, run: ${REGENERATE}`).toBe(readFileSync(golden, "utf8"));
    });
  }
});

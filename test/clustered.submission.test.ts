/**
 * Clustered actions submitted as JobSets: a `flyte worker` whose config has `kubernetes` turns a clustered
 * attempt into a JobSet through the Kubernetes API. The API server is a stand-in served by this test (no real one
 * can run here): it validates each JobSet against the CRD schema and then plays the JobSet controller, starting
 * the JobSet's pods as local processes (the container's exact command, with the env Kubernetes would resolve:
 * downward-API fields, secretKeyRefs, JOB_COMPLETION_INDEX; MASTER_ADDR resolved to 127.0.0.1 and a free port)
 * and reporting Completed or Failed from their exit codes.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobSetManifest } from "flyte-ts/clustered";
import { flyteIn } from "./helpers/cli.ts";
import { freePort, usePostgres } from "./helpers/postgres.ts";
import { FLYTE_BIN, REPO, waitFor } from "./helpers/runtime.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { manifestErrors } from "./fixtures/clustered/jobset-validator.ts";

const server = usePostgres();
let dir = "";
let db = "";
let api: Server;
let apiUrl = "";
let rejectNext: string | undefined;
const jobsets = new Map<string, { manifest: JobSetManifest; status: Record<string, unknown> }>();
const workers: WorkerProcess[] = [];
/** Every pod's output, kept after its JobSet is deleted (for failure messages). */
const podLogs: string[] = [];

/** Plays the JobSet controller: starts every pod of `js` as a local process, then records how the JobSet ended. */
async function runPods(js: JobSetManifest): Promise<void> {
  const entry = jobsets.get(js.metadata.name)!;
  const job = js.spec.replicatedJobs[0].template.spec!;
  const container = job.template!.spec!.containers[0]!;
  const port = await freePort();
  const podDir = mkdtempSync(join(tmpdir(), "flyte-sub-pod-"));
  mkdirSync(join(podDir, "node_modules"));
  symlinkSync(REPO, join(podDir, "node_modules", "flyte-ts"));
  // The ConfigMap's config.yaml as mounted at /etc/flyte (its state dir below the image's /app).
  const podConfig = join(podDir, "config.yaml");
  writeFileSync(podConfig, `backend: cluster\nstore:\n  stateDir: ${join(podDir, ".flyte")}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  const secrets: Record<string, string> = { "flyte-db/url": db };
  const exits = await Promise.all(Array.from({ length: job.completions! }, (_, i) => {
    const fields: Record<string, string> = {
      "metadata.labels['jobset.sigs.k8s.io/jobset-name']": js.metadata.name, "metadata.namespace": js.metadata.namespace,
      "metadata.labels['jobset.sigs.k8s.io/restart-attempt']": "0", "metadata.annotations['batch.kubernetes.io/job-completion-index']": String(i),
    };
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", JOB_COMPLETION_INDEX: String(i) };
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath]!;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = secrets[`${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`]!;
    }
    Object.assign(env, { MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), FLYTE_CONFIG: podConfig });
    return new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [FLYTE_BIN, ...container.args!], { cwd: podDir, env, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.on("data", (c: Buffer) => podLogs.push(`[pod ${i}] ${c.toString()}`));
      child.stderr.on("data", (c: Buffer) => podLogs.push(`[pod ${i}] ${c.toString()}`));
      child.on("close", resolve);
    });
  }));
  const failed = exits.findIndex((c) => c !== 0);
  entry.status = failed < 0
    ? { conditions: [{ type: "Completed", status: "True", reason: "AllJobsCompleted", message: "jobset completed successfully" }] }
    : { conditions: [{ type: "Failed", status: "True", reason: "FailedJobs", message: `pod ${failed} exited with code ${exits[failed]}` }] };
}

beforeAll(async () => {
  api = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const send = (status: number, json: unknown) => {
        res.statusCode = status;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(json));
      };
      const m = /^\/apis\/jobset\.x-k8s\.io\/v1alpha2\/namespaces\/([^/]+)\/jobsets(?:\/([^/?]+))?$/.exec(req.url ?? "");
      if (!m || req.headers.authorization !== "Bearer sub-token") return send(404, { kind: "Status", message: "not found" });
      if (req.method === "POST") {
        const js = JSON.parse(body) as JobSetManifest;
        const errors = manifestErrors(js);
        if (rejectNext !== undefined || errors.length) {
          const message = rejectNext ?? `JobSet.jobset.x-k8s.io "${js.metadata.name}" is invalid: ${errors.join("; ")}`;
          rejectNext = undefined;
          return send(422, { kind: "Status", status: "Failure", reason: "Invalid", code: 422, message });
        }
        jobsets.set(js.metadata.name, { manifest: js, status: {} });
        void runPods(js);
        return send(201, js);
      }
      const entry = jobsets.get(m[2] ?? "");
      if (!entry) return send(404, { kind: "Status", reason: "NotFound", message: "not found" });
      if (req.method === "DELETE") {
        jobsets.delete(m[2]!);
        return send(200, { kind: "Status", status: "Success" });
      }
      send(200, { ...entry.manifest, status: entry.status });
    });
  });
  await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
  apiUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`;

  dir = mkdtempSync(join(tmpdir(), "flyte-submission-"));
  db = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
  writeFileSync(join(dir, "package.json"), '{"type":"module"}');
  writeFileSync(join(dir, "kubeconfig"), `current-context: t\ncontexts: [{ name: t, context: { cluster: c, user: u } }]\nclusters: [{ name: c, cluster: { server: "${apiUrl}" } }]\nusers: [{ name: u, user: { token: sub-token } }]\n`);
  writeFileSync(join(dir, ".flyte", "config.yaml"), `backend: cluster\nstore:\n  databaseUrl: ${db}\nstorage:\n  url: ${join(dir, "blobs")}\nkubernetes:\n  kubeconfig: kubeconfig\n  namespace: ml\n  ttlSeconds: 0\n`);
  writeFileSync(join(dir, "train.ts"), `import { ctx } from "flyte-ts";
import { ClusteredTaskEnvironment } from "flyte-ts/clustered";
export const grid = new ClusteredTaskEnvironment({ name: "sub-grid", replicas: 2, nprocPerNode: 2, image: "registry.example.com/acme/train:1" });
export const who = grid.task(async function who({ tag }: { tag: string }) {
  const c = ctx()!;
  return { tag, rank: c.rank, worldSize: c.worldSize, pid: process.pid, inPod: process.env.JOB_COMPLETION_INDEX !== undefined };
});
`);
  const deployed = await flyteIn(dir, ["deploy", "train.ts"]);
  expect(deployed.code, deployed.stderr).toBe(0);
  workers.push(spawnFlyteProcess(dir, ["worker", "--env", "sub-grid"], { FLYTE_CONFIG: join(dir, ".flyte", "config.yaml") }));
  await waitFor(() => workers[0]!.out.join("").includes("executing sub-grid"), 60_000, "the worker to start");
}, 120_000);

afterAll(async () => {
  await stopProcesses(workers);
  api?.close();
}, 60_000);

describe("clustered actions as JobSets", () => {
  it("the worker submits a JobSet, its pods run the ranks, and the action's output is rank 0's; the JobSet is deleted", async () => {
    const r = await flyteIn(dir, ["run", "--remote", "--name", "sub-ok", "train.ts", "who", "--tag", "k8s", "--follow", "--output-format", "json"]);
    const logs = podLogs.join("");
    expect(r.code, `${r.stderr}\n${workers[0]!.out.join("")}\n${logs}`).toBe(0);
    expect(r.stdout).toMatch(/"tag": "k8s"/);
    expect(r.stdout).toMatch(/"worldSize": 4/);
    expect(r.stdout).toMatch(/"inPod": true/);
    await waitFor(() => jobsets.size === 0, 10_000, "the JobSet to be deleted");
  }, 120_000);

  it("a JobSet the API server rejects fails the action with the server's message", async () => {
    rejectNext = 'admission webhook "vjobset.kb.io" denied the request: spec.replicatedJobs[0].name: too long';
    const r = await flyteIn(dir, ["run", "--remote", "--name", "sub-rejected", "train.ts", "who", "--tag", "no", "--follow"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('The Kubernetes API refused to create JobSet');
    expect(r.stdout + r.stderr).toContain('(HTTP 422): admission webhook "vjobset.kb.io" denied the request: spec.replicatedJobs[0].name: too long');
  }, 120_000);
});

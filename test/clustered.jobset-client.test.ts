/**
 * JobSet submission through the Kubernetes API, against an API server stand-in served by this test: it validates
 * every created JobSet against the JobSet CRD schema (as the real server would, answering 422 with a Status), and
 * plays back the status transitions a JobSet controller would write. No real Kubernetes API server runs here.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusteredTaskEnvironment, type JobSetManifest } from "flyte-ts/clustered";
import { inClusterConnection, JobSetClient, KubernetesApiError, kubeconfigConnection } from "../src/clustered/jobset-client.ts";
import { manifestErrors } from "./fixtures/clustered/jobset-validator.ts";

const TOKEN = "test-token-123";
let server: Server;
let base = "";
const created = new Map<string, JobSetManifest>();
const deleted: string[] = [];
/** Per JobSet: the statuses successive GETs return (the last one repeats). */
const script = new Map<string, unknown[]>();
const requests: { method: string; path: string; auth?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      requests.push({ method: req.method!, path: req.url!, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      const send = (status: number, json: unknown) => {
        res.statusCode = status;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(json));
      };
      const m = /^\/apis\/jobset\.x-k8s\.io\/v1alpha2\/namespaces\/([^/]+)\/jobsets(?:\/([^/?]+))?$/.exec(req.url ?? "");
      if (!m) return send(404, { kind: "Status", status: "Failure", message: "the server could not find the requested resource", code: 404 });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { kind: "Status", message: "Unauthorized", code: 401 });
      const [, ns, name] = m;
      if (req.method === "POST") {
        const js = JSON.parse(body) as JobSetManifest;
        const errors = manifestErrors(js);
        if (errors.length) {
          return send(422, { kind: "Status", status: "Failure", reason: "Invalid", code: 422, message: `JobSet.jobset.x-k8s.io "${js.metadata?.name}" is invalid: ${errors.join("; ")}` });
        }
        if (created.has(js.metadata.name)) return send(409, { kind: "Status", reason: "AlreadyExists", code: 409, message: `jobsets.jobset.x-k8s.io "${js.metadata.name}" already exists` });
        if (js.metadata.namespace !== ns) return send(400, { kind: "Status", code: 400, message: "the namespace of the provided object does not match the namespace sent on the request" });
        created.set(js.metadata.name, js);
        return send(201, js);
      }
      const js = created.get(name ?? "");
      if (!js) return send(404, { kind: "Status", reason: "NotFound", code: 404, message: `jobsets.jobset.x-k8s.io "${name}" not found` });
      if (req.method === "GET") {
        const steps = script.get(name!) ?? [{}];
        const status = steps.length > 1 ? steps.shift() : steps[0];
        return send(200, { ...js, status });
      }
      if (req.method === "DELETE") {
        deleted.push(name!);
        created.delete(name!);
        return send(200, { kind: "Status", status: "Success" });
      }
      send(405, { kind: "Status", message: "method not allowed" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => void server.close());

function kubeconfig(): string {
  const dir = mkdtempSync(join(tmpdir(), "flyte-kubeconfig-"));
  const file = join(dir, "config");
  writeFileSync(file, `apiVersion: v1
kind: Config
current-context: test
contexts:
  - name: test
    context: { cluster: fake, user: ci, namespace: ml }
clusters:
  - name: fake
    cluster: { server: "${base}" }
users:
  - name: ci
    user: { token: ${TOKEN} }
`);
  return file;
}

const env = new ClusteredTaskEnvironment({ name: "submit-env", replicas: 2, nprocPerNode: 1, image: "registry.example.com/acme/train:1" });
const step = env.task(async function step() {
  return 1;
});
const manifest = (name: string): JobSetManifest => env.toJobSet({ name, namespace: "ml", task: step, args: ["--task", "submit-env.step", "--version", "v1"] });
const Completed = { conditions: [{ type: "Completed", status: "True", reason: "AllJobsCompleted", message: "jobset completed successfully" }] };
const Failed = { restarts: 0, conditions: [{ type: "Failed", status: "True", reason: "FailedJobs", message: "jobset failed due to one or more failed jobs" }] };

describe("JobSetClient (against an API server stand-in)", () => {
  it("creates a schema-valid JobSet with the kubeconfig's token, follows it to Completed, and deletes it after the TTL", async () => {
    const conn = kubeconfigConnection(kubeconfig());
    expect([conn.server, conn.namespace, conn.token]).toEqual([base, "ml", TOKEN]);
    const client = new JobSetClient(conn);
    script.set("train-ok", [{}, { restarts: 0 }, Completed]);
    await client.run(manifest("train-ok"), { pollMs: 20, ttlSeconds: 0 });
    const posts = requests.filter((r) => r.method === "POST");
    expect(posts.at(-1)).toEqual({ method: "POST", path: "/apis/jobset.x-k8s.io/v1alpha2/namespaces/ml/jobsets", auth: `Bearer ${TOKEN}` });
    expect(requests.filter((r) => r.method === "GET" && r.path.endsWith("/train-ok")).length).toBe(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(deleted).toContain("train-ok");
  });

  it("a JobSet the controller fails (its failure policy spent) fails with the controller's reason and message", async () => {
    const client = new JobSetClient(kubeconfigConnection(kubeconfig()));
    script.set("train-bad", [{}, Failed]);
    const err = (await client.run(manifest("train-bad"), { pollMs: 20 }).then(() => new Error("did not fail"), (e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect([err.code, err.message]).toEqual(["ClusteredJobSetFailed", "JobSet train-bad failed (FailedJobs): jobset failed due to one or more failed jobs"]);
  });

  it("a JobSet the API rejects fails with the server's message; so does a name that exists or a missing token", async () => {
    const client = new JobSetClient(kubeconfigConnection(kubeconfig()));
    const bad = manifest("train-invalid");
    (bad.spec.replicatedJobs[0].template.spec as unknown as Record<string, unknown>).parallelism = "two";
    const err = (await client.create(bad).then(() => new Error("was accepted"), (e: unknown) => e)) as KubernetesApiError;
    expect(err).toBeInstanceOf(KubernetesApiError);
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/^The Kubernetes API refused to create JobSet train-invalid \(HTTP 422\): JobSet\.jobset\.x-k8s\.io "train-invalid" is invalid: .*parallelism must be integer/);
    script.set("train-twice", [{}]);
    await client.create(manifest("train-twice"));
    await expect(client.create(manifest("train-twice"))).rejects.toThrow('(HTTP 409): jobsets.jobset.x-k8s.io "train-twice" already exists');
    const anonymous = new JobSetClient({ server: base, namespace: "ml" });
    await expect(anonymous.create(manifest("train-anon"))).rejects.toThrow("refused to create JobSet train-anon (HTTP 401): Unauthorized");
    const down = new JobSetClient({ server: "http://127.0.0.1:1", namespace: "ml", token: TOKEN });
    await expect(down.create(manifest("x"))).rejects.toThrow("Cannot reach the Kubernetes API at http://127.0.0.1:1");
  });

  it("an aborted action deletes its JobSet", async () => {
    const client = new JobSetClient(kubeconfigConnection(kubeconfig()));
    script.set("train-abort", [{}]);
    const ac = new AbortController();
    const running = client.run(manifest("train-abort"), { pollMs: 20, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(running).rejects.toThrow("JobSet train-abort was deleted: the action was aborted.");
    expect(deleted).toContain("train-abort");
  });

  it("in a pod: the service account's token, CA and namespace; outside one: says so", () => {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      delete process.env.KUBERNETES_SERVICE_HOST;
      expect(() => inClusterConnection()).toThrow("kubernetes.inCluster is set, but KUBERNETES_SERVICE_HOST is not: this process is not running in a Kubernetes pod");
      const sa = mkdtempSync(join(tmpdir(), "flyte-sa-"));
      writeFileSync(join(sa, "token"), "sa-token\n");
      writeFileSync(join(sa, "namespace"), "flyte");
      writeFileSync(join(sa, "ca.crt"), "-----BEGIN CERTIFICATE-----\n");
      process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
      process.env.KUBERNETES_SERVICE_PORT = "443";
      expect(inClusterConnection(undefined, sa)).toEqual({ server: "https://10.96.0.1:443", namespace: "flyte", token: "sa-token", ca: "-----BEGIN CERTIFICATE-----\n" });
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });
});

/**
 * JobSets through the Kubernetes API (no client library: four REST calls over node:https): create one, follow
 * its status until the JobSet controller marks it `Completed` or `Failed` (after its own failure policy has spent
 * its restarts), and delete it. Connections come from a kubeconfig file (token or client certificate, CA data or
 * file) or from inside a pod (the service account's token and CA).
 * Used by submit.ts, when a worker runs a clustered action as a JobSet.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { parse } from "yaml";
import { ActionAbortedError, InitializationError, RuntimeUserError } from "../errors.ts";
import type { JobSetManifest } from "./jobset.ts";

export interface KubeConnection {
  /** API server URL, e.g. https://10.0.0.1:443 */
  server: string;
  namespace: string;
  token?: string;
  /** PEM CA bundle for the server's certificate. */
  ca?: string;
  /** PEM client certificate and key (kubeconfig client-certificate auth). */
  cert?: string;
  key?: string;
  insecureSkipTLSVerify?: boolean;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The connection a pod has to its own cluster (service account token and CA). */
export function inClusterConnection(namespace?: string, saDir = SA_DIR): KubeConnection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) {
    throw new InitializationError("kubernetes.inCluster is set, but KUBERNETES_SERVICE_HOST is not: this process is not running in a Kubernetes pod. Use kubernetes.kubeconfig instead.", {
      code: "KubernetesUnavailable",
    });
  }
  const read = (f: string) => readFileSync(resolve(saDir, f), "utf8");
  let token: string;
  try {
    token = read("token").trim();
  } catch (e) {
    throw new InitializationError(`kubernetes.inCluster: cannot read the service account token in ${saDir} (${(e as Error).message}). Set automountServiceAccountToken on the pod.`, {
      code: "KubernetesUnavailable",
    });
  }
  let ns = namespace;
  if (ns === undefined) {
    try {
      ns = read("namespace").trim();
    } catch {
      ns = "default";
    }
  }
  let ca: string | undefined;
  try {
    ca = read("ca.crt");
  } catch {
    ca = undefined;
  }
  return { server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`, namespace: ns, token, ...(ca ? { ca } : {}) };
}

interface KubeconfigFile {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user?: string; namespace?: string } }[];
  clusters?: { name: string; cluster: { server: string; "certificate-authority-data"?: string; "certificate-authority"?: string; "insecure-skip-tls-verify"?: boolean } }[];
  users?: { name: string; user: { token?: string; "client-certificate-data"?: string; "client-key-data"?: string; "client-certificate"?: string; "client-key"?: string } }[];
}

/** The connection of a kubeconfig's current (or named) context. */
export function kubeconfigConnection(path = process.env.KUBECONFIG ?? `${homedir()}/.kube/config`, o: { context?: string; namespace?: string } = {}): KubeConnection {
  const file = path.startsWith("~/") ? `${homedir()}${path.slice(1)}` : path;
  let kc: KubeconfigFile;
  try {
    kc = parse(readFileSync(file, "utf8")) as KubeconfigFile;
  } catch (e) {
    throw new InitializationError(`Cannot read kubeconfig ${file}: ${(e as Error).message}`, { code: "KubernetesUnavailable" });
  }
  const name = o.context ?? kc["current-context"];
  const ctx = kc.contexts?.find((c) => c.name === name)?.context;
  if (!ctx) throw new InitializationError(`kubeconfig ${file} has no context ${JSON.stringify(name)}. Contexts: ${kc.contexts?.map((c) => c.name).join(", ") || "none"}.`, { code: "KubernetesUnavailable" });
  const cluster = kc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new InitializationError(`kubeconfig ${file}: context ${JSON.stringify(name)} names cluster ${JSON.stringify(ctx.cluster)}, which is not defined.`, { code: "KubernetesUnavailable" });
  const user = kc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  const b64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, "base64").toString("utf8"));
  const fileOr = (data: string | undefined, p: string | undefined) => b64(data) ?? (p ? readFileSync(p, "utf8") : undefined);
  const ca = fileOr(cluster["certificate-authority-data"], cluster["certificate-authority"]);
  const cert = fileOr(user["client-certificate-data"], user["client-certificate"]);
  const key = fileOr(user["client-key-data"], user["client-key"]);
  return {
    server: cluster.server,
    namespace: o.namespace ?? ctx.namespace ?? "default",
    ...(user.token ? { token: user.token } : {}),
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster["insecure-skip-tls-verify"] ? { insecureSkipTLSVerify: true } : {}),
  };
}

/** What the API server answered with a non-2xx status: its `Status.message` when it sent one. */
export class KubernetesApiError extends RuntimeUserError {
  readonly status: number;
  constructor(status: number, message: string) {
    super("KubernetesApiError", message);
    this.status = status;
  }
}

interface JobSetCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export type JobSetOutcome = { phase: "Completed" } | { phase: "Failed"; reason: string; message: string };

export class JobSetClient {
  readonly #c: KubeConnection;

  constructor(connection: KubeConnection) {
    this.#c = connection;
  }

  get namespace(): string {
    return this.#c.namespace;
  }

  #path(name?: string): string {
    return `/apis/jobset.x-k8s.io/v1alpha2/namespaces/${encodeURIComponent(this.#c.namespace)}/jobsets${name ? `/${encodeURIComponent(name)}` : ""}`;
  }

  async #call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const url = new URL(path, this.#c.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const opts: RequestOptions = {
      method,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        Accept: "application/json",
        ...(payload ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) } : {}),
        ...(this.#c.token ? { Authorization: `Bearer ${this.#c.token}` } : {}),
      },
      ...(this.#c.ca ? { ca: this.#c.ca } : {}),
      ...(this.#c.cert ? { cert: this.#c.cert } : {}),
      ...(this.#c.key ? { key: this.#c.key } : {}),
      ...(this.#c.insecureSkipTLSVerify ? { rejectUnauthorized: false } : {}),
      timeout: 30_000,
    };
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    return await new Promise((resolvePromise, reject) => {
      const req = send(opts, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = text;
          }
          resolvePromise({ status: res.statusCode ?? 0, json });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within 30s`)));
      req.on("error", (e) => reject(new KubernetesApiError(0, `Cannot reach the Kubernetes API at ${this.#c.server}: ${e.message}.`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  #fail(what: string, r: { status: number; json: unknown }): never {
    const msg = (r.json as { message?: string } | undefined)?.message ?? (typeof r.json === "string" ? r.json : "");
    throw new KubernetesApiError(r.status, `The Kubernetes API refused to ${what} (HTTP ${r.status}): ${msg || "no message"}`);
  }

  /** Creates the JobSet; the server's reason when it refuses (schema, webhook, RBAC, an existing name). */
  async create(manifest: JobSetManifest): Promise<void> {
    const body = { ...manifest, metadata: { ...manifest.metadata, namespace: this.#c.namespace } };
    const r = await this.#call("POST", this.#path(), body);
    if (r.status < 200 || r.status >= 300) this.#fail(`create JobSet ${manifest.metadata.name}`, r);
  }

  /** The JobSet's terminal outcome, or undefined while it runs (or when it does not exist yet). */
  async outcome(name: string): Promise<JobSetOutcome | undefined> {
    const r = await this.#call("GET", this.#path(name));
    if (r.status === 404) return undefined;
    if (r.status < 200 || r.status >= 300) this.#fail(`read JobSet ${name}`, r);
    const conditions = ((r.json as { status?: { conditions?: JobSetCondition[] } }).status?.conditions ?? []).filter((c) => c.status === "True");
    const failed = conditions.find((c) => c.type === "Failed");
    if (failed) return { phase: "Failed", reason: failed.reason ?? "Failed", message: failed.message ?? "" };
    if (conditions.some((c) => c.type === "Completed")) return { phase: "Completed" };
    return undefined;
  }

  /** Deletes the JobSet and (foreground) its Jobs and pods; a JobSet already gone is fine. */
  async delete(name: string): Promise<void> {
    const r = await this.#call("DELETE", this.#path(name), { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Foreground" });
    if (r.status !== 404 && (r.status < 200 || r.status >= 300)) this.#fail(`delete JobSet ${name}`, r);
  }

  /**
   * Creates the JobSet and follows it to its end: resolves when it completes, throws a `RuntimeUserError`
   * (`ClusteredJobSetFailed`, the controller's reason and message) when it fails, an `ActionAbortedError` (after
   * deleting it) when `signal` aborts. The JobSet is deleted `ttlSeconds` after it ends (0 = at once), unless the
   * manifest sets its own `ttlSecondsAfterFinished`.
   */
  async run(manifest: JobSetManifest, o: { pollMs?: number; signal?: AbortSignal; ttlSeconds?: number } = {}): Promise<void> {
    const name = manifest.metadata.name;
    await this.create(manifest);
    const cleanup = () => {
      if (manifest.spec.ttlSecondsAfterFinished !== undefined) return;
      const t = setTimeout(() => void this.delete(name).catch(() => undefined), (o.ttlSeconds ?? 0) * 1000);
      t.unref();
    };
    for (;;) {
      if (o.signal?.aborted) {
        await this.delete(name).catch(() => undefined);
        throw new ActionAbortedError(`JobSet ${name} was deleted: the action was aborted.`);
      }
      const out = await this.outcome(name);
      if (out?.phase === "Completed") {
        cleanup();
        return;
      }
      if (out?.phase === "Failed") {
        cleanup();
        throw new RuntimeUserError("ClusteredJobSetFailed", `JobSet ${name} failed (${out.reason})${out.message ? `: ${out.message}` : "."}`);
      }
      await new Promise((r) => setTimeout(r, o.pollMs ?? 2000));
    }
  }
}

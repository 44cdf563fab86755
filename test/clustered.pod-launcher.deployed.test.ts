/**
 * `flyte clustered --version v`: the pods of a clustered task's JobSet load the task from the bundle `flyte deploy`
 * registered in the cluster's PostgreSQL (nothing of the task's code in the "image"), as `flyte k8s manifests
 * --jobsets --version v` tells them to.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { JobSetManifest } from "flyte-ts/clustered";
import { flyteIn } from "./helpers/cli.ts";
import { freePort, usePostgres } from "./helpers/postgres.ts";
import { FLYTE_BIN, REPO } from "./helpers/runtime.ts";

const server = usePostgres();

function startPod(cwd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FLYTE_BIN, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("flyte clustered --version", () => {
  it("two pods load the deployed bundle of that version and pod 0 reports rank 0's result", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-pod-deployed-"));
    const db = await server().createDatabase();
    mkdirSync(join(dir, ".flyte"));
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    const config = join(dir, ".flyte", "config.yaml");
    writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${db}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
    writeFileSync(join(dir, "train.ts"), `import { ctx } from "flyte-ts";
import { ClusteredTaskEnvironment } from "flyte-ts/clustered";
export const grid = new ClusteredTaskEnvironment({ name: "pod-dep", replicas: 2, nprocPerNode: 2, image: "registry.example.com/acme/train:1" });
export const who = grid.task(async function who({ tag }: { tag: string }) {
  const c = ctx()!;
  return { tag, rank: c.rank, worldSize: c.worldSize, node: process.env.GROUP_RANK, file: import.meta.url.includes("/bundles/") };
});
`);
    const deployed = await flyteIn(dir, ["deploy", "train.ts", "--version", "v1"]);
    expect(deployed.code, deployed.stderr).toBe(0);

    const printed = await flyteIn(dir, ["k8s", "manifests", "--jobsets", "train.ts", "--version", "v1"]);
    expect(printed.code, printed.stderr).toBe(0);
    const js = parseAllDocuments(printed.stdout).map((d) => d.toJSON() as JobSetManifest)[0]!;
    const container = js.spec.replicatedJobs[0].template.spec!.template.spec!.containers[0]!;
    expect(container.args).toEqual(["clustered", "--task", "pod-dep.who", "--version", "v1"]);

    const port = await freePort();
    const podEnv = (i: number): Record<string, string> => ({
      PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", FLYTE_CONFIG: podConfig,
      JOB_COMPLETION_INDEX: String(i), NNODES: "2", NPROC_PER_NODE: "2", JOBSET_NAME: js.metadata.name, POD_NAMESPACE: js.metadata.namespace,
      JOBSET_RESTART_ATTEMPT: "0", MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port),
    });
    // The pods run elsewhere than the project, laid out as an environment image's /app: flyte-ts linked into
    // node_modules, the state dir (where bundles unpack) below it, as the installation's ConfigMap sets it.
    // Nothing of train.ts is at hand but the deployed bundle.
    const podDir = mkdtempSync(join(tmpdir(), "flyte-pod-app-"));
    mkdirSync(join(podDir, "node_modules"));
    symlinkSync(REPO, join(podDir, "node_modules", "flyte-ts"));
    const podConfig = join(podDir, "config.yaml");
    writeFileSync(podConfig, `backend: cluster\nstore:\n  stateDir: ${join(podDir, ".flyte")}\n  databaseUrl: ${db}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
    const args = [...container.args!, "--inputs", '{"tag":"v1-run"}', "--outputs-path", join(podDir, "out.json")];
    const exits = await Promise.all([0, 1].map((i) => startPod(podDir, args, podEnv(i))));
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(exits[0]!.stdout)).toEqual({ tag: "v1-run", rank: 0, worldSize: 4, node: "0", file: true });
    expect(exits[1]!.stdout).toBe("");

    const missing = await startPod(podDir, ["clustered", "--task", "pod-dep.who", "--version", "v9"], podEnv(0));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Task "pod-dep.who" is not deployed at version "v9" (its latest version is "v1")');
  }, 120_000);
});

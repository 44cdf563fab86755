/**
 * The in-pod launcher (`flyte clustered`): the containers of the JobSet `flyte k8s manifests` prints, started as
 * local processes with the environment a JobSet controller and Kubernetes would give their pods.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { JobSetManifest } from "flyte-ts/clustered";
import { flyteIn } from "./helpers/cli.ts";
import { FLYTE_BIN, REPO } from "./helpers/runtime.ts";
import { manifestErrors } from "./fixtures/clustered/jobset-validator.ts";
import type { TrainResult } from "../examples/clustered/ddp.ts";

const PYTHON = "/usr/bin/python3";
const TRAIN_PY = fileURLToPath(new URL("../examples/clustered/train.py", import.meta.url));
const FIXTURE = "test/fixtures/clustered/tasks.ts";

function requireTorch(): void {
  const r = spawnSync(PYTHON, ["-c", "import torch, torch.distributed"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(`PyTorch is not importable by ${PYTHON}. Install it with: apt-get install -y python3-torch (.ci/run does this).`);
  }
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * The environment of pod `index` of the JobSet: the container's literal env values, the downward-API fields a
 * JobSet controller fills in (jobset-name label, namespace, restart-attempt label, completion-index annotation),
 * JOB_COMPLETION_INDEX as an Indexed Job sets it, and PATH/HOME as an image has them. The headless Service's DNS
 * name of pod 0 resolves to 127.0.0.1 here, and the rendezvous port is a free one (29500 may be taken on a shared
 * machine); both are the only values changed from the manifest.
 */
function podEnv(js: JobSetManifest, index: number, port: number): Record<string, string> {
  const container = js.spec.replicatedJobs[0].template.spec!.template.spec!.containers[0]!;
  const fields: Record<string, string> = {
    "metadata.labels['jobset.sigs.k8s.io/jobset-name']": js.metadata.name,
    "metadata.namespace": js.metadata.namespace,
    "metadata.labels['jobset.sigs.k8s.io/restart-attempt']": "0",
    "metadata.annotations['batch.kubernetes.io/job-completion-index']": String(index),
  };
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", JOB_COMPLETION_INDEX: String(index) };
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) throw new Error(`no downward-API value for ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v;
    } else throw new Error(`env ${e.name} needs a value this test does not provide: ${JSON.stringify(e.valueFrom)}`);
  }
  expect(env.MASTER_ADDR).toBe(`${js.metadata.name}-workers-0-0.${js.metadata.name}.${js.metadata.namespace}.svc.cluster.local`);
  return { ...env, MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port) };
}

interface PodExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the container's command (`flyte` + args) in the repository, the image's working directory stand-in. */
function startPod(args: string[], env: Record<string, string>): Promise<PodExit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FLYTE_BIN, ...args], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function manifestsFor(file: string, ...flags: string[]): Promise<JobSetManifest[]> {
  const r = await flyteIn(REPO, ["k8s", "manifests", "--jobsets", file, ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return parseAllDocuments(r.stdout).map((d) => d.toJSON() as JobSetManifest).filter((d) => d.kind === "JobSet");
}

describe("flyte clustered (the in-pod launcher)", () => {
  it("runs the PyTorch DDP example through the 2 pods of its JobSet and reports rank 0's result from pod 0", async () => {
    requireTorch();
    const [js] = await manifestsFor("examples/clustered/ddp.ts", "--namespace", "ml");
    expect(manifestErrors(js)).toEqual([]);
    const container = js!.spec.replicatedJobs[0].template.spec!.template.spec!.containers[0]!;
    expect(container.args).toEqual(["clustered", "--task", "ddp-example.train", "examples/clustered/ddp.ts"]);
    const pods = js!.spec.replicatedJobs[0].template.spec!.completions!;
    expect(pods).toBe(2);
    const port = await freePort();
    const exits = await Promise.all(Array.from({ length: pods }, (_, i) => startPod(container.args!, podEnv(js!, i, port))));
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    // Only pod 0 (global rank 0) reports the result.
    expect(exits[1]!.stdout).toBe("");
    const out = JSON.parse(exits[0]!.stdout) as TrainResult;
    expect(out.worldSize).toBe(2);
    expect(out.paramsInSync).toBe(true);
    expect(out.losses).toHaveLength(30);
    const ref = spawnSync(PYTHON, [TRAIN_PY, "--reference", "--epochs", "30"], { encoding: "utf8" });
    expect(ref.status, ref.stderr).toBe(0);
    const reference = JSON.parse(ref.stdout.trim().split("\n").pop()!) as TrainResult;
    out.losses.forEach((l, i) => expect(l).toBeCloseTo(reference.losses[i]!, 4));
    expect(exits[0]!.stderr).toContain("[clustered] node 0 of 2: 1 rank(s), rendezvous 127.0.0.1:");
    expect(exits[1]!.stderr).toContain("[rank 1] rank 1 of 2: training for 30 epochs");
  }, 120_000);

  it("gives every rank of a 2x2 JobSet torchrun's variables, with the node rank from JOB_COMPLETION_INDEX", async () => {
    const js = (await manifestsFor(FIXTURE, "--task", "cl-grid.rankInfo")).find((d) => d.metadata.name === "cl-grid-rank-info")!;
    const container = js.spec.replicatedJobs[0].template.spec!.template.spec!.containers[0]!;
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const outDir = mkdtempSync(join(tmpdir(), "flyte-pod-grid-"));
    const port = await freePort();
    const args = [...container.args!, "--inputs", JSON.stringify({ outDir })];
    const exits = await Promise.all([0, 1].map((i) => startPod(args, podEnv(js, i, port))));
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    const infos = JSON.parse(exits[0]!.stdout) as { env: Record<string, string>; ctx: { rank: number; nodeRank: number } }[];
    expect(infos.map((i) => [i.env.RANK, i.env.LOCAL_RANK, i.env.GROUP_RANK, i.env.WORLD_SIZE, i.env.MASTER_ADDR, i.env.CUSTOM_VAR])).toEqual([
      ["0", "0", "0", "4", "127.0.0.1", "from-env"],
      ["1", "1", "0", "4", "127.0.0.1", "from-env"],
      ["2", "0", "1", "4", "127.0.0.1", "from-env"],
      ["3", "1", "1", "4", "127.0.0.1", "from-env"],
    ]);
  }, 60_000);

  it("FLYTE_LAUNCHER=torchrun: each pod is one torchrun agent rendezvousing at MASTER_ADDR, with the node rank from the JobSet", async () => {
    requireTorch();
    const js = (await manifestsFor(FIXTURE, "--task", "cl-torchrun.torchrunInfo"))[0]!;
    const container = js.spec.replicatedJobs[0].template.spec!.template.spec!.containers[0]!;
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const outDir = mkdtempSync(join(tmpdir(), "flyte-pod-torchrun-"));
    const port = await freePort();
    const exits = await Promise.all([0, 1].map((i) => startPod([...container.args!, "--inputs", JSON.stringify({ outDir })], podEnv(js, i, port))));
    for (const e of exits) expect(e.code, e.stderr).toBe(0);
    const infos = (JSON.parse(exits[0]!.stdout) as { env: Record<string, string>; elastic: string }[]).sort((a, b) => Number(a.env.RANK) - Number(b.env.RANK));
    // torchrun's static rendezvous sets TORCHELASTIC_RUN_ID=none (the built-in launcher would set "<jobset>-0").
    expect(infos.map((i) => [i.env.RANK, i.env.GROUP_RANK, i.env.WORLD_SIZE, i.env.MASTER_ADDR, i.elastic])).toEqual([
      ["0", "0", "2", "127.0.0.1", "none"],
      ["1", "1", "2", "127.0.0.1", "none"],
    ]);
  }, 120_000);

  it("refuses to run without the JobSet's environment, or with one printed for other code", async () => {
    const missing = await flyteIn(REPO, ["clustered", "--task", "cl-grid.rankInfo", FIXTURE], { env: { JOB_COMPLETION_INDEX: "", NODE_RANK: "" } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("neither JOB_COMPLETION_INDEX nor NODE_RANK is set, so this pod cannot tell which node it is");
    const other = await flyteIn(REPO, ["clustered", "--task", "cl-grid.rankInfo", FIXTURE], { env: { JOB_COMPLETION_INDEX: "0", NNODES: "3", NPROC_PER_NODE: "2" } });
    expect(other.stderr).toContain('the JobSet says NNODES=3 NPROC_PER_NODE=2, but environment "cl-grid" in this code has replicas 2 and nprocPerNode 2');
    const noAddr = await flyteIn(REPO, ["clustered", "--task", "cl-grid.rankInfo", FIXTURE], { env: { JOB_COMPLETION_INDEX: "1", MASTER_ADDR: "", JOBSET_NAME: "" } });
    expect(noAddr.stderr).toContain("MASTER_ADDR is not set and cannot be derived");
    const badIndex = await flyteIn(REPO, ["clustered", "--task", "cl-grid.rankInfo", FIXTURE], { env: { JOB_COMPLETION_INDEX: "two" } });
    expect(badIndex.stderr).toContain('JOB_COMPLETION_INDEX="two" is not a non-negative integer');
    const plain = await flyteIn(REPO, ["clustered", "--task", "cl-plain.helper", FIXTURE], { env: { JOB_COMPLETION_INDEX: "0" } });
    expect(plain.stderr).toContain('task "cl-plain.helper" is not a clustered task');
    const nothing = await flyteIn(REPO, ["clustered", "--task", "cl-grid.rankInfo"]);
    expect([nothing.code, nothing.stderr]).toEqual([2, expect.stringContaining("pass the file that defines the task (code in the image) or --version <v>")]);
    const unresolved = await flyteIn(REPO, ["clustered", "--task", "cl-grid.rankInfo", FIXTURE], {
      env: { JOB_COMPLETION_INDEX: "1", MASTER_ADDR: "nowhere.invalid", FLYTE_CLUSTERED_DNS_TIMEOUT_S: "0" },
    });
    expect(unresolved.stderr).toContain("the rendezvous host nowhere.invalid did not resolve within 0s");
  });
});

/**
 * Distributed data-parallel training across 2 ranks: a clustered task whose ranks each run a small PyTorch
 * script (./train.py) that all-reduces its gradients through the gloo backend on CPU. The task returns
 * rank 0's loss curve. Locally it runs as 2 real processes; on Kubernetes as a 2-pod JobSet.
 *
 *   npx tsx examples/clustered/ddp.ts                       # local run (needs: apt-get install python3-torch)
 *   npx flyte run examples/clustered/ddp.ts train --epochs 40
 *   npx flyte k8s manifests examples/clustered/ddp.ts       # the JobSet for a cluster
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ctx, Image, init, Resources, run } from "flyte-ts";
import { ClusteredTaskEnvironment } from "flyte-ts/clustered";

const TRAIN_PY = fileURLToPath(new URL("./train.py", import.meta.url));
/** Debian's own interpreter has python3-torch; a python3 found first on PATH (pyenv, a venv) may not. */
const PYTHON = process.env.TRAIN_PYTHON ?? "/usr/bin/python3";

export const ddp = new ClusteredTaskEnvironment({
  name: "ddp-example",
  replicas: 2, // pods (nodes)
  nprocPerNode: 1, // processes per pod: 2 ranks in all
  image: Image.fromDebianBase().withAptPackages("python3-torch").withSourceFile(TRAIN_PY),
  resources: new Resources({ cpu: 1, memory: "2Gi" }),
});

export interface TrainResult {
  worldSize: number;
  /** Mean loss over all ranks after each epoch. */
  losses: number[];
  /** Whether every rank ended with identical parameters (the gradient all-reduce worked). */
  paramsInSync: boolean;
  torch: string;
}

/** Runs train.py in this rank; RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are already in the environment. */
function trainInThisRank(args: string[], signal: AbortSignal | undefined): Promise<TrainResult> {
  return new Promise((resolvePromise, reject) => {
    const py = spawn(PYTHON, [TRAIN_PY, ...args], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let stdout = "";
    let stderr = "";
    py.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    py.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      process.stderr.write(c); // training progress shows up in the action's log, prefixed with the rank
    });
    const onAbort = () => py.kill("SIGTERM");
    signal?.addEventListener("abort", onAbort, { once: true });
    py.on("error", (e) => reject(new Error(`Cannot start ${PYTHON}: ${e.message}. Install Python 3 with PyTorch (apt-get install python3-torch) or set TRAIN_PYTHON.`)));
    py.on("close", (code) => {
      signal?.removeEventListener("abort", onAbort);
      if (code === 0) return resolvePromise(JSON.parse(stdout.trim().split("\n").pop()!) as TrainResult);
      if (/No module named 'torch'/.test(stderr)) {
        return reject(new Error(`PyTorch is not installed for ${PYTHON}. Install it with: apt-get install python3-torch (or set TRAIN_PYTHON to an interpreter that has torch).`));
      }
      reject(new Error(`train.py exited with code ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

export const train = ddp.task(async function train({ epochs = 30, lr = 0.05 }: { epochs?: number; lr?: number }): Promise<TrainResult> {
  const c = ctx();
  console.log(`rank ${c?.rank} of ${c?.worldSize}: training for ${epochs} epochs`);
  const result = await trainInThisRank(["--epochs", String(epochs), "--lr", String(lr)], c?.signal);
  if (!result.paramsInSync) throw new Error(`rank ${c?.rank}: parameters differ across ranks after training; the gradient all-reduce is broken.`);
  const { worldSize, losses, paramsInSync, torch } = result;
  return { worldSize, losses, paramsInSync, torch };
});

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await init();
  const r = await run(train, { epochs: 30 });
  const out = await r.outputs();
  console.log(`world size ${out.worldSize}, loss ${out.losses[0]!.toFixed(4)} → ${out.losses.at(-1)!.toFixed(4)} (torch ${out.torch})`);
}

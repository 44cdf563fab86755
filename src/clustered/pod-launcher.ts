/**
 * The in-pod launcher (`flyte clustered`, API.md §14): what every pod of a clustered task's JobSet runs as its
 * primary container. One pod is one node of the group. It reads where it stands from the environment the JobSet
 * controller and Kubernetes give it, and starts `nprocPerNode` rank processes with the variables torchrun's
 * agent would set, exactly as the local launcher does for every node of a local run:
 *
 * | Read                                   | From                                                               |
 * |----------------------------------------|--------------------------------------------------------------------|
 * | node rank                              | `JOB_COMPLETION_INDEX` (Indexed Job), else `NODE_RANK`              |
 * | nodes / processes per node             | `NNODES` / `NPROC_PER_NODE` (checked against the task's environment) |
 * | rendezvous host                        | `MASTER_ADDR`, else `<JOBSET_NAME>-workers-0-0.<JOBSET_NAME>.<POD_NAMESPACE>.svc.cluster.local` |
 * | rendezvous port                        | `MASTER_PORT` (29500)                                               |
 * | JobSet restart attempt                 | `JOBSET_RESTART_ATTEMPT` (0)                                        |
 *
 * Before starting ranks it waits for the rendezvous host to resolve (the headless Service's DNS record appears
 * only once pod 0 exists), up to `FLYTE_CLUSTERED_DNS_TIMEOUT_S` (300) seconds. The ranks restart as a group up to
 * `runtime.maxRestarts` times inside the pod; past that the pod exits 1, its Job fails and the JobSet's failure
 * policy decides. The pod of node 0 holds global rank 0: its launcher reports the task's return value.
 */
import { lookup } from "node:dns/promises";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NonRecoverableError, RuntimeUserError, ValidationError, type FlyteError } from "../errors.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { ClusteredTaskEnvironment } from "./clustered-task-environment.ts";
import { masterAddress, RDZV_PORT } from "./jobset.ts";
import { groupFailure, rankContext, torchrunWorkerEnv } from "./launcher.ts";
import { ProcessGroup, killStrays } from "./process-group.ts";
import { torchrunArgs } from "./torchrun.ts";
import { ENV_DIR, ENV_GROUP, ENV_PARENT_PID, prepareGroupDir, rankCommand, readOutput, readRankPids, writeSpec } from "./rank-protocol.ts";

/** Where this pod stands in the group, read from its environment. */
export interface PodPlacement {
  node: number;
  nnodes: number;
  nprocPerNode: number;
  masterAddr: string;
  masterPort: number;
  restartAttempt: number;
  /** The JobSet's name when the controller gave it (`JOBSET_NAME`). */
  jobSet?: string;
}

const isCount = (v: number) => Number.isInteger(v) && v >= 0;

function intVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !isCount(v)) {
    throw new ValidationError(`flyte clustered: ${name}=${JSON.stringify(raw)} is not a non-negative integer. It is set by the JobSet (see flyte k8s manifests); do not override it.`, {
      field: name,
    });
  }
  return v;
}

/** Reads the placement of this pod from `env`, checking it against the task's clustered environment. */
export function podPlacement(env: NodeJS.ProcessEnv, cluster: ClusteredTaskEnvironment): PodPlacement {
  const node = intVar(env, "JOB_COMPLETION_INDEX") ?? intVar(env, "NODE_RANK");
  if (node === undefined) {
    throw new ValidationError(
      "flyte clustered: neither JOB_COMPLETION_INDEX nor NODE_RANK is set, so this pod cannot tell which node it is. It runs inside the pods of a clustered task's JobSet (an Indexed Job sets JOB_COMPLETION_INDEX); to run a clustered task on one machine use flyte run instead.",
      { field: "JOB_COMPLETION_INDEX" },
    );
  }
  const nnodes = intVar(env, "NNODES") ?? cluster.replicas;
  const nprocPerNode = intVar(env, "NPROC_PER_NODE") ?? cluster.nprocPerNode;
  if (nnodes !== cluster.replicas || nprocPerNode !== cluster.nprocPerNode) {
    throw new ValidationError(
      `flyte clustered: the JobSet says NNODES=${nnodes} NPROC_PER_NODE=${nprocPerNode}, but environment "${cluster.name}" in this code has replicas ${cluster.replicas} and nprocPerNode ${cluster.nprocPerNode}. The JobSet was printed for other code; print it again with flyte k8s manifests for this version.`,
      { field: "NNODES" },
    );
  }
  if (node >= nnodes) throw new ValidationError(`flyte clustered: node rank ${node} (JOB_COMPLETION_INDEX) is not below NNODES=${nnodes}.`, { field: "JOB_COMPLETION_INDEX" });
  const jobSet = env.JOBSET_NAME || undefined;
  let masterAddr = env.MASTER_ADDR || undefined;
  if (masterAddr === undefined) {
    if (!jobSet || !env.POD_NAMESPACE) {
      throw new ValidationError(
        "flyte clustered: MASTER_ADDR is not set and cannot be derived: JOBSET_NAME and POD_NAMESPACE (downward API fields of the JobSet's pods) are needed for <jobset>-workers-0-0.<jobset>.<namespace>.svc.cluster.local.",
        { field: "MASTER_ADDR" },
      );
    }
    masterAddr = masterAddress(jobSet, env.POD_NAMESPACE);
  }
  const masterPort = intVar(env, "MASTER_PORT") ?? RDZV_PORT;
  if (masterPort < 1 || masterPort > 65535) throw new ValidationError(`flyte clustered: MASTER_PORT=${masterPort} is not a TCP port.`, { field: "MASTER_PORT" });
  return { node, nnodes, nprocPerNode, masterAddr, masterPort, restartAttempt: intVar(env, "JOBSET_RESTART_ATTEMPT") ?? 0, ...(jobSet ? { jobSet } : {}) };
}

/** Waits until `host` resolves (the headless Service's record of pod 0 appears once that pod is scheduled). */
export async function waitForHost(host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      await lookup(host);
      return;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new NonRecoverableError(
        `flyte clustered: the rendezvous host ${host} did not resolve within ${Math.round(timeoutMs / 1000)}s (${(last as Error).message}). Check that the JobSet has network.enableDNSHostnames: true and that pod 0 of job 0 is running.`,
        { code: "ClusteredRendezvousUnresolved" },
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export interface PodRunOptions {
  task: TaskTemplate;
  cluster: ClusteredTaskEnvironment;
  placement: PodPlacement;
  inputs: unknown;
  /** Rank output lines (prefixed `[rank N]`). */
  log: (stream: "stdout" | "stderr", line: string) => void;
  /** Name the ranks see as ctx().runName / actionName. @default JOBSET_NAME, else "clustered" */
  runName?: string;
}

/** What one pod's launcher ends with: node 0 carries rank 0's return value. */
export type PodResult = { node: 0; output: unknown } | { node: number; output?: undefined };

/** Runs this pod's `nprocPerNode` ranks, restarting them as a group up to `runtime.maxRestarts` times. */
export async function runPod(o: PodRunOptions): Promise<PodResult> {
  const { task, cluster, placement: p } = o;
  if (!task.sourceFile) {
    throw new NonRecoverableError(`Task "${task.name}": cannot tell which file defines it, so its rank processes cannot import it.`, { code: "ClusteredTaskNotImportable" });
  }
  const runName = o.runName ?? p.jobSet ?? "clustered";
  const context = { ...rankContext(undefined, task.name), mode: "remote" as const, runName, actionName: runName, action: { name: runName, runName }, attempt: p.restartAttempt };
  const dir = mkdtempSync(join(tmpdir(), "flyte-clustered-pod-"));
  // FLYTE_LAUNCHER=torchrun (as locally): this pod is one torchrun agent, which restarts its own workers.
  const torchrun = (task.envVars?.FLYTE_LAUNCHER ?? process.env.FLYTE_LAUNCHER) === "torchrun";
  const maxRestarts = torchrun ? 0 : cluster.runtime.maxRestarts;
  const runId = `${p.jobSet ?? runName}-${p.restartAttempt}`;
  try {
    writeSpec(dir, { sourceFile: task.sourceFile, taskName: task.name, envName: cluster.name, inputs: o.inputs, context });
    for (let start = 0; ; start++) {
      const gdir = prepareGroupDir(dir, start);
      const group = new ProcessGroup((m, stream, line) => o.log(stream, `[${m.label}] ${line}`));
      const base: NodeJS.ProcessEnv = {
        ...process.env, [ENV_DIR]: dir, [ENV_GROUP]: String(start), [ENV_PARENT_PID]: String(process.pid),
        NNODES: String(p.nnodes), NPROC_PER_NODE: String(p.nprocPerNode), RDZV_BACKEND: cluster.runtime.rdzvBackend,
      };
      try {
        if (torchrun) {
          const args = torchrunArgs({
            replicas: p.nnodes, nprocPerNode: p.nprocPerNode, node: p.node, port: p.masterPort, backend: cluster.runtime.rdzvBackend,
            maxRestarts: cluster.runtime.maxRestarts, runId, logDir: join(gdir, "torchelastic"), masterAddr: p.masterAddr,
          });
          group.start(`node ${p.node}`, "torchrun", args, { ...base, NODE_RANK: String(p.node) }, { node: p.node });
        }
        for (let local = 0; !torchrun && local < p.nprocPerNode; local++) {
          const rank = p.node * p.nprocPerNode + local;
          const [cmd, args] = rankCommand();
          const env = {
            ...base,
            ...torchrunWorkerEnv({ rank, local, node: p.node, replicas: p.nnodes, nprocPerNode: p.nprocPerNode, port: p.masterPort, restart: start, maxRestarts, runId }),
            MASTER_ADDR: p.masterAddr,
          };
          group.start(`rank ${rank}`, cmd, args, env, { rank, node: p.node });
        }
        const outcome = await group.outcome;
        if (outcome.ok) {
          if (p.node !== 0) return { node: p.node };
          const out = readOutput(gdir);
          if (!out.found) throw new RuntimeUserError("ClusteredRankFailed", "[rank 0] exited successfully but left no output. This is a bug in flyte-ts's rank entry; please report it.");
          return { node: 0, output: out.value };
        }
        const failure: FlyteError = groupFailure(outcome.first, gdir, torchrun ? "torchrun" : "builtin");
        if (start >= maxRestarts) throw failure;
        o.log("stderr", `[clustered] ${failure.message.split("\n")[0]}; restarting this pod's ranks (restart ${start + 1} of ${maxRestarts}).`);
      } finally {
        await group.stop();
        killStrays(readRankPids(gdir), `${ENV_DIR}=${dir}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

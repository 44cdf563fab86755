/**
 * Local execution of a clustered task (API.md §14): `replicas × nprocPerNode` OS processes on this machine,
 * wired together exactly as torchrun wires the workers of a multi-node job, so `init_process_group("env://")`
 * (or any code reading RANK/WORLD_SIZE/MASTER_ADDR) runs unchanged before it is deployed.
 *
 * One attempt of the action = up to `(runtime.maxRestarts + 1) × (failurePolicy.maxRestarts + 1)` starts of
 * the whole group (in-node torchrun restarts inside JobSet restarts). A start succeeds when every rank exits 0;
 * the output is rank 0's return value. The first rank to fail stops the others and, once the restart budget is
 * spent, fails the attempt with its error prefixed `[rank N]`.
 */
import { AsyncResource } from "node:async_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionAbortedError, NonRecoverableError, RuntimeUserError, errorFromRecord, type FlyteError } from "../errors.ts";
import { currentActionScope } from "../internal/action-scope.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { TaskContext } from "../run/context.ts";
import type { ClusteredTaskEnvironment } from "./clustered-task-environment.ts";
import { pinnedMasterPort } from "./jobset.ts";
import { assignLocalGpus, looksLikePortInUse, pickMasterPort } from "./local-host.ts";
import { ProcessGroup, killStrays, type Member } from "./process-group.ts";
import {
  ENV_DIR, ENV_GROUP, ENV_PARENT_PID, prepareGroupDir, rankCommand, readOutput, readRankErrors, readRankPids, writeSpec, type RankContext,
} from "./rank-protocol.ts";
import { torchrunArgs, torchrunFailure } from "./torchrun.ts";

export type Launcher = "builtin" | "torchrun";

/** How many times an auto-picked port may turn out taken (another program won the race) before giving up. */
const PORT_RETRIES = 3;

function chooseLauncher(task: TaskTemplate): Launcher {
  const v = task.envVars?.FLYTE_LAUNCHER ?? process.env.FLYTE_LAUNCHER ?? "builtin";
  if (v === "builtin" || v === "torchrun") return v;
  throw new NonRecoverableError(`Task "${task.name}": FLYTE_LAUNCHER must be "builtin" or "torchrun", got ${JSON.stringify(v)}. Unset it to use the built-in launcher.`, {
    code: "ClusteredLauncherUnavailable",
  });
}

export function rankContext(parent: TaskContext | undefined, taskName: string): RankContext {
  if (!parent) {
    // Called outside a run (task(inputs) / forward): a context that says so.
    const now = new Date();
    return {
      action: { name: "local", runName: "local" }, actionName: "local", runName: "local", attempt: 0, version: "", rawDataPath: "", runBaseDir: "",
      mode: "local", customContext: {}, checkpoints: { previous: null, current: "" }, group: null, runStartTime: now, inputPath: "", outputPath: "",
      codeBundle: null, imageCache: {}, data: {},
    };
  }
  const c: RankContext = {
    action: { ...parent.action }, actionName: parent.actionName, runName: parent.runName, attempt: parent.attempt, version: parent.version,
    rawDataPath: parent.rawDataPath, runBaseDir: parent.runBaseDir, mode: parent.mode, customContext: { ...parent.customContext },
    checkpoints: { ...parent.checkpoints }, group: parent.group, runStartTime: parent.runStartTime, inputPath: parent.inputPath,
    outputPath: parent.outputPath, codeBundle: parent.codeBundle, imageCache: { ...parent.imageCache }, data: {},
  };
  try {
    // pre() may return values that cannot cross a process boundary; ranks then see {}.
    c.data = structuredClone({ ...parent.data });
  } catch {
    process.emitWarning(`Task "${taskName}": the data returned by pre() cannot be copied to the rank processes (structured clone failed); ranks see ctx().data = {}.`);
  }
  return c;
}

/** Runs `task` as a local process group and resolves to rank 0's return value. */
export async function launchLocal(task: TaskTemplate, cluster: ClusteredTaskEnvironment, inputs: unknown): Promise<unknown> {
  const parent = currentActionScope()?.context as TaskContext | undefined;
  const signal = parent?.signal;
  if (signal?.aborted) throw signal.reason;
  const launcher = chooseLauncher(task);
  const gpus = assignLocalGpus(task.name, task.resources, cluster.replicas);
  const pinned = pinnedMasterPort(task.envVars, `Task "${task.name}"`);
  if (!task.sourceFile) {
    throw new NonRecoverableError(
      `Task "${task.name}": cannot tell which file defines it, so its rank processes cannot import it. Declare clustered tasks at the top level of a module with env.task(...).`,
      { code: "ClusteredTaskNotImportable" },
    );
  }
  const { replicas, nprocPerNode, runtime, failurePolicy } = cluster;
  // torchrun restarts its own workers (--max_restarts); the built-in launcher emulates both levels itself.
  const inner = launcher === "torchrun" ? 0 : runtime.maxRestarts;
  const starts = (inner + 1) * (failurePolicy.maxRestarts + 1);
  const write = AsyncResource.bind((stream: "stdout" | "stderr", text: string) => void process[stream].write(text));
  const dir = mkdtempSync(join(tmpdir(), "flyte-clustered-"));
  const avoid = new Set<number>();
  let current: ProcessGroup | undefined;
  const onAbort = () => void current?.stop();
  signal?.addEventListener("abort", onAbort);
  try {
    writeSpec(dir, { sourceFile: task.sourceFile, taskName: task.name, envName: cluster.name, inputs, context: rankContext(parent, task.name) });
    let portRetries = 0;
    for (let k = 0, start = 0; ; start++) {
      const gdir = prepareGroupDir(dir, start);
      const { port, release } = await pickMasterPort(task.name, pinned, avoid);
      const group = new ProcessGroup((m, stream, line) => write(stream, `[${m.label}] ${line}\n`));
      current = group;
      const restart = { inner: k % (inner + 1), outer: Math.floor(k / (inner + 1)) };
      const base: NodeJS.ProcessEnv = {
        ...process.env, [ENV_DIR]: dir, [ENV_GROUP]: String(start), [ENV_PARENT_PID]: String(process.pid),
        NNODES: String(replicas), NPROC_PER_NODE: String(nprocPerNode), RDZV_BACKEND: runtime.rdzvBackend,
        JOBSET_RESTART_ATTEMPT: String(restart.outer), JOBSET_MAX_RESTARTS: String(failurePolicy.maxRestarts),
      };
      try {
        if (signal?.aborted) throw signal.reason;
        for (let node = 0; node < replicas; node++) {
          const nodeEnv: NodeJS.ProcessEnv = { ...base, NODE_RANK: String(node), ...(gpus ? { CUDA_VISIBLE_DEVICES: gpus[node] } : {}) };
          if (launcher === "torchrun") {
            const args = torchrunArgs({ replicas, nprocPerNode, node, port, backend: runtime.rdzvBackend, maxRestarts: runtime.maxRestarts, runId: `${task.taskName}-${start}`, logDir: join(gdir, `torchelastic-${node}`) });
            group.start(`node ${node}`, "torchrun", args, nodeEnv, { node });
            continue;
          }
          for (let local = 0; local < nprocPerNode; local++) {
            const rank = node * nprocPerNode + local;
            const [cmd, args] = rankCommand();
            group.start(`rank ${rank}`, cmd, args, { ...nodeEnv, ...torchrunWorkerEnv({ rank, local, node, replicas, nprocPerNode, port, restart: restart.inner, maxRestarts: inner, runId: `${task.taskName}-${start}` }) }, { rank, node });
          }
        }
        const outcome = await group.outcome;
        if (signal?.aborted) throw signal.reason;
        if (outcome.ok) {
          const out = readOutput(gdir);
          if (!out.found) throw new RuntimeUserError("ClusteredRankFailed", `[rank 0] exited successfully but left no output. This is a bug in flyte-ts's rank entry; please report it.`);
          return out.value;
        }
        const failure = groupFailure(outcome.first, gdir, launcher);
        if (pinned === undefined && looksLikePortInUse(`${failure.message}\n${outcome.first.stderrTail.join("\n")}`) && portRetries < PORT_RETRIES) {
          // Another program took the port between our check and the bind: not the task's fault, retry on another.
          portRetries++;
          avoid.add(port);
          write("stderr", `[clustered] MASTER_PORT ${port} was taken by another program; restarting the group on another port.\n`);
          continue;
        }
        if (++k >= starts) throw withRestarts(failure, k - 1);
        write("stderr", `[clustered] ${failure.message.split("\n")[0]}; restarting the process group (restart ${k} of ${starts - 1}).\n`);
      } finally {
        await group.stop();
        killStrays(readRankPids(gdir), `${ENV_DIR}=${dir}`);
        release();
      }
    }
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? new ActionAbortedError(`Task "${task.name}" was aborted.`);
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The variables torchrun's elastic agent gives each worker (`local_elastic_agent.py`), plus NODE_RANK. */
export function torchrunWorkerEnv(o: {
  rank: number; local: number; node: number; replicas: number; nprocPerNode: number; port: number; restart: number; maxRestarts: number; runId: string;
}): Record<string, string> {
  const world = o.replicas * o.nprocPerNode;
  const env: Record<string, string> = {
    RANK: String(o.rank), LOCAL_RANK: String(o.local), WORLD_SIZE: String(world), LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.node), GROUP_WORLD_SIZE: String(o.replicas), ROLE_RANK: String(o.rank), ROLE_WORLD_SIZE: String(world), ROLE_NAME: "default",
    NODE_RANK: String(o.node), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(o.port),
    TORCHELASTIC_RESTART_COUNT: String(o.restart), TORCHELASTIC_MAX_RESTARTS: String(o.maxRestarts), TORCHELASTIC_RUN_ID: o.runId,
    // No agent store exists here: rank 0's init_process_group must host the TCPStore itself.
    TORCHELASTIC_USE_AGENT_STORE: "False",
    TORCH_NCCL_ASYNC_ERROR_HANDLING: process.env.TORCH_NCCL_ASYNC_ERROR_HANDLING ?? "1",
  };
  // torchrun pins OpenMP to one thread per process when several share a node and the user set nothing.
  if (process.env.OMP_NUM_THREADS === undefined && o.nprocPerNode > 1) env.OMP_NUM_THREADS = "1";
  return env;
}

/**
 * The error of a failed group start: the earliest error a rank reported, unless the first process to exit
 * died before that without reporting (a crash or a kill), in which case that exit is the cause.
 */
export function groupFailure(first: Member, gdir: string, launcher: Launcher): FlyteError {
  const reported = readRankErrors(gdir)[0];
  const exit = first.exit!;
  if (reported && (launcher === "torchrun" || reported.time <= exit.time)) {
    const r = reported.error;
    const err = errorFromRecord({ ...r, message: `[rank ${reported.rank}] ${r.message}` });
    err.stack = `${err.name}: ${err.message}${r.stack ? `\n${r.stack.split("\n").filter((l) => /^\s+at /.test(l)).join("\n")}` : ""}`;
    return err;
  }
  if (launcher === "torchrun") return torchrunFailure(first);
  const tail = first.stderrTail.slice(-5).join("\n");
  const how = exit.signal
    ? `was killed by ${exit.signal}${exit.signal === "SIGKILL" ? " (out of memory, or killed from outside)" : ""}`
    : `exited with code ${exit.code} without reporting an error (process.exit in the task, or a crash)`;
  return new RuntimeUserError("ClusteredRankFailed", `[${first.label}] ${how}.${tail ? ` Last stderr lines:\n${tail}` : ""}`);
}

function withRestarts(e: FlyteError, restarts: number): FlyteError {
  if (restarts === 0) return e;
  const note = ` (the process group was restarted ${restarts} time${restarts === 1 ? "" : "s"} before giving up)`;
  const [first, ...rest] = e.message.split("\n");
  Object.defineProperty(e, "message", { value: [first + note, ...rest].join("\n"), enumerable: false, writable: true, configurable: true });
  return e;
}

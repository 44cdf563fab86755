/**
 * Entry point of one rank process of a local clustered run (started by `launcher.ts`, directly or through
 * torchrun). It imports the file that defines the task, calls the task's function directly (never as an
 * action) with `ctx()` carrying the rank, and reports through the files described in `rank-protocol.ts`:
 * rank 0 writes the return value, a failing rank writes its error and exits 1.
 */
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { listLoadedEnvironments } from "../authoring/environment.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { ActionAbortedError, ModuleLoadError, RuntimeUserError, ValidationError, errorToRecord } from "../errors.ts";
import { withActionScope, type ActionScope } from "../internal/action-scope.ts";
import { Report } from "../report/report.ts";
import {
  ENV_DIR, ENV_GROUP, ENV_PARENT_PID, groupDir, readSpec, writeOutput, writeRankError, writeRankPid, type RankSpec,
} from "./rank-protocol.ts";

const intEnv = (name: string): number => {
  const v = Number(process.env[name]);
  if (!Number.isInteger(v) || v < 0) {
    process.stderr.write(`flyte-ts rank entry: ${name}=${JSON.stringify(process.env[name])} is not a non-negative integer. This process is started by the clustered launcher; do not run it by hand.\n`);
    process.exit(2);
  }
  return v;
};

const dir = process.env[ENV_DIR];
if (!dir) {
  process.stderr.write(`flyte-ts rank entry: ${ENV_DIR} is not set. This process is started by the clustered launcher; do not run it by hand.\n`);
  process.exit(2);
}
const rank = intEnv("RANK");
const gdir = groupDir(dir, intEnv(ENV_GROUP));
writeRankPid(gdir, rank);

/** Leaves with the whole process group (what the task started) when possible, else alone. */
function die(code: number): never {
  try {
    process.kill(-process.pid, "SIGKILL");
  } catch {
    // Not a group leader (started by torchrun): only this process goes.
  }
  process.exit(code);
}

// The owner of the action went away without stopping us (killed with SIGKILL): do not outlive it.
const ownerPid = Number(process.env[ENV_PARENT_PID]);
if (Number.isInteger(ownerPid) && ownerPid > 0) {
  setInterval(() => {
    try {
      process.kill(ownerPid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") die(1);
    }
  }, 1000).unref();
}

const abort = new AbortController();
process.on("SIGTERM", () => {
  // Give the task a moment to see ctx().signal (e.g. to flush a checkpoint); the launcher SIGKILLs after its grace.
  abort.abort(new ActionAbortedError(`Rank ${rank} was stopped: another rank failed or the action was aborted.`));
  setTimeout(() => process.exit(143), 1000);
});

function findTask(spec: RankSpec): TaskTemplate {
  for (const env of listLoadedEnvironments().reverse()) {
    if (env.name !== spec.envName) continue;
    const task = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks?.get(spec.taskName);
    if (task) return task;
  }
  throw new ModuleLoadError(
    `Task "${spec.taskName}" was not found after importing ${spec.sourceFile} in rank ${rank}. Clustered tasks must be declared at the top level of that module (not inside a function or behind a condition).`,
  );
}

/** getSecret() inside a rank: the values the launcher's attempt exposed, read back from env vars and files. */
function secretsOf(task: TaskTemplate): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of task.secrets) {
    const id = s.group ? `${s.group}/${s.key}` : s.key;
    const fromEnv = s.asEnvVar ? process.env[s.asEnvVar] : undefined;
    if (fromEnv !== undefined) out.set(id, fromEnv);
    else if (s.mount && process.env.FLYTE_SECRETS_DIR) {
      try {
        out.set(id, readFileSync(join(process.env.FLYTE_SECRETS_DIR, s.group ?? "", s.key), "utf8"));
      } catch {
        // Missing file: getSecret() reports it as not requested.
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const spec = readSpec(dir!);
  await import(pathToFileURL(spec.sourceFile).href);
  const task = findTask(spec);
  const fn = (task as unknown as { fn?: (inputs: unknown) => unknown }).fn;
  if (typeof fn !== "function") throw new ModuleLoadError(`Task "${spec.taskName}" has no function to run in rank ${rank}.`);
  const report = new Report(spec.context.actionName);
  const context = {
    ...spec.context,
    report,
    signal: abort.signal,
    rank,
    localRank: intEnv("LOCAL_RANK"),
    worldSize: intEnv("WORLD_SIZE"),
    localWorldSize: intEnv("LOCAL_WORLD_SIZE"),
    nodeRank: intEnv("GROUP_RANK"),
    // Reports of ranks are not kept: the action's report belongs to the launcher.
    _reportHost: { report, enabled: false, flush: async () => undefined },
    _secrets: secretsOf(task),
    // No store here: trace() runs its function every time.
    _trace: { nextKey: (name: string) => name, lookup: async () => ({ found: false as const }), record: async () => undefined },
  };
  const scope: ActionScope = {
    submit: async (child) => {
      const name = (child as { name?: string }).name ?? "a task";
      throw new ValidationError(
        `Task "${spec.taskName}" (rank ${rank}) called task "${name}". Clustered tasks run as a group of rank processes and cannot start child actions; call ${name.split(".").pop()}.forward(...) to run it inline in this rank, or call it from a regular task before or after the clustered one.`,
        { code: "ClusteredNoSubtasks" },
      );
    },
    inTrace: false,
    group: spec.context.group,
    customContext: Object.freeze({ ...spec.context.customContext }),
    context,
  };
  const out = await withActionScope(scope, () => fn(spec.inputs));
  if (rank === 0) {
    try {
      writeOutput(gdir, out);
    } catch (e) {
      throw new RuntimeUserError(
        "ClusteredOutputNotSerializable",
        `The return value of rank 0 cannot be sent back to the launcher: ${(e as Error).message}. Return plain data (objects, arrays, numbers, strings, dates, typed arrays).`,
        { cause: e },
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    try {
      writeRankError(gdir, { rank, time: Date.now(), error: errorToRecord(e) });
    } finally {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    }
  },
);

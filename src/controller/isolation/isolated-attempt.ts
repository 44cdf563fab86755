/**
 * The owner's side of an isolated attempt (API.md §3 "Local enforcement"): the attempt's body runs in a process
 * of its own (process-pool.ts, attempt-entry.ts) while the attempt's record, timeouts, retries and the task calls
 * it makes stay here. The process's V8 heap is capped at 90% of `resources.memory` and its RSS watched against
 * the whole limit (resident pages not shared with other processes, sampled every 50 ms): exceeding either fails
 * the attempt with `OOMError`. When the attempt is aborted (maxRuntime,
 * deadline, run abort), its `ctx().signal` fires in the process; a process still running after the grace period
 * (`FLYTE_ISOLATION_GRACE_MS`, default 3000) is killed, so no work of an ended attempt goes on.
 */
import { readFile } from "node:fs/promises";
import { millicores, quantityBytes } from "../../authoring/resources.ts";
import { FunctionTaskTemplate } from "../../authoring/function-task-template.ts";
import type { TaskTemplate } from "../../authoring/task-template.ts";
import { NonRecoverableError, OOMError, RuntimeUserError, errorToRecord, errorFromRecord } from "../../errors.ts";
import { writeToSink } from "../log-capture.ts";
import type { RunState } from "../run-state.ts";
import type { Literal } from "../../types/literal.ts";
import { answerCall, isolationGraceMs, runMessage, showMiB, type IsolatedAttempt } from "./attempt-io.ts";
import { cpuSlots, takeAttemptProcess } from "./process-pool.ts";
import { runInPool } from "./reuse-pool.ts";
import type { ToChild, ToOwner } from "./protocol.ts";

export { isolationGraceMs, type IsolatedAttempt } from "./attempt-io.ts";

const MiB = 1024 * 1024;
/**
 * The smallest memory limit an isolated attempt may have: a Node process with the runtime and tsx loaded
 * already holds about 50 MiB of its own resident memory (plus ~45 MiB of shared code), and its heap needs room
 * to import the task's module.
 */
export const MIN_ISOLATED_MEMORY_MIB = 128;
/** How often the RSS of an isolated process is compared with its limit. */
const RSS_POLL_MS = 50;

/**
 * Whether `task`'s attempts run isolated in `run`: the run asked for it, the task is a plain function task
 * (plugins and clustered tasks manage their own execution) defined in a file, and its environment is not
 * reusable (those run in warm pools).
 */
export function isolationApplies(run: RunState, task: TaskTemplate): boolean {
  return run.options.isolation === "process" && typeof task.sourceFile === "string" &&
    Object.getPrototypeOf(task) === FunctionTaskTemplate.prototype;
}

/** The memory limit of an attempt in bytes (the limit of a range), or undefined. */
function memoryLimit(task: TaskTemplate): number | undefined {
  const m = task.resources?.memory;
  if (m === undefined) return undefined;
  return quantityBytes(typeof m === "string" ? m : m[1]);
}

/** Runs the attempt's body in a process of its own; resolves to the output literal. */
export async function runIsolated(a: IsolatedAttempt): Promise<Literal> {
  const { task, control } = a;
  const limit = memoryLimit(task);
  if (limit !== undefined && limit < MIN_ISOLATED_MEMORY_MIB * MiB) {
    throw new NonRecoverableError(
      `Task "${task.name}": resources.memory ${showMiB(limit)} is below the ${MIN_ISOLATED_MEMORY_MIB}Mi a Node process needs to start, so its isolated attempt cannot run. Request at least memory: "${MIN_ISOLATED_MEMORY_MIB}Mi".`,
      { code: "MemoryLimitTooLow" },
    );
  }
  const heapMb = limit === undefined ? 0 : Math.floor((limit * 0.9) / MiB);
  if (task.reusable) return runInPool(a, task.reusable, limit, heapMb);
  const cpu = task.resources?.cpu;
  const need = cpu === undefined ? 1000 : Math.max(1, Math.round(millicores(Array.isArray(cpu) ? cpu[0] : cpu)));
  const slots = cpuSlots();
  const held = await slots.acquire(need, control.signal).catch(() => {
    throw control.reason;
  });
  let holding = true;
  try {
    if (control.aborted) throw control.reason;
    const proc = await takeAttemptProcess(heapMb);
    return await drive(a, proc.child, limit, heapMb, {
      blocked: () => {
        if (holding) slots.release(held);
        holding = false;
      },
      resumed: () => {
        if (!holding) slots.reclaim(held);
        holding = true;
      },
    });
  } finally {
    if (holding) slots.release(held);
  }
}

type Outcome = { ok: true; lit: Literal } | { ok: false; err: ErrorRecord };
type ErrorRecord = ReturnType<typeof errorToRecord>;

function drive(a: IsolatedAttempt, child: import("node:child_process").ChildProcess, limit: number | undefined, heapMb: number,
  cpu: { blocked(): void; resumed(): void },
): Promise<Literal> {
  const { task, control, sink } = a;
  const pid = child.pid!;
  const stderrTail: string[] = [];
  let outcome: Outcome | undefined;
  let killedFor: "rss" | "grace" | undefined;
  let peakRss = 0;
  let calls = 0;
  const timers: NodeJS.Timeout[] = [];

  const send = (m: ToChild) => {
    if (child.connected) child.send(m, (e) => void e);
  };
  for (const stream of ["stdout", "stderr"] as const) {
    child[stream]?.setEncoding("utf8");
    child[stream]?.on("data", (text: string) => {
      writeToSink(sink, stream, text);
      if (stream === "stderr") {
        stderrTail.push(...text.split("\n"));
        if (stderrTail.length > 40) stderrTail.splice(0, stderrTail.length - 40);
      }
    });
  }

  if (limit !== undefined && process.platform === "linux") {
    const page = 4096;
    let reading = false;
    timers.push(setInterval(() => {
      if (reading) return;
      reading = true;
      readFile(`/proc/${pid}/statm`, "utf8").then((s) => {
        // Resident minus shared pages (the node binary and libraries, which every process maps): what this attempt holds.
        const f = s.split(" ");
        const rss = (Number(f[1]) - Number(f[2])) * page;
        peakRss = Math.max(peakRss, rss);
        if (rss > limit && !killedFor && !outcome) {
          killedFor = "rss";
          child.kill("SIGKILL");
        }
      }, () => undefined).finally(() => (reading = false));
    }, RSS_POLL_MS));
  }

  const onAbort = () => {
    send({ t: "abort", aid: 0, reason: errorToRecord(control.reason) });
    timers.push(setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) {
        killedFor ??= "grace";
        child.kill("SIGKILL");
      }
    }, isolationGraceMs()));
  };

  const onCall = async (m: Extract<ToOwner, { t: "call" }>) => {
    if (calls++ === 0) cpu.blocked();
    try {
      await answerCall(a, m, send);
    } finally {
      if (--calls === 0) cpu.resumed();
    }
  };

  return new Promise<Literal>((resolve, reject) => {
    child.on("message", (m: ToOwner) => {
      if (m.t === "call") void onCall(m);
      else if (m.t === "done") outcome = { ok: true, lit: m.lit };
      else if (m.t === "failed") outcome = { ok: false, err: m.err };
      if (outcome) {
        // The process exits right after reporting; one that lingers (a stuck exit handler) is killed.
        timers.push(setTimeout(() => child.kill("SIGKILL"), 2000));
      }
    });
    child.once("exit", (code, signal) => {
      timers.forEach((t) => clearTimeout(t));
      control.signal.removeEventListener("abort", onAbort);
      if (outcome?.ok && !control.aborted) return resolve(outcome.lit);
      if (control.aborted) return reject(control.reason);
      if (outcome && !outcome.ok) return reject(errorFromRecord(outcome.err));
      const tail = stderrTail.join("\n");
      if (killedFor === "rss") {
        return reject(new OOMError(
          `Task "${task.name}" attempt #${a.attempt} used more memory than its limit of ${showMiB(limit!)} (resident ${showMiB(peakRss)}) and was killed. Request more with resources.memory (e.g. task.override({ resources: new Resources({ memory: "${showMiB(limit! * 2)}" }) })).`,
        ));
      }
      if (/heap out of memory|Reached heap limit|Allocation failed - JavaScript heap/i.test(tail)) {
        return reject(new OOMError(
          heapMb > 0
            ? `Task "${task.name}" attempt #${a.attempt} ran out of JavaScript heap (${heapMb}Mi, 90% of its memory limit of ${showMiB(limit!)}). Request more with resources.memory (e.g. task.override({ resources: new Resources({ memory: "${showMiB(limit! * 2)}" }) })).`
            : `Task "${task.name}" attempt #${a.attempt} ran out of JavaScript heap (Node's default limit). Set resources.memory to raise it.`,
        ));
      }
      if (signal === "SIGKILL" && limit !== undefined) {
        return reject(new OOMError(`Task "${task.name}" attempt #${a.attempt} was killed (SIGKILL), most likely by the system for using too much memory (limit ${showMiB(limit)}).`));
      }
      const last = stderrTail.filter((l) => l.trim()).slice(-5).join("\n");
      reject(new RuntimeUserError(
        "IsolatedProcessExited",
        `Task "${task.name}" attempt #${a.attempt}: its process ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before the attempt ended (process.exit in the task, or a crash).${last ? ` Last stderr lines:\n${last}` : ""}`,
      ));
    });
    if (control.aborted) onAbort();
    else control.signal.addEventListener("abort", onAbort, { once: true });
    a.started();
    send(runMessage(a, 0, false));
  });
}


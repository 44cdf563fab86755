/**
 * Entry point of a process that runs attempts in isolation (started by process-pool.ts with `fork`). It loads
 * the runtime, says `ready`, waits for an attempt, imports the file that defines the task, finds the task by name,
 * runs its hooks and body with `ctx()` set, and reports the output literal (or the error). Task calls made by the
 * body go to the owner over IPC, where the run's controller executes them (see protocol.ts).
 *
 * A pre-started process runs exactly one attempt and exits, so module state never leaks from one attempt into the
 * next. A replica of a reusable environment's warm pool (reuse-pool.ts) runs attempts as they come, several at
 * once up to the policy's concurrency, and keeps its module state between them: that is the point of reuse.
 */
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { listLoadedEnvironments } from "../../authoring/environment.ts";
import { OVERRIDDEN, TaskTemplate } from "../../authoring/task-template.ts";
import { installLogCapture, type LogSink } from "../log-capture.ts";
import { ModuleLoadError, errorFromRecord, errorToRecord } from "../../errors.ts";
import { runInFrame } from "../../internal/async-frame.ts";
import { setLogEcho } from "../../internal/terminal-output.ts";
import type { ActionScope } from "../../internal/action-scope.ts";
import { jobOverrides } from "../../authoring/task-overrides.ts";
import { Report } from "../../report/report.ts";
import { fromLiteral, toLiteral, type Literal } from "../../types/literal.ts";
import type { AttemptSpec, ToChild, ToOwner } from "./protocol.ts";

if (!process.send) {
  process.stderr.write("flyte-ts attempt entry: no IPC channel. This process is started by the runtime to run isolated attempts; do not run it by hand.\n");
  process.exit(2);
}

const send = (m: ToOwner): Promise<void> =>
  new Promise((resolve) => {
    process.send!(m, undefined, undefined, () => resolve());
  });

// The owner went away (crashed, killed): attempts nobody awaits do not go on.
process.on("disconnect", () => process.exit(1));
// A task that blocks the event loop (a CPU loop) never sees "disconnect": a thread of this process watches the
// owner, and kills the process once the owner is gone (it was reparented), whatever the main thread is doing.
new Worker(
  `const { workerData } = require("node:worker_threads");
   setInterval(() => { if (process.ppid !== workerData.owner) process.kill(workerData.self, "SIGKILL"); }, 500);`,
  { eval: true, workerData: { owner: process.ppid, self: process.pid } },
).unref();

interface Running {
  abort: AbortController;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>;
  nextCall: number;
}
const attempts = new Map<number, Running>();

process.on("message", (m: ToChild) => {
  if (m.t === "run") {
    if (attempts.has(m.aid)) return;
    const r: Running = { abort: new AbortController(), pending: new Map(), nextCall: 0 };
    attempts.set(m.aid, r);
    void runAttempt(m.aid, r, m.spec, m.keep);
    return;
  }
  const r = attempts.get(m.aid);
  if (!r) return;
  if (m.t === "abort") {
    r.abort.abort(errorFromRecord(m.reason));
    return;
  }
  const p = r.pending.get(m.id);
  r.pending.delete(m.id);
  if (!p) return;
  if (m.t === "result") fromLiteral(m.lit).then(p.resolve, p.reject);
  else p.reject(errorFromRecord(m.err));
});

function findTask(name: string, mod: Record<string, unknown>): TaskTemplate {
  for (const env of listLoadedEnvironments().reverse()) {
    const t = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks?.get(name);
    if (t) return t;
  }
  for (const v of Object.values(mod)) if (v instanceof TaskTemplate && v.name === name) return v;
  throw new ModuleLoadError(`Task "${name}" was not found in its isolated process. Declare tasks at the top level of a module (not inside a function or behind a condition) so that importing the module defines them.`);
}

async function runAttempt(aid: number, r: Running, spec: AttemptSpec, keep: boolean): Promise<void> {
  /** A task call made by the body: the owner runs it as a child action of this attempt. */
  const callOwner = async (task: unknown, inputs: unknown, scope: ActionScope): Promise<unknown> => {
    if (!(task instanceof TaskTemplate)) throw new ModuleLoadError("An isolated attempt called something that is not a task.");
    const lit = await toLiteral(inputs ?? {}, { taskName: task.name, direction: "input" });
    const id = r.nextCall++;
    const result = new Promise<unknown>((resolve, reject) => r.pending.set(id, { resolve, reject }));
    await send({
      t: "call", aid, id, task: task.name, inputs: lit, group: scope.group, customContext: { ...scope.customContext },
      ...(OVERRIDDEN in task ? { overrides: jobOverrides(task) } : {}),
    });
    return result;
  };
  let msg: ToOwner;
  try {
    Object.assign(process.env, spec.env);
    const mod = (await import(pathToFileURL(spec.module).href)) as Record<string, unknown>;
    const task = findTask(spec.task, mod);
    const inputs = await fromLiteral(spec.inputs);
    const report = new Report(spec.context.actionName);
    const context = {
      ...spec.context,
      data: {} as Readonly<Record<string, unknown>>,
      report,
      signal: r.abort.signal,
      // Reports of isolated attempts are not kept yet; trace() runs its function every time (no store here).
      _reportHost: { report, enabled: false, flush: async () => undefined },
      _secrets: new Map(spec.secrets),
      _trace: { nextKey: (name: string) => name, lookup: async () => ({ found: false as const }), record: async () => undefined },
    };
    const scope: ActionScope = {
      submit: callOwner, inTrace: false, group: spec.context.group, customContext: Object.freeze({ ...spec.context.customContext }), context,
    };
    // A replica runs several attempts: each console line goes to its own attempt's log over IPC. A one-attempt
    // process's stdout and stderr are its attempt's log as they are (crash messages of V8 included).
    const sink: LogSink = { label: task.shortName, line: (stream, line) => void send({ t: "log", aid, stream, line }) };
    const lit = await runInFrame(keep ? { scope, sink } : { scope }, async (): Promise<Literal> => {
      context.data = Object.freeze(await task.pre(inputs));
      let out = await task.execute(inputs);
      out = await task.post(out);
      if (task.interface.output) out = await task.validateOutput(out);
      return toLiteral(out, { taskName: task.name, direction: "output" });
    });
    msg = { t: "done", aid, lit };
  } catch (e) {
    msg = { t: "failed", aid, err: errorToRecord(e) };
  }
  await send(msg);
  attempts.delete(aid);
  if (!keep) process.exit(0);
}

if (process.env.FLYTE_ISOLATION_REPLICA === "1") {
  setLogEcho(null);
  installLogCapture();
}

// The whole public API, loaded before `ready`: a user module's `import "flyte-ts"` then finds it loaded, so a
// pre-started process spends its attempt's time on the user's own module only.
await import("flyte-ts");
await send({ t: "ready" });

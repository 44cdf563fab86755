/**
 * Entry point of a process that runs one attempt in isolation (started by process-pool.ts with `fork`). It loads
 * the runtime, says `ready`, waits for its attempt, imports the file that defines the task, finds the task by name,
 * runs its hooks and body with `ctx()` set, and reports the output literal (or the error) before it exits. Task
 * calls made by the body go to the owner over IPC, where the run's controller executes them (see protocol.ts).
 * A process runs exactly one attempt; module state therefore never leaks from one attempt into the next.
 */
import { pathToFileURL } from "node:url";
import { listLoadedEnvironments } from "../authoring/environment.ts";
import { OVERRIDDEN, TaskTemplate } from "../authoring/task-template.ts";
import { ActionAbortedError, ModuleLoadError, errorFromRecord, errorToRecord } from "../errors.ts";
import { withActionScope, type ActionScope } from "../internal/action-scope.ts";
import { jobOverrides } from "../queue/queue-dispatcher.ts";
import { Report } from "../report/report.ts";
import { fromLiteral, toLiteral, type Literal } from "../types/literal.ts";
import type { AttemptSpec, ToChild, ToOwner } from "./protocol.ts";

if (!process.send) {
  process.stderr.write("flyte-ts attempt entry: no IPC channel. This process is started by the runtime to run one isolated attempt; do not run it by hand.\n");
  process.exit(2);
}

const send = (m: ToOwner): Promise<void> =>
  new Promise((resolve) => {
    process.send!(m, undefined, undefined, () => resolve());
  });

// The owner went away (crashed, killed): an attempt nobody awaits does not go on.
process.on("disconnect", () => process.exit(1));

const abort = new AbortController();
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
let nextCall = 0;
let started = false;

process.on("message", (m: ToChild) => {
  switch (m.t) {
    case "run":
      if (started) return;
      started = true;
      void runAttempt(m.spec);
      return;
    case "abort":
      abort.abort(errorFromRecord(m.reason));
      return;
    case "result": {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (p) fromLiteral(m.lit).then(p.resolve, p.reject);
      return;
    }
    case "error": {
      const p = pending.get(m.id);
      pending.delete(m.id);
      p?.reject(errorFromRecord(m.err));
      return;
    }
  }
});

function findTask(name: string, mod: Record<string, unknown>): TaskTemplate {
  for (const env of listLoadedEnvironments().reverse()) {
    const t = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks?.get(name);
    if (t) return t;
  }
  for (const v of Object.values(mod)) if (v instanceof TaskTemplate && v.name === name) return v;
  throw new ModuleLoadError(`Task "${name}" was not found in its isolated process. Declare tasks at the top level of a module (not inside a function or behind a condition) so that importing the module defines them.`);
}

/** A task call made by the body: the owner runs it as a child action of this attempt. */
async function callOwner(task: unknown, inputs: unknown, scope: ActionScope): Promise<unknown> {
  if (!(task instanceof TaskTemplate)) throw new ModuleLoadError("An isolated attempt called something that is not a task.");
  const lit = await toLiteral(inputs ?? {}, { taskName: task.name, direction: "input" });
  const id = nextCall++;
  const result = new Promise<unknown>((resolve, reject) => pending.set(id, { resolve, reject }));
  await send({
    t: "call", id, task: task.name, inputs: lit, group: scope.group, customContext: { ...scope.customContext },
    ...(OVERRIDDEN in task ? { overrides: jobOverrides(task) } : {}),
  });
  return result;
}

async function runAttempt(spec: AttemptSpec): Promise<void> {
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
      signal: abort.signal,
      // Reports of isolated attempts are not kept yet; trace() runs its function every time (no store here).
      _reportHost: { report, enabled: false, flush: async () => undefined },
      _secrets: new Map(spec.secrets),
      _trace: { nextKey: (name: string) => name, lookup: async () => ({ found: false as const }), record: async () => undefined },
    };
    const scope: ActionScope = {
      submit: callOwner, inTrace: false, group: spec.context.group, customContext: Object.freeze({ ...spec.context.customContext }), context,
    };
    const lit = await withActionScope(scope, async (): Promise<Literal> => {
      context.data = Object.freeze(await task.pre(inputs));
      let out = await task.execute(inputs);
      out = await task.post(out);
      if (task.interface.output) out = await task.validateOutput(out);
      return toLiteral(out, { taskName: task.name, direction: "output" });
    });
    msg = { t: "done", lit };
  } catch (e) {
    msg = { t: "failed", err: errorToRecord(abort.signal.aborted && !(e instanceof Error) ? new ActionAbortedError(String(e)) : e) };
  }
  await send(msg);
  process.exit(0);
}

// The whole public API, loaded before `ready`: a user module's `import "flyte-ts"` then finds it loaded, so a
// pre-started process spends its attempt's time on the user's own module only.
await import("../index.ts");
await send({ t: "ready" });

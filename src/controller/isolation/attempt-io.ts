/**
 * What the two ways of running an isolated attempt share (a process per attempt, isolated-attempt.ts; a warm
 * pool's replica, reuse-pool.ts): the attempt as the owner sees it, answering the task calls its body makes, and
 * the message that starts it.
 */
import { listLoadedEnvironments } from "../../authoring/environment.ts";
import type { TaskTemplate } from "../../authoring/task-template.ts";
import { ModuleLoadError, errorToRecord } from "../../errors.ts";
import type { AttemptControl } from "../attempt-control.ts";
import type { LogSink } from "../log-capture.ts";
import type { RunState } from "../run-state.ts";
import type { JobOverrides } from "../../authoring/task-overrides.ts";
import { withOverrides } from "../../authoring/task-overrides.ts";
import { fromLiteral, toLiteral, type Literal } from "../../types/literal.ts";
import type { ChildContext, ToChild, ToOwner } from "./protocol.ts";

const MiB = 1024 * 1024;

/** Milliseconds an aborted attempt's process has to settle before it is killed (`FLYTE_ISOLATION_GRACE_MS`). */
export function isolationGraceMs(): number {
  const v = Number(process.env.FLYTE_ISOLATION_GRACE_MS);
  return Number.isFinite(v) && v >= 0 && process.env.FLYTE_ISOLATION_GRACE_MS !== "" && process.env.FLYTE_ISOLATION_GRACE_MS !== undefined ? v : 3000;
}

export const showMiB = (bytes: number) => `${Math.round(bytes / MiB)}Mi`;


export interface IsolatedAttempt {
  run: RunState;
  task: TaskTemplate;
  attempt: number;
  context: ChildContext;
  control: AttemptControl;
  sink: LogSink;
  inputs: Literal;
  env: Record<string, string>;
  secrets: ReadonlyMap<string, string>;
  /** Called when the attempt is handed to its process: its maxRuntime counts from here. */
  started(): void;
  /** Runs a task call the body made, as a child of this attempt (in the attempt's frame). */
  call(task: TaskTemplate, inputs: unknown, group: string | null, customContext: Record<string, string>): Promise<unknown>;
}

/** Runs a task call an isolated body made and sends back how it ended. */
export async function answerCall(a: IsolatedAttempt, m: Extract<ToOwner, { t: "call" }>, send: (m: ToChild) => void): Promise<void> {
  try {
    const base = findTask(m.task);
    const t = m.overrides ? withOverrides(base, m.overrides as JobOverrides) : base;
    const inputs = await fromLiteral(m.inputs);
    const out = await a.call(t, inputs, m.group, m.customContext);
    send({ t: "result", aid: m.aid, id: m.id, lit: await toLiteral(out, { taskName: t.name, direction: "output" }) });
  } catch (e) {
    send({ t: "error", aid: m.aid, id: m.id, err: a.run.secretValues.redactRecord(errorToRecord(e)) });
  }
}

/** The message that starts an attempt. */
export function runMessage(a: IsolatedAttempt, aid: number, keep: boolean): ToChild {
  return { t: "run", aid, keep, spec: { module: a.task.sourceFile!, task: a.task.name, inputs: a.inputs, context: a.context, env: a.env, secrets: [...a.secrets] } };
}

/** A task the isolated body called, as this process loaded it (the same module, or the deployed bundle). */
function findTask(name: string): TaskTemplate {
  for (const env of listLoadedEnvironments().reverse()) {
    const t = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks?.get(name);
    if (t) return t;
  }
  throw new ModuleLoadError(`An isolated attempt called task "${name}", which this process has not loaded. Declare tasks at the top level of a module the calling task's module imports.`);
}

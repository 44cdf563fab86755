/**
 * Deployed triggers, as `flyte get triggers`, `flyte update trigger` and `flyte delete trigger` show and change
 * them: their schedule, whether they are active, their last fire (its run and the run's phase) and the next one.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkKeys, show, suggest } from "../internal/validate.ts";
import { getRuntime } from "../run/runtime.ts";
import type { ActionPhase, FireRow, TriggerRow } from "../store/store.ts";
import { automationOf, fireSchedule } from "./fire-times.ts";

export interface DeployedTrigger {
  /** The task FQN (`env.task`). */
  task: string;
  name: string;
  /** The task version its runs start. */
  version: string;
  /** `cron "0 * * * *"` or `every 5 min`. */
  schedule: string;
  timezone: string;
  active: boolean;
  /** When it last became active. */
  activatedAt?: Date;
  description: string;
  /** The last fire time recorded, with its run and the run's phase (absent while the run is not created). */
  lastFire?: { time: Date; run: string; state: "pending" | "created" | "failed"; phase?: ActionPhase; error?: string };
  /** The next fire time, while active. */
  nextFire?: Date;
}

type Scope = { project: string; domain: string };

function scopeOf(o: { project?: string; domain?: string }): Scope {
  const { config } = getRuntime();
  return { project: o.project ?? config.project, domain: o.domain ?? config.domain };
}

async function toDeployed(t: TriggerRow, last: FireRow | undefined, now: number): Promise<DeployedTrigger> {
  const a = automationOf(t.spec);
  const s = a ? fireSchedule(a, t.activatedAt ?? t.createdAt) : undefined;
  const d: DeployedTrigger = {
    task: t.taskName, name: t.name, version: t.version, schedule: s?.text ?? "unknown", timezone: s?.timezone ?? "UTC", active: t.active,
    description: typeof t.spec.description === "string" ? t.spec.description : "",
  };
  if (t.activatedAt !== null) d.activatedAt = new Date(t.activatedAt);
  if (last) {
    const run = last.state === "created" ? await getRuntime().store.getRun({ project: last.project, domain: last.domain, name: last.runName }) : undefined;
    d.lastFire = { time: new Date(last.fireTime), run: last.runName, state: last.state, ...(run ? { phase: run.phase } : {}), ...(last.error ? { error: last.error } : {}) };
  }
  if (t.active && s) {
    // After the later of now and the last fire, and never before activation.
    const next = s.next(Math.max(now, last?.fireTime ?? -Infinity, t.activatedAt ?? -Infinity));
    if (next !== undefined) d.nextFire = new Date(next);
  }
  return d;
}

/** Deployed triggers (of one task when `task` is given), by task and name. */
export async function listDeployedTriggers(o: { task?: string; project?: string; domain?: string } = {}): Promise<DeployedTrigger[]> {
  checkKeys(o, ["task", "project", "domain"], "listDeployedTriggers");
  const scope = scopeOf(o);
  const { store } = getRuntime();
  const rows = await store.listTriggers(scope, o.task !== undefined ? { task: o.task } : {});
  const last = new Map((await store.listFires(scope, { latest: true, ...(o.task !== undefined ? { task: o.task } : {}) })).map((f) => [`${f.taskName}/${f.triggerName}`, f]));
  const now = Date.now();
  return Promise.all(rows.map((t) => toDeployed(t, last.get(`${t.taskName}/${t.name}`), now)));
}

/** The trigger `name` of `task`, or a `ValidationError` naming the closest task or trigger names that exist. */
async function find(scope: Scope, task: string, name: string): Promise<TriggerRow> {
  const { store } = getRuntime();
  const all = await store.listTriggers(scope);
  const found = all.find((t) => t.taskName === task && t.name === name);
  if (found) return found;
  const tasks = [...new Set(all.map((t) => t.taskName))];
  if (!tasks.includes(task)) {
    const guess = suggest(task, tasks);
    throw new ValidationError(
      `No trigger is deployed on task ${show(task)} in ${scope.project}/${scope.domain}.${guess ? ` Did you mean ${show(guess)}?` : ""} ${tasks.length ? `Tasks with triggers: ${tasks.join(", ")}.` : "No task has triggers deployed: deploy some with flyte deploy <file.ts>."}`,
      { field: "task" },
    );
  }
  const names = all.filter((t) => t.taskName === task).map((t) => t.name);
  const guess = suggest(name, names);
  throw new ValidationError(
    `Task ${show(task)} has no trigger ${show(name)}.${guess ? ` Did you mean ${show(guess)}?` : ""} Its triggers: ${names.join(", ")}.`,
    { field: "name" },
  );
}

/** Activates or deactivates a deployed trigger (a redeploy keeps what this sets); returns it as it now is. */
export async function updateTrigger(task: string, name: string, o: { active: boolean; project?: string; domain?: string }): Promise<DeployedTrigger> {
  checkKeys(o, ["active", "project", "domain"], "updateTrigger");
  if (typeof o.active !== "boolean") throw new ValidationError(`updateTrigger: active must be true or false, got ${show(o.active)}.`, { field: "active" });
  const scope = scopeOf(o);
  await find(scope, task, name);
  const { store } = getRuntime();
  const now = Date.now();
  const row = await store.setTriggerActive(scope, task, name, o.active, now);
  if (!row) throw new ValidationError(`Trigger ${show(name)} of task ${show(task)} was deleted meanwhile.`, { field: "name" });
  const [last] = await store.listFires(scope, { task, trigger: name, limit: 1 });
  return toDeployed(row, last, now);
}

/** Removes a deployed trigger (until the task is deployed again with it). */
export async function deleteTrigger(task: string, name: string, o: { project?: string; domain?: string } = {}): Promise<void> {
  checkKeys(o, ["project", "domain"], "deleteTrigger");
  const scope = scopeOf(o);
  await find(scope, task, name);
  await getRuntime().store.deleteTrigger(scope, task, name);
}

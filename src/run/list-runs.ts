/**
 * `listRuns()`: the recorded runs of a project/domain, newest first, as summaries (`getRun(name)` gives a
 * handle on one).
 */
import { show } from "../internal/validate.ts";
import { ValidationError } from "../errors.ts";
import { ACTION_PHASES, type ActionPhase, type RunRow } from "../store/store.ts";
import { ensureRuntime } from "./runtime.ts";

export interface ListRunsOptions {
  /** How many runs at most (default 20). */
  limit?: number;
  /** Only runs in this phase. */
  phase?: ActionPhase;
  /** Only runs of tasks whose name contains this text. */
  task?: string;
  /** Only runs carrying this label. */
  label?: [key: string, value: string];
  /** Default: the configured project and domain. */
  project?: string;
  domain?: string;
}

/** What `listRuns()` reports about a run. */
export interface RunSummary {
  name: string;
  taskName: string;
  phase: ActionPhase;
  mode: "local" | "remote" | "hybrid";
  createdAt: Date;
  startedAt?: Date;
  endedAt?: Date;
  labels: Record<string, string>;
  /** The run this one recovered from. */
  recoverFrom?: string;
  /** The trigger whose fire started the run (`flyte serve`), and the scheduled fire time. */
  trigger?: RunTriggerInfo;
}

/** The trigger that started a run: its name, its task, and the scheduled fire time. */
export interface RunTriggerInfo {
  name: string;
  task: string;
  fireTime: Date;
}

/** What a run's options record of the trigger that started it. */
export function runTriggerOf(r: RunRow): RunTriggerInfo | undefined {
  const t = r.options.trigger as { name?: unknown; task?: unknown; fireTime?: unknown } | undefined;
  if (!t || typeof t.name !== "string" || typeof t.task !== "string" || typeof t.fireTime !== "string") return undefined;
  return { name: t.name, task: t.task, fireTime: new Date(t.fireTime) };
}

const summary = (r: RunRow): RunSummary => {
  const trigger = runTriggerOf(r);
  return {
    name: r.name, taskName: r.taskName, phase: r.phase, mode: r.mode, createdAt: new Date(r.createdAt),
    ...(r.startedAt !== null ? { startedAt: new Date(r.startedAt) } : {}), ...(r.endedAt !== null ? { endedAt: new Date(r.endedAt) } : {}),
    labels: { ...r.labels }, ...(r.recoverFrom ? { recoverFrom: r.recoverFrom } : {}), ...(trigger ? { trigger } : {}),
  };
};

/** Recorded runs, newest first. */
export async function listRuns(o: ListRunsOptions = {}): Promise<RunSummary[]> {
  const limit = o.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1) throw new ValidationError(`listRuns: limit must be a whole number >= 1, got ${show(limit)}.`, { field: "limit" });
  if (o.phase !== undefined && !ACTION_PHASES.includes(o.phase)) {
    throw new ValidationError(`listRuns: phase must be one of ${ACTION_PHASES.join(", ")}, got ${show(o.phase)}.`, { field: "phase" });
  }
  if (o.label !== undefined && (!Array.isArray(o.label) || o.label.length !== 2 || o.label.some((x) => typeof x !== "string"))) {
    throw new ValidationError(`listRuns: label must be a [key, value] pair of strings, got ${show(o.label)}.`, { field: "label" });
  }
  const rt = await ensureRuntime();
  const rows = await rt.store.listRuns({ project: o.project ?? rt.config.project, domain: o.domain ?? rt.config.domain }, {
    limit, ...(o.phase ? { phase: o.phase } : {}), ...(o.task ? { task: o.task } : {}), ...(o.label ? { label: o.label } : {}),
  });
  return rows.map(summary);
}

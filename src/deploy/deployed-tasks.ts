/**
 * Reading what `deploy()` registered: the deployed tasks with their versions (what `flyte get tasks` shows).
 * @module
 */
import { ValidationError } from "../errors.ts";
import { checkKeys, show } from "../internal/validate.ts";
import { getRuntime } from "../run/runtime.ts";
import type { TaskSpecRow } from "../store/store.ts";
import type { TaskSpec } from "./task-spec.ts";

export interface DeployedTask {
  /** Task FQN (`env.task`). */
  name: string;
  version: string;
  environment: string;
  image: string;
  /** When this version was first deployed. */
  createdAt: Date;
  /** When it last became the task's latest version. */
  deployedAt: Date;
  spec: TaskSpec;
}

export interface ListDeployedTasksOptions {
  /** A task FQN: every version of that task, latest first. Without it: the latest version of every task, by name. */
  name?: string;
  /** @default no limit */
  limit?: number;
  /** @default the configured project */
  project?: string;
  /** @default the configured domain */
  domain?: string;
}

const fromRow = (r: TaskSpecRow): DeployedTask => ({
  name: r.name, version: r.version, environment: r.environment, image: String(r.spec.image ?? ""),
  createdAt: new Date(r.createdAt), deployedAt: new Date(r.deployedAt), spec: r.spec as unknown as TaskSpec,
});

/** Deployed tasks in the configured project/domain (see `ListDeployedTasksOptions`). */
export async function listDeployedTasks(o: ListDeployedTasksOptions = {}): Promise<DeployedTask[]> {
  checkKeys(o, ["name", "limit", "project", "domain"], "listDeployedTasks");
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 1)) {
    throw new ValidationError(`listDeployedTasks: limit must be a whole number >= 1, got ${show(o.limit)}.`, { field: "limit" });
  }
  const { config, store } = getRuntime();
  const scope = { project: o.project ?? config.project, domain: o.domain ?? config.domain };
  const rows = await store.listTasks(scope, { ...(o.name !== undefined ? { name: o.name } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) });
  return rows.map(fromRow);
}

/** One deployed task: at `version`, or its latest version; undefined when it was never deployed (at that version). */
export async function getDeployedTask(name: string, o: { version?: string; project?: string; domain?: string } = {}): Promise<DeployedTask | undefined> {
  checkKeys(o, ["version", "project", "domain"], "getDeployedTask");
  const { config, store } = getRuntime();
  const r = await store.getTask({ project: o.project ?? config.project, domain: o.domain ?? config.domain }, name, o.version);
  return r ? fromRow(r) : undefined;
}

/**
 * `run()`, `withRunContext()` and `getRun()`: start a run of a task and get handles on recorded runs.
 */
import { randomBytes } from "node:crypto";
import { TaskTemplate } from "../authoring/task-template.ts";
import { checkKeys, show, validateRunName, validateStringRecord } from "../internal/validate.ts";
import type { RunOptionsResolved, RunTrigger } from "../controller/controller.ts";
import { RunNotFoundError, ValidationError } from "../errors.ts";
import { Run } from "./run-handle.ts";
import { ensureRuntime, getRuntime } from "./runtime.ts";
import type { RunKey } from "../store/store.ts";
import { decodeStoredValue as decodeValue } from "./stored-value.ts";
import { version as packageVersion } from "../version.ts";

export interface RunContextOptions {
  mode?: "local" | "remote" | "hybrid";
  name?: string;
  project?: string;
  domain?: string;
  version?: string;
  overwriteCache?: boolean;
  disableRunCache?: boolean;
  envVars?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  interruptible?: boolean;
  queue?: string;
  rawDataPath?: string;
  runBaseDir?: string;
  maxActionConcurrency?: number;
  customContext?: Record<string, string>;
  serviceAccount?: string;
  dryRun?: boolean;
  copyStyle?: "loaded_modules" | "all" | "none";
  logLevel?: "debug" | "info" | "warn" | "error";
  cacheLookupScope?: "global" | "project-domain";
  recoverFrom?: string;
  forceRerunActions?: string[];
  /**
   * What this run's records survive: `full` (power loss: each group commit is fsynced before a parent sees a
   * child's result) or `process` (the process being killed). Default: config `execution.durability` (`full`).
   */
  durability?: "full" | "process";
  /**
   * `"process"`: each attempt runs in a fresh child process, with `resources.memory` enforced (`OOMError`) and
   * `maxRuntime` ending a task that ignores its signal (API.md §3). Default `"none"` (attempts run in this process).
   */
  isolation?: "none" | "process";
}

const KEYS = [
  "mode", "name", "project", "domain", "version", "overwriteCache", "disableRunCache", "envVars", "labels", "annotations",
  "interruptible", "queue", "rawDataPath", "runBaseDir", "maxActionConcurrency", "customContext", "serviceAccount", "dryRun",
  "copyStyle", "logLevel", "cacheLookupScope", "recoverFrom", "forceRerunActions", "durability",
  "isolation",
] as const;

/** `r` + 19 lowercase base36 characters. */
export function generateRunName(): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  const bytes = randomBytes(19);
  return `r${Array.from(bytes, (b) => alphabet[b % 36]).join("")}`;
}

function resolveRunOptions(o: RunContextOptions): RunOptionsResolved {
  checkKeys(o, KEYS, "withRunContext");
  const rt = getRuntime();
  const mode = o.mode ?? rt.config.mode;
  if (mode === "hybrid" && (!o.name || !o.runBaseDir)) {
    throw new ValidationError('withRunContext: mode "hybrid" requires both name and runBaseDir. Pass { mode: "hybrid", name: "...", runBaseDir: "..." }.');
  }
  if (mode !== "local" && rt.config.backend !== "cluster") {
    throw new ValidationError(`withRunContext: mode ${show(mode)} runs actions on workers, which needs backend: cluster (PostgreSQL, flyte worker). Use mode: "local", or configure the cluster backend (flyte gen config --backend cluster).`, { field: "mode" });
  }
  if (o.copyStyle === "none" && !o.version) {
    throw new ValidationError('withRunContext: copyStyle "none" requires an explicit version. Pass { copyStyle: "none", version: "v1" }.', { field: "version" });
  }
  const mac = o.maxActionConcurrency ?? rt.config.maxActionConcurrency;
  if (!Number.isInteger(mac) || mac < 0 || mac === 1) {
    throw new ValidationError(`withRunContext: maxActionConcurrency must be 0 (no limit) or an integer >= 2, got ${show(mac)}. A limit of 1 would deadlock a parent waiting for its children.`, {
      field: "maxActionConcurrency",
    });
  }
  if (o.cacheLookupScope !== undefined && !["global", "project-domain"].includes(o.cacheLookupScope)) {
    throw new ValidationError(`withRunContext: cacheLookupScope must be "global" or "project-domain", got ${show(o.cacheLookupScope)}.`);
  }
  if (o.durability !== undefined && o.durability !== "full" && o.durability !== "process") {
    throw new ValidationError(`withRunContext: durability must be "full" (survives power loss) or "process" (survives the process being killed), got ${show(o.durability)}.`, { field: "durability" });
  }
  if (o.isolation !== undefined && o.isolation !== "none" && o.isolation !== "process") {
    throw new ValidationError(`withRunContext: isolation must be "none" (attempts run in this process) or "process" (each attempt in a fresh child process), got ${show(o.isolation)}.`, { field: "isolation" });
  }
  const r: RunOptionsResolved = {
    name: o.name === undefined ? generateRunName() : validateRunName(o.name),
    project: o.project ?? rt.config.project,
    domain: o.domain ?? rt.config.domain,
    mode,
    overwriteCache: o.overwriteCache ?? false,
    disableRunCache: o.disableRunCache ?? false,
    envVars: { ...(validateStringRecord(o.envVars, "withRunContext", "envVars") ?? {}) },
    labels: { ...(validateStringRecord(o.labels, "withRunContext", "labels") ?? {}) },
    annotations: { ...(validateStringRecord(o.annotations, "withRunContext", "annotations") ?? {}) },
    maxActionConcurrency: mac,
    customContext: { ...(validateStringRecord(o.customContext, "withRunContext", "customContext") ?? {}) },
    forceRerunActions: [...(o.forceRerunActions ?? [])],
    // Remote and hybrid runs without a version run the latest deployed one (the controller looks it up).
    version: o.version ?? (mode === "local" ? packageVersion : ""),
    durability: o.durability ?? rt.config.durability,
  };
  if (o.forceRerunActions && !o.recoverFrom) {
    throw new ValidationError("withRunContext: forceRerunActions only applies together with recoverFrom.", { field: "forceRerunActions" });
  }
  if (o.interruptible !== undefined) r.interruptible = o.interruptible;
  if (o.queue !== undefined) r.queue = o.queue;
  if (o.rawDataPath !== undefined) r.rawDataPath = o.rawDataPath;
  if (o.recoverFrom !== undefined) r.recoverFrom = o.recoverFrom;
  if (o.isolation === "process") r.isolation = "process";
  return r;
}

async function startRun<I, O>(task: TaskTemplate<I, O>, inputs: I | undefined, o: RunContextOptions, trigger?: RunTrigger): Promise<Run<O>> {
  if (!(task instanceof TaskTemplate)) {
    throw new ValidationError(`run: expected a task (made with env.task), got ${show(task)}.`);
  }
  await ensureRuntime();
  const resolved = resolveRunOptions(o);
  if (task.sourceFile) resolved.sourceFile = task.sourceFile;
  if (trigger) resolved.trigger = trigger;
  const rt = getRuntime();
  let runInputs: unknown = inputs;
  if (inputs === undefined && o.recoverFrom) {
    const found = await recoveredInputs({ project: resolved.project, domain: resolved.domain, name: o.recoverFrom });
    if (!found) {
      throw new ValidationError(
        `recoverFrom: run "${o.recoverFrom}" stopped before it recorded its inputs, so nothing of it can be reused. Start it again with its inputs (flyte run <file> ${task.taskName} ...), or pass the inputs to recover it with.`,
        { field: "recoverFrom" },
      );
    }
    runInputs = found.inputs;
  }
  const key = { project: resolved.project, domain: resolved.domain, name: resolved.name };
  if (o.dryRun) return new Run<O>(key, resolved.mode);
  await rt.controller.startRun(task, runInputs, resolved);
  return new Run<O>(key, resolved.mode);
}

/**
 * Recovering without inputs reuses the inputs of the run being recovered; a run killed before it recorded them
 * (in its first event-loop turn) has the inputs of the run it recovered from, so the chain is followed.
 */
async function recoveredInputs(source: RunKey): Promise<{ inputs: unknown } | undefined> {
  const store = getRuntime().store;
  const seen = new Set<string>();
  for (let row = await store.getRun(source); row && !seen.has(row.name); ) {
    if (row.inputs) return { inputs: await decodeValue(row.inputs) };
    seen.add(row.name);
    row = row.recoverFrom ? await store.getRun({ ...source, name: row.recoverFrom }) : undefined;
  }
  // An unknown run is reported by the controller, with the other recoverFrom checks.
  return seen.size === 0 ? { inputs: undefined } : undefined;
}

/** Starts a run of `task`; resolves once the run is recorded (execution continues in this process). */
export function run<I, O>(task: TaskTemplate<I, O>, inputs?: I): Promise<Run<O>> {
  return startRun(task, inputs, {});
}

/** `run()` with run-level options (name, cache behaviour, env vars, recovery ...). */
export function withRunContext(o: RunContextOptions = {}): { run<I, O>(task: TaskTemplate<I, O>, inputs?: I): Promise<Run<O>> } {
  return { run: (task, inputs) => startRun(task, inputs, o) };
}

/** @internal A run started by a trigger's fire (`flyte serve`): `withRunContext(o).run()` that records the trigger on the run. */
export function startTriggeredRun(task: TaskTemplate, inputs: unknown, o: RunContextOptions, trigger: RunTrigger): Promise<Run> {
  return startRun(task, inputs, o, trigger);
}

/** A handle on a recorded run. */
export async function getRun(name: string, o: { project?: string; domain?: string } = {}): Promise<Run> {
  const rt = await ensureRuntime();
  const key = { project: o.project ?? rt.config.project, domain: o.domain ?? rt.config.domain, name };
  const row = await rt.store.getRun(key);
  if (!row) {
    throw new RunNotFoundError(`Run "${name}" was not found in ${key.project}/${key.domain} (${rt.store.location}). List runs with: flyte get runs`);
  }
  return new Run(key, row.mode);
}

/**
 * How `flyte serve` creates the run of a fire: the task of the trigger at the version the fire names, loaded from
 * its deployment's code bundle (or from the code this process loaded, `flyte serve <file.ts>`), with the trigger's
 * inputs (`TriggerTime` bound to the scheduled fire time, not the time it was noticed) and run settings (env vars,
 * labels, annotations, custom context, overwriteCache, interruptible, queue, maxActionConcurrency). On the embedded
 * backend the run executes in the serving process (`local`); on the cluster backend it is queued for workers
 * (`remote`), as `flyte run --remote` does.
 * @module
 */
import { join } from "node:path";
import { listLoadedEnvironments } from "../authoring/environment.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { ModuleLoadError } from "../errors.ts";
import type { RunContextOptions } from "../run/run.ts";
import { startTriggeredRun } from "../run/run.ts";
import { getRuntime } from "../run/runtime.ts";
import type { FireRow } from "../store/store.ts";
import { deployedCode } from "../worker/deployed-code.ts";
import type { Launch } from "./scheduler.ts";

export interface LauncherOptions {
  /** `local`: the run executes in this process (embedded backend); `remote`: queued for workers (cluster backend). */
  mode: "local" | "remote";
  /** Task code from deployments (default), or from the environments this process loaded. @default "deployed" */
  code?: "deployed" | "loaded";
}

/** A trigger's inputs as its spec records them, with `TriggerTime` replaced by the fire time. */
export function triggerInputs(spec: Record<string, unknown>, fireTime: number): Record<string, unknown> {
  const inputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((spec.inputs as Record<string, unknown> | undefined) ?? {})) {
    const sentinel = v !== null && typeof v === "object" && (v as { $flyte?: unknown }).$flyte === "TriggerTime";
    inputs[k] = sentinel ? new Date(fireTime) : v;
  }
  return inputs;
}

const record = (v: unknown): Record<string, string> | undefined => (v && typeof v === "object" ? (v as Record<string, string>) : undefined);

/** The run options a trigger's spec asks for, for the run of `fire`. */
export function triggerRunOptions(spec: Record<string, unknown>, fire: FireRow, mode: "local" | "remote"): RunContextOptions {
  const o: RunContextOptions = { mode, name: fire.runName, project: fire.project, domain: fire.domain, version: fire.version };
  if (record(spec.envVars)) o.envVars = record(spec.envVars)!;
  if (record(spec.labels)) o.labels = record(spec.labels)!;
  if (record(spec.annotations)) o.annotations = record(spec.annotations)!;
  if (record(spec.customContext)) o.customContext = record(spec.customContext)!;
  if (typeof spec.overwriteCache === "boolean") o.overwriteCache = spec.overwriteCache;
  if (typeof spec.interruptible === "boolean") o.interruptible = spec.interruptible;
  if (typeof spec.queue === "string") o.queue = spec.queue;
  if (typeof spec.maxActionConcurrency === "number") o.maxActionConcurrency = spec.maxActionConcurrency;
  return o;
}

function loadedTask(fqn: string): TaskTemplate {
  for (const env of listLoadedEnvironments()) {
    const t = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks?.get(fqn);
    if (t) return t;
  }
  throw new ModuleLoadError(`The loaded code defines no task "${fqn}": serve from the file that defines it (flyte serve <file.ts>), or without a file to use the deployed code.`);
}

/** The launch `flyte serve` gives its scheduler (see the module comment). */
export function triggerLauncher(o: LauncherOptions): Launch {
  const rt = getRuntime();
  const resolve = o.code === "loaded"
    ? (fqn: string) => Promise.resolve(loadedTask(fqn))
    : deployedCode({ store: rt.store, blobStore: rt.blobStore, project: rt.config.project, domain: rt.config.domain, cacheDir: join(rt.config.stateDir, "bundles") });
  return async (fire, trigger) => {
    const task = await resolve(fire.taskName, fire.version);
    await startTriggeredRun(task, triggerInputs(trigger.spec, fire.fireTime), triggerRunOptions(trigger.spec, fire, o.mode), {
      name: trigger.name, task: trigger.taskName, fireTime: new Date(fire.fireTime).toISOString(),
    });
  };
}

/**
 * What `task.override()` at a call site changed, in a form that crosses a process boundary (a queue job, an
 * isolated attempt's IPC), and the task rebuilt from it on the other side, where the task is loaded as declared.
 */
import { Device, Resources, resourcesRecord, type DeviceOptions, type ResourcesOptions } from "./resources.ts";
import { Backoff, RetryStrategy } from "./retry-strategy.ts";
import { Timeout } from "./timeout.ts";
import type { TaskTemplate } from "./task-template.ts";
import { Secret, type SecretOptions } from "../secrets/secret.ts";

/** The options of an overridden task that a worker applies to the task as its module declares it. */
export interface JobOverrides {
  shortName: string;
  retries: { count: number; backoff?: { base: number; factor: number; cap?: number } };
  timeout: { maxRuntime?: number; maxQueuedTime?: number; deadline?: number };
  envVars?: Record<string, string>;
  /** The secrets the attempt resolves (a task that is not reusable: the call site's list, or the declared one). */
  secrets?: { key: string; group?: string; mount?: string; asEnvVar?: string }[];
  /** The compute resources the call site asked for (`Resources` options; a `gpu` Device as its options). */
  resources?: Record<string, unknown>;
}

/**
 * What an overridden task's attempts depend on, for the worker (which loads the task as declared) to apply. A
 * reusable task's env vars, secrets and resources belong to its environment and are not carried.
 */
export function jobOverrides(task: TaskTemplate): JobOverrides {
  const { backoff } = task.retries;
  return {
    shortName: task.shortName,
    retries: { count: task.retries.count, ...(backoff ? { backoff: { base: backoff.base, factor: backoff.factor, ...(backoff.cap !== undefined ? { cap: backoff.cap } : {}) } } : {}) },
    timeout: {
      ...(task.timeout.maxRuntime !== undefined ? { maxRuntime: task.timeout.maxRuntime } : {}),
      ...(task.timeout.maxQueuedTime !== undefined ? { maxQueuedTime: task.timeout.maxQueuedTime } : {}),
      ...(task.timeout.deadline !== undefined ? { deadline: task.timeout.deadline } : {}),
    },
    ...(task.envVars && (task.reusable === undefined) ? { envVars: { ...task.envVars } } : {}),
    ...(task.reusable === undefined && task.secrets.length > 0 ? { secrets: task.secrets.map((x) => ({ ...x })) } : {}),
    ...(task.reusable === undefined && task.resources ? { resources: resourcesRecord(task.resources) } : {}),
  };
}

/** The task as its caller overrode it (see `JobOverrides`). */
export function withOverrides(task: TaskTemplate, o: JobOverrides | undefined): TaskTemplate {
  if (!o) return task;
  const { backoff } = o.retries;
  return task.override({
    shortName: o.shortName,
    retries: new RetryStrategy({ count: o.retries.count, ...(backoff ? { backoff: new Backoff(backoff) } : {}) }),
    timeout: new Timeout(o.timeout),
    // Carried only for a call site whose task is not reusable: its env vars, secrets and resources are its own
    // even where the declared task is reusable (the call site said reusable: "off").
    ...(o.envVars || o.secrets || o.resources ? { reusable: "off" as const } : {}),
    ...(o.envVars ? { envVars: o.envVars } : {}),
    ...(o.secrets ? { secrets: o.secrets.map((x) => new Secret(x as SecretOptions)) } : {}),
    ...(o.resources ? { resources: resourcesOf(o.resources) } : {}),
  });
}

/** `Resources` from the options a job carries (see `JobOverrides.resources`). */
function resourcesOf(o: Record<string, unknown>): Resources {
  const gpu = o.gpu;
  return new Resources({ ...o, ...(gpu && typeof gpu === "object" ? { gpu: new Device(gpu as DeviceOptions) } : {}) } as ResourcesOptions);
}

/**
 * Task specs: what a deployment registers for each task (← flyte-sdk `TaskSpec` / `translate_task_to_wire`), as
 * plain JSON: everything a worker needs to run the task without the author's process (where the code is, the
 * image, the interface schema, cache, retries, timeouts, resources, env vars, secrets, queue, reuse) and what the
 * scheduler needs of its triggers.
 * @module
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import { Cron, FixedRate, TriggerTime, type Trigger } from "../authoring/trigger.ts";
import { cacheVersion, interfaceHash, interfaceSchemas } from "../controller/cache-key.ts";

export interface TaskSpec {
  /** FQN `env.task`. */
  name: string;
  taskName: string;
  shortName: string;
  environment: string;
  taskType: string;
  taskTypeVersion: number;
  /** Image URI the task runs in. */
  image: string;
  /** The file that declares the task, relative to the project root (what a worker imports from the bundle); null when unknown. */
  module: string | null;
  /** JSON schemas of the inputs and output (from `inputs`/`output`, or from the TypeScript signature when `flyte deploy` could read it). */
  interface: { inputs?: object; output?: object } | null;
  interfaceHash: string;
  cache: { behavior: string; version: string; serialize: boolean; ignoredInputs: string[]; salt: string };
  retries: { count: number; backoff?: Record<string, unknown> };
  timeout: Record<string, unknown>;
  resources: Record<string, unknown> | null;
  envVars: Record<string, string>;
  secrets: Record<string, unknown>[];
  interruptible: boolean;
  queue: string | null;
  reusable: Record<string, unknown> | null;
  podTemplate: unknown;
  report: boolean;
  maxInlineIoBytes: number;
  entrypoint: boolean;
  description: string;
  links: unknown[];
  pluginConfig: unknown;
  /** Names of the task's triggers (their specs are registered beside it). */
  triggers: string[];
}

/** A value class (or any value) as JSON: own enumerable fields, dates as ISO strings, functions dropped. */
export function plain(v: unknown, seen = new Set<object>()): unknown {
  if (v === TriggerTime) return { $flyte: "TriggerTime" };
  if (v === null || v === undefined) return v ?? null;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "function" || typeof v === "symbol") return undefined;
  if (typeof v !== "object") return v;
  if (v instanceof Date) return v.toISOString();
  if (seen.has(v)) return undefined;
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => plain(x, seen) ?? null);
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x, seen)]));
    if (v instanceof Set) return [...v].map((x) => plain(x, seen));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = plain(x, seen);
      if (p !== undefined) out[k] = p;
    }
    return out;
  } finally {
    seen.delete(v);
  }
}

const obj = (v: unknown) => plain(v) as Record<string, unknown>;

/** The spec of `task`, running in `image`, declared in `module` (relative to the project root). */
export function taskSpec(task: TaskTemplate, image: string, module: string | null): TaskSpec {
  const { count, backoff } = task.retries;
  return {
    name: task.name,
    taskName: task.taskName,
    shortName: task.shortName,
    environment: task.env?.name ?? "",
    taskType: task.taskType,
    taskTypeVersion: task.taskTypeVersion,
    image,
    module,
    interface: interfaceSchemas(task),
    interfaceHash: interfaceHash(task),
    cache: {
      behavior: task.cache.behavior, version: cacheVersion(task), serialize: task.cache.serialize,
      ignoredInputs: [...task.cache.ignoredInputs], salt: task.cache.salt,
    },
    retries: { count, ...(backoff ? { backoff: obj(backoff) } : {}) },
    timeout: obj(task.timeout),
    resources: task.resources ? obj(task.resources) : null,
    envVars: { ...task.envVars },
    secrets: task.secrets.map(obj),
    interruptible: task.interruptible,
    queue: task.queue ?? null,
    reusable: task.reusable ? obj(task.reusable) : null,
    podTemplate: plain(task.podTemplate) ?? null,
    report: task.report,
    maxInlineIoBytes: task.maxInlineIoBytes,
    entrypoint: task.entrypoint,
    description: task.docs.description ?? "",
    links: plain(task.links) as unknown[],
    pluginConfig: plain(task.pluginConfig) ?? null,
    triggers: task.triggers.map((t) => t.name),
  };
}

/** The spec of a trigger attached to a task (API.md §9): its schedule and the run settings of the runs it starts. */
export function triggerSpec(t: Trigger): Record<string, unknown> {
  const automation = t.automation instanceof Cron
    ? { cron: t.automation.expression, timezone: t.automation.timezone }
    : t.automation instanceof FixedRate
      ? { intervalMinutes: t.automation.intervalMinutes, ...(t.automation.startTime ? { startTime: t.automation.startTime.toISOString() } : {}) }
      : obj(t.automation);
  return obj({ ...t, automation, inputs: plain(t.inputs) });
}

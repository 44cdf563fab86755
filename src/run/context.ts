/**
 * `ctx()`, custom context and `getSecret()`: what a running task can ask about itself. The context is
 * carried with AsyncLocalStorage (see `internal/action-scope.ts`), so it survives `await`,
 * `Promise.all` and timers.
 */
import { NotInTaskContextError, SecretNotFoundError, ValidationError } from "../errors.ts";
import { withActionScope, currentActionScope } from "../internal/action-scope.ts";
import type { Report } from "../report/report.ts";
import type { ReportHost } from "../report/index.ts";

export interface TaskContext {
  readonly action: { name: string; runName: string; project?: string; domain?: string };
  readonly actionName: string;
  readonly runName: string;
  /** 0-based attempt number. */
  readonly attempt: number;
  readonly version: string;
  readonly rawDataPath: string;
  readonly runBaseDir: string;
  readonly mode: "local" | "remote" | "hybrid";
  readonly customContext: Readonly<Record<string, string>>;
  readonly report: Report;
  readonly checkpoints: { previous: string | null; current: string };
  readonly group: string | null;
  readonly runStartTime: Date;
  /** Aborted when the run is aborted or the attempt times out. */
  readonly signal: AbortSignal;
  readonly inputPath: string;
  readonly outputPath: string;
  readonly codeBundle: { uri: string; version: string } | null;
  readonly imageCache: Readonly<Record<string, string>>;
  /** What the task's `pre()` hook returned. */
  readonly data: Readonly<Record<string, unknown>>;
  /** Distributed (clustered) ranks; undefined outside clustered tasks. */
  readonly rank?: number;
  readonly localRank?: number;
  readonly worldSize?: number;
  readonly localWorldSize?: number;
  readonly nodeRank?: number;
}

/** @internal Hooks the runtime hangs on the context object; not part of the public type. */
export interface InternalContext extends TaskContext {
  readonly _reportHost: ReportHost;
  readonly _secrets: ReadonlyMap<string, string>;
  readonly _trace: TraceHost;
}

/** @internal How `trace()` records and replays its entries. */
export interface TraceHost {
  nextKey(name: string, inputsHash: string): string;
  lookup(key: string): Promise<{ found: false } | { found: true; output?: unknown; error?: Error }>;
  record(key: string, name: string, result: { output?: unknown; error?: unknown }, durationMs: number): Promise<void>;
}

/** The current task's context, or null outside a running action. */
export function ctx(): TaskContext | null {
  const c = currentActionScope()?.context as TaskContext | undefined;
  if (!c) return null;
  const group = currentActionScope()!.group;
  if (group === c.group) return c;
  // Inside group(): the same context with the group replaced (getters still read the real object).
  return new Proxy(c, { get: (target, p) => (p === "group" ? group : Reflect.get(target, p, target)) });
}

/** @internal The full context, or a NotInTaskContextError naming `what`. */
export function internalContext(what: string): InternalContext {
  const c = currentActionScope()?.context as InternalContext | undefined;
  if (!c) throw new NotInTaskContextError(`${what} can only be used inside a running task. Call it from a task function executed by run() or flyte run.`);
  return c;
}

/** The custom context of the current action ({} outside a run). */
export function getCustomContext(): Record<string, string> {
  return { ...(currentActionScope()?.customContext ?? {}) };
}

/** Runs `fn` with `values` merged over the custom context; child actions started inside inherit it. */
export async function customContext<T>(values: Record<string, string>, fn: () => T | Promise<T>): Promise<T> {
  if (typeof values !== "object" || values === null || Object.values(values).some((v) => typeof v !== "string")) {
    throw new ValidationError(`customContext: values must be an object of strings, got ${JSON.stringify(values)}.`);
  }
  const scope = currentActionScope();
  if (!scope) return await fn();
  // Awaited inside the scope: a lazy thenable (map()) must start its children with the new context.
  return await withActionScope({ ...scope, customContext: { ...scope.customContext, ...values } }, async () => await fn());
}

/** The value of a secret the current task requested (API.md §8.1). */
export function getSecret(key: string, o: { group?: string } = {}): string {
  const id = o.group ? `${o.group}/${key}` : key;
  const c = currentActionScope()?.context as InternalContext | undefined;
  if (!c) {
    throw new SecretNotFoundError(`getSecret("${id}") was called outside a running task. Secrets are only available to tasks that request them with secrets: ["${key}"].`);
  }
  const v = c._secrets.get(id);
  if (v === undefined) {
    throw new SecretNotFoundError(`Secret "${id}" was not requested by this task. Add it to the environment's secrets (secrets: ["${key}"]) to use it.`);
  }
  return v;
}

/**
 * `ctx()`, custom context and `getSecret()`: what a running task can ask about itself. The context is
 * carried with AsyncLocalStorage (see `internal/action-scope.ts`), so it survives `await`,
 * `Promise.all` and timers.
 */
import { SecretNotFoundError, ValidationError } from "../errors.ts";
import { withActionScope, currentActionScope } from "../internal/action-scope.ts";
import type { InternalContext, TaskContext } from "../controller/task-context.ts";

export type { TaskContext } from "../controller/task-context.ts";

/** The current task's context, or null outside a running action. */
export function ctx(): TaskContext | null {
  const c = currentActionScope()?.context as TaskContext | undefined;
  if (!c) return null;
  const group = currentActionScope()!.group;
  if (group === c.group) return c;
  // Inside group(): the same context with the group replaced (getters still read the real object).
  return new Proxy(c, { get: (target, p) => (p === "group" ? group : Reflect.get(target, p, target)) });
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

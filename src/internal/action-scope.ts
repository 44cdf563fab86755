/**
 * The slot through which a task call finds the run it belongs to. Authoring code only reads it (a task
 * called inside a running action submits a child instead of running its function); the controller sets it
 * for every attempt. Kept here, below both, so `authoring/` never imports the runtime.
 *
 * Stored under a `Symbol.for` key so two copies of the package in one process share the same slot.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface ActionScope {
  /** Submits a child action for `task` and resolves to its output. */
  submit(task: unknown, inputs: unknown): Promise<unknown>;
  /** Set inside `trace()` bodies: task calls are not allowed there. */
  readonly inTrace: boolean;
  /** Innermost `group()` name, or null. */
  readonly group: string | null;
  /** Custom context visible to this action and propagated to its children. */
  readonly customContext: Readonly<Record<string, string>>;
  /** The public `TaskContext` object of this attempt (typed by `run/context.ts`). */
  readonly context: unknown;
}

const KEY = Symbol.for("flyte-ts.action-scope");
const holder = globalThis as unknown as { [KEY]?: AsyncLocalStorage<ActionScope> };
export const actionScopeStorage: AsyncLocalStorage<ActionScope> = (holder[KEY] ??= new AsyncLocalStorage<ActionScope>());

export function currentActionScope(): ActionScope | undefined {
  return actionScopeStorage.getStore();
}

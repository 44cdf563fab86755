/**
 * The slot through which a task call finds the run it belongs to. Authoring code only reads it (a task
 * called inside a running action submits a child instead of running its function); the controller sets it
 * for every attempt. Kept here, below both, so `authoring/` never imports the runtime.
 * It lives in the package's one async frame (see async-frame.ts).
 */
import { currentFrame, runInFrame } from "./async-frame.ts";

declare module "./async-frame.js" {
  interface AsyncFrame {
    readonly scope?: ActionScope | undefined;
  }
}

export interface ActionScope {
  /**
   * Submits a child action for `task` and resolves to its output. `scope` is the scope the call is made in
   * (this one, or one derived from it by `group()`/`trace()`), passed so the runtime does not look it up again.
   */
  submit(task: unknown, inputs: unknown, scope: ActionScope): Promise<unknown>;
  /** Set inside `trace()` bodies: task calls are not allowed there. */
  readonly inTrace: boolean;
  /** Innermost `group()` name, or null. */
  readonly group: string | null;
  /** Custom context visible to this action and propagated to its children. */
  readonly customContext: Readonly<Record<string, string>>;
  /** The public `TaskContext` object of this attempt (typed by `run/context.ts`). */
  readonly context: unknown;
}

export function currentActionScope(): ActionScope | undefined {
  return currentFrame()?.scope;
}

/** Runs `fn` (and everything it awaits or starts) with `scope` as the current action scope. */
export function withActionScope<T>(scope: ActionScope, fn: () => T): T {
  return runInFrame({ scope }, fn);
}

/**
 * The dispatch seam between deciding what a call is (submit-action.ts: its name, replay, recovery, cache and
 * record) and executing its attempts. The embedded runtime dispatches inline (inline-dispatcher.ts: the attempts
 * run in this process); a cluster backend dispatches to a queue (enqueue the action for a worker of its
 * environment, resolve when the worker records its completion).
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { ActionScope } from "../internal/action-scope.ts";
import type { ActionRow } from "../store/store.ts";
import type { Literal } from "../types/literal.ts";
import type { Packed } from "./packing.ts";
import type { Caller, RunState } from "./run-state.ts";

/** One call to execute, as decided: its deterministic name, its validated inputs and their literal. */
export interface ActionRequest {
  name: string;
  parent: string | null;
  task: TaskTemplate;
  inputs: unknown;
  lit: Literal;
  inputsHash: string;
  group: string | null;
  customContext: Record<string, string>;
}

export interface ActionDispatcher {
  /**
   * Executes `req`'s attempts (retries, timeouts, logs, secrets) until one succeeds or the budgets are spent.
   * `row` is the action's record, already written as queued; the dispatcher records attempts and phase changes
   * on it. Resolves to the packed output; rejects with the last attempt's error.
   */
  dispatch(run: RunState, req: ActionRequest, row: ActionRow): Promise<Packed>;
  /**
   * Waits for `wait` with the calling attempt (`parent`) counted as blocked on a child, as it is in `dispatch`: a
   * worker gives its slot back meanwhile (the call waits for an identical `serialize` execution, which may need
   * that slot). Dispatchers without slots leave it out.
   */
  parked?<T>(run: RunState, parent: string | null, wait: () => Promise<T>): Promise<T>;
}

/** Submits a task call made by `caller` in `scope` (what an attempt's action scope does for its task calls). */
export type SubmitChild = (run: RunState, caller: Caller, scope: ActionScope, task: TaskTemplate, inputs: unknown) => Promise<unknown>;

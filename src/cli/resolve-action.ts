/**
 * Finds an action of a run from what a user copies off the screen: its full name, the 8-character prefix
 * the live view prints, or its task's short name (e.g. `step`) when only one action ran that task.
 */
import { ActionNotFoundError, RunNotFoundError } from "../errors.ts";
import { getRuntime } from "../run/runtime.ts";
import { UsageError } from "./load-task.ts";

export async function resolveActionName(runName: string, typed: string): Promise<string> {
  const { store, config } = getRuntime();
  if (!(await store.getRun({ project: config.project, domain: config.domain, name: runName }))) {
    throw new RunNotFoundError(`Run "${runName}" was not found. List runs with: flyte get runs`);
  }
  if (await store.getAction(runName, typed)) return typed;
  const actions = await store.listActions(runName);
  const byPrefix = actions.filter((a) => a.name.startsWith(typed));
  if (byPrefix.length === 1) return byPrefix[0]!.name;
  const byTask = actions.filter((a) => a.shortName === typed || a.taskName === typed);
  if (byTask.length === 1) return byTask[0]!.name;
  const matches = byPrefix.length > 1 ? byPrefix : byTask;
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).map((a) => `${a.name} (${a.shortName})`).join(", ");
    throw new UsageError(
      `"${typed}" matches ${matches.length} actions of run "${runName}": ${shown}${matches.length > 5 ? ", …" : ""}. Give more of the action name (see: flyte get run ${runName}).`,
    );
  }
  throw new ActionNotFoundError(`Action "${typed}" does not exist in run "${runName}". See its actions with: flyte get run ${runName}`);
}

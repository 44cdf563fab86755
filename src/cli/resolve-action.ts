/**
 * Finds an action of a run from what a user copies off the screen: its full name, the 8-character prefix
 * the live view prints, or its task's short name (e.g. `step`) when only one action ran that task.
 */
import { ActionNotFoundError } from "../errors.ts";
import type { ActionDetails } from "../index.ts";
import { UsageError } from "./load-task.ts";

function flatten(a: ActionDetails, out: ActionDetails[] = []): ActionDetails[] {
  out.push(a);
  for (const c of a.children) flatten(c, out);
  return out;
}

/** The action of the tree under `root` (run `runName`'s) that `typed` names. */
export function resolveAction(runName: string, root: ActionDetails, typed: string): ActionDetails {
  const actions = flatten(root);
  const exact = actions.find((a) => a.name === typed);
  if (exact) return exact;
  const byPrefix = actions.filter((a) => a.name.startsWith(typed));
  if (byPrefix.length === 1) return byPrefix[0]!;
  const byTask = actions.filter((a) => a.shortName === typed || a.taskName === typed);
  if (byTask.length === 1) return byTask[0]!;
  const matches = byPrefix.length > 1 ? byPrefix : byTask;
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).map((a) => `${a.name} (${a.shortName})`).join(", ");
    throw new UsageError(
      `"${typed}" matches ${matches.length} actions of run "${runName}": ${shown}${matches.length > 5 ? ", …" : ""}. Give more of the action name (see: flyte get run ${runName}).`,
    );
  }
  throw new ActionNotFoundError(`Action "${typed}" does not exist in run "${runName}". See its actions with: flyte get run ${runName}`);
}

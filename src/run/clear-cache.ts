/**
 * `clearCache()`: deletes entries of the task cache, so that the next call of a cached task executes again.
 */
import { ValidationError } from "../errors.ts";
import { show } from "../internal/validate.ts";
import { ensureRuntime } from "./runtime.ts";

/** Deletes every cache entry, or only those of `task` (its full name, `env.task`); returns how many were deleted. */
export async function clearCache(o: { task?: string } = {}): Promise<number> {
  if (o.task !== undefined && (typeof o.task !== "string" || o.task === "")) {
    throw new ValidationError(`clearCache: task must be a task's full name (env.task), got ${show(o.task)}.`, { field: "task" });
  }
  return await (await ensureRuntime()).store.clearCache(o.task);
}

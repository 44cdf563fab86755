/** `group(name, fn)`: tags the actions started inside `fn` with a group name (UI, `details()`). */
import { ValidationError } from "../errors.ts";
import { withActionScope, currentActionScope } from "../internal/action-scope.ts";

export async function group<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  if (typeof name !== "string" || name === "") {
    throw new ValidationError(`group: name must be a non-empty string, got ${JSON.stringify(name)}. Example: group("preprocess", async () => { ... }).`);
  }
  if (typeof fn !== "function") throw new ValidationError(`group("${name}"): the second argument must be a function.`);
  const scope = currentActionScope();
  if (!scope) return await fn();
  // Nested groups replace the name (they do not concatenate), as in flyte-sdk.
  // Awaited inside the scope: a lazy thenable (map()) must start its children inside the group.
  return await withActionScope({ ...scope, group: name }, async () => await fn());
}

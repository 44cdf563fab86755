/**
 * `trace(fn)`: a checkpointed sub-step inside a task. Each call is recorded (name, inputs hash, output or
 * error); a retried or recovered attempt gets the recorded output back instead of running `fn` again.
 */
import { ValidationError } from "../errors.ts";
import { withActionScope, currentActionScope } from "../internal/action-scope.ts";
import { canonicalJson, sha256Hex } from "../types/codec.ts";
import { toLiteral } from "../types/literal.ts";
import type { InternalContext } from "../controller/task-context.ts";

export function trace<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, o: { name?: string } = {}): (...args: A) => Promise<R> {
  if (typeof fn !== "function") throw new ValidationError("trace: expected a function.");
  const name = o.name ?? fn.name;
  if (!name) throw new ValidationError("trace: the function has no name. Use a named function or pass { name }.", { field: "name" });
  return async (...args: A): Promise<R> => {
    const scope = currentActionScope();
    if (!scope || scope.inTrace) return await fn(...args);
    const host = (scope.context as InternalContext)._trace;
    const lit = await toLiteral(args, { taskName: `trace ${name}`, direction: "input" });
    const key = host.nextKey(name, sha256Hex(canonicalJson(lit)));
    const prior = await host.lookup(key);
    if (prior.found) {
      if (prior.error) throw prior.error;
      return prior.output as R;
    }
    const t0 = performance.now();
    try {
      const out = await withActionScope({ ...scope, inTrace: true }, () => fn(...args));
      await host.record(key, name, { output: out }, performance.now() - t0);
      return out;
    } catch (e) {
      await host.record(key, name, { error: e }, performance.now() - t0);
      throw e;
    }
  };
}

/**
 * Gives schema-less tasks the JSON Schema of their TypeScript signature (`task.interface.jsonSchema`): flag
 * parsing and `--help` use it, and the store keeps it as the action's interface. Cached by file content hash;
 * the TypeScript compiler is loaded only on a cache miss.
 * @module
 */
import { resolve } from "node:path";
import type { TaskTemplate } from "../../index.ts";
import { hasParameter, type DerivedInterface } from "./input-specs.ts";
import { readCached, writeCached } from "./signature-cache.ts";
import { deriveSignatures, type FileSignatures } from "./ts-signature.ts";

function needsDerivation(t: TaskTemplate): boolean {
  const fn = (t as { fn?: Function }).fn;
  return !t.interface.inputs && !t.interface.jsonSchema && typeof fn === "function" && typeof t.sourceFile === "string" && !t.sourceFile.includes("/node_modules/");
}

/**
 * Attaches derived schemas to `tasks` (those without an inputs schema). Returns false when the types could not
 * be read (the caller then treats inputs as untyped) and says why through `warn`.
 */
export async function attachSignatures(root: TaskTemplate, tasks: Iterable<TaskTemplate>, warn: (line: string) => void): Promise<boolean> {
  // Only a task whose own inputs need types pays for the compiler; the other tasks of its file come along free.
  if (!needsDerivation(root) || !hasParameter((root as { fn: Function }).fn)) return true;
  const todo = [root, ...[...tasks].filter((t) => t !== root && needsDerivation(t))];
  const files = [...new Set(todo.map((t) => resolve(t.sourceFile!)))];
  const byFile = new Map<string, FileSignatures["tasks"]>();
  const misses: string[] = [];
  for (const f of files) {
    const hit = readCached(f);
    if (hit) byFile.set(f, hit);
    else misses.push(f);
  }
  if (misses.length > 0) {
    try {
      for (const [f, sigs] of await deriveSignatures(misses)) {
        byFile.set(f, sigs.tasks);
        writeCached(f, sigs);
      }
    } catch (e) {
      warn(`flyte: could not read the input types of ${misses.join(", ")} (${(e as Error).message}); inputs are parsed as JSON or text.\n`);
      return false;
    }
  }
  for (const t of todo) {
    const sig = byFile.get(resolve(t.sourceFile!))?.[t.taskName];
    if (!sig) continue;
    const derived: DerivedInterface = { inputs: sig.inputs, ...(sig.output && !t.interface.output ? { output: sig.output } : {}) };
    // The interface object is shared with the task's overrides, which have the same function.
    (t.interface as { jsonSchema?: object }).jsonSchema = derived;
  }
  return true;
}

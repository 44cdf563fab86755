/**
 * Loads a user's TypeScript/JavaScript file and finds a task in it (by export name, task name or FQN).
 * What a task's inputs are and how flags become values: see ./inputs/.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { TaskTemplate } from "../extend.ts";
import { listLoadedEnvironments } from "../index.ts";
import { FlyteError, ModuleLoadError } from "../errors.ts";
import { describeSyntaxErrors } from "./code-frame.ts";
import { closest } from "./suggest.ts";

export async function loadModule(file: string): Promise<Record<string, unknown>> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new ModuleLoadError(`File ${file} does not exist (looked at ${abs}). Pass the path of a .ts or .js file that defines your tasks.`);
  try {
    return (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    // A definition mistake (e.g. a ValidationError from env.task) already says what to fix.
    if (e instanceof FlyteError) throw e;
    const err = e as Error;
    if (/require\(\) ES Module|ERR_REQUIRE/.test(`${err.message} ${(err as NodeJS.ErrnoException).code ?? ""}`)) {
      throw new ModuleLoadError(
        `Cannot load ${file}: it is treated as CommonJS because the nearest package.json has no "type": "module", and flyte-ts is an ES module. Add "type": "module" to package.json or rename the file to .mts.`,
        { cause: e },
      );
    }
    const syntax = describeSyntaxErrors(err.message ?? "");
    if (syntax) throw new ModuleLoadError(`Cannot load ${file}, it has a syntax error: ${syntax}`, { cause: e });
    // A stack frame in the user's file says where a top-level statement threw (unless the message already does).
    const where = err.stack?.split("\n").find((l) => l.includes(abs) && !err.message?.includes(l.trim()))?.trim();
    throw new ModuleLoadError(`Cannot load ${file}: ${err.message}${where ? ` (${where.replace(/^at /, "at ")})` : ""}`, { cause: e });
  }
}

/** Every task the module exported or its environments declared. */
export function tasksOf(mod: Record<string, unknown>): Map<string, TaskTemplate> {
  const out = new Map<string, TaskTemplate>();
  for (const [exportName, v] of Object.entries(mod)) if (v instanceof TaskTemplate) out.set(exportName, v);
  for (const env of listLoadedEnvironments()) {
    const tasks = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks;
    if (tasks) for (const t of tasks.values()) if (!out.has(t.name)) out.set(t.name, t);
  }
  return out;
}

export function findTask(mod: Record<string, unknown>, file: string, name: string): TaskTemplate {
  const tasks = tasksOf(mod);
  const exact = tasks.get(name);
  if (exact) return exact;
  const matches = [...new Set([...tasks.values()].filter((t) => t.name === name || t.taskName === name))];
  if (matches.length === 1) return matches[0]!;
  const known = [...new Set([...tasks.values()].map((t) => t.taskName))].sort();
  if (matches.length > 1) {
    throw new ModuleLoadError(`Task name "${name}" is ambiguous in ${file}: ${matches.map((t) => t.name).join(", ")}. Use the full name (env.task).`);
  }
  const guess = closest(name, [...tasks.keys(), ...known]);
  throw new ModuleLoadError(
    `Task "${name}" was not found in ${file}.${guess ? ` Did you mean "${guess}"?` : ""} ${known.length ? `Tasks in the file: ${known.join(", ")}.` : "The file defines no tasks (use env.task(...))."}`,
  );
}

/** The `flyte run <file>` answer when no task is named: the file's tasks, one a line. */
export function taskList(mod: Record<string, unknown>, file: string): string {
  const tasks = [...new Set(tasksOf(mod).values())];
  if (tasks.length === 0) return `${file} defines no tasks. Define one with env.task(...) and export it.`;
  const width = Math.max(...tasks.map((t) => t.taskName.length));
  const lines = tasks.map((t) => `  ${t.taskName.padEnd(width)}  ${t.name}${t.docs.description ? `  ${t.docs.description.split("\n")[0]}` : ""}`);
  return [`Tasks in ${file}:`, ...lines, "", `Run one with: flyte run ${file} <task> [inputs]; add --help after the task to see its inputs.`].join("\n");
}

/** A mistake in how the command was invoked (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

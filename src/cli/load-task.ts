/**
 * Loads a user's TypeScript/JavaScript file and finds a task in it (by export name, task name or FQN),
 * and describes a task's inputs for flag parsing and `--help`.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as acorn from "acorn";
import { listLoadedEnvironments } from "../authoring/environment.ts";
import { TaskTemplate, declaredInputs } from "../authoring/task-template.ts";
import { FlyteError, ModuleLoadError } from "../errors.ts";
import { schemaToJsonSchema } from "../types/schema.ts";
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

export interface InputSpec {
  name: string;
  type: "string" | "number" | "integer" | "boolean" | "array" | "object" | "file" | "dir" | "unknown";
  required: boolean;
  description?: string;
}

/** The inputs of a task: from its inputs schema, else from the destructured parameter of its function. */
export function inputSpecs(task: TaskTemplate): InputSpec[] {
  const declared = declaredInputs(task);
  if (declared && task.interface.inputs) {
    const js = schemaToJsonSchema(task.interface.inputs) as { properties?: Record<string, { type?: unknown; description?: string }> } | undefined;
    return declared.names.map((name) => {
      const p = js?.properties?.[name] ?? {};
      const t = Array.isArray(p.type) ? p.type.find((x) => x !== "null") : p.type;
      const type = (["string", "number", "integer", "boolean", "array", "object"].includes(t as string) ? t : "unknown") as InputSpec["type"];
      return { name, type, required: declared.required.includes(name), ...(p.description ? { description: p.description } : {}) };
    });
  }
  const fn = (task as { fn?: Function }).fn;
  return fn ? paramsFromSource(fn) : [];
}

/** Reads `{ a, b = 1 }` from a function's first parameter (types are gone after transpiling). */
function paramsFromSource(fn: Function): InputSpec[] {
  const src = fn.toString();
  let program: acorn.Program | undefined;
  for (const candidate of [`(${src})`, `({${src}})`]) {
    try {
      program = acorn.parse(candidate, { ecmaVersion: "latest" });
      break;
    } catch {
      // try the next wrapping (method shorthand)
    }
  }
  if (!program) return [];
  let param: acorn.Pattern | undefined;
  const visit = (node: acorn.Node | null | undefined): void => {
    if (!node || param) return;
    const n = node as acorn.Node & { params?: acorn.Pattern[]; expression?: acorn.Node; properties?: acorn.Node[]; value?: acorn.Node };
    if (n.params) param = n.params[0];
    else if (n.expression) visit(n.expression);
    else if (n.properties) n.properties.forEach((p) => visit((p as { value?: acorn.Node }).value));
  };
  visit(program.body[0]);
  if (!param) return [];
  const pattern = param.type === "AssignmentPattern" ? param.left : param;
  if (pattern.type !== "ObjectPattern") return [];
  const specs: InputSpec[] = [];
  for (const prop of pattern.properties) {
    if (prop.type !== "Property" || prop.key.type !== "Identifier") continue;
    specs.push({ name: prop.key.name, type: "unknown", required: prop.value.type !== "AssignmentPattern" });
  }
  return specs;
}

/** Parses a flag value according to the input's type; untyped values are JSON when they parse, else strings. */
export function parseInputValue(spec: InputSpec | undefined, raw: string): unknown {
  const type = spec?.type ?? "unknown";
  switch (type) {
    case "string":
      return raw;
    case "number":
    case "integer": {
      const n = Number(raw);
      if (raw.trim() === "" || Number.isNaN(n)) throw new UsageError(`--${spec!.name} expects a number, got ${JSON.stringify(raw)}.`);
      return n;
    }
    case "boolean":
      if (["true", "1", "yes", ""].includes(raw.toLowerCase())) return true;
      if (["false", "0", "no"].includes(raw.toLowerCase())) return false;
      throw new UsageError(`--${spec!.name} expects true or false, got ${JSON.stringify(raw)}.`);
    case "array":
      if (raw.trim().startsWith("[")) return parseJson(spec!.name, raw);
      return raw === "" ? [] : raw.split(",").map((s) => {
        const n = Number(s);
        return s.trim() !== "" && !Number.isNaN(n) ? n : s;
      });
    case "object":
      return parseJson(spec!.name, raw);
    default:
      try {
        return JSON.parse(raw);
      } catch {
        return raw;
      }
  }
}

/**
 * Untyped inputs given as an explicit relative path (`./data.csv`, `../dir`) that exists become `File`/`Dir`
 * values (absolute paths stay strings); declare the input with a string schema to pass such a path as plain text.
 */
export async function resolvePathInputs(specs: InputSpec[], inputs: Record<string, unknown>): Promise<void> {
  const { File, Dir } = await import("../io/index.ts");
  const { existsSync, statSync } = await import("node:fs");
  for (const [name, v] of Object.entries(inputs)) {
    const spec = specs.find((s) => s.name === name);
    if (typeof v !== "string" || (spec && spec.type !== "unknown") || !/^\.{1,2}\//.test(v) || !existsSync(v)) continue;
    inputs[name] = statSync(v).isDirectory() ? await Dir.fromLocal(v) : await File.fromLocal(v);
  }
}

function parseJson(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new UsageError(`--${name} expects JSON, got ${JSON.stringify(raw)} (${(e as Error).message}).`);
  }
}

/** A mistake in how the command was invoked (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

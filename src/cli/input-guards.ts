/**
 * Checks on raw `flyte run` arguments that do not depend on the task's input schema: a `__proto__` key
 * (as an input name, or inside a JSON value or `--inputs-file`) would replace the prototype of the inputs
 * object instead of naming an input, so it is refused by name before any parsing; and numeric run flags.
 */
import { readFileSync } from "node:fs";
import type { TaskTemplate } from "../index.ts";
import { RuntimeDataValidationError } from "../errors.ts";
import { UsageError } from "./load-task.ts";

const FORBIDDEN_KEY = "__proto__";

/** The path of the first `__proto__` key in a parsed JSON value, e.g. `cfg.__proto__`, or undefined. */
function protoKeyPath(value: unknown, path: string): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = protoKeyPath(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key === FORBIDDEN_KEY) return at;
    const found = protoKeyPath((value as Record<string, unknown>)[key], at);
    if (found) return found;
  }
  return undefined;
}

function jsonOrUndefined(raw: string): unknown {
  const t = raw.trim();
  if (!t.startsWith("{") && !t.startsWith("[")) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined; // not JSON: the schema-aware parser reports it
  }
}

const refuse = (where: string): never => {
  throw new UsageError(`${where} uses the key "__proto__", which cannot be an input name or a key of an input value. Rename the key.`);
};

/** Throws a UsageError if `--input`, `--<name>` flags or the inputs file use a `__proto__` key. */
export function rejectProtoKeys(args: readonly string[], o: { input?: readonly string[]; inputsFile?: string }): void {
  for (const kv of o.input ?? []) {
    const eq = kv.indexOf("=");
    const name = eq < 0 ? kv : kv.slice(0, eq);
    if (name === FORBIDDEN_KEY) refuse(`--input ${JSON.stringify(kv.length > 40 ? `${kv.slice(0, 40)}…` : kv)}`);
    const found = eq < 0 ? undefined : protoKeyPath(jsonOrUndefined(kv.slice(eq + 1)), name);
    if (found) refuse(`--input ${name} (at ${found})`);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      const found = protoKeyPath(jsonOrUndefined(arg), i > 0 ? args[i - 1]!.replace(/^--/, "") : "value");
      if (found) refuse(`${args[i - 1] ?? "an input value"} (at ${found})`);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (name === FORBIDDEN_KEY) refuse(`--${FORBIDDEN_KEY}`);
    const found = eq < 0 ? undefined : protoKeyPath(jsonOrUndefined(arg.slice(eq + 1)), name);
    if (found) refuse(`--${name} (at ${found})`);
  }
  if (o.inputsFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(o.inputsFile, "utf8"));
    } catch {
      return; // unreadable or not JSON: parseTaskInputs reports it with its own message
    }
    const found = protoKeyPath(parsed, "");
    if (found) refuse(`--inputs-file ${o.inputsFile} (at ${found})`);
  }
}

/** `--max-action-concurrency`: a whole number, 0 meaning no limit. */
export function parseConcurrencyFlag(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < 0) {
    throw new UsageError(`--max-action-concurrency expects a whole number (0 = no limit), got ${JSON.stringify(raw)}.`);
  }
  if (n === 1) throw new UsageError("--max-action-concurrency 1 would deadlock a parent waiting for its children. Use 0 (no limit) or 2 and more.");
  return n;
}

/**
 * Checks the inputs against the task's schema before a run is created, so a rejected input leaves no failed
 * run behind; returns the inputs unchanged (the run validates them again, and transforms must apply once).
 */
export async function validateBeforeRun(task: TaskTemplate, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  try {
    await task.validateInputs(inputs);
  } catch (e) {
    if (e instanceof RuntimeDataValidationError) throw new UsageError(`${e.message.replace(/\.?$/, ".")} Nothing was run; fix the input and try again.`);
    throw e;
  }
  return inputs;
}

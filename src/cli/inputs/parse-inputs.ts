/**
 * Turns `flyte run` arguments (`--x 3 --tags a --tags b --no-loud`, `--input name=v`, `--inputs-file f.json`)
 * into a task's inputs object, typed by its `InputSpec`s. Every mistake is a `UsageError` (exit 2) naming the
 * input and what it expects, raised before any run is created.
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { TaskTemplate } from "../../index.ts";
import { UsageError } from "../load-task.ts";
import type { InputSpec, ValueSpec } from "./input-specs.ts";
import { placeholder } from "./input-specs.ts";

/** Flags of `flyte run` itself: an input with one of these names is given as `--input name=value`. */
export const RUN_FLAGS = new Set([
  "name", "inputs-file", "recover-from", "input", "env", "label", "overwrite-cache", "max-action-concurrency", "help", "local",
  "follow", "f", "quiet", "q", "raw-data-path", "queue", "h", "remote", "copy-style", "dry-run", "isolate", "config", "c", "verbose", "v",
  "output-format", "o", "project", "p", "domain", "d",
]);

/** A File/Dir input given as a path; opened once every other input parsed. */
class PathValue {
  constructor(
    readonly kind: "file" | "dir",
    readonly path: string,
  ) {}
}

export interface ParseOptions {
  input?: string[];
  inputsFile?: string;
}

/** Parses the task's inputs from the command line; File/Dir inputs are checked to exist and opened. */
export async function parseTaskInputs(task: TaskTemplate, specs: InputSpec[], args: string[], o: ParseOptions): Promise<Record<string, unknown>> {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const inputs: Record<string, unknown> = {};
  const fromFlags = new Set<string>();
  const set = (name: string, value: unknown) => {
    if (name === "__proto__") throw new UsageError(`"__proto__" cannot be an input name.`);
    Object.defineProperty(inputs, name, { value, enumerable: true, writable: true, configurable: true });
  };
  if (o.inputsFile) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(o.inputsFile, "utf8"));
    } catch (e) {
      throw new UsageError(`--inputs-file ${o.inputsFile} could not be read as a JSON object: ${(e as Error).message}`);
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw new UsageError(`--inputs-file ${o.inputsFile} must hold a JSON object of named inputs, e.g. {"x": 1}.`);
    }
    for (const [name, v] of Object.entries(data)) {
      const spec = byName.get(name);
      set(name, spec ? fromJson(spec, v, `"${name}" in ${o.inputsFile}`) : v);
    }
  }
  const give = (name: string, raw: string, flag: string) => {
    const spec = byName.get(name);
    if (spec?.type === "array") {
      const prev = fromFlags.has(name) ? (inputs[name] as unknown[]) : [];
      set(name, [...prev, ...arrayValues(spec, raw, flag)]);
    } else {
      if (fromFlags.has(name)) throw new UsageError(`${flag} was given more than once; give it once${spec ? "" : " (or declare it as an array)"}.`);
      set(name, spec ? parseValue(spec, raw, flag) : untyped(raw));
    }
    fromFlags.add(name);
  };
  for (const kv of o.input ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`--input expects name=value, got ${JSON.stringify(kv)}.`);
    const name = kv.slice(0, i);
    if (specs.length > 0 && !byName.has(name)) throw noSuchInput(task, specs, name);
    give(name, kv.slice(i + 1), `--input ${name}`);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new UsageError(`Unexpected argument ${JSON.stringify(arg)}. Inputs are given as --<name> <value>.`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) [name, value] = [name.slice(0, eq), name.slice(eq + 1)];
    let spec = byName.get(name);
    if (!spec && value === undefined && name.startsWith("no-") && byName.get(name.slice(3))?.type === "boolean") {
      spec = byName.get(name.slice(3))!;
      give(spec.name, "false", `--${spec.name}`);
      continue;
    }
    if (specs.length > 0 && !spec) throw noSuchInput(task, specs, name);
    if (value === undefined) {
      const next = args[i + 1];
      if (spec?.type === "boolean") value = next !== undefined && BOOL_WORDS.has(next.toLowerCase()) ? args[++i]! : "true";
      else if (next === undefined || (next.startsWith("--") && next.length > 2)) throw new UsageError(`--${name} needs a value${spec ? ` (${placeholder(spec)})` : ""}.`);
      else value = args[++i]!;
    }
    give(name, value, `--${name}`);
  }
  const missing = specs.filter((s) => s.required && !(s.name in inputs));
  const clash = missing.find((s) => RUN_FLAGS.has(s.name));
  if (clash) {
    throw new UsageError(
      `Missing required input "${clash.name}" for task "${task.taskName}": --${clash.name} is a flag of flyte run itself, so pass the input as --input ${clash.name}=<value>.`,
    );
  }
  if (missing.length) {
    throw new UsageError(
      `Missing required input${missing.length > 1 ? "s" : ""} ${missing.map((m) => `--${m.name}`).join(", ")} for task "${task.taskName}". See: flyte run <file> ${task.taskName} --help`,
    );
  }
  await openPaths(inputs);
  return inputs;
}

function noSuchInput(task: TaskTemplate, specs: InputSpec[], name: string): UsageError {
  return new UsageError(`Task "${task.taskName}" has no input "${name}". Inputs: ${specs.map((s) => s.name).join(", ")}.`);
}

const BOOL_WORDS = new Set(["true", "false", "yes", "no", "1", "0"]);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Untyped inputs: JSON when the value parses as JSON, else the text itself. */
function untyped(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** One command-line value of a typed input. */
export function parseValue(spec: ValueSpec, raw: string, flag: string): unknown {
  const v = convert(spec, raw, flag);
  if (spec.enum && !spec.enum.includes(v as string | number | boolean)) {
    throw new UsageError(`${flag} expects one of ${spec.enum.map((e) => JSON.stringify(e)).join(", ")}, got ${JSON.stringify(raw)}.`);
  }
  return v;
}

function convert(spec: ValueSpec, raw: string, flag: string): unknown {
  switch (spec.type) {
    case "string":
      return raw;
    case "number":
    case "integer": {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got ${JSON.stringify(raw)}.`);
      if (spec.type === "integer" && !Number.isInteger(n)) throw new UsageError(`${flag} expects an integer, got ${JSON.stringify(raw)}.`);
      return n;
    }
    case "boolean": {
      const b = raw.toLowerCase();
      if (["true", "1", "yes", ""].includes(b)) return true;
      if (["false", "0", "no"].includes(b)) return false;
      throw new UsageError(`${flag} expects true or false, got ${JSON.stringify(raw)} (or use ${flag} / --no-${flag.replace(/^--(input )?/, "")}).`);
    }
    case "bigint":
      if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${flag} expects an integer, got ${JSON.stringify(raw)}.`);
      return BigInt(raw.trim());
    case "date": {
      const d = new Date(raw.trim());
      if (!ISO_DATE.test(raw.trim()) || Number.isNaN(d.getTime())) {
        throw new UsageError(`${flag} expects an ISO 8601 date such as 2024-05-01 or 2024-05-01T12:30:00Z, got ${JSON.stringify(raw)}.`);
      }
      return d;
    }
    case "file":
    case "dir":
      return checkPath(spec.type, raw, flag);
    case "object": {
      const v = parseJson(raw, flag, "a JSON object");
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new UsageError(`${flag} expects a JSON object such as '{"k": 1}', got ${JSON.stringify(raw)}.`);
      return v;
    }
    case "array":
      return arrayValues(spec, raw, flag);
    default:
      return untyped(raw);
  }
}

/** One occurrence of an array flag: a JSON array, or one item. */
function arrayValues(spec: ValueSpec, raw: string, flag: string): unknown[] {
  const item = spec.items ?? { type: "unknown" };
  if (raw.trim().startsWith("[")) {
    const list = parseJson(raw, flag, "a JSON array");
    if (!Array.isArray(list)) throw new UsageError(`${flag} expects a JSON array, got ${JSON.stringify(raw)}.`);
    return list.map((v, i) => fromJson(item, v, `${flag}[${i}]`));
  }
  return [parseValue(item, raw, flag)];
}

function parseJson(raw: string, flag: string, what: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new UsageError(`${flag} expects ${what}, got ${JSON.stringify(raw)} (${(e as Error).message}).`);
  }
}

/** A value that arrived as JSON (inputs file, JSON array item): checked against the spec, dates/bigints/paths converted. */
function fromJson(spec: ValueSpec, v: unknown, where: string): unknown {
  const bad = (expects: string): never => {
    throw new UsageError(`${where} expects ${expects}, got ${JSON.stringify(v)}.`);
  };
  switch (spec.type) {
    case "string":
      if (typeof v !== "string") bad("a string");
      break;
    case "number":
    case "integer":
      if (typeof v !== "number" || (spec.type === "integer" && !Number.isInteger(v))) bad(spec.type === "integer" ? "an integer" : "a number");
      break;
    case "boolean":
      if (typeof v !== "boolean") bad("true or false");
      break;
    case "bigint":
    case "date":
    case "file":
    case "dir":
      if (typeof v !== "string" && !(spec.type === "bigint" && typeof v === "number")) bad(`a ${placeholder(spec)} string`);
      return parseValue(spec, String(v), where);
    case "array":
      if (!Array.isArray(v)) bad("a JSON array");
      return (v as unknown[]).map((x, i) => fromJson(spec.items ?? { type: "unknown" }, x, `${where}[${i}]`));
    case "object":
      if (typeof v !== "object" || v === null || Array.isArray(v)) bad("a JSON object");
      break;
    default:
      return v;
  }
  if (spec.enum && !spec.enum.includes(v as string | number | boolean)) bad(`one of ${spec.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  return v;
}

function checkPath(kind: "file" | "dir", raw: string, flag: string): PathValue {
  const abs = resolve(raw);
  if (raw === "" || !existsSync(abs)) {
    throw new UsageError(`${flag} expects the path of an existing ${kind === "file" ? "file" : "directory"}, but ${JSON.stringify(raw)} does not exist (looked at ${abs}).`);
  }
  const isDir = statSync(abs).isDirectory();
  if (kind === "file" && isDir) throw new UsageError(`${flag} expects a file, but ${JSON.stringify(raw)} is a directory.`);
  if (kind === "dir" && !isDir) throw new UsageError(`${flag} expects a directory, but ${JSON.stringify(raw)} is a file.`);
  return new PathValue(kind, abs);
}

/** Replaces checked paths (at any depth of arrays) by File/Dir values. */
async function openPaths(inputs: Record<string, unknown>): Promise<void> {
  const { File, Dir } = await import("../../io/index.ts");
  const open = async (v: unknown): Promise<unknown> => {
    if (v instanceof PathValue) return v.kind === "file" ? File.fromLocal(v.path) : Dir.fromLocal(v.path);
    if (Array.isArray(v)) return Promise.all(v.map(open));
    return v;
  };
  for (const [k, v] of Object.entries(inputs)) inputs[k] = await open(v);
}

/**
 * Untyped inputs given as an explicit relative path (`./data.csv`, `../dir`) that exists become `File`/`Dir`
 * values; typed inputs say for themselves whether they take a path.
 */
export async function resolveUntypedPaths(specs: InputSpec[], inputs: Record<string, unknown>): Promise<void> {
  const { File, Dir } = await import("../../io/index.ts");
  for (const [name, v] of Object.entries(inputs)) {
    const spec = specs.find((s) => s.name === name);
    if (typeof v !== "string" || (spec && spec.type !== "unknown") || !/^\.{1,2}\//.test(v) || !existsSync(v)) continue;
    inputs[name] = statSync(v).isDirectory() ? await Dir.fromLocal(v) : await File.fromLocal(v);
  }
}

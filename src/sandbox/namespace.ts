/**
 * `env.sandbox` (← flyte-sdk `_SandboxNamespace`): declares orchestrators whose code runs in QuickJS and
 * can only compute and call the tasks it was given (API.md §13).
 *
 * @example
 * ```ts
 * const env = new TaskEnvironment({ name: "demo" });
 * export const add = env.task(async function add({ x, y }: { x: number; y: number }) { return x + y; });
 * export const pipeline = env.sandbox.orchestrator({ timeoutMs: 5_000 }, async function pipeline({ n }: { n: number }) {
 *   return (await add({ x: n, y: n })) * 2;
 * });
 * export const fromCode = env.sandbox.orchestrator("await add({ x, y }) * 2",
 *   { inputs: { x: z.number(), y: z.number() }, output: z.number(), tasks: [add] });
 * ```
 * @module
 */
import type { CacheRequest } from "../authoring/cache.ts";
import { checkKeys, isPlainObject, show } from "../internal/validate.ts";
import type { RetryStrategy } from "../authoring/retry-strategy.ts";
import { callerFile, registerSandboxNamespace, type TaskEnvironment } from "../authoring/task-environment.ts";
import { TaskTemplate, type Infer, type InputsOf, type OutputOf, type SchemaLike, type TaskFunction, type TaskOptions } from "../authoring/task-template.ts";
import { RestrictedTypeError, ValidationError } from "../errors.ts";
import { schemaToJsonSchema } from "../types/schema.ts";
import { WITHHELD_GLOBALS } from "./prelude.ts";
import { MAX_STACK_DEPTH, type SandboxLimits } from "./quickjs-runner.ts";
import { CodeTaskTemplate, duplicateTaskError, SandboxedTaskTemplate, type SandboxedTaskTemplateOptions } from "./sandboxed-task-template.ts";
import { prepareCodeSource, prepareFunctionSource, validateInputName, type PreparedSource } from "./source.ts";

/** Options of a sandboxed orchestrator (← flyte-sdk `SandboxedConfig` + task options). */
export interface SandboxOptions {
  /** @default fn.name (function mode) / "sandboxed-code" (code-string mode) */
  name?: string;
  /** CPU time spent executing sandbox code, in ms; time awaiting child tasks is not counted. @default 30_000 */
  timeoutMs?: number;
  /** Bytes the interpreter may allocate. @default 50 * 1024 * 1024 */
  maxMemory?: number;
  /** Nested calls allowed (at most 512). @default 256 */
  maxStackDepth?: number;
  /** Check that inputs, outputs and task arguments are plain values. @default true */
  typeCheck?: boolean;
  /** @default the environment's cache */
  cache?: CacheRequest;
  /** @default 0 */
  retries?: number | RetryStrategy;
  /** Callable tasks besides the environment's own. @default [] */
  tasks?: TaskTemplate[];
}

/** Options of a code-string orchestrator. */
export interface CodeSandboxOptions extends SandboxOptions {
  /** Input names (and schemas): `{ x: z.number() }`, or one object schema. */
  inputs: Record<string, SchemaLike> | SchemaLike;
  /** Schema of the output. @default no output (undefined) */
  output?: SchemaLike;
}

type CodeInputsOf<S> = S extends SchemaLike ? Infer<S> : { [K in keyof S]: Infer<S[K]> };
type CodeOutputOf<T> = T extends SchemaLike ? Infer<T> : undefined;

export const SANDBOX_DEFAULTS: Readonly<SandboxLimits> = Object.freeze({ timeoutMs: 30_000, maxMemory: 50 * 1024 * 1024, maxStackDepth: 256, typeCheck: true });
const SANDBOX_KEYS = ["name", "timeoutMs", "maxMemory", "maxStackDepth", "typeCheck", "cache", "retries", "tasks"] as const;
const CODE_KEYS = [...SANDBOX_KEYS, "inputs", "output"] as const;
const MIN_MEMORY = 1024 * 1024;
const MAX_MEMORY = 1024 * 1024 * 1024;
/** Globals the prelude defines itself; a task of that name could never be called by it. */
const SANDBOX_OWN_GLOBALS = ["flyteMap", "console", "__name"];

export class SandboxNamespace {
  readonly #env: TaskEnvironment;

  constructor(env: TaskEnvironment) {
    this.#env = env;
  }

  /** Declares an orchestrator: a function (or, with a string, code) that runs in the sandbox. */
  orchestrator<F extends TaskFunction>(fn: F): SandboxedTaskTemplate<InputsOf<F>, OutputOf<F>>;
  orchestrator(o: SandboxOptions): <F extends TaskFunction>(fn: F) => SandboxedTaskTemplate<InputsOf<F>, OutputOf<F>>;
  orchestrator<F extends TaskFunction>(o: SandboxOptions, fn: F): SandboxedTaskTemplate<InputsOf<F>, OutputOf<F>>;
  orchestrator<S extends Record<string, SchemaLike> | SchemaLike, T extends SchemaLike | undefined = undefined>(
    source: string,
    o: CodeSandboxOptions & { inputs: S; output?: T },
  ): CodeTaskTemplate<CodeInputsOf<S>, CodeOutputOf<T>>;
  orchestrator(a: unknown, b?: unknown): unknown {
    const at = `Environment "${this.#env.name}": env.sandbox.orchestrator`;
    if (typeof a === "function") return this.#fromFunction({}, a as TaskFunction, callerFile());
    if (typeof a === "string") return this.#fromCode(a, b, callerFile());
    if (isPlainObject(a)) {
      if (b === undefined) {
        const file = callerFile();
        return (fn: TaskFunction) => this.#fromFunction(a as SandboxOptions, fn, file);
      }
      if (typeof b === "function") return this.#fromFunction(a as SandboxOptions, b as TaskFunction, callerFile());
      throw new ValidationError(`${at}(options, fn): fn must be a function, got ${show(b)}.`, { field: "fn" });
    }
    throw new ValidationError(
      `${at} expects a function, (options, fn), (options) or (code string, { inputs, ... }), got ${show(a)}. ` +
        "Example: env.sandbox.orchestrator(async function pipeline({ n }) { ... }).",
    );
  }

  #fromFunction(o: SandboxOptions, fn: TaskFunction, file: string | undefined): SandboxedTaskTemplate {
    if (typeof fn !== "function") {
      throw new ValidationError(`Environment "${this.#env.name}": env.sandbox.orchestrator(options) returns a decorator that needs a function, got ${show(fn)}.`, { field: "fn" });
    }
    checkKeys(o, SANDBOX_KEYS, "env.sandbox.orchestrator");
    const name = o.name ?? fn.name;
    const at = `Sandbox "${this.#env.name}.${name || "(anonymous)"}"`;
    const prepared = prepareFunctionSource(fn, at);
    return this.#define(o, name, fn, prepared, undefined, SandboxedTaskTemplate, file, {});
  }

  #fromCode(code: string, options: unknown, file: string | undefined): CodeTaskTemplate {
    if (!isPlainObject(options)) {
      throw new ValidationError(
        `Environment "${this.#env.name}": a code-string orchestrator needs options with its inputs, got ${show(options)}. Example: env.sandbox.orchestrator("x * 2", { inputs: { x: z.number() } }).`,
        { field: "inputs" },
      );
    }
    const o = options as unknown as CodeSandboxOptions;
    checkKeys(o, CODE_KEYS, "env.sandbox.orchestrator");
    const name = o.name ?? "sandboxed-code";
    const at = `Sandbox "${this.#env.name}.${name}"`;
    const { schema, names } = inputsSchema(o.inputs, at);
    if (o.output !== undefined && !isSchema(o.output)) {
      throw new ValidationError(`${at}: output must be a schema (e.g. z.number()), got ${show(o.output)}.`, { field: "output" });
    }
    const prepared = prepareCodeSource(code, names, at);
    const schemas: TaskOptions = { inputs: schema, ...(o.output ? { output: o.output } : {}) };
    return this.#define(o, name, undefined, prepared, code, CodeTaskTemplate, file, schemas) as CodeTaskTemplate;
  }

  #define(
    o: SandboxOptions,
    name: string,
    fn: TaskFunction | undefined,
    prepared: PreparedSource,
    code: string | undefined,
    cls: typeof SandboxedTaskTemplate,
    file: string | undefined,
    schemas: TaskOptions,
  ): SandboxedTaskTemplate {
    const at = `Sandbox "${this.#env.name}.${name}"`;
    const sandbox = resolveLimits(o, at);
    const tasks = validateTasks(o.tasks, at);
    if (sandbox.typeCheck) {
      if (schemas.inputs) checkDeclaredTypes(schemas.inputs, at, "inputs");
      if (schemas.output) checkDeclaredTypes(schemas.output, at, "output");
    }
    // Duplicates among what is known now; execute() checks again with the environment's tasks at that time.
    const known = new Map<string, TaskTemplate>();
    for (const t of this.#env.tasks.values()) known.set(t.taskName, t);
    for (const t of tasks) {
      const prev = known.get(t.taskName);
      if (prev && prev !== t && prev.name !== t.name) throw duplicateTaskError(`${this.#env.name}.${name}`, prev, t);
      known.set(t.taskName, t);
    }
    const options = {
      name, ...schemas, sandbox, sandboxTasks: tasks, prepared, code,
      ...(o.cache !== undefined ? { cache: o.cache } : {}), ...(o.retries !== undefined ? { retries: o.retries } : {}),
    } satisfies Partial<SandboxedTaskTemplateOptions>;
    return this.#env.addTask(options as TaskOptions, fn, cls as unknown as new (o: never) => SandboxedTaskTemplate, file);
  }
}

function resolveLimits(o: SandboxOptions, at: string): SandboxLimits {
  const r = { ...SANDBOX_DEFAULTS };
  if (o.timeoutMs !== undefined) {
    if (typeof o.timeoutMs !== "number" || !Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) {
      throw new ValidationError(`${at}: timeoutMs must be a positive number of milliseconds, got ${show(o.timeoutMs)}. Example: timeoutMs: 5_000.`, { field: "timeoutMs" });
    }
    r.timeoutMs = o.timeoutMs;
  }
  if (o.maxMemory !== undefined) {
    if (!Number.isInteger(o.maxMemory) || o.maxMemory < MIN_MEMORY || o.maxMemory > MAX_MEMORY) {
      throw new ValidationError(
        `${at}: maxMemory must be an integer number of bytes between ${MIN_MEMORY} (1 MiB) and ${MAX_MEMORY} (1 GiB), got ${show(o.maxMemory)}. Example: maxMemory: 100 * 1024 * 1024.`,
        { field: "maxMemory" },
      );
    }
    r.maxMemory = o.maxMemory;
  }
  if (o.maxStackDepth !== undefined) {
    if (!Number.isInteger(o.maxStackDepth) || o.maxStackDepth < 16 || o.maxStackDepth > MAX_STACK_DEPTH) {
      throw new ValidationError(
        `${at}: maxStackDepth must be an integer between 16 and ${MAX_STACK_DEPTH}, got ${show(o.maxStackDepth)}. The interpreter shares the host's native stack, so deeper recursion must become a loop.`,
        { field: "maxStackDepth" },
      );
    }
    r.maxStackDepth = o.maxStackDepth;
  }
  if (o.typeCheck !== undefined) {
    if (typeof o.typeCheck !== "boolean") throw new ValidationError(`${at}: typeCheck must be true or false, got ${show(o.typeCheck)}.`, { field: "typeCheck" });
    r.typeCheck = o.typeCheck;
  }
  return r;
}

function validateTasks(tasks: unknown, at: string): TaskTemplate[] {
  if (tasks === undefined) return [];
  if (!Array.isArray(tasks)) throw new ValidationError(`${at}: tasks must be an array of tasks, got ${show(tasks)}. Example: tasks: [add, mul].`, { field: "tasks" });
  const seen = new Map<string, TaskTemplate>();
  for (const t of tasks) {
    if (!(t instanceof TaskTemplate)) {
      throw new ValidationError(`${at}: tasks must contain tasks made with env.task(...), got ${show(t)}.`, { field: "tasks" });
    }
    const n = t.taskName;
    if (n in globalThis || WITHHELD_GLOBALS.includes(n) || SANDBOX_OWN_GLOBALS.includes(n)) {
      throw new ValidationError(
        `${at}: task "${t.name}" is named like a JavaScript global ("${n}"), so sandboxed code could not call it. Give it another name (pass { name }).`,
        { field: "tasks" },
      );
    }
    const prev = seen.get(n);
    if (prev && prev !== t && prev.name !== t.name) throw duplicateTaskError(at.replace(/^Sandbox "|"$/g, ""), prev, t);
    seen.set(n, t);
  }
  return [...seen.values()];
}

function isSchema(s: unknown): s is SchemaLike {
  return (typeof s === "object" || typeof s === "function") && s !== null && "~standard" in s;
}

/** The task's inputs schema and the names bound as variables. */
function inputsSchema(inputs: unknown, at: string): { schema: SchemaLike; names: string[] } {
  if (isSchema(inputs)) {
    const props = (schemaToJsonSchema(inputs) as { properties?: Record<string, unknown> } | undefined)?.properties;
    if (!props) {
      throw new ValidationError(`${at}: cannot tell the input names from this inputs schema. Pass inputs as { name: schema }, e.g. { x: z.number() }.`, { field: "inputs" });
    }
    const names = Object.keys(props);
    for (const n of names) validateInputName(n, at);
    return { schema: inputs, names };
  }
  if (!isPlainObject(inputs)) {
    throw new ValidationError(`${at}: inputs is required: { name: schema } or one object schema, got ${show(inputs)}. Example: inputs: { x: z.number(), y: z.number() }.`, { field: "inputs" });
  }
  const fields = inputs as Record<string, unknown>;
  for (const [k, s] of Object.entries(fields)) {
    validateInputName(k, at);
    if (!isSchema(s)) throw new ValidationError(`${at}: input "${k}" must be a schema (e.g. z.number()), got ${show(s)}.`, { field: "inputs" });
  }
  return { schema: objectSchema(fields as Record<string, SchemaLike>), names: Object.keys(fields) };
}

/** One object schema from per-input schemas (any Standard Schema vendor; no library is loaded for it). */
function objectSchema(fields: Record<string, SchemaLike>): SchemaLike {
  const jsonSchema = () => ({
    type: "object",
    properties: Object.fromEntries(Object.entries(fields).map(([k, s]) => [k, schemaToJsonSchema(s) ?? {}])),
    required: Object.keys(fields),
    additionalProperties: false,
  });
  return {
    "~standard": {
      version: 1,
      vendor: "flyte-ts",
      jsonSchema: { input: jsonSchema, output: jsonSchema },
      async validate(value: unknown) {
        if (!isPlainObject(value)) return { issues: [{ message: `Expected object, received ${show(value)}`, path: [] }] };
        const out: Record<string, unknown> = {};
        const issues: { message: string; path: PropertyKey[] }[] = [];
        for (const [k, s] of Object.entries(fields)) {
          const r = await s["~standard"].validate(value[k]);
          if (r.issues) issues.push(...r.issues.map((i) => ({ message: i.message, path: [k, ...(i.path ?? []).map((p) => (typeof p === "object" ? p.key : p))] })));
          else if (r.value !== undefined) out[k] = r.value;
        }
        return issues.length ? { issues } : { value: out };
      },
    },
  } as SchemaLike;
}

/** Declared types the boundary cannot carry (dates, bigints, maps, sets) are refused at definition. */
function checkDeclaredTypes(schema: SchemaLike, at: string, which: "inputs" | "output"): void {
  const js = schemaToJsonSchema(schema);
  const bad = js ? findRestricted(js, which) : undefined;
  if (bad) {
    throw new RestrictedTypeError(
      `${at}: ${bad.path} is declared as ${bad.type}, which cannot cross the sandbox boundary. Use plain values (e.g. an ISO string for a date, an array for a set), or pass typeCheck: false.`,
    );
  }
}

function findRestricted(node: unknown, path: string): { path: string; type: string } | undefined {
  if (node === null || typeof node !== "object") return undefined;
  const n = node as Record<string, unknown>;
  if (typeof n["x-flyte-type"] === "string" && ["date", "bigint", "map", "set"].includes(n["x-flyte-type"])) return { path, type: n["x-flyte-type"] };
  if (n.properties && typeof n.properties === "object") {
    for (const [k, v] of Object.entries(n.properties)) {
      const hit = findRestricted(v, `${path}.${k}`);
      if (hit) return hit;
    }
  }
  for (const key of ["items", "additionalProperties"]) {
    const hit = findRestricted(n[key], `${path}[]`);
    if (hit) return hit;
  }
  for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"]) {
    if (Array.isArray(n[key])) for (const v of n[key]) { const hit = findRestricted(v, path); if (hit) return hit; }
  }
  return undefined;
}

registerSandboxNamespace((env) => new SandboxNamespace(env));

/**
 * `TaskTemplate`: a callable task. Calling it outside a run runs the function directly (schemas still
 * validate); inside a running action it submits a child action through the current `ActionScope`.
 *
 * Instances are function objects (so `task(inputs)` works) whose prototype is the class prototype, so
 * `instanceof`, getters and subclassing (plugins, sandbox, clustered) behave like ordinary classes.
 */
import { TraceDoesNotAllowNestedTasksError, ValidationError, RuntimeDataValidationError } from "../errors.ts";
import { currentActionScope } from "../internal/action-scope.ts";
import { Image } from "../images/image.ts";
import { schemaToJsonSchema, validateWithSchema } from "../types/schema.ts";
import { normalizeCache, type Cache, type CacheRequest } from "./cache.ts";
import { normalizeRetries, type RetryStrategy } from "./retry-strategy.ts";
import { normalizeTimeout, type Timeout, type TimeoutRequest } from "./timeout.ts";
import { ReusePolicy } from "./reuse-policy.ts";
import { normalizeSecrets, type Secret, type SecretRequest } from "../secrets/secret.ts";
import { PodTemplate } from "./pod-template.ts";
import { Trigger } from "./trigger.ts";
import { Documentation, type Link } from "./documentation.ts";
import { Resources } from "./resources.ts";
import { checkKeys, isPlainObject, show, validateStringRecord, validateTaskName } from "../internal/validate.ts";
import type { TaskEnvironment } from "./task-environment.ts";
import {
  DEFAULT_MAX_INLINE_IO_BYTES, NOT_OVERRIDABLE, OVERRIDE_KEYS,
  type CallArgs, type OverrideOptions, type SchemaLike, type TaskInterface, type TaskTemplateOptions,
} from "./task-options.ts";

/** @internal Marks a template made by `override()` (its options may differ from what its module declares). */
export const OVERRIDDEN: unique symbol = Symbol("flyte.overridden");

export {
  TASK_OPTION_KEYS, DEFAULT_MAX_INLINE_IO_BYTES,
  type SchemaLike, type Infer, type InferInput, type TaskFunction, type InputsOf, type OutputOf, type CallArgs,
  type TaskOptions, type OverrideOptions, type TaskTemplateOptions, type TaskInterface,
} from "./task-options.ts";

const CALL = Symbol("flyte-ts.call");

/** A Standard Schema; arktype types are callable functions, so functions count too. */
function isSchema(s: unknown): s is SchemaLike {
  if ((typeof s !== "object" && typeof s !== "function") || s === null) return false;
  const std = (s as { "~standard"?: unknown })["~standard"];
  return typeof std === "object" && std !== null && typeof (std as { validate?: unknown }).validate === "function";
}

function makeCallable(proto: object): TaskTemplate {
  const self = function (this: unknown, inputs?: unknown) {
    return (self as unknown as { [CALL](i: unknown): Promise<unknown> })[CALL](inputs);
  };
  Object.setPrototypeOf(self, proto);
  return self as unknown as TaskTemplate;
}

function define(obj: object, key: string | symbol, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: false });
}

// Declaration merging gives instances a call signature.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface TaskTemplate<I = any, O = any> {
  (...args: CallArgs<I>): Promise<O>;
}

/** Base of every task (function tasks, sandboxed orchestrators, clustered tasks, plugins). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class TaskTemplate<I = any, O = any> {
  /** Fully qualified name `env.task` (the bare name while detached). */
  declare readonly name: string;
  declare readonly shortName: string;
  declare readonly env: TaskEnvironment | undefined;
  declare readonly taskType: string;
  declare readonly taskTypeVersion: number;
  declare readonly resources?: Resources;
  declare readonly envVars?: Readonly<Record<string, string>>;
  declare readonly secrets: readonly Secret[];
  declare readonly cache: Cache;
  declare readonly retries: RetryStrategy;
  declare readonly timeout: Timeout;
  declare readonly reusable?: ReusePolicy;
  declare readonly podTemplate?: string | PodTemplate;
  declare readonly interruptible: boolean;
  declare readonly queue?: string;
  declare readonly report: boolean;
  declare readonly maxInlineIoBytes: number;
  declare readonly triggers: readonly Trigger[];
  declare readonly links: readonly Link[];
  declare readonly docs: Documentation;
  declare readonly entrypoint: boolean;
  declare readonly pluginConfig?: unknown;
  /** The bare task name (without the environment prefix). */
  declare readonly taskName: string;
  /** The image option as given (`undefined` = the environment's). */
  declare readonly imageRequest?: string | Image;
  /** File that defined the task, when known. */
  declare readonly sourceFile: string | undefined;
  declare readonly interface: TaskInterface;
  /** The user function (← func); set by function-based templates (`FunctionTaskTemplate` and plugins built on it). */
  declare readonly fn: Function;

  constructor(o: TaskTemplateOptions) {
    const self = makeCallable(new.target.prototype) as unknown as Record<string, unknown>;
    const taskName = validateTaskName(o.name, "Task");
    const at = `Task "${o.env ? `${o.env.name}.` : ""}${taskName}"`;
    define(self, "taskName", taskName);
    define(self, "name", o.env ? `${o.env.name}.${taskName}` : taskName);
    define(self, "shortName", o.shortName ?? taskName);
    define(self, "env", o.env);
    define(self, "taskType", o.taskType ?? "javascript");
    define(self, "taskTypeVersion", o.taskTypeVersion ?? 0);
    define(self, "imageRequest", o.image);
    if (o.image !== undefined && typeof o.image !== "string" && !(o.image instanceof Image)) {
      throw new ValidationError(`${at}: image must be an Image or an image URI string, got ${show(o.image)}.`, { field: "image" });
    }
    const optional = (k: CheckedOption) => (o[k] === undefined ? undefined : checkOption(k, o[k], at));
    define(self, "resources", optional("resources"));
    define(self, "envVars", checkOption("envVars", o.envVars, at));
    define(self, "secrets", checkOption("secrets", o.secrets, at));
    define(self, "cache", checkOption("cache", o.cache ?? "disable", at));
    if (o.retries !== undefined && typeof o.retries === "number" && (!Number.isInteger(o.retries) || o.retries < 0)) {
      throw new ValidationError(`${at}: retries must be a non-negative integer or a RetryStrategy, got ${show(o.retries)}.`, { field: "retries" });
    }
    define(self, "retries", checkOption("retries", o.retries ?? 0, at));
    define(self, "timeout", checkOption("timeout", o.timeout ?? 0, at));
    if (o.reusable !== undefined && !(o.reusable instanceof ReusePolicy)) {
      throw new ValidationError(`${at}: reusable must be a ReusePolicy, got ${show(o.reusable)}.`, { field: "reusable" });
    }
    define(self, "reusable", o.reusable);
    define(self, "podTemplate", optional("podTemplate"));
    define(self, "interruptible", checkOption("interruptible", o.interruptible ?? false, at));
    define(self, "report", checkOption("report", o.report ?? false, at));
    define(self, "entrypoint", checkOption("entrypoint", o.entrypoint ?? false, at));
    define(self, "queue", optional("queue"));
    define(self, "maxInlineIoBytes", checkOption("maxInlineIoBytes", o.maxInlineIoBytes ?? DEFAULT_MAX_INLINE_IO_BYTES, at));
    const triggers = o.triggers === undefined ? [] : Array.isArray(o.triggers) ? o.triggers : [o.triggers];
    for (const t of triggers) {
      if (!(t instanceof Trigger)) throw new ValidationError(`${at}: triggers must be Trigger objects, got ${show(t)}.`, { field: "triggers" });
    }
    define(self, "triggers", Object.freeze([...triggers]));
    define(self, "links", checkOption("links", o.links, at));
    const docs = o.docs === undefined ? new Documentation({ description: "" }) : typeof o.docs === "string" ? new Documentation({ description: o.docs }) : o.docs;
    if (!(docs instanceof Documentation)) throw new ValidationError(`${at}: docs must be a string or a Documentation, got ${show(o.docs)}.`, { field: "docs" });
    define(self, "docs", docs);
    if (o.inputs !== undefined && !isSchema(o.inputs)) {
      throw new ValidationError(`${at}: inputs must be an object schema (e.g. z.object({ x: z.number() })), got ${show(o.inputs)}.`, { field: "inputs" });
    }
    if (o.output !== undefined && !isSchema(o.output)) {
      throw new ValidationError(`${at}: output must be a schema (e.g. z.number()), got ${show(o.output)}.`, { field: "output" });
    }
    const iface: TaskInterface = {};
    if (o.inputs) iface.inputs = o.inputs;
    if (o.output) iface.output = o.output;
    define(self, "interface", iface);
    if (o.inputs) {
      const js = inputJsonSchema(self as unknown as TaskTemplate);
      if (js && js.type !== "object") {
        throw new ValidationError(`${at}: inputs must be an object schema (e.g. z.object({ x: z.number() })); got a schema of type ${show(js.type)}.`, {
          field: "inputs",
        });
      }
    }
    define(self, "pluginConfig", o.pluginConfig);
    define(self, "sourceFile", undefined);
    return self as unknown as TaskTemplate<I, O>;
  }

  /** The image the task runs in: "auto" → the default Debian/Node base, a string → that base image. */
  get image(): Image {
    const req = this.imageRequest ?? this.env?.image ?? "auto";
    if (req instanceof Image) return req;
    return req === "auto" ? Image.fromDebianBase() : Image.fromBaseImage(req);
  }

  get envName(): string | undefined {
    return this.env?.name;
  }

  /** The interface as given; the name flyte-sdk plugins use. */
  get nativeInterface(): TaskInterface {
    return this.interface;
  }

  /** Hook run before `execute`; its result is merged into the context data. */
  async pre(_inputs: I): Promise<Record<string, unknown>> {
    return {};
  }

  /** Runs the task body (the controller calls this inside an attempt). */
  abstract execute(inputs: I): Promise<O>;

  /** Hook applied to the output after `execute`. */
  async post(output: O): Promise<O> {
    return output;
  }

  /** Calls the body directly, never as an action. */
  forward(inputs: I): O | Promise<O> {
    return this.execute(inputs);
  }

  /** Alias of calling the task (kept for flyte-sdk parity). */
  aio(inputs: I): Promise<O> {
    return (this as unknown as (i: I) => Promise<O>)(inputs);
  }

  config(_sctx: unknown): Record<string, string> {
    return {};
  }

  customConfig(_sctx: unknown): Record<string, unknown> {
    return {};
  }

  containerArgs(_sctx: unknown): string[] {
    return ["a0", "--task", this.name];
  }

  dataLoadingConfig(_sctx: unknown): unknown | undefined {
    return undefined;
  }

  sql(_sctx: unknown): string | undefined {
    return undefined;
  }

  /** Returns a new template with the same FQN and the given options replaced (§2.4). */
  override(options: OverrideOptions): TaskTemplate<I, O> {
    const at = `Task "${this.name}"`;
    if (typeof options !== "object" || options === null) throw new ValidationError(`${at}: override expects an options object, got ${show(options)}.`);
    for (const key of Object.keys(options)) {
      if (NOT_OVERRIDABLE.includes(key)) {
        throw new ValidationError(`${at}: ${key} cannot be overridden. Define a new task (or environment) with a different ${key} instead.`, { field: key });
      }
    }
    checkKeys(options, OVERRIDE_KEYS, `${at}.override`);
    const reusable = options.reusable === undefined ? this.reusable : options.reusable;
    if (reusable !== undefined && reusable !== "off") {
      for (const k of ["resources", "envVars", "secrets"] as const) {
        if (options[k] !== undefined) {
          throw new ValidationError(
            `Cannot override ${k} when reusable is set. Reusable tasks use the environment's ${k}; pass reusable: "off" to override them.`,
            { field: k },
          );
        }
      }
    }
    if (options.reusable !== undefined && options.reusable !== "off" && !(options.reusable instanceof ReusePolicy)) {
      throw new ValidationError(`${at}: reusable must be a ReusePolicy or "off", got ${show(options.reusable)}.`, { field: "reusable" });
    }
    if (options.pluginConfig !== undefined) assertPluginRegistered(options.pluginConfig, at);
    const clone = makeCallable(Object.getPrototypeOf(this)) as unknown as Record<string, unknown>;
    for (const key of Reflect.ownKeys(this)) {
      if (key === "length" || key === "prototype") continue;
      Object.defineProperty(clone, key, Object.getOwnPropertyDescriptor(this, key)!);
    }
    const set = (k: string | symbol, v: unknown) => define(clone, k, v);
    const setChecked = (k: Exclude<CheckedOption, "report">) => {
      if (options[k] !== undefined) set(k, checkOption(k, options[k], at));
    };
    if (options.shortName !== undefined) set("shortName", options.shortName);
    setChecked("resources");
    setChecked("cache");
    setChecked("retries");
    setChecked("timeout");
    if (options.reusable !== undefined) set("reusable", options.reusable === "off" ? undefined : options.reusable);
    setChecked("envVars");
    setChecked("secrets");
    setChecked("maxInlineIoBytes");
    setChecked("podTemplate");
    setChecked("queue");
    setChecked("interruptible");
    setChecked("entrypoint");
    setChecked("links");
    if (options.pluginConfig !== undefined) set("pluginConfig", options.pluginConfig);
    set(OVERRIDDEN, true);
    return clone as unknown as TaskTemplate<I, O>;
  }

  /** @internal Re-parents a detached template into an environment (`TaskEnvironment.fromTask`). */
  _attach(env: TaskEnvironment): void {
    define(this, "env", env);
    define(this, "name", `${env.name}.${this.taskName}`);
  }

  /** @internal Records the file that defined the task. */
  _setSourceFile(file: string | undefined): void {
    define(this, "sourceFile", file);
  }

  /** Validates inputs against the inputs schema (if any) and returns what the function receives. */
  async validateInputs(inputs: unknown): Promise<I> {
    return this.validateInputsNow(inputs);
  }

  /** @internal `validateInputs`, synchronous (a value, not a promise) for a task without an inputs schema. */
  validateInputsNow(inputs: unknown): I | Promise<I> {
    const at = `Task "${this.name}"`;
    if (inputs !== undefined && !isPlainObject(inputs)) {
      throw new RuntimeDataValidationError(`${at}: inputs must be one plain object of named inputs, got ${show(inputs)}. Call it as ${this.taskName}({ x: 1 }).`, {
        taskName: this.name, field: "", direction: "input",
      });
    }
    const schema = this.interface.inputs;
    // No inputs means an empty inputs object, so `run(main)` works for `main({ n = 3 })`.
    if (!schema) return (inputs ?? {}) as I;
    const js = inputJsonSchema(this);
    if (js?.properties && isPlainObject(inputs) && js.additionalProperties !== true) {
      const allowed = Object.keys(js.properties);
      for (const key of Object.keys(inputs)) {
        if (!allowed.includes(key)) {
          throw new RuntimeDataValidationError(
            `${at}: input "${key}" is not a declared input. Declared inputs: ${allowed.join(", ") || "(none)"}.`,
            { taskName: this.name, field: key, direction: "input", issues: [{ code: "unrecognized_keys", path: key, message: "Unrecognized key" }] },
          );
        }
      }
    }
    return validateWithSchema(schema, inputs ?? {}, { taskName: this.name, direction: "input" }) as Promise<I>;
  }

  /** Validates the output against the output schema (if any). */
  async validateOutput(output: unknown): Promise<O> {
    const schema = this.interface.output;
    if (!schema) return output as O;
    return (await validateWithSchema(schema, output, { taskName: this.name, direction: "output" })) as O;
  }

  /** The dispatch behind `task(inputs)`. */
  // Not an async function: a wide fan-out keeps every pending call alive, and a suspended frame per call
  // would cost more than the promise the submission already returns.
  [CALL](inputs: unknown): Promise<O> {
    const scope = currentActionScope();
    if (scope) {
      if (scope.inTrace) {
        return Promise.reject(new TraceDoesNotAllowNestedTasksError(
          `Task "${this.name}" was called inside a trace(). Traces cannot start child actions; call ${this.taskName}.forward(...) to run it inline, or move the call out of the trace.`,
        ));
      }
      return scope.submit(this, inputs, scope) as Promise<O>;
    }
    return this.callOutsideRun(inputs);
  }

  /**
   * What calling the task does outside any run: validate, `forward()`, validate the output. Templates whose body
   * must not run directly in-process (sandboxed orchestrators) override it.
   */
  protected async callOutsideRun(inputs: unknown): Promise<O> {
    const parsed = await this.validateInputs(inputs);
    const out = await this.forward(parsed);
    return this.validateOutput(out);
  }
}

/** Names of the declared inputs and the required ones, from the inputs JSON schema. */
export function declaredInputs(task: TaskTemplate): { names: string[]; required: string[] } | undefined {
  const js = inputJsonSchema(task);
  if (!js?.properties) return undefined;
  return { names: Object.keys(js.properties), required: Array.isArray(js.required) ? (js.required as string[]) : [] };
}

interface ObjectJsonSchema {
  type?: unknown;
  properties?: Record<string, unknown>;
  required?: unknown;
  additionalProperties?: unknown;
}

const jsonSchemaCache = new WeakMap<object, ObjectJsonSchema | null>();
function inputJsonSchema(task: TaskTemplate): ObjectJsonSchema | undefined {
  const s = task.interface.inputs;
  if (!s) return undefined;
  let js = jsonSchemaCache.get(s);
  if (js === undefined) {
    js = (schemaToJsonSchema(s) as ObjectJsonSchema | undefined) ?? null;
    jsonSchemaCache.set(s, js);
  }
  return js ?? undefined;
}

/**
 * The checks (and normalisation) of the options a task is both defined and overridden with, so that
 * `new TaskTemplate(...)` and `override()` refuse the same values with the same messages.
 */
const OPTION_CHECKS = {
  resources: (v: unknown, at: string) => {
    if (!(v instanceof Resources)) throw new ValidationError(`${at}: resources must be a Resources, got ${show(v)}.`, { field: "resources" });
    return v;
  },
  envVars: (v: unknown, at: string) => validateStringRecord(v, at, "envVars"),
  secrets: (v: unknown, at: string) => Object.freeze([...normalizeSecrets(v as SecretRequest | undefined, at)]),
  cache: (v: unknown, at: string) => normalizeCache(v as CacheRequest, at),
  retries: (v: unknown, at: string) => normalizeRetries(v as number | RetryStrategy, at),
  timeout: (v: unknown, at: string) => normalizeTimeout(v as TimeoutRequest, at),
  podTemplate: (v: unknown, at: string) => {
    if (typeof v !== "string" && !(v instanceof PodTemplate)) {
      throw new ValidationError(`${at}: podTemplate must be a PodTemplate name or a PodTemplate, got ${show(v)}.`, { field: "podTemplate" });
    }
    return v;
  },
  interruptible: (v: unknown, at: string) => checkBoolean(v, at, "interruptible"),
  report: (v: unknown, at: string) => checkBoolean(v, at, "report"),
  entrypoint: (v: unknown, at: string) => checkBoolean(v, at, "entrypoint"),
  queue: (v: unknown, at: string) => {
    if (typeof v !== "string") throw new ValidationError(`${at}: queue must be a string, got ${show(v)}.`, { field: "queue" });
    return v;
  },
  maxInlineIoBytes: (v: unknown, at: string) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new ValidationError(`${at}: maxInlineIoBytes must be a positive integer number of bytes, got ${show(v)}. Example: 20 * 1024 * 1024.`, {
        field: "maxInlineIoBytes",
      });
    }
    return v;
  },
  links: (v: unknown, at: string) => Object.freeze(normalizeLinks(v as Link | Link[] | undefined, at)),
};
type CheckedOption = keyof typeof OPTION_CHECKS;

function checkOption(key: CheckedOption, value: unknown, at: string): unknown {
  return OPTION_CHECKS[key](value, at);
}

function checkBoolean(v: unknown, at: string, option: string): boolean {
  if (typeof v !== "boolean") throw new ValidationError(`${at}: ${option} must be true or false, got ${show(v)}.`, { field: option });
  return v;
}

function normalizeLinks(links: Link | Link[] | undefined, at: string): Link[] {
  const list = links === undefined ? [] : Array.isArray(links) ? links : [links];
  for (const l of list) {
    if (typeof l !== "object" || l === null || typeof l.name !== "string" || typeof l.getLink !== "function") {
      throw new ValidationError(`${at}: links must be objects with a name and a getLink() function, got ${show(l)}.`, { field: "links" });
    }
  }
  return [...list];
}

type PluginLookup = (config: unknown) => unknown;
let pluginLookup: PluginLookup = () => undefined;
/** @internal Set by the plugin registry so override() can check plugin configs without an import cycle. */
export function _setPluginLookup(fn: PluginLookup): void {
  pluginLookup = fn;
}
export function assertPluginRegistered(config: unknown, at: string): void {
  if (!pluginLookup(config)) {
    const type = (config as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof config;
    throw new ValidationError(`${at}: No task plugin found for config type ${type}; register one with TaskPluginRegistry.register().`, {
      field: "pluginConfig",
    });
  }
}

/**
 * `TaskEnvironment`: the unit of configuration and deployment. Tasks declared with `env.task(...)` inherit
 * its image, resources, env vars, secrets, cache, reuse policy and queue.
 */
import { fileURLToPath } from "node:url";
import { ValidationError } from "../errors.ts";
import { Cache, type CacheRequest } from "./cache.ts";
import { ReusePolicy } from "./reuse-policy.ts";
import { Image } from "../images/image.ts";
import { validateTriggerInputs } from "./trigger.ts";
import { Environment, ENVIRONMENT_OPTION_KEYS, type EnvironmentOptions } from "./environment.ts";
import { FunctionTaskTemplate } from "./function-task-template.ts";
import { TaskPluginRegistry } from "./plugin-registry.ts";
import { checkKeys, show } from "../internal/validate.ts";
import {
  TASK_OPTION_KEYS, TaskTemplate, declaredInputs, assertPluginRegistered,
  type Infer, type InferInput, type InputsOf, type OutputOf, type SchemaLike, type TaskFunction, type TaskOptions,
} from "./task-template.ts";
import type { SandboxNamespace } from "../sandbox/namespace.ts";

export interface TaskEnvironmentOptions extends EnvironmentOptions {
  /** Cache behaviour of every task. @default "disable" */
  cache?: CacheRequest;
  /** Run tasks on a warm pool of reusable workers. @default undefined (no reuse) */
  reusable?: ReusePolicy;
  /** Selects a task plugin registered with `TaskPluginRegistry`. */
  pluginConfig?: unknown;
  /** Queue actions of this environment are routed to. */
  queue?: string;
}

export interface CloneWithOptions extends Partial<Omit<TaskEnvironmentOptions, "name">> {
  name: string;
}

export const TASK_ENVIRONMENT_OPTION_KEYS = [...ENVIRONMENT_OPTION_KEYS, "cache", "reusable", "pluginConfig", "queue"] as const;

const CACHE_STRINGS = ["auto", "override", "disable"];

/**
 * Task options beside schemas. Intersecting the full `TaskOptions` (whose `inputs?: SchemaLike`) with `{ inputs: S }`
 * makes the compiler compare a library's schema type with `StandardSchemaV1` structurally, which for arktype's
 * deeply generic types ends in TS2589 ("excessively deep").
 */
type SchemaTaskOptions = Omit<TaskOptions, "inputs" | "output">;

/** Finds the user file that called into the authoring API (skipping this package's own frames). */
export function callerFile(): string | undefined {
  const stack = new Error().stack?.split("\n") ?? [];
  const here = fileURLToPath(new URL("..", import.meta.url));
  for (const line of stack.slice(1)) {
    const m = /\((.*):\d+:\d+\)$/.exec(line) ?? /at (.*):\d+:\d+$/.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith("file://")) file = fileURLToPath(file);
    if (file.startsWith(here) || file.startsWith("node:") || file.includes("node_modules")) continue;
    return file;
  }
  return undefined;
}

/**
 * Builds `env.sandbox`. sandbox/ sits above authoring/ (its templates extend TaskTemplate), so it registers
 * itself here when loaded (the package entry point loads it) instead of authoring importing it.
 */
let sandboxNamespace: ((env: TaskEnvironment) => SandboxNamespace) | undefined;

/** @internal Called once by sandbox/namespace.ts. */
export function registerSandboxNamespace(build: (env: TaskEnvironment) => SandboxNamespace): void {
  sandboxNamespace = build;
}

export class TaskEnvironment extends Environment {
  readonly cache: CacheRequest;
  readonly reusable?: ReusePolicy;
  readonly pluginConfig?: unknown;
  readonly queue?: string;
  readonly #tasks = new Map<string, TaskTemplate>();
  /** Tasks of this environment, keyed by FQN. */
  readonly tasks: ReadonlyMap<string, TaskTemplate> = this.#tasks;
  /** The file that created the environment, when known: `include` paths are relative to its folder, and `flyte deploy <file>` deploys the environments it creates. */
  readonly sourceFile: string | undefined = callerFile();

  constructor(options: TaskEnvironmentOptions) {
    checkKeys(options, TASK_ENVIRONMENT_OPTION_KEYS, new.target.name);
    super(options, new.target.name);
    const at = `${new.target.name} "${this.name}"`;
    const cache = options.cache ?? "disable";
    if (!(cache instanceof Cache) && !(typeof cache === "string" && CACHE_STRINGS.includes(cache))) {
      throw new ValidationError(`${at}: cache must be "auto", "override", "disable" or a Cache, got ${show(cache)}.`, { field: "cache" });
    }
    this.cache = cache;
    if (options.reusable !== undefined) {
      if (!(options.reusable instanceof ReusePolicy)) {
        throw new ValidationError(`${at}: reusable must be a ReusePolicy, got ${show(options.reusable)}. Use new ReusePolicy({ replicas: 2 }).`, {
          field: "reusable",
        });
      }
      this.reusable = options.reusable;
    }
    if (options.pluginConfig !== undefined) {
      assertPluginRegistered(options.pluginConfig, at);
      if (this.reusable && !TaskPluginRegistry.entryFor(options.pluginConfig)?.supportsReusePolicy) {
        throw new ValidationError(`Cannot set pluginConfig when environment is reusable: environment "${this.name}" has both. Remove reusable or pluginConfig.`, {
          field: "pluginConfig",
        });
      }
      this.pluginConfig = options.pluginConfig;
    }
    if (options.queue !== undefined) {
      if (typeof options.queue !== "string") throw new ValidationError(`${at}: queue must be a string, got ${show(options.queue)}.`, { field: "queue" });
      this.queue = options.queue;
    }
    this.register();
  }

  /** Declares orchestrators that run in the QuickJS sandbox (API.md §13). */
  get sandbox(): SandboxNamespace {
    if (!sandboxNamespace) {
      throw new ValidationError(`env.sandbox: the sandbox module is not loaded. Import TaskEnvironment from "flyte-ts", which loads it.`);
    }
    return sandboxNamespace(this);
  }

  /** Declares a task of this environment. */
  task<F extends TaskFunction>(fn: F): TaskTemplate<InputsOf<F>, OutputOf<F>>;
  task<S extends SchemaLike, T extends SchemaLike>(
    options: SchemaTaskOptions & { inputs: S; output: T },
    fn: (inputs: Infer<S>) => Infer<T> | Promise<Infer<T>>,
  ): TaskTemplate<InferInput<S>, Infer<T>>;
  task<S extends SchemaLike, R>(
    options: SchemaTaskOptions & { inputs: S; output?: undefined },
    fn: (inputs: Infer<S>) => R,
  ): TaskTemplate<InferInput<S>, Awaited<R>>;
  task<T extends SchemaLike, F extends (inputs: never) => Infer<T> | Promise<Infer<T>>>(
    options: SchemaTaskOptions & { output: T },
    fn: F,
  ): TaskTemplate<InputsOf<F>, Infer<T>>;
  // Schemas are matched by the overloads above: a function that contradicts them must not fall through to this one.
  task<F extends TaskFunction>(options: SchemaTaskOptions & { inputs?: undefined; output?: undefined }, fn: F): TaskTemplate<InputsOf<F>, OutputOf<F>>;
  task(a: TaskOptions | TaskFunction, b?: TaskFunction): TaskTemplate {
    const [options, fn] = typeof a === "function" ? [{} as TaskOptions, a] : [a, b];
    if (typeof options !== "object" || options === null) {
      throw new ValidationError(`Environment "${this.name}": env.task expects (fn) or (options, fn), got ${show(options)}.`);
    }
    if (typeof fn !== "function") {
      throw new ValidationError(`Environment "${this.name}": env.task needs a task function, got ${show(fn)}. Use env.task(async function name({ x }) { ... }).`);
    }
    checkKeys(options, TASK_OPTION_KEYS, "env.task");
    return this.addTask(options, fn, FunctionTaskTemplate, callerFile());
  }

  /**
   * @internal Builds and registers a task template of `templateClass` with the environment's defaults applied.
   * Used by `env.task`, `env.sandbox.orchestrator` and clustered environments.
   */
  addTask<T extends TaskTemplate>(
    options: TaskOptions,
    fn: TaskFunction | undefined,
    templateClass: new (o: never) => T,
    sourceFile?: string,
  ): T {
    const name = options.name ?? fn?.name;
    if (!name) throw new ValidationError("Task function has no name. Use a named function or pass { name }.", { field: "name" });
    const fqn = `${this.name}.${name}`;
    const at = `Task "${fqn}"`;
    if (this.#tasks.has(fqn)) {
      throw new ValidationError(`Task "${fqn}" is already defined in environment "${this.name}". Give the task a different name (pass { name }).`, {
        field: "name",
      });
    }
    if (fn && fn.length > 1) {
      throw new ValidationError(`${at}: Task functions take one object of named inputs, but it declares ${fn.length} parameters. Use function ${name}({ a, b }: { a: number; b: number }).`, {
        field: "fn",
      });
    }
    if (this.reusable) {
      if (options.podTemplate !== undefined) {
        throw new ValidationError(`${at}: Cannot set podTemplate when environment is reusable. Remove podTemplate or use an environment without reusable.`, {
          field: "podTemplate",
        });
      }
      if (this.reusable.concurrency > 1 && fn && fn.constructor.name !== "AsyncFunction") {
        throw new ValidationError(
          `${at}: Reusable environments with concurrency > 1 require an async function (concurrency is ${this.reusable.concurrency}). Declare it as async function ${name}(...).`,
          { field: "fn" },
        );
      }
    }
    let cls: new (o: never) => TaskTemplate = templateClass;
    if (this.pluginConfig !== undefined && templateClass === (FunctionTaskTemplate as unknown)) {
      const entry = TaskPluginRegistry.entryFor(this.pluginConfig);
      if (!entry) assertPluginRegistered(this.pluginConfig, at);
      cls = entry!.templateClass as unknown as new (o: never) => TaskTemplate;
    }
    const full = {
      ...options,
      name,
      fn,
      env: this,
      cache: options.cache ?? this.cache,
      podTemplate: options.podTemplate ?? this.podTemplate,
      interruptible: options.interruptible ?? this.interruptible,
      queue: options.queue ?? this.queue,
      resources: this.resources,
      envVars: this.envVars,
      secrets: this.secrets,
      reusable: this.reusable,
      pluginConfig: this.pluginConfig,
    };
    const task = new cls(full as never);
    const inputs = declaredInputs(task);
    if (inputs) {
      for (const ignored of task.cache.ignoredInputs) {
        if (!inputs.names.includes(ignored)) {
          throw new ValidationError(`${at}: Cache ignoredInputs names "${ignored}", which is not an input of the task. Inputs: ${inputs.names.join(", ")}.`, {
            field: "cache",
          });
        }
      }
      for (const t of task.triggers) validateTriggerInputs(t, inputs.names, inputs.required, fqn);
    }
    task._setSourceFile(sourceFile);
    this.#tasks.set(task.name, task);
    return task as T;
  }

  /** A copy with some options replaced; `reusable: undefined` passed explicitly clears reuse. Tasks are not copied. */
  cloneWith(options: CloneWithOptions): TaskEnvironment {
    checkKeys(options, TASK_ENVIRONMENT_OPTION_KEYS, `${this.constructor.name}.cloneWith`);
    if (!options || typeof options.name !== "string") {
      throw new ValidationError(`${this.constructor.name}.cloneWith: name is required, got ${show(options?.name)}. Pass cloneWith({ name: "new-name", ... }).`, {
        field: "name",
      });
    }
    const base = this.cloneOptions();
    const merged = { ...base, ...options, dependsOn: [...(options.dependsOn ?? base.dependsOn ?? [])] };
    if (!("reusable" in options)) merged.reusable = base.reusable;
    return new TaskEnvironment(stripUndefined(merged));
  }

  /** The options this environment was built from, for `cloneWith`. */
  protected cloneOptions(): TaskEnvironmentOptions {
    return {
      name: this.name, image: this.image, resources: this.resources, envVars: this.envVars ? { ...this.envVars } : undefined,
      secrets: this.secrets, podTemplate: this.podTemplate, description: this.description, interruptible: this.interruptible,
      dependsOn: [...this.dependsOn], include: [...this.include], cache: this.cache, reusable: this.reusable,
      pluginConfig: this.pluginConfig, queue: this.queue,
    };
  }

  /** Builds an environment around detached tasks (made with `new FunctionTaskTemplate(...)`). */
  static fromTask(name: string, tasks: TaskTemplate[], options: { dependsOn?: Environment[] } = {}): TaskEnvironment {
    checkKeys(options, ["dependsOn"], "TaskEnvironment.fromTask");
    if (!Array.isArray(tasks) || tasks.some((t) => !(t instanceof TaskTemplate))) {
      throw new ValidationError(`TaskEnvironment.fromTask: tasks must be an array of task templates, got ${show(tasks)}.`);
    }
    let image: string | Image | undefined;
    for (const t of tasks) {
      if (t.env !== undefined) {
        throw new ValidationError(`Tasks cannot be assigned to multiple environments: task "${t.name}" already belongs to environment "${t.env.name}".`);
      }
      const img = t.imageRequest;
      if (img === undefined) continue;
      if (image === undefined) image = img;
      else if (image !== img) {
        throw new ValidationError(`Tasks must have the same image to share an environment: task "${t.name}" uses ${show(img instanceof Image ? img.uri : img)}, another uses ${show(image instanceof Image ? image.uri : image)}.`);
      }
    }
    const env = new TaskEnvironment({ name, image: image ?? "auto", dependsOn: options.dependsOn ?? [] });
    for (const t of tasks) {
      t._attach(env);
      env.#tasks.set(t.name, t);
    }
    return env;
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

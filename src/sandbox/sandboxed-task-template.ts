/**
 * Task templates whose body runs in the QuickJS sandbox (task type `"sandboxed-javascript"`):
 * `SandboxedTaskTemplate` (function mode, from `env.sandbox.orchestrator(fn)`) and `CodeTaskTemplate`
 * (code-string mode). Each attempt runs in a fresh sandbox; the tasks the code calls become child actions.
 *
 * @example
 * ```ts
 * const pipeline = env.sandbox.orchestrator(async function pipeline({ n }: { n: number }) { return (await add({ x: n, y: n })) * 2; });
 * const r = await run(pipeline, { n: 2 }); // one "pipeline" action with one "add" child
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { Cache, sourceTokens, type CachePolicy } from "../authoring/cache.ts";
import { TaskTemplate, type OverrideOptions, type TaskTemplateOptions } from "../authoring/task-template.ts";
import { ValidationError } from "../errors.ts";
import { currentActionScope } from "../internal/action-scope.ts";
import { runInSandbox, type SandboxLimits } from "./quickjs-runner.ts";
import type { PreparedSource } from "./source.ts";

export const SANDBOX_TASK_TYPE = "sandboxed-javascript";

/** Resolved sandbox limits of a task (← flyte-sdk `SandboxedConfig`). */
export type SandboxConfig = Readonly<SandboxLimits>;

/** @internal What `env.sandbox.orchestrator` passes through `TaskEnvironment.addTask`. */
export interface SandboxedTaskTemplateOptions extends TaskTemplateOptions {
  fn?: (inputs: never) => unknown;
  sandbox: SandboxConfig;
  sandboxTasks: readonly TaskTemplate[];
  prepared: PreparedSource;
  /** The code string (code mode only). */
  code?: string;
}

function define(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: false });
}

/** A task whose function runs inside the sandbox; `forward()` still calls the function directly. */
export class SandboxedTaskTemplate<I = any, O = any> extends TaskTemplate<I, O> {
  declare readonly fn: (inputs: I) => O | Promise<O>;
  /** Limits applied to every attempt. */
  declare readonly sandbox: SandboxConfig;
  /** Tasks given in `tasks` (the environment's own tasks are callable too). */
  declare readonly sandboxTasks: readonly TaskTemplate[];
  /** @internal The entry expression QuickJS evaluates. */
  declare readonly prepared: PreparedSource;

  constructor(o: SandboxedTaskTemplateOptions) {
    super({ ...o, taskType: SANDBOX_TASK_TYPE });
    define(this, "fn", o.fn);
    define(this, "sandbox", Object.freeze({ ...o.sandbox }));
    define(this, "sandboxTasks", Object.freeze([...o.sandboxTasks]));
    define(this, "prepared", o.prepared);
  }

  /** Runs one attempt in a fresh sandbox. */
  async execute(inputs: I): Promise<O> {
    // Inside a run, the attempt's signal (abort, maxRuntime) also stops the sandbox.
    const signal = (currentActionScope()?.context as { signal?: AbortSignal } | undefined)?.signal;
    return (await runInSandbox({
      label: this.name, source: this.prepared, inputs, tasks: this.callableTasks(), limits: this.sandbox, ...(signal ? { signal } : {}),
    })) as O;
  }

  /** Calls the function directly, outside the sandbox and never as an action. */
  override forward(inputs: I): O | Promise<O> {
    return this.fn(inputs);
  }

  /** Outside a run an orchestrator still runs in the sandbox (§13); `forward()` keeps its direct meaning. */
  protected override async callOutsideRun(inputs: unknown): Promise<O> {
    const parsed = await this.validateInputs(inputs);
    return this.validateOutput(await this.execute(parsed));
  }

  /**
   * The tasks the code may call, by bare name: the environment's tasks (read now, so tasks defined after
   * the orchestrator are included) and `sandboxTasks`; an entry of `tasks` with the same FQN replaces the
   * environment's (e.g. an `override()`), the same bare name from another environment is an error.
   */
  callableTasks(): Map<string, TaskTemplate> {
    const out = new Map<string, TaskTemplate>();
    for (const t of this.env?.tasks.values() ?? []) out.set(t.taskName, t);
    for (const t of this.sandboxTasks) {
      const prev = out.get(t.taskName);
      if (prev && prev !== t && prev.name !== t.name) throw duplicateTaskError(this.name, prev, t);
      out.set(t.taskName, t);
    }
    return out;
  }
}

export function duplicateTaskError(label: string, a: TaskTemplate, b: TaskTemplate): ValidationError {
  return new ValidationError(
    `Sandbox "${label}": two tasks are named "${a.taskName}" (${a.name} and ${b.name}); sandboxed code calls tasks by bare name. ` +
      "Rename one (pass { name }) or leave one out of tasks.",
    { field: "tasks" },
  );
}

/** A code-string orchestrator; `forward()` is not available (there is no host function to call). */
export class CodeTaskTemplate<I = Record<string, unknown>, O = unknown> extends SandboxedTaskTemplate<I, O> {
  /** The code string as given. */
  declare readonly code: string;

  constructor(o: SandboxedTaskTemplateOptions) {
    super(o);
    const self = this;
    // There is no host function: `fn` (read by cache policies and tooling) explains how to run the task instead.
    define(this, "fn", function codeOrchestrator(): never {
      return self.forward(undefined as I) as never;
    });
    define(this, "code", o.code ?? "");
    define(this, "cache", withSourcePolicy(this.cache, this.code));
  }

  override forward(_inputs: I): O | Promise<O> {
    throw new ValidationError(
      `Task "${this.name}" is a code-string orchestrator: it has no host function, so forward() cannot run it. Call it (await ${this.taskName}(inputs)) or run(${this.taskName}, inputs) instead.`,
    );
  }

  override override(options: OverrideOptions): TaskTemplate<I, O> {
    const t = super.override(options);
    if (options.cache !== undefined) define(t, "cache", withSourcePolicy(t.cache, this.code));
    return t;
  }
}

/** Versions code-string tasks by their code, as FunctionBodyPolicy versions function tasks by their body. */
class CodeSourcePolicy implements CachePolicy {
  readonly #code: string;
  constructor(code: string) {
    this.#code = code;
  }
  getVersion(salt: string): string {
    return createHash("sha256").update(sourceTokens(this.#code).join(" ") + salt).digest("hex");
  }
}

function withSourcePolicy(cache: Cache, code: string): Cache {
  if (cache.versionOverride !== undefined || !cache.isEnabled()) return cache;
  return new Cache({
    behavior: cache.behavior, serialize: cache.serialize, ignoredInputs: cache.ignoredInputs, salt: cache.salt,
    policies: [...cache.policies, new CodeSourcePolicy(code)],
  });
}


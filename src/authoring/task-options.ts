/**
 * The option and type vocabulary of tasks: what `env.task(options, fn)` and `task.override(options)` accept, and
 * the helpers that infer a task's input and output types from its function or schemas.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { CacheRequest } from "./cache.ts";
import type { Documentation, Link } from "./documentation.ts";
import type { Image } from "../images/image.ts";
import type { PodTemplate } from "./pod-template.ts";
import type { Resources } from "./resources.ts";
import type { RetryStrategy } from "./retry-strategy.ts";
import type { ReusePolicy } from "./reuse-policy.ts";
import type { SecretRequest } from "../secrets/secret.ts";
import type { TimeoutRequest } from "./timeout.ts";
import type { Trigger } from "./trigger.ts";
import type { TaskEnvironment } from "./task-environment.ts";

/** Any Standard Schema (zod ≥ 3.24, valibot, arktype ...). */
export type SchemaLike = StandardSchemaV1;
export type Infer<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : never;
/** What callers pass for a schema (before defaults and coercion apply). */
export type InferInput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : never;
/** A task function takes one object of named inputs (or nothing). */
export type TaskFunction = (inputs: never) => unknown;
export type InputsOf<F> = F extends (...args: infer P) => unknown ? (P extends [] ? void : P[0]) : never;
export type OutputOf<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;
/** Arguments of a task call: none when the task declares no inputs. */
export type CallArgs<I> = 0 extends 1 & I
  ? [inputs?: I] // I is `any` (an untyped template, e.g. `new FunctionTaskTemplate({ fn })`): accept anything
  : [I] extends [void] ? [inputs?: undefined] : undefined extends I ? [inputs?: I] : [inputs: I];

/** Options of `env.task(options, fn)`. Unset fields inherit from the environment. */
export interface TaskOptions {
  /** Task name. @default fn.name (required when fn is anonymous) */
  name?: string;
  /** UI label. @default the task's own name */
  shortName?: string;
  /** @default the environment's cache ("disable") */
  cache?: CacheRequest;
  /** User retries (attempts = count + 1). @default 0 */
  retries?: number | RetryStrategy;
  /** A bare duration means maxRuntime. @default 0 (unbounded) */
  timeout?: TimeoutRequest;
  /** @default Documentation({ description: "" }) */
  docs?: string | Documentation;
  /** @default the environment's podTemplate */
  podTemplate?: string | PodTemplate;
  /** Persist an HTML report per action. @default false */
  report?: boolean;
  /** @default the environment's interruptible */
  interruptible?: boolean;
  /** Inline inputs/outputs above this size are offloaded to the blob store. @default 10 MiB */
  maxInlineIoBytes?: number;
  /** @default the environment's queue */
  queue?: string;
  /** @default [] */
  triggers?: Trigger | Trigger[];
  /** @default [] */
  links?: Link | Link[];
  /** UI hint. @default false */
  entrypoint?: boolean;
  /** Object schema of the inputs object. */
  inputs?: SchemaLike;
  /** Schema of the return value. */
  output?: SchemaLike;
}

export const TASK_OPTION_KEYS = [
  "name", "shortName", "cache", "retries", "timeout", "docs", "podTemplate", "report", "interruptible", "maxInlineIoBytes",
  "queue", "triggers", "links", "entrypoint", "inputs", "output",
] as const;

export interface OverrideOptions {
  shortName?: string;
  resources?: Resources;
  cache?: CacheRequest;
  retries?: number | RetryStrategy;
  timeout?: TimeoutRequest;
  reusable?: ReusePolicy | "off";
  envVars?: Record<string, string>;
  secrets?: SecretRequest;
  maxInlineIoBytes?: number;
  podTemplate?: string | PodTemplate;
  queue?: string;
  interruptible?: boolean;
  entrypoint?: boolean;
  links?: Link | Link[];
  pluginConfig?: unknown;
}
export const OVERRIDE_KEYS = [
  "shortName", "resources", "cache", "retries", "timeout", "reusable", "envVars", "secrets", "maxInlineIoBytes", "podTemplate",
  "queue", "interruptible", "entrypoint", "links", "pluginConfig",
] as const;
export const NOT_OVERRIDABLE = ["name", "image", "docs", "inputs", "output", "interface", "report", "triggers"];

export const DEFAULT_MAX_INLINE_IO_BYTES = 10 * 1024 * 1024;

/** Everything a template is built from; `env` and `image` are set by the environment that owns it. */
export interface TaskTemplateOptions extends TaskOptions {
  name: string;
  taskType?: string;
  taskTypeVersion?: number;
  image?: string | Image;
  env?: TaskEnvironment;
  pluginConfig?: unknown;
  resources?: Resources;
  envVars?: Record<string, string>;
  secrets?: SecretRequest;
  reusable?: ReusePolicy;
}

export interface TaskInterface {
  inputs?: SchemaLike;
  output?: SchemaLike;
  /** JSON Schemas (`{ inputs, output }`) read from a schema-less task's TypeScript signature by `flyte run`. */
  jsonSchema?: object;
}


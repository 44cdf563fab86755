/**
 * The messages between an attempt's owner (this process: the embedded runtime or a worker) and the child process
 * that runs the attempt (attempt-entry.ts), over the IPC channel of `child_process.fork` with `serialization:
 * "advanced"` (structured clone, so dates and typed arrays in error records survive). Values cross as literals
 * (types/literal.ts), the form in which they cross action boundaries anyway.
 *
 * ```
 * child → owner  ready                      runtime loaded, waiting for an attempt (a pre-started process)
 * owner → child  run {spec}                 the attempt: module, task, inputs, context, env vars, secrets
 * child → owner  call {id, task, inputs}    the task calls another task: the owner's controller runs it
 * owner → child  result {id, lit} | error   how that call ended
 * owner → child  abort {reason}             maxRuntime passed / run aborted: ctx().signal fires
 * child → owner  log {stream, line}         a console line of the attempt (replicas; a one-attempt process's stdio is its log)
 * child → owner  done {lit} | failed {err}  how the attempt ended; a one-attempt process exits right after
 * ```
 */
import type { ErrorRecord } from "../../errors.ts";
import type { JobOverrides } from "../../authoring/task-overrides.ts";
import type { Literal } from "../../types/literal.ts";

/** The serialisable part of an attempt's `TaskContext` (also what each rank of a clustered task gets). */
export interface ChildContext {
  action: { name: string; runName: string; project?: string; domain?: string };
  actionName: string;
  runName: string;
  attempt: number;
  version: string;
  rawDataPath: string;
  runBaseDir: string;
  mode: "local" | "remote" | "hybrid";
  customContext: Record<string, string>;
  checkpoints: { previous: string | null; current: string };
  group: string | null;
  runStartTime: Date;
  inputPath: string;
  outputPath: string;
  codeBundle: { uri: string; version: string } | null;
  imageCache: Record<string, string>;
}

export interface AttemptSpec {
  /** File that defines the task (locally the user's file, on workers the unpacked deployed bundle's). */
  module: string;
  /** Task FQN (`env.task`). */
  task: string;
  inputs: Literal;
  context: ChildContext;
  /** Env vars the attempt sets (the run's, the task's and secrets exposed as env vars). */
  env: Record<string, string>;
  /** `getSecret()` values by id (`group/key` or `key`). */
  secrets: [string, string][];
}

/**
 * Every message about an attempt carries its `aid`: a pre-started process runs one attempt (`keep: false`, it exits
 * after reporting), a replica of a warm pool (reuse-pool.ts) runs many, several at once, and stays.
 */
export type ToChild =
  | { t: "run"; aid: number; spec: AttemptSpec; keep: boolean }
  | { t: "abort"; aid: number; reason: ErrorRecord }
  | { t: "result"; aid: number; id: number; lit: Literal }
  | { t: "error"; aid: number; id: number; err: ErrorRecord };

export type ToOwner =
  | { t: "ready" }
  | { t: "call"; aid: number; id: number; task: string; overrides?: JobOverrides; inputs: Literal; group: string | null; customContext: Record<string, string> }
  | { t: "log"; aid: number; stream: "stdout" | "stderr"; line: string }
  | { t: "done"; aid: number; lit: Literal }
  | { t: "failed"; aid: number; err: ErrorRecord };

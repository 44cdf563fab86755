/**
 * Messages between the host and the sandbox worker threads (./worker-pool.ts ↔ ./sandbox-worker.ts), and
 * the size caps on what leaves the sandbox. Every message names its attempt (`a`): a worker runs one
 * attempt at a time while fewer than the pool's maximum run at once, several beyond that.
 *
 * One step = one entry into the interpreter: the host posts `start` or `settle`, the worker runs the
 * sandbox's pending jobs and answers with exactly one `step` (the task calls made in it, CPU time so far)
 * or `end`. Workers answer in the order they were asked, which lets the host time each step.
 * @module
 * @internal
 */
import type { SandboxErrorInfo } from "./sandbox-errors.ts";

/** Longest error message (and error name or code) that leaves the sandbox; the rest is cut with a note. */
export const MAX_ERROR_MESSAGE_CHARS = 16 * 1024;
/** Longest stack trace that leaves the sandbox (only its first frames are read, for the line number). */
export const MAX_ERROR_STACK_CHARS = 4 * 1024;
/** Largest value, as JSON text, that leaves the sandbox: an output, a task's inputs, flyteMap items. */
export const MAX_VALUE_CHARS = 10 * 1024 * 1024;
/** Longest console line kept (the attempt's whole console output is capped separately). */
export const MAX_LOG_LINE_CHARS = 64 * 1024;

export interface WorkerLimits {
  timeoutMs: number;
  maxMemory: number;
  maxStackDepth: number;
  typeCheck: boolean;
}

/** Host → worker. */
export type HostMessage =
  | {
      t: "start";
      a: number;
      label: string;
      entry: string;
      lineOffset: number;
      inputsJson: string | undefined;
      taskNames: string[];
      limits: WorkerLimits;
      /**
       * 24 shared bytes: an Int32 at 0 the host sets to 1 to interrupt the attempt (abort) without waiting for
       * the step to end; two Float64 at 8 the worker keeps current: sandbox CPU ms so far, and the absolute time
       * (timeOrigin + now) the current interpreter entry began, or 0 outside the interpreter.
       */
      stop: SharedArrayBuffer;
    }
  /** Settled task calls: JSON array of `[id, state, value]` triples flattened (see prelude.ts `settle`). */
  | { t: "settle"; a: number; batch: string; n: number }
  /** The host gave up on the attempt (abort): dispose it. Answered with nothing. */
  | { t: "drop"; a: number };

/** How an attempt ended, as the worker saw it; the host turns it into a flyte-ts error or the output. */
export type EndReason =
  | { kind: "ok"; payload: string | undefined }
  | { kind: "error"; info: SandboxErrorInfo }
  | { kind: "timeout" }
  | { kind: "violation"; name: string }
  | { kind: "stopped" }
  | { kind: "never-settles" }
  | { kind: "failed"; message: string }
  /** The interpreter itself failed (a wasm abort, a native stack overflow). */
  | { kind: "crash"; message: string };

/** Worker → host. */
export type WorkerMessage =
  | { t: "ready" }
  | { t: "log"; a: number; level: string; line: string }
  /**
   * The step is over and the attempt waits for task results. `calls`: the task calls made in the step, three
   * lines each (name as JSON, id, inputs JSON or empty); `maps`: flyteMap calls; `vmMs`: sandbox CPU time so far.
   */
  | { t: "step"; a: number; calls: string; maps: MapCall[]; vmMs: number }
  /** `broken`: the WebAssembly instance aborted (or could not free the attempt): the worker must be replaced. */
  | { t: "end"; a: number; reason: EndReason; broken?: true };

/** One flyteMap call: task name, items JSON, options JSON (or undefined), call id. */
export type MapCall = [name: string, itemsJson: string, optionsJson: string | undefined, id: number];

/** `s` cut to `max` characters, saying how much was cut. */
export function capText(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}… [${s.length - max} more characters cut]`;
}

/** An error's fields cut to the caps above. */
export function capErrorInfo(info: SandboxErrorInfo): SandboxErrorInfo {
  return {
    ...info,
    name: capText(info.name, 200),
    message: capText(info.message, MAX_ERROR_MESSAGE_CHARS),
    ...(info.stack !== undefined ? { stack: capText(info.stack, MAX_ERROR_STACK_CHARS) } : {}),
    ...(info.code !== undefined ? { code: capText(info.code, 200) } : {}),
  };
}

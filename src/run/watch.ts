/**
 * `Run.watch()`: live updates of a run that this process executes — each action's phase changes, and the
 * console lines its attempts print — for progress displays such as the `flyte run` tree.
 *
 * Listeners are called outside the attempt that caused the update, so what they print reaches the terminal
 * instead of being captured into that attempt's logs.
 */
import type { ActionEvent } from "../controller/controller.ts";
import { rawWrite, setLogEcho } from "../internal/terminal-output.ts";
import { runInFrame } from "../internal/async-frame.ts";
import type { ErrorDetails } from "./action-details.ts";
import { ctx } from "./context.ts";
import { getRuntime } from "./runtime.ts";

/** One change of an action: its phase, attempt and timing as of this update. */
export interface ActionUpdate {
  run: string;
  action: string;
  parent: string | null;
  shortName: string;
  taskName: string;
  group: string | null;
  phase: ActionEvent["phase"];
  /** 0-based attempt number. */
  attempt: number;
  cacheHit: boolean;
  recovered: boolean;
  /** Milliseconds since the epoch. */
  startedAt: number | null;
  endedAt: number | null;
  /** Why the action ended failed, timed out or aborted. */
  error?: ErrorDetails;
  /** While a retry runs (`attempt > 0`): why the previous attempt failed. */
  previousAttemptError?: ErrorDetails;
}

/** A console line an attempt printed, as it printed it (secret values already masked). */
export interface LiveLogLine {
  /** The short name of the action's task. */
  label: string;
  stream: "stdout" | "stderr";
  message: string;
}

export interface RunWatcher {
  onAction?(update: ActionUpdate): void;
  /** The run's lines then go to the watcher instead of being echoed to the terminal (other runs' lines are echoed as before). */
  onLog?(line: LiveLogLine): void;
}

export interface RunWatch {
  /** Delivers the updates still on their way, then stops watching. */
  close(): Promise<void>;
}

const FAILED: readonly string[] = ["failed", "timed_out", "aborted"];
/** Log watchers by run name; a line of a run nobody watches is echoed as usual. */
const logWatchers = new Map<string, Set<(line: LiveLogLine) => void>>();
const defaultEcho = (stream: "stdout" | "stderr", _label: string, line: string): void => rawWrite(stream, `${line}\n`);
const routeLogLine = (stream: "stdout" | "stderr", label: string, message: string): void => {
  // The echo runs inside the attempt that printed; a line flushed after its attempt has no run around it.
  const run = ctx()?.runName;
  const watchers = run !== undefined ? logWatchers.get(run) : logWatchers.size === 1 ? [...logWatchers.values()][0] : undefined;
  if (!watchers || watchers.size === 0) return defaultEcho(stream, label, message);
  for (const w of watchers) w({ label, stream, message });
};

/** Calls `fn` with no task around it: what it writes is not captured into an attempt's logs. */
const outsideAttempts = (fn: () => void): void => runInFrame({ scope: undefined, io: undefined, sink: undefined }, fn);

/** @internal The implementation of `Run.watch()`. */
export function watchRun(runName: string, w: RunWatcher): RunWatch {
  let pending: Promise<void> = Promise.resolve();
  let queued = 0;
  const deliver = (u: ActionUpdate): void => outsideAttempts(() => w.onAction?.(u));
  const onEvent = (e: ActionEvent): void => {
    if (e.run !== runName || !w.onAction) return;
    // Events carry the action's error (or, while a retry runs, the previous attempt's): nothing to look up.
    const { error, ...rest } = e;
    const update: ActionUpdate = rest;
    if (error) {
      if (FAILED.includes(e.phase)) update.error = error;
      else if (e.attempt > 0 && e.phase !== "succeeded") update.previousAttemptError = error;
    }
    deliver(update);
  };
  const offEvents = getRuntime().controller.onActionEvent(onEvent);
  const onLog = w.onLog ? (line: LiveLogLine): void => outsideAttempts(() => w.onLog!(line)) : undefined;
  if (onLog) {
    const set = logWatchers.get(runName) ?? logWatchers.set(runName, new Set()).get(runName)!;
    set.add(onLog);
    setLogEcho(routeLogLine);
  }
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      offEvents();
      await pending;
      if (onLog) {
        const set = logWatchers.get(runName);
        set?.delete(onLog);
        if (set?.size === 0) logWatchers.delete(runName);
        if (logWatchers.size === 0) setLogEcho(defaultEcho);
      }
    },
  };
}

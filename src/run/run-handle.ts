/**
 * `Run`: a handle on a recorded run (API.md §10.3), whether this process executes it or not.
 */
import {
  ActionNotFoundError, LogsNotYetAvailableError, RunNotFoundError, TaskTimeoutError, errorFromRecord,
} from "../errors.ts";
import { isTerminal, type ActionPhase, type RunKey } from "../store/store.ts";
import { parseDuration, type Duration } from "../internal/duration.ts";
import { rawWrite } from "../internal/terminal-output.ts";
import { buildActionTree, type ActionCacheDetails, type ActionDetails, type ErrorDetails } from "./action-details.ts";
import { Action, notFound } from "./action-handle.ts";
import { getRuntime } from "./runtime.ts";
import { decodeStoredValue as decode } from "./stored-value.ts";
import { watchRun, type RunWatch, type RunWatcher } from "./watch.ts";
import { runTriggerOf, type RunTriggerInfo } from "./list-runs.ts";

export type { ActionPhase, ActionCacheDetails, ActionDetails, ErrorDetails };
/** The phases of runs and actions: all of them in lifecycle order, and the ones a run or action ends in. */
export { ACTION_PHASES, TERMINAL_PHASES } from "../store/store.ts";

export interface RunDetails {
  name: string;
  taskName: string;
  phase: ActionPhase;
  createdAt: Date;
  startedAt?: Date;
  endedAt?: Date;
  inputs: unknown;
  outputs?: unknown;
  error?: ErrorDetails;
  recoverFrom?: string;
  /** The trigger whose fire started the run (`flyte serve`), and the scheduled fire time. */
  trigger?: RunTriggerInfo;
  root: ActionDetails;
}

export interface LogLine {
  time: Date;
  action: string;
  attempt: number;
  stream: "stdout" | "stderr";
  message: string;
}

const date = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** What started a run: its task, the file the task came from and the run context that recovering it re-applies. */
export interface RunSource {
  taskName: string;
  /** The user file that defined the task (absent for tasks defined outside a file the CLI or `run()` could see). */
  file?: string;
  customContext: Record<string, string>;
  envVars: Record<string, string>;
}

/** @internal A log line as `showLogs()` prints it (`raw`: the message alone). */
export function formatLogLine(l: LogLine, o: { raw?: boolean } = {}): string {
  return o.raw ? `${l.message}\n` : `${l.time.toISOString()} [${l.action}#${l.attempt}] ${l.message}\n`;
}

export class Run<O = unknown> {
  readonly name: string;
  readonly mode: "local" | "remote" | "hybrid";
  readonly url: string | null;
  readonly #key: RunKey;

  /** @internal Use `run()` or `getRun()`. */
  constructor(key: RunKey, mode: "local" | "remote" | "hybrid") {
    this.name = key.name;
    this.#key = key;
    this.mode = mode;
    const ui = getRuntime().config.uiUrl;
    this.url = ui ? `${ui.replace(/\/$/, "")}/runs/${key.name}` : null;
  }

  async #row() {
    const row = await getRuntime().store.getRun(this.#key);
    if (!row) throw new RunNotFoundError(`Run "${this.name}" was not found in ${this.#key.project}/${this.#key.domain}. List runs with: flyte get runs`);
    return row;
  }

  async phase(): Promise<ActionPhase> {
    return (await this.#row()).phase;
  }

  /** Resolves at a terminal phase; never throws for failed runs. */
  async wait(o: { timeout?: Duration } = {}): Promise<ActionPhase> {
    const ms = o.timeout === undefined ? undefined : parseDuration(o.timeout, "Run.wait", "timeout");
    const phase = await getRuntime().controller.waitRun(this.#key, ms);
    if (!isTerminal(phase)) {
      throw new TaskTimeoutError(`Run "${this.name}" did not finish within ${ms! / 1000}s (it is ${phase}). Wait longer or check it with: flyte get run ${this.name}`, { bound: "wait" });
    }
    return phase;
  }

  /** Waits, then returns the root output or throws the run's error. */
  async outputs(): Promise<O> {
    await this.wait();
    const row = await this.#row();
    if (row.phase !== "succeeded") {
      throw errorFromRecord(row.error ?? { name: "RuntimeSystemError", code: "Unknown", kind: "system", message: `Run "${this.name}" ended ${row.phase}.` });
    }
    return (await decode(row.outputs)) as O;
  }

  async abort(reason = "aborted by user"): Promise<void> {
    await getRuntime().controller.abortRun(this.#key, reason);
  }

  async details(): Promise<RunDetails> {
    const rt = getRuntime();
    const row = await this.#row();
    const root = buildActionTree(await rt.store.listActionSummaries(this.name), await rt.store.listAttempts(this.name)).root;
    const d: RunDetails = {
      name: row.name, taskName: row.taskName, phase: row.phase, createdAt: new Date(row.createdAt), inputs: await decode(row.inputs),
      root: root ?? { name: "a0", taskName: row.taskName, shortName: row.taskName, phase: row.phase, cacheHit: false, recovered: false, attempts: [], children: [] },
    };
    if (row.startedAt) d.startedAt = date(row.startedAt)!;
    if (row.endedAt) d.endedAt = date(row.endedAt)!;
    if (row.outputs) d.outputs = await decode(row.outputs);
    if (row.error) d.error = row.error;
    if (row.recoverFrom) d.recoverFrom = row.recoverFrom;
    const trigger = runTriggerOf(row);
    if (trigger) d.trigger = trigger;
    return d;
  }

  /** A handle on one action of this run, by its full name (`"a0"` is the root). */
  async action(name: string): Promise<Action> {
    if (!(await getRuntime().store.getAction(this.name, name))) {
      await this.#row();
      throw notFound(this.name, name);
    }
    return new Action(this.name, name);
  }

  /** What started the run: its task, the file the task came from, and the run context `flyte recover` re-applies. */
  async source(): Promise<RunSource> {
    const row = await this.#row();
    const options = row.options as { customContext?: Record<string, string>; envVars?: Record<string, string> };
    return {
      taskName: row.taskName, ...(row.source?.file ? { file: row.source.file } : {}),
      customContext: { ...(options.customContext ?? {}) }, envVars: { ...(options.envVars ?? {}) },
    };
  }

  /**
   * Live updates of this run while this process executes it: `onAction` for every phase change of its actions,
   * `onLog` for every console line its attempts print (those lines are then not echoed to the terminal).
   * `close()` the returned watch when done.
   */
  watch(watcher: RunWatcher): RunWatch {
    return watchRun(this.name, watcher);
  }

  /** Captured console output, per action and attempt. */
  async *logs(o: { action?: string; attempt?: number; follow?: boolean } = {}): AsyncIterable<LogLine> {
    const store = getRuntime().store;
    if (o.action !== undefined && !(await store.getAction(this.name, o.action))) {
      throw new ActionNotFoundError(`Action "${o.action}" does not exist in run "${this.name}". See the actions with: flyte get run ${this.name}`);
    }
    if (!o.follow && (await store.listAttempts(this.name, o.action)).length === 0) {
      throw new LogsNotYetAvailableError(`Logs of run "${this.name}"${o.action ? ` action "${o.action}"` : ""} are not available yet: no attempt has started. Retry later or pass follow: true.`);
    }
    let afterId = 0;
    for (;;) {
      const rows = await store.readLogs(this.name, { ...(o.action ? { action: o.action } : {}), ...(o.attempt !== undefined ? { attempt: o.attempt } : {}), afterId });
      for (const r of rows) {
        afterId = r.id;
        yield { time: new Date(r.time), action: r.action, attempt: r.attempt, stream: r.stream, message: r.message };
      }
      if (!o.follow || isTerminal((await this.#row()).phase)) {
        if (o.follow) {
          const tail = await store.readLogs(this.name, { ...(o.action ? { action: o.action } : {}), afterId });
          for (const r of tail) yield { time: new Date(r.time), action: r.action, attempt: r.attempt, stream: r.stream, message: r.message };
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async showLogs(o: { action?: string; attempt?: number; follow?: boolean; raw?: boolean } = {}): Promise<void> {
    for await (const l of this.logs(o)) {
      rawWrite("stdout", formatLogLine(l, o));
    }
  }
}

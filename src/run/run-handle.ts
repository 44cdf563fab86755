/**
 * `Run`: a handle on a recorded run (API.md §10.3), whether this process executes it or not.
 */
import {
  ActionNotFoundError, LogsNotYetAvailableError, RunNotFoundError, TaskTimeoutError, errorFromRecord, type ErrorKind,
} from "../errors.ts";
import { isTerminal, type ActionPhase, type ActionRow, type AttemptRow, type RunKey } from "../store/store.ts";
import { decodeStoredValue } from "../types/stored-value.ts";
import { parseDuration, type Duration } from "../internal/duration.ts";
import { rawWrite } from "../internal/terminal-output.ts";
import { getRuntime } from "./runtime.ts";

export type { ActionPhase };

export interface ErrorDetails {
  name: string;
  code: string;
  kind: ErrorKind;
  message: string;
  stack?: string;
}

export interface ActionDetails {
  name: string;
  taskName: string;
  shortName: string;
  group?: string;
  phase: ActionPhase;
  cacheHit: boolean;
  recovered: boolean;
  attempts: { attempt: number; phase: ActionPhase; startedAt?: Date; endedAt?: Date; error?: ErrorDetails }[];
  startedAt?: Date;
  endedAt?: Date;
  reportUri?: string;
  error?: ErrorDetails;
  children: ActionDetails[];
}

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

async function decode(bytes: Uint8Array | null): Promise<unknown> {
  return bytes ? decodeStoredValue(bytes) : undefined;
}

function buildTree(actions: ActionRow[], attempts: AttemptRow[]): ActionDetails | undefined {
  const byAction = new Map<string, AttemptRow[]>();
  for (const a of attempts) (byAction.get(a.action) ?? byAction.set(a.action, []).get(a.action)!).push(a);
  const nodes = new Map<string, ActionDetails>();
  for (const a of actions) {
    const d: ActionDetails = {
      name: a.name, taskName: a.taskName, shortName: a.shortName, phase: a.phase, cacheHit: a.cacheHit, recovered: a.recovered,
      attempts: (byAction.get(a.name) ?? []).map((t) => ({
        attempt: t.attempt, phase: t.phase, ...(t.startedAt ? { startedAt: new Date(t.startedAt) } : {}),
        ...(t.endedAt ? { endedAt: new Date(t.endedAt) } : {}), ...(t.error ? { error: t.error } : {}),
      })),
      children: [],
    };
    if (a.group) d.group = a.group;
    if (a.startedAt) d.startedAt = new Date(a.startedAt);
    if (a.endedAt) d.endedAt = new Date(a.endedAt);
    if (a.reportUri) d.reportUri = a.reportUri;
    if (a.error) d.error = a.error;
    nodes.set(a.name, d);
  }
  let root: ActionDetails | undefined;
  for (const a of actions) {
    const node = nodes.get(a.name)!;
    if (a.parent === null) root = node;
    else nodes.get(a.parent)?.children.push(node);
  }
  return root;
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
    const root = buildTree(await rt.store.listActions(this.name), await rt.store.listAttempts(this.name));
    const d: RunDetails = {
      name: row.name, taskName: row.taskName, phase: row.phase, createdAt: new Date(row.createdAt), inputs: await decode(row.inputs),
      root: root ?? { name: "a0", taskName: row.taskName, shortName: row.taskName, phase: row.phase, cacheHit: false, recovered: false, attempts: [], children: [] },
    };
    if (row.startedAt) d.startedAt = date(row.startedAt)!;
    if (row.endedAt) d.endedAt = date(row.endedAt)!;
    if (row.outputs) d.outputs = await decode(row.outputs);
    if (row.error) d.error = row.error;
    if (row.recoverFrom) d.recoverFrom = row.recoverFrom;
    return d;
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
      rawWrite("stdout", o.raw ? `${l.message}\n` : `${l.time.toISOString()} [${l.action}#${l.attempt}] ${l.message}\n`);
    }
  }
}

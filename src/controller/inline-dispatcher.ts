/**
 * The inline dispatcher: executes an action's attempts in this process (the embedded runtime). Each attempt
 * gets its context, env vars and secrets, log capture and timeouts, and is claimed under the run's lease; the
 * attempt loop retries it per the task's retry budgets (API.md §6).
 */
import { TaskTemplate as TaskTemplateBase, type TaskTemplate } from "../authoring/task-template.ts";
import {
  ActionAbortedError, FlyteError, NonRecoverableError, SecretLeakError, SecretNotFoundError, StoreError, TaskInterruptedError, TaskTimeoutError,
  errorToRecord, type ErrorRecord,
} from "../errors.ts";
import type { ActionScope } from "../internal/action-scope.ts";
import { runInFrame } from "../internal/async-frame.ts";
import type { ActionPhase, ActionRow, AttemptRow } from "../store/store.ts";
import { toLiteralNow } from "../types/literal.ts";
import type { Caller } from "./admission.ts";
import { AttemptContext } from "./attempt-context.ts";
import { AttemptControl } from "./attempt-control.ts";
import type { ActionDispatcher, ActionRequest, SubmitChild } from "./dispatcher.ts";
import { leaseEnv } from "./env-lease.ts";
import { flushLogSink, installLogCapture, type LogSink } from "./log-capture.ts";
import { isPromise, packNow, type Packed } from "./packing.ts";
import type { RunState } from "./run-state.ts";
import { refuseSecrets } from "./secret-redactor.ts";
import { resolveSecrets, type ResolvedSecrets } from "./secrets.ts";
import { isolationApplies, runIsolated } from "./isolation/isolated-attempt.ts";

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });

/** Where an action's attempt loop picks up when its earlier attempts ran elsewhere (see `retryStateOf`). */
export interface RetryState {
  userFailures: number;
  systemFailures: number;
  previousError: ErrorRecord | null;
}

/** The retry budgets an action has used, from its recorded attempts (lost workers are counted apart, by the worker). */
export function retryStateOf(attempts: readonly AttemptRow[]): RetryState {
  let userFailures = 0;
  let systemFailures = 0;
  for (const a of attempts) {
    if (!a.error || a.error.code === "WorkerLost") continue;
    // A preempted attempt is not the task's fault: it does not spend the user's retries.
    if (a.error.kind === "system" || a.error.code === "TaskInterruptedError") systemFailures++;
    else userFailures++;
  }
  return { userFailures, systemFailures, previousError: attempts.at(-1)?.error ?? null };
}

/**
 * Thrown by the attempt loop of a dispatcher that defers backoffs, instead of waiting one out: the caller (a
 * worker) schedules the next attempt `delayMs` from now with its queue, and holds nothing meanwhile.
 */
export class RetryDeferred extends Error {
  constructor(readonly delayMs: number) {
    super(`The next attempt is due in ${delayMs} ms.`);
    this.name = "RetryDeferred";
  }
}

export class InlineDispatcher implements ActionDispatcher {
  /**
   * @param submit what an attempt's task calls go to (submit-action.ts's `submitChild`)
   * @param o.deferBackoff throw `RetryDeferred` instead of sleeping through a retry's backoff
   */
  constructor(private readonly submit: SubmitChild, private readonly o: { deferBackoff?: boolean } = {}) {}

  /** @param resume the budgets used by attempts made before (elsewhere), when `row` already has attempts */
  dispatch(run: RunState, req: ActionRequest, row: ActionRow, resume?: RetryState): Promise<Packed> {
    return attemptLoop(run, req, row, run.actionKey(req.name), this.submit, resume, this.o.deferBackoff ?? false);
  }
}

/** Attempts until success, a non-retryable error, or the retry budgets are spent (API.md §6). */
async function attemptLoop(run: RunState, req: ActionRequest, row: ActionRow, key: string, submit: SubmitChild, resume: RetryState | undefined,
  deferBackoff: boolean,
): Promise<Packed> {
  const { task } = req;
  const deadlineMs = (task.timeout.deadline ?? 0) * 1000;
  // The deadline spans every attempt: a resumed loop counts from the action's first start.
  const deadlineAt = deadlineMs > 0 ? (resume && row.startedAt !== null ? row.startedAt : Date.now()) + deadlineMs : Infinity;
  let userFailures = resume?.userFailures ?? 0;
  let previousError: ErrorRecord | null = resume?.previousError ?? null;
  let systemFailures = resume?.systemFailures ?? 0;
  for (;;) {
    const attempt = row.attemptCount;
    row.attemptCount++;
    try {
      return await runAttempt(run, req, row, key, attempt, deadlineAt, submit, previousError);
    } catch (e) {
      if (run.abort.signal.aborted) throw abortedError(run, task);
      const retryable = !(e instanceof NonRecoverableError) && !(e instanceof SecretNotFoundError) && !(e instanceof SecretLeakError) &&
        !(e instanceof TaskTimeoutError && e.bound === "deadline") && !(e instanceof StoreError);
      const interrupted = e instanceof TaskInterruptedError;
      const system = interrupted || (e instanceof FlyteError && e.kind === "system");
      if (system) systemFailures++;
      else userFailures++;
      const budgetLeft = system ? systemFailures <= run.systemRetries : userFailures <= task.retries.count;
      if (!retryable || !budgetLeft) throw e;
      previousError = run.secretValues.redactRecord(errorToRecord(e));
      // Preempted on a worker: the action goes back to the queue now, for a worker that is not going away.
      if (interrupted && deferBackoff) throw new RetryDeferred(0);
      const delayS = task.retries.backoff ? task.retries.backoff.computeDelay(userFailures - 1) : 0;
      if (Date.now() + delayS * 1000 >= deadlineAt) throw deadlineError(task, deadlineMs);
      if (delayS > 0) {
        if (deferBackoff) throw new RetryDeferred(delayS * 1000);
        try {
          await sleep(delayS * 1000, run.abort.signal);
        } catch {
          throw abortedError(run, task);
        }
      }
    }
  }
}

const abortedError = (run: RunState, task: TaskTemplate) => {
  // The reason is usually the run's own ActionAbortedError ('Run "r" was aborted: <why>'), which already says it all.
  const reason: unknown = run.abort.signal.reason;
  if (reason instanceof ActionAbortedError) return new ActionAbortedError(reason.message);
  const why = reason instanceof Error ? reason.message : String(reason ?? "run aborted");
  return new ActionAbortedError(`Action of task "${task.name}" was aborted: ${why.replace(/\.$/, "")}.`);
};

const deadlineError = (task: TaskTemplate, ms: number) =>
  new TaskTimeoutError(`Task "${task.name}" exceeded its deadline of ${ms / 1000}s across all attempts. Raise timeout.deadline or make the task faster.`, { bound: "deadline" });

/** One attempt: context, env/secrets, log capture, the body raced against timeouts and abort. */
async function runAttempt(run: RunState, req: ActionRequest, row: ActionRow, key: string, attempt: number, deadlineAt: number, submit: SubmitChild,
  previousError: ErrorRecord | null,
): Promise<Packed> {
  const { task } = req;
  const queuedAt = Date.now();
  const sink = new AttemptLogSink(run, req.name, attempt, task.shortName);
  const control = new AttemptControl((e) => {
    const what = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
    for (const line of `An abort listener of task "${task.name}" threw (ignored): ${what}`.split("\n")) sink.line("stderr", line);
  });
  run.trackAttempt(control);
  let timers: NodeJS.Timeout[] | undefined;
  const maxQueued = (task.timeout.maxQueuedTime ?? 0) * 1000;
  let queuedTimer: NodeJS.Timeout | undefined;
  if (maxQueued > 0) {
    queuedTimer = setTimeout(() => control.abort(new TaskTimeoutError(`Task "${task.name}" waited more than ${maxQueued / 1000}s in the queue (maxQueuedTime). Raise timeout.maxQueuedTime or maxActionConcurrency.`, { bound: "maxQueuedTime" })), maxQueued);
  }
  if (deadlineAt !== Infinity) {
    (timers ??= []).push(setTimeout(() => control.abort(deadlineError(task, deadlineAt - queuedAt)), Math.max(0, deadlineAt - Date.now())));
  }
  // Claimed under the run's lease: its record is written only while this process still owns the run.
  const attemptRow: AttemptRow = {
    runName: run.name, action: req.name, attempt, phase: "queued", startedAt: null, endedAt: null, error: null,
    owner: run.lease.owner, leaseEpoch: run.lease.epoch,
  };
  let releaseEnv: (() => void) | undefined;
  let cleanupSecrets: (() => void) | undefined;
  const acquired = run.semaphore.tryAcquire();
  if (!acquired || control.aborted) {
    let waiting: Promise<void> | undefined;
    try {
      if (control.aborted) throw control.reason;
      waiting = run.semaphore.wait(control.signal);
      await control.race(waiting);
    } catch (e) {
      if (queuedTimer) clearTimeout(queuedTimer);
      timers?.forEach(clearTimeout);
      run.releaseAttempt(control);
      // A slot taken (now or by a wait that ends after the abort) goes back.
      if (acquired) run.semaphore.release();
      else void waiting?.then(() => run.semaphore.release(), () => undefined);
      throw control.aborted ? control.reason : e;
    }
  }
  try {
    if (queuedTimer) clearTimeout(queuedTimer);
    const maxRuntime = (task.timeout.maxRuntime ?? 0) * 1000;
    const startClock = () => {
      if (maxRuntime > 0) {
        (timers ??= []).push(setTimeout(() => control.abort(new TaskTimeoutError(`Task "${task.name}" attempt #${attempt} ran longer than its maxRuntime of ${maxRuntime / 1000}s and was aborted. Raise timeout.maxRuntime or make the task honour ctx().signal.`, { bound: "maxRuntime" })), maxRuntime));
      }
    };
    // An isolated attempt's clock starts once its process is there (a cold spawn or a new replica is not its runtime).
    const isolated = isolationApplies(run, task);
    if (!isolated) startClock();
    attemptRow.phase = "running";
    attemptRow.startedAt = Date.now();
    row.phase = "running";
    row.startedAt ??= attemptRow.startedAt;
    run.writes.upsertAttempt(attemptRow);
    run.writes.updateAction(run.name, req.name, { phase: "running", startedAt: row.startedAt, attemptCount: row.attemptCount });
    run.event(row, attempt, previousError);

    const secrets = task.secrets.length > 0 ? resolveSecrets(run, task) : NO_SECRETS;
    cleanupSecrets = secrets.cleanup;
    const envVars = task.envVars || secrets !== NO_SECRETS || run.hasEnvVars ? { ...run.options.envVars, ...(task.envVars ?? {}), ...secrets.env } : undefined;
    // An isolated attempt gets its env vars in its own process; process.env here is left alone.
    if (envVars && !isolated) releaseEnv = leaseEnv(envVars, `${run.name}/${req.name}`, (n) => (n in secrets.env ? `${n} (a secret)` : n));

    const context = new AttemptContext(run, task, req.name, attempt, req.group, run.frozenContext(req.customContext), control, secrets.byId, (uri) => {
      row.reportUri = uri;
      run.writes.updateAction(run.name, req.name, { reportUri: uri });
    });
    const scope = new AttemptScope(run, { action: req.name, epoch: run.nextEpoch() }, context, submit);
    installLogCapture();
    const body = isolated
      ? runIsolatedBody(run, req, key, context, control, sink, envVars ?? {}, secrets.byId, scope, startClock)
      : runInFrame({ scope, io: run.ioScope, sink }, () => runBody(run, task, req.inputs, context, key));
    try {
      // An isolated body settles only once its process is gone (killed after the grace period if it ignores the abort).
      const out = isolated ? await body : await control.race(body);
      if (task.report) await context.flushReport();
      attemptRow.phase = "succeeded";
      return out;
    } catch (e) {
      const err = control.aborted && control.reason instanceof Error ? control.reason : e;
      if (task.report) await context.flushReport().catch(() => undefined);
      attemptRow.phase = err instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
      attemptRow.error = run.secretValues.redactRecord(errorToRecord(err));
      throw err;
    }
  } finally {
    timers?.forEach(clearTimeout);
    run.releaseAttempt(control);
    flushLogSink(sink);
    releaseEnv?.();
    cleanupSecrets?.();
    run.semaphore.release();
    if (attemptRow.startedAt !== null) {
      attemptRow.endedAt = Date.now();
      run.writes.upsertAttempt(attemptRow);
    }
  }
}

const NO_SECRETS: ResolvedSecrets = { env: {}, byId: new Map(), cleanup: () => undefined };

/** The task's hooks, its body and its output, converted and packed for the store. */
async function runBody(run: RunState, task: TaskTemplate, inputs: unknown, context: AttemptContext, key: string): Promise<Packed> {
  if (task.pre !== DEFAULT_PRE) context.data = Object.freeze(await task.pre(inputs));
  let out = await task.execute(inputs);
  if (task.post !== DEFAULT_POST) out = await task.post(out);
  if (task.interface.output) out = await task.validateOutput(out);
  const lit = toLiteralNow(out, { taskName: task.name, direction: "output" });
  const resolved = isPromise(lit) ? await lit : lit;
  // The output is stored (and cached): a secret value in it fails the attempt rather than being masked.
  if (run.secretValues.size > 0) refuseSecrets(run.secretValues, resolved, { taskName: task.name, direction: "output" });
  return packNow(run, task, resolved, `${key}/outputs`, "output");
}

/** `runBody` in a process of its own (src/isolation); task calls it makes come back here, as children of the attempt. */
async function runIsolatedBody(run: RunState, req: ActionRequest, key: string, context: AttemptContext, control: AttemptControl, sink: LogSink,
  env: Record<string, string>, secrets: ReadonlyMap<string, string>, scope: AttemptScope, started: () => void,
): Promise<Packed> {
  const { task } = req;
  const lit = await runIsolated({
    run, task, attempt: context.attempt, control, sink, inputs: req.lit, env, secrets, started,
    context: {
      action: context.action, actionName: context.actionName, runName: context.runName, attempt: context.attempt, version: context.version,
      rawDataPath: context.rawDataPath, runBaseDir: context.runBaseDir, mode: context.mode, customContext: { ...context.customContext },
      checkpoints: context.checkpoints, group: context.group, runStartTime: context.runStartTime, inputPath: context.inputPath,
      outputPath: context.outputPath, codeBundle: context.codeBundle, imageCache: { ...context.imageCache },
    },
    call: (t, inputs, group, customContext) =>
      runInFrame({ scope, io: run.ioScope, sink }, () => scope.submit(t, inputs, { ...scope, group, customContext })),
  });
  if (run.secretValues.size > 0) refuseSecrets(run.secretValues, lit, { taskName: task.name, direction: "output" });
  return packNow(run, task, lit, `${key}/outputs`, "output");
}

const DEFAULT_PRE = TaskTemplateBase.prototype.pre;
const DEFAULT_POST = TaskTemplateBase.prototype.post;

/** The action scope of one attempt: task calls made inside it become its children. */
class AttemptScope implements ActionScope {
  readonly inTrace = false;
  readonly group = null;
  readonly customContext: Readonly<Record<string, string>>;
  // An own property, not a method: group(), trace() and customContext() derive scopes by spreading this one.
  readonly submit: (task: unknown, inputs: unknown, scope: ActionScope) => Promise<unknown>;
  constructor(run: RunState, caller: Caller, readonly context: AttemptContext, submit: SubmitChild) {
    this.customContext = context.customContext;
    this.submit = (task, inputs, scope) => submit(run, caller, scope, task as TaskTemplate, inputs);
  }
}

/** Where an attempt's console lines go: the store, redacted, tagged with the action and attempt. */
class AttemptLogSink implements LogSink {
  constructor(
    private readonly run: RunState,
    private readonly action: string,
    private readonly attempt: number,
    readonly label: string,
  ) {}
  redact(line: string): string {
    return this.run.redact(line);
  }
  line(stream: "stdout" | "stderr", message: string): void {
    this.run.writes.appendLogs([{ runName: this.run.name, action: this.action, attempt: this.attempt, time: Date.now(), stream, message: this.run.redact(message) }]);
  }
}

/**
 * Executes one action: replay/recovery lookup → cache lookup → attempts (retries, backoff, timeouts) →
 * record. Every task call made inside an attempt comes back here as a child action.
 */
import { TaskTemplate as TaskTemplateBase, type TaskTemplate } from "../authoring/task-template.ts";
import {
  ActionAbortedError, FlyteError, NonRecoverableError, SecretLeakError, SecretNotFoundError, StoreError, TaskTimeoutError,
  errorFromRecord, errorToRecord, type ErrorRecord,
} from "../errors.ts";
import { currentActionScope, type ActionScope } from "../internal/action-scope.ts";
import { runInFrame } from "../internal/async-frame.ts";
import { withIoScope } from "../io/io-scope.ts";
import type { ActionPhase, ActionRow } from "../store/store.ts";
import { decodeLiteral, encodeLiteral } from "../types/codec.ts";
import { fromLiteralNow, toLiteralNow, type Literal } from "../types/literal.ts";
import { packIoBytes } from "../types/offload.ts";
import { cacheKey, inputsHash, interfaceSchemas } from "./cache-key.ts";
import { leaseEnv } from "./env-lease.ts";
import { findRecovered } from "./recovery.ts";
import { flushLogSink, installLogCapture, type LogSink } from "./log-capture.ts";
import type { ActionState, Caller, RunState } from "./run-state.ts";
import { resolveSecrets, type ResolvedSecrets } from "./secrets.ts";
import { refuseSecrets } from "./secret-redactor.ts";
import { mayReferToBlobs, missingBlob } from "./output-blobs.ts";
import { AttemptContext } from "./attempt-context.ts";
import { AttemptControl } from "./attempt-control.ts";

/** Identical concurrent executions of `serialize: true` caches, process-wide: key → settled output. */
const serialized = new Map<string, Promise<Packed>>();

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

/** Submits a task call made inside an attempt of `parent`. */
export function submitChild(run: RunState, caller: Caller, task: TaskTemplate, rawInputs: unknown): Promise<unknown> {
  // Calls past this turn's admission budget wait as a promise reaction, not a suspended async frame: a
  // Promise.all of 100,000 calls holds all of them at once.
  run.startCall ??= (c, t, i) => submitAdmitted(run, c, t as TaskTemplate, i);
  return run.admit(caller, task, rawInputs, run.startCall);
}

// The path from a call to its attempt is written with plain functions that hand on promises, taking the
// synchronous branch whenever a step has nothing to wait for: on Node 20 each promise costs an async-hook
// record, and a trivial action used to make about seventy of them.

function submitAdmitted(run: RunState, caller: Caller, task: TaskTemplate, rawInputs: unknown): Promise<unknown> {
  const scope = currentActionScope();
  try {
    const inputs = task.validateInputsNow(rawInputs);
    return isPromise(inputs) ? inputs.then((i) => submitValid(run, caller, task, i, scope)) : submitValid(run, caller, task, inputs, scope);
  } catch (e) {
    return Promise.reject(e);
  }
}

function submitValid(run: RunState, caller: Caller, task: TaskTemplate, inputs: unknown, scope: ActionScope | undefined): Promise<unknown> {
  const lit = toLiteralNow(inputs, { taskName: task.name, direction: "input" });
  if (isPromise(lit)) return lit.then((l) => submitLiteral(run, caller, task, inputs, l, scope));
  return submitLiteral(run, caller, task, inputs, lit, scope);
}

function submitLiteral(run: RunState, caller: Caller, task: TaskTemplate, inputs: unknown, lit: Literal, scope: ActionScope | undefined): Promise<unknown> {
  // A child's inputs are stored: a secret value in them fails the calling attempt instead.
  if (run.secretValues.size > 0) refuseSecrets(run.secretValues, lit, { taskName: task.name, direction: "input" });
  const group = scope?.group ?? null;
  const ih = inputsHash(lit);
  const parent = caller.action;
  const name = run.childName(parent, caller.epoch, task.name, ih, group);
  const customContext = scope?.customContext ?? run.options.customContext;
  return executeAction(run, { name, parent, task, inputs, lit, inputsHash: ih, group, customContext });
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => v instanceof Promise;

export interface ActionRequest {
  name: string;
  parent: string | null;
  task: TaskTemplate;
  inputs: unknown;
  lit: Literal;
  inputsHash: string;
  group: string | null;
  customContext: Record<string, string>;
}

/** Runs (or replays) one action and resolves to its decoded output; rejects with its re-created error. */
export function executeAction(run: RunState, req: ActionRequest): Promise<unknown> {
  try {
    const existing = run.actions.get(req.name);
    if (existing?.phase === "succeeded") {
      // A re-executed parent calling a child that already succeeded: its recorded output is the answer.
      const outputs = run.store.getAction(run.name, req.name)?.outputs;
      if (outputs) return Promise.resolve(fromLiteralNow(decodeLiteral(outputs)));
    }
    if (existing?.done && (existing.phase === "running" || existing.phase === "queued")) {
      return existing.done;
    }
    const state = actionState(run, req, existing);
    const done = runAction(run, req, state);
    // Kept while the action runs (a re-executed parent may call it again meanwhile); `finish` drops it, since a
    // settled promise keeps its value alive. A cache hit or a recovered output has finished already by now.
    if (state.phase === "queued" || state.phase === "running") state.done = done;
    return done;
  } catch (e) {
    return Promise.reject(e);
  }
}

let lastCreated = 0;
/** Strictly increasing creation times, so actions list in the order they were called. */
function creationTime(): number {
  lastCreated = Math.max(Date.now(), lastCreated + 0.001);
  return lastCreated;
}

/** The state of a new execution of `req`, reusing the entry `childName` made for it. */
function actionState(run: RunState, req: ActionRequest, prev: ActionState | undefined): ActionState {
  const row: ActionRow = {
    runName: run.name, name: req.name, parent: req.parent, taskName: req.task.name, shortName: req.task.shortName, group: req.group,
    phase: "queued", cacheHit: false, recovered: false, inputsHash: req.inputsHash, inputs: null, outputs: null, error: null,
    createdAt: creationTime(), startedAt: null, endedAt: null, reportUri: null, attemptCount: prev?.attemptCount ?? 0,
    interface: interfaceSchemas(req.task),
  };
  if (prev) {
    prev.row = row;
    prev.phase = "queued";
    prev.parent = req.parent;
    prev.attemptCount = row.attemptCount;
    prev.error = null;
    return prev;
  }
  const state: ActionState = { row, phase: "queued", parent: req.parent, attemptCount: row.attemptCount, error: null, epoch: 0, done: undefined };
  run.actions.set(req.name, state);
  return state;
}

/** Records the end of an action; the store has the record after this, so only what replay, recovery and abort need stays. */
function finish(run: RunState, state: ActionState, row: ActionRow, phase: ActionPhase, output: Packed | undefined, error: ErrorRecord | null): void {
  row.phase = phase;
  row.error = error;
  row.endedAt = Date.now();
  if (output !== undefined) row.outputs = output.bytes;
  run.store.upsertAction(row);
  run.event(row, Math.max(0, row.attemptCount - 1));
  state.row = undefined;
  state.phase = phase;
  state.attemptCount = row.attemptCount;
  state.error = error;
  state.done = undefined;
}

/** An action that ends without running: its output is known (recovered run, cache hit). */
function reuse(run: RunState, state: ActionState, row: ActionRow, output: Packed, how: "recovered" | "cacheHit"): unknown {
  row.startedAt = Date.now();
  row[how] = true;
  finish(run, state, row, "succeeded", output, null);
  return fromLiteralNow(output.literal);
}

async function runAction(run: RunState, req: ActionRequest, state: ActionState): Promise<unknown> {
  const { task } = req;
  const row = state.row!;
  const key = run.actionKey(req.name);
  const packed = packNow(run, task, req.lit, `${key}/inputs`, "input");
  row.inputs = (isPromise(packed) ? await packed : packed).bytes;

  // A succeeded action of the run we recover from, with the same inputs, is reused as is.
  const forced = run.options.forceRerunActions.length > 0 &&
    (run.options.forceRerunActions.includes(req.name) || (req.parent !== null && isForcedDescendant(run, req.parent)));
  const rec = run.recovered.size > 0 ? findRecovered(run.recovered, req.name, req.inputsHash) : undefined;
  if (rec && rec.outputs && !forced) {
    const checked = usable(run, req, row, rec.outputs, "recovered output");
    const output = isPromise(checked) ? await checked : checked;
    if (output) return reuse(run, state, row, output, "recovered");
  }

  const cacheOn = task.cache.isEnabled() && !run.options.disableRunCache;
  const ckey = cacheOn ? cacheKey(task, req.lit) : undefined;
  if (ckey && task.cache.behavior === "auto" && !run.options.overwriteCache) {
    const hit = run.store.getCache(ckey);
    const checked = hit && usable(run, req, row, hit.outputs, "cache entry");
    const output = isPromise(checked) ? await checked : checked;
    if (output) return reuse(run, state, row, output, "cacheHit");
    const pending = task.cache.serialize ? serialized.get(ckey) : undefined;
    if (pending) {
      const output = await pending.catch(() => undefined);
      if (output !== undefined) return reuse(run, state, row, output, "cacheHit");
    }
  }

  run.store.upsertAction(row);
  run.event(row, 0);
  let settle: ((v: Packed | undefined) => void) | undefined;
  if (ckey && task.cache.serialize) {
    serialized.set(ckey, new Promise<Packed>((resolve, reject) => (settle = (v) => (v === undefined ? reject(new Error("failed")) : resolve(v)))));
    serialized.get(ckey)!.catch(() => undefined);
  }
  try {
    const output = await attemptLoop(run, req, row, key);
    if (ckey) run.store.putCache({ key: ckey, taskName: task.name, outputs: output.bytes, createdAt: Date.now(), runName: run.name, action: req.name });
    finish(run, state, row, "succeeded", output, null);
    settle?.(output);
    return fromLiteralNow(output.literal);
  } catch (e) {
    settle?.(undefined);
    const record = redactRecord(run, errorToRecord(e));
    const phase: ActionPhase = e instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
    finish(run, state, row, phase, undefined, record);
    throw errorFromRecord(record);
  } finally {
    if (ckey && task.cache.serialize) serialized.delete(ckey);
  }
}

/**
 * A stored output (cache entry, recovered action), or `undefined` when a blob it refers to is gone: the action
 * then runs again (and its cache entry is replaced), with the reason in its logs.
 */
function usable(run: RunState, req: ActionRequest, row: ActionRow, bytes: Uint8Array, what: string): Packed | undefined | Promise<Packed | undefined> {
  const literal = decodeLiteral(bytes);
  if (!mayReferToBlobs(bytes)) return { literal, bytes };
  return missingBlob(literal, run.ioScope).then((gone) => {
    if (gone === undefined) return { literal, bytes };
    run.store.appendLogs([{
      runName: run.name, action: req.name, attempt: row.attemptCount, time: Date.now(), stream: "stderr",
      message: `[flyte] ${what} not used: its blob ${gone} no longer exists; running ${req.task.name} again.`,
    }]);
    return undefined;
  });
}

/** A literal as stored: the literal itself (or its offloaded reference) and its encoding. */
interface Packed {
  literal: Literal;
  bytes: Uint8Array;
}

/** Encodes a value's literal once; only one above maxInlineIoBytes goes through offloading (or is refused). */
function packNow(run: RunState, task: TaskTemplate, lit: Literal, blobKey: string, direction: "input" | "output"): Packed | Promise<Packed> {
  const bytes = encodeLiteral(lit);
  if (bytes.byteLength <= task.maxInlineIoBytes) return { literal: lit, bytes };
  return withIoScope({ blobStore: run.blobStore, rawDataPrefix: run.rawDataPrefix }, () =>
    packIoBytes(lit, { maxInlineIoBytes: task.maxInlineIoBytes, offload: run.offload, blobKey, taskName: task.name, direction }),
  );
}

function isForcedDescendant(run: RunState, parent: string): boolean {
  for (let p: string | null = parent; p; p = run.actions.get(p)?.parent ?? null) {
    if (run.options.forceRerunActions.includes(p)) return true;
  }
  return false;
}

function redactRecord(run: RunState, r: ErrorRecord): ErrorRecord {
  return run.secretValues.redactRecord(r);
}

/** Attempts until success, a non-retryable error, or the retry budgets are spent (API.md §6). */
async function attemptLoop(run: RunState, req: ActionRequest, row: ActionRow, key: string): Promise<Packed> {
  const { task } = req;
  const deadlineMs = (task.timeout.deadline ?? 0) * 1000;
  const deadlineAt = deadlineMs > 0 ? Date.now() + deadlineMs : Infinity;
  let userFailures = 0;
  let systemFailures = 0;
  for (;;) {
    const attempt = row.attemptCount;
    row.attemptCount++;
    try {
      return await runAttempt(run, req, row, key, attempt, deadlineAt);
    } catch (e) {
      if (run.abort.signal.aborted) throw abortedError(run, task);
      const retryable = !(e instanceof NonRecoverableError) && !(e instanceof SecretNotFoundError) && !(e instanceof SecretLeakError) &&
        !(e instanceof TaskTimeoutError && e.bound === "deadline") && !(e instanceof StoreError);
      const system = e instanceof FlyteError && e.kind === "system";
      if (system) systemFailures++;
      else userFailures++;
      const budgetLeft = system ? systemFailures <= run.systemRetries : userFailures <= task.retries.count;
      if (!retryable || !budgetLeft) throw e;
      const delayS = task.retries.backoff ? task.retries.backoff.computeDelay(userFailures - 1) : 0;
      if (Date.now() + delayS * 1000 >= deadlineAt) throw deadlineError(task, deadlineMs);
      if (delayS > 0) {
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
async function runAttempt(run: RunState, req: ActionRequest, row: ActionRow, key: string, attempt: number, deadlineAt: number): Promise<Packed> {
  const { task } = req;
  const queuedAt = Date.now();
  const control = new AttemptControl();
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
  const attemptRow = { runName: run.name, action: req.name, attempt, phase: "queued" as ActionPhase, startedAt: null as number | null, endedAt: null as number | null, error: null as ErrorRecord | null };
  let releaseEnv: (() => void) | undefined;
  let cleanupSecrets: (() => void) | undefined;
  const sink = new AttemptLogSink(run, req.name, attempt, task.shortName);
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
    if (maxRuntime > 0) {
      (timers ??= []).push(setTimeout(() => control.abort(new TaskTimeoutError(`Task "${task.name}" attempt #${attempt} ran longer than its maxRuntime of ${maxRuntime / 1000}s and was aborted. Raise timeout.maxRuntime or make the task honour ctx().signal.`, { bound: "maxRuntime" })), maxRuntime));
    }
    attemptRow.phase = "running";
    attemptRow.startedAt = Date.now();
    row.phase = "running";
    row.startedAt ??= attemptRow.startedAt;
    run.store.upsertAttempt(attemptRow);
    run.store.updateAction(run.name, req.name, { phase: "running", startedAt: row.startedAt, attemptCount: row.attemptCount });
    run.event(row, attempt);

    const secrets = task.secrets.length > 0 ? resolveSecrets(run, task) : NO_SECRETS;
    cleanupSecrets = secrets.cleanup;
    const envVars = task.envVars || secrets !== NO_SECRETS || run.hasEnvVars ? { ...run.options.envVars, ...(task.envVars ?? {}), ...secrets.env } : undefined;
    if (envVars) releaseEnv = leaseEnv(envVars, `${run.name}/${req.name}`, (n) => (n in secrets.env ? `${n} (a secret)` : n));

    const context = new AttemptContext(run, task, req.name, attempt, req.group, run.frozenContext(req.customContext), control, secrets.byId, (uri) => {
      row.reportUri = uri;
      run.store.updateAction(run.name, req.name, { reportUri: uri });
    });
    const scope = new AttemptScope(run, { action: req.name, epoch: run.nextEpoch() }, context);
    installLogCapture();
    const body = runInFrame({ scope, io: run.ioScope, sink }, () => runBody(run, task, req.inputs, context, key));
    try {
      const out = await control.race(body);
      if (task.report) await context.flushReport();
      attemptRow.phase = "succeeded";
      return out;
    } catch (e) {
      const err = control.aborted && control.reason instanceof Error ? control.reason : e;
      if (task.report) await context.flushReport().catch(() => undefined);
      attemptRow.phase = err instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
      attemptRow.error = redactRecord(run, errorToRecord(err));
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
      run.store.upsertAttempt(attemptRow);
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

const DEFAULT_PRE = TaskTemplateBase.prototype.pre;
const DEFAULT_POST = TaskTemplateBase.prototype.post;

/** The action scope of one attempt: task calls made inside it become its children. */
class AttemptScope implements ActionScope {
  readonly inTrace = false;
  readonly group = null;
  readonly customContext: Readonly<Record<string, string>>;
  // An own property, not a method: group(), trace() and customContext() derive scopes by spreading this one.
  readonly submit: (task: unknown, inputs: unknown) => Promise<unknown>;
  constructor(run: RunState, caller: Caller, readonly context: AttemptContext) {
    this.customContext = context.customContext;
    this.submit = (task, inputs) => submitChild(run, caller, task as TaskTemplate, inputs);
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
    this.run.store.appendLogs([{ runName: this.run.name, action: this.action, attempt: this.attempt, time: Date.now(), stream, message: this.run.redact(message) }]);
  }
}

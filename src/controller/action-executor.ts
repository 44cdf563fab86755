/**
 * Executes one action: replay/recovery lookup → cache lookup → attempts (retries, backoff, timeouts) →
 * record. Every task call made inside an attempt comes back here as a child action.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import {
  ActionAbortedError, FlyteError, NonRecoverableError, SecretNotFoundError, StoreError, TaskTimeoutError,
  errorFromRecord, errorToRecord, type ErrorRecord,
} from "../errors.ts";
import { actionScopeStorage, currentActionScope, type ActionScope } from "../internal/action-scope.ts";
import { withIoScope } from "../io/io-scope.ts";
import type { ActionPhase, ActionRow } from "../store/store.ts";
import { decodeLiteral, encodeLiteral } from "../types/codec.ts";
import { fromLiteral, toLiteral, type Literal } from "../types/literal.ts";
import { packIoBytes, unpackIo } from "../types/offload.ts";
import { cacheKey, inputsHash, interfaceSchemas } from "./cache-key.ts";
import { leaseEnv } from "./env-lease.ts";
import { flushLogSink, withLogSink, type LogSink } from "./log-capture.ts";
import type { ActionState, RunState } from "./run-state.ts";
import { resolveSecrets } from "./secrets.ts";
import { AttemptContext } from "./attempt-context.ts";

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
export function submitChild(run: RunState, parent: string, task: TaskTemplate, rawInputs: unknown): Promise<unknown> {
  // Calls past this turn's admission budget wait as a promise reaction, not a suspended async frame: a
  // Promise.all of 100,000 calls holds all of them at once.
  const gate = run.admit();
  return gate ? gate.then(() => submitAdmitted(run, parent, task, rawInputs)) : submitAdmitted(run, parent, task, rawInputs);
}

async function submitAdmitted(run: RunState, parent: string, task: TaskTemplate, rawInputs: unknown): Promise<unknown> {
  const group = currentActionScope()?.group ?? null;
  const inputs = await task.validateInputs(rawInputs);
  const lit = await toLiteral(inputs, { taskName: task.name, direction: "input" });
  const ih = inputsHash(lit);
  const name = run.childName(parent, task.name, ih, group);
  const customContext = currentActionScope()?.customContext ?? run.options.customContext;
  return executeAction(run, { name, parent, task, inputs, lit, inputsHash: ih, group, customContext });
}

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
export async function executeAction(run: RunState, req: ActionRequest): Promise<unknown> {
  const existing = run.actions.get(req.name);
  if (existing?.phase === "succeeded") {
    // A re-executed parent calling a child that already succeeded: its recorded output is the answer.
    const outputs = run.store.getAction(run.name, req.name)?.outputs;
    if (outputs) return fromLiteral(await unpackIo(decodeLiteral(outputs)));
  }
  if (existing?.done && (existing.phase === "running" || existing.phase === "queued")) {
    return existing.done;
  }
  const done = runAction(run, req, existing);
  const state = run.actions.get(req.name)!;
  state.done = done;
  // A settled promise keeps its value alive; drop it once the action has finished.
  done.then(() => (state.done = undefined), () => (state.done = undefined));
  return done;
}

let lastCreated = 0;
/** Strictly increasing creation times, so actions list in the order they were called. */
function creationTime(): number {
  lastCreated = Math.max(Date.now(), lastCreated + 0.001);
  return lastCreated;
}

function newRow(run: RunState, req: ActionRequest, prev: ActionState | undefined): ActionRow {
  return {
    runName: run.name, name: req.name, parent: req.parent, taskName: req.task.name, shortName: req.task.shortName, group: req.group,
    phase: "queued", cacheHit: false, recovered: false, inputsHash: req.inputsHash, inputs: null, outputs: null, error: null,
    createdAt: creationTime(), startedAt: null, endedAt: null, reportUri: null, attemptCount: prev?.attemptCount ?? 0,
    interface: interfaceSchemas(req.task),
  };
}

async function runAction(run: RunState, req: ActionRequest, prev: ActionState | undefined): Promise<unknown> {
  const { task } = req;
  const row = newRow(run, req, prev);
  const state: ActionState = { row, phase: "queued", parent: req.parent, attemptCount: row.attemptCount, error: null, epoch: prev?.epoch ?? 0, done: undefined };
  run.actions.set(req.name, state);
  const key = run.actionKey(req.name);
  row.inputs = (await pack(run, task, req.lit, `${key}/inputs`, "input")).bytes;

  const finish = async (phase: ActionPhase, output: Packed | undefined, error: ErrorRecord | null, extra: Partial<ActionRow> = {}) => {
    Object.assign(row, { phase, error, endedAt: Date.now(), ...extra });
    if (output !== undefined) row.outputs = output.bytes;
    run.store.upsertAction(row);
    run.event(row, Math.max(0, row.attemptCount - 1));
    // The store has the record now; keep only what replay, recovery and abort need.
    Object.assign(state, { row: undefined, phase, attemptCount: row.attemptCount, error });
  };

  // A succeeded action of the run we recover from, with the same inputs, is reused as is.
  const forced = run.options.forceRerunActions.includes(req.name) || (req.parent !== null && isForcedDescendant(run, req.parent));
  const rec = run.recovered.get(req.name);
  if (rec && rec.inputsHash === req.inputsHash && rec.outputs && !forced) {
    const output = { literal: decodeLiteral(rec.outputs), bytes: rec.outputs };
    row.startedAt = Date.now();
    await finish("succeeded", output, null, { recovered: true });
    return fromLiteral(await unpackIo(output.literal));
  }

  const cacheOn = task.cache.isEnabled() && !run.options.disableRunCache;
  const ckey = cacheOn ? cacheKey(task, req.lit) : undefined;
  if (ckey && task.cache.behavior === "auto" && !run.options.overwriteCache) {
    const hit = run.store.getCache(ckey);
    if (hit) {
      const output = { literal: decodeLiteral(hit.outputs), bytes: hit.outputs };
      row.startedAt = Date.now();
      await finish("succeeded", output, null, { cacheHit: true });
      return fromLiteral(await unpackIo(output.literal));
    }
    const pending = task.cache.serialize ? serialized.get(ckey) : undefined;
    if (pending) {
      const output = await pending.catch(() => undefined);
      if (output !== undefined) {
        row.startedAt = Date.now();
        await finish("succeeded", output, null, { cacheHit: true });
        return fromLiteral(await unpackIo(output.literal));
      }
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
    await finish("succeeded", output, null);
    settle?.(output);
    return fromLiteral(await unpackIo(output.literal));
  } catch (e) {
    settle?.(undefined);
    const record = redactRecord(run, errorToRecord(e));
    const phase: ActionPhase = e instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
    await finish(phase, undefined, record);
    throw errorFromRecord(record);
  } finally {
    if (ckey && task.cache.serialize) serialized.delete(ckey);
  }
}

/** A literal as stored: the literal itself (or its offloaded reference) and its encoding. */
interface Packed {
  literal: Literal;
  bytes: Uint8Array;
}

/** Encodes a value's literal once; only one above maxInlineIoBytes goes through offloading (or is refused). */
async function pack(run: RunState, task: TaskTemplate, lit: Literal, blobKey: string, direction: "input" | "output"): Promise<Packed> {
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
  if (run.secretValues.size === 0) return r;
  return { ...r, message: run.redact(r.message), ...(r.stack ? { stack: run.redact(r.stack) } : {}) };
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
      const retryable = !(e instanceof NonRecoverableError) && !(e instanceof SecretNotFoundError) &&
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

const abortedError = (run: RunState, task: TaskTemplate) =>
  new ActionAbortedError(`Action of task "${task.name}" was aborted: ${String(run.abort.signal.reason ?? "run aborted")}.`);

const deadlineError = (task: TaskTemplate, ms: number) =>
  new TaskTimeoutError(`Task "${task.name}" exceeded its deadline of ${ms / 1000}s across all attempts. Raise timeout.deadline or make the task faster.`, { bound: "deadline" });

/** One attempt: context, env/secrets, log capture, the body raced against timeouts and abort. */
async function runAttempt(run: RunState, req: ActionRequest, row: ActionRow, key: string, attempt: number, deadlineAt: number): Promise<Packed> {
  const { task } = req;
  const queuedAt = Date.now();
  const attemptAbort = new AbortController();
  // Not AbortSignal.any: each composite it makes stays alive until the event loop turns (WeakRef), which a
  // fan-out of trivial tasks never lets happen before the run ends.
  const signal = run.attemptSignal(attemptAbort);
  const timers: NodeJS.Timeout[] = [];
  const fail = (e: Error) => attemptAbort.abort(e);
  const maxQueued = (task.timeout.maxQueuedTime ?? 0) * 1000;
  if (maxQueued > 0) {
    timers.push(setTimeout(() => fail(new TaskTimeoutError(`Task "${task.name}" waited more than ${maxQueued / 1000}s in the queue (maxQueuedTime). Raise timeout.maxQueuedTime or maxActionConcurrency.`, { bound: "maxQueuedTime" })), maxQueued));
  }
  if (deadlineAt !== Infinity) {
    timers.push(setTimeout(() => fail(deadlineError(task, deadlineAt - queuedAt)), Math.max(0, deadlineAt - Date.now())));
  }
  const attemptRow = { runName: run.name, action: req.name, attempt, phase: "queued" as ActionPhase, startedAt: null as number | null, endedAt: null as number | null, error: null as ErrorRecord | null };
  let releaseEnv: (() => void) | undefined;
  let cleanupSecrets: (() => void) | undefined;
  const sink = makeSink(run, req.name, attempt, task.shortName);
  try {
    await raceSignal(run.semaphore.acquire(signal), signal);
  } catch (e) {
    timers.forEach(clearTimeout);
    run.releaseAttempt(attemptAbort);
    throw signal.reason ?? e;
  }
  try {
    if (timers.length && maxQueued > 0) clearTimeout(timers.shift()!);
    const maxRuntime = (task.timeout.maxRuntime ?? 0) * 1000;
    if (maxRuntime > 0) {
      timers.push(setTimeout(() => fail(new TaskTimeoutError(`Task "${task.name}" attempt ${attempt + 1} ran longer than its maxRuntime of ${maxRuntime / 1000}s and was aborted. Raise timeout.maxRuntime or make the task honour ctx().signal.`, { bound: "maxRuntime" })), maxRuntime));
    }
    attemptRow.phase = "running";
    attemptRow.startedAt = Date.now();
    row.phase = "running";
    row.startedAt ??= attemptRow.startedAt;
    run.store.upsertAttempt(attemptRow);
    run.store.updateAction(run.name, req.name, { phase: "running", startedAt: row.startedAt, attemptCount: row.attemptCount });
    run.event(row, attempt);

    const secrets = resolveSecrets(run, task);
    cleanupSecrets = secrets.cleanup;
    releaseEnv = leaseEnv({ ...run.options.envVars, ...(task.envVars ?? {}), ...secrets.env }, `${run.name}/${req.name}`, (n) => (n in secrets.env ? `${n} (a secret)` : n));
    run.beginAttempt(req.name);

    const context = new AttemptContext(run, task, req.name, attempt, req.group, Object.freeze({ ...req.customContext }), signal, secrets.byId, (uri) => {
      row.reportUri = uri;
      run.store.updateAction(run.name, req.name, { reportUri: uri });
    });
    const scope: ActionScope = {
      submit: (t, i) => submitChild(run, req.name, t as TaskTemplate, i),
      inTrace: false, group: null, customContext: context.customContext, context,
    };
    const body = withLogSink(sink, () =>
      actionScopeStorage.run(scope, () =>
        withIoScope({ blobStore: run.blobStore, rawDataPrefix: run.rawDataPrefix }, async () => {
          context.data = Object.freeze(await task.pre(req.inputs));
          const raw = await task.post(await task.execute(req.inputs));
          const out = await task.validateOutput(raw);
          const lit = await toLiteral(out, { taskName: task.name, direction: "output" });
          return pack(run, task, lit, `${key}/outputs`, "output");
        }),
      ),
    );
    try {
      const out = await raceSignal(body, signal);
      await context.flushReport();
      attemptRow.phase = "succeeded";
      return out;
    } catch (e) {
      const err = signal.aborted && signal.reason instanceof Error ? signal.reason : e;
      await context.flushReport().catch(() => undefined);
      attemptRow.phase = err instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
      attemptRow.error = redactRecord(run, errorToRecord(err));
      throw err;
    }
  } finally {
    timers.forEach(clearTimeout);
    run.releaseAttempt(attemptAbort);
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

/** Settles with `p`, or rejects as soon as `signal` aborts (the body keeps running but its result is discarded). */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
      (e) => (signal.removeEventListener("abort", onAbort), reject(e)),
    );
  });
}

function makeSink(run: RunState, action: string, attempt: number, label: string): LogSink {
  return {
    label,
    redact: (line) => run.redact(line),
    line(stream, message) {
      run.store.appendLogs([{ runName: run.name, action, attempt, time: Date.now(), stream, message: run.redact(message) }]);
    },
  };
}

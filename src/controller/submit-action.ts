/**
 * What a task call becomes, decided here: its deterministic name, then a replay (a re-executed parent calling a
 * child that already ran), a recovered output (`recoverFrom`), a cache hit, or a new execution handed to the
 * run's dispatcher (see dispatcher.ts); and the record of how it ended.
 */
import { resourcesRecord } from "../authoring/resources.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { TaskTimeoutError, errorFromRecord, errorToRecord, type ErrorRecord } from "../errors.ts";
import type { ActionScope } from "../internal/action-scope.ts";
import type { ActionCacheRecord, ActionPhase, ActionRow, CacheEntry } from "../store/store.ts";
import { decodeLiteral } from "../types/codec.ts";
import { fromLiteralNow, toLiteralNow, type Literal } from "../types/literal.ts";
import type { Caller } from "./admission.ts";
import { cacheKeyParts, inputsHash, interfaceSchemas } from "./cache-key.ts";
import type { ActionRequest } from "./dispatcher.ts";
import { mayReferToBlobs, missingBlob } from "./output-blobs.ts";
import { isPromise, packNow, type Packed } from "./packing.ts";
import { findRecovered } from "./recovery.ts";
import type { ActionState, RunState } from "./run-state.ts";
import { refuseSecrets } from "./secret-redactor.ts";

export type { ActionRequest } from "./dispatcher.ts";

/** Identical concurrent executions of `serialize: true` caches, process-wide: key → settled output. */
const serialized = new Map<string, Promise<Packed>>();

/** Submits a task call made by `caller` in `scope`; it starts once the run admits it (see admission.ts). */
export function submitChild(run: RunState, caller: Caller, scope: ActionScope, task: TaskTemplate, rawInputs: unknown): Promise<unknown> {
  return run.admission.admit(caller, scope, task, rawInputs);
}

// The path from a call to its attempt is written with plain functions that hand on promises, taking the
// synchronous branch whenever a step has nothing to wait for: on Node 20 each promise costs an async-hook
// record, and a trivial action used to make about seventy of them.

/** Starts an admitted call (the run's `StartCall`, see admission.ts). */
export function startAdmitted(run: RunState, caller: Caller, scope: ActionScope, task: TaskTemplate, rawInputs: unknown): Promise<unknown> {
  try {
    const inputs = task.validateInputsNow(rawInputs);
    return isPromise(inputs) ? inputs.then((i) => submitValid(run, caller, task, i, scope)) : submitValid(run, caller, task, inputs, scope);
  } catch (e) {
    return Promise.reject(e);
  }
}

function submitValid(run: RunState, caller: Caller, task: TaskTemplate, inputs: unknown, scope: ActionScope): Promise<unknown> {
  const lit = toLiteralNow(inputs, { taskName: task.name, direction: "input" });
  if (isPromise(lit)) return lit.then((l) => submitLiteral(run, caller, task, inputs, l, scope));
  return submitLiteral(run, caller, task, inputs, lit, scope);
}

function submitLiteral(run: RunState, caller: Caller, task: TaskTemplate, inputs: unknown, lit: Literal, scope: ActionScope): Promise<unknown> {
  // A child's inputs are stored: a secret value in them fails the calling attempt instead.
  if (run.secretValues.size > 0) refuseSecrets(run.secretValues, lit, { taskName: task.name, direction: "input" });
  const group = scope.group;
  const ih = inputsHash(lit);
  const parent = caller.action;
  const name = run.childName(parent, caller.epoch, task.name, ih, group);
  return executeAction(run, { name, parent, task, inputs, lit, inputsHash: ih, group, customContext: scope.customContext as Record<string, string> });
}

/** Runs (or replays) one action and resolves to its decoded output; rejects with its re-created error. */
export function executeAction(run: RunState, req: ActionRequest): Promise<unknown> {
  try {
    const existing = run.actions.get(req.name);
    if (existing?.phase === "succeeded") {
      // A re-executed parent calling a child that already succeeded: its recorded output is the answer.
      return run.store.getAction(run.name, req.name).then((row) =>
        row?.outputs ? fromLiteralNow(decodeLiteral(row.outputs)) : execute(run, req, run.actions.get(req.name)),
      );
    }
    return execute(run, req, existing);
  } catch (e) {
    return Promise.reject(e);
  }
}

function execute(run: RunState, req: ActionRequest, existing: ActionState | undefined): Promise<unknown> {
  if (existing?.done && (existing.phase === "running" || existing.phase === "queued")) return existing.done;
  // Left in flight by an earlier attempt of the parent in another process (see RunState.adoptChildren): it is
  // still executing there, and writing it queued again would take it from whoever executes it.
  const resume = run.inFlightElsewhere.size > 0 && run.inFlightElsewhere.delete(req.name);
  const state = actionState(run, req, existing);
  const done = resume ? resumeAction(run, req, state) : runAction(run, req, state);
  // Kept while the action runs (a re-executed parent may call it again meanwhile); `finish` drops it, since a
  // settled promise keeps its value alive. A cache hit or a recovered output has finished already by now.
  if (state.phase === "queued" || state.phase === "running") state.done = done;
  return done;
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
    ...(req.task.resources ? { resources: resourcesRecord(req.task.resources) } : {}),
    cache: null,
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
  run.writes.upsertAction(row);
  run.event(row, Math.max(0, row.attemptCount - 1));
  state.row = undefined;
  state.phase = phase;
  state.attemptCount = row.attemptCount;
  state.error = error;
  state.done = undefined;
}

/**
 * Records `req` as queued, with its inputs, without executing it: the root of a remote run, which a worker
 * executes (the caller enqueues it once this row is committed).
 */
export async function recordQueued(run: RunState, req: ActionRequest): Promise<ActionRow> {
  const state = actionState(run, req, run.actions.get(req.name));
  const row = state.row!;
  const packed = packNow(run, req.task, req.lit, `${run.actionKey(req.name)}/inputs`, "input");
  row.inputs = (isPromise(packed) ? await packed : packed).bytes;
  run.writes.upsertAction(row);
  return row;
}

/** An action that ends without running: its output is known (recovered run, cache hit: `entry`, when read from the store). */
function reuse(run: RunState, state: ActionState, row: ActionRow, output: Packed, how: "recovered" | "cacheHit", entry?: CacheEntry): unknown {
  row.startedAt = Date.now();
  row[how] = true;
  if (how === "cacheHit" && row.cache) {
    const { reason: _, ...parts } = row.cache;
    row.cache = { ...parts, outcome: "hit", ...(entry?.runName && entry.action ? { source: { runName: entry.runName, action: entry.action } } : {}) };
  }
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
    if (output) return acknowledged(run, reuse(run, state, row, output, "recovered"));
  }

  const cache = cacheRecord(run, task, req.lit);
  row.cache = cache;
  const ckey = cache.key;
  if (ckey && cache.outcome === "miss") {
    const hit = await run.store.getCache(ckey);
    const checked = hit && usable(run, req, row, hit.outputs, "cache entry");
    const output = isPromise(checked) ? await checked : checked;
    if (output) return acknowledged(run, reuse(run, state, row, output, "cacheHit", hit));
    if (hit) cache.reason = "the entry under this key refers to a blob that is missing or damaged";
    const pending = task.cache.serialize ? serialized.get(ckey) : undefined;
    if (pending) {
      const output = await parked(run, req, () => pending.catch(() => undefined));
      if (output !== undefined) return acknowledged(run, reuse(run, state, row, output, "cacheHit"));
    }
  }

  run.writes.upsertAction(row);
  run.event(row, 0);
  let settle: ((v: Packed | undefined) => void) | undefined;
  if (ckey && task.cache.serialize) {
    serialized.set(ckey, new Promise<Packed>((resolve, reject) => (settle = (v) => (v === undefined ? reject(new Error("failed")) : resolve(v)))));
    serialized.get(ckey)!.catch(() => undefined);
  }
  let release: (() => Promise<void>) | undefined;
  try {
    if (ckey && task.cache.serialize) {
      // Across processes (workers of the cluster backend): one execution per key at a time; whoever waited
      // finds the entry the holder committed.
      release = await parked(run, req, () => run.store.lockCacheKey(ckey, run.abort.signal));
      if (cache.outcome === "miss") {
        const hit = await run.store.getCache(ckey);
        const checked = hit && usable(run, req, row, hit.outputs, "cache entry");
        const output = isPromise(checked) ? await checked : checked;
        if (output) {
          const value = reuse(run, state, row, output, "cacheHit", hit);
          await run.writes.committed(run.name);
          settle?.(output);
          return value;
        }
      }
    }
    const output = await run.dispatcher.dispatch(run, req, row);
    if (ckey) run.writes.putCache({ key: ckey, taskName: task.name, outputs: output.bytes, createdAt: Date.now(), runName: run.name, action: req.name });
    finish(run, state, row, "succeeded", output, null);
    // The parent resumes only once the child's record (and its cache entry) is committed: see `acknowledged`.
    await run.writes.committed(run.name);
    settle?.(output);
    return fromLiteralNow(output.literal);
  } catch (e) {
    settle?.(undefined);
    return failed(run, state, row, e);
  } finally {
    if (ckey && task.cache.serialize) serialized.delete(ckey);
    await release?.();
  }
}

/** Waits for an action left in flight (see `execute`) without writing it again, then records how it ended. */
async function resumeAction(run: RunState, req: ActionRequest, state: ActionState): Promise<unknown> {
  const row = state.row!;
  const stored = await run.store.getAction(run.name, req.name);
  if (stored) Object.assign(row, { createdAt: stored.createdAt, inputs: stored.inputs, attemptCount: stored.attemptCount });
  try {
    const output = await run.dispatcher.dispatch(run, req, row);
    finish(run, state, row, "succeeded", output, null);
    await run.writes.committed(run.name);
    return fromLiteralNow(output.literal);
  } catch (e) {
    return failed(run, state, row, e);
  }
}

/** Records the end of an action whose execution threw `e`, then rejects with its re-created error. */
async function failed(run: RunState, state: ActionState, row: ActionRow, e: unknown): Promise<never> {
  const record = run.secretValues.redactRecord(errorToRecord(e));
  const phase: ActionPhase = e instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
  finish(run, state, row, phase, undefined, record);
  await run.writes.committed(run.name);
  throw errorFromRecord(record);
}

/**
 * What the cache will do for this execution and the parts of its key (recorded with the action, see
 * `ActionCacheRecord`): a "miss" until a lookup finds an entry.
 */
function cacheRecord(run: RunState, task: TaskTemplate, lit: Literal): ActionCacheRecord {
  const behavior = task.cache.behavior;
  if (!task.cache.isEnabled()) return { outcome: "disabled", behavior };
  if (run.options.disableRunCache) return { outcome: "disabled", behavior, reason: "the run disabled the cache (disableRunCache)" };
  const parts = cacheKeyParts(task, lit);
  const outcome = behavior === "auto" && !run.options.overwriteCache ? "miss" : "overwrite";
  return {
    outcome, behavior, ...(outcome === "overwrite" && behavior === "auto" ? { reason: "the run overwrites the cache (overwriteCache)" } : {}),
    ...parts, serialize: task.cache.serialize,
  };
}

/** Waits for an identical `serialize` execution as a blocked caller (a worker's slot is given back meanwhile). */
function parked<T>(run: RunState, req: ActionRequest, wait: () => Promise<T>): Promise<T> {
  return run.dispatcher.parked ? run.dispatcher.parked(run, req.parent, wait) : wait();
}

/**
 * Hands `value` to the caller once the action's record is committed (one commit per event-loop turn, shared by
 * every action that ended in it, fsynced under `full` durability): a parent never acts on a child's result that
 * a crash, or a power loss, could take back.
 */
function acknowledged(run: RunState, value: unknown): Promise<unknown> {
  return run.writes.committed(run.name).then(() => value);
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
    run.writes.appendLogs([{
      runName: run.name, action: req.name, attempt: row.attemptCount, time: Date.now(), stream: "stderr",
      message: `[flyte] ${what} not used: its blob ${gone} is missing or damaged; running ${req.task.name} again.`,
    }]);
    return undefined;
  });
}

function isForcedDescendant(run: RunState, parent: string): boolean {
  for (let p: string | null = parent; p; p = run.actions.get(p)?.parent ?? null) {
    if (run.options.forceRerunActions.includes(p)) return true;
  }
  return false;
}


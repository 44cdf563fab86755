/**
 * The queue dispatcher: the `ActionDispatcher` of remote and hybrid runs. Instead of running an action's attempts
 * here, it enqueues the action for a worker of the task's environment (see action-queue.ts) and resolves when
 * that worker has recorded how it ended. Deciding stays where the call was made (submit-action.ts: name, replay,
 * recovery, cache, the queued row); executing (the attempt loop, retries, timeouts, logs, secrets) happens on the
 * worker, through the same inline attempt loop the embedded runtime uses.
 */
import { OVERRIDDEN, type TaskTemplate } from "../authoring/task-template.ts";
import { errorFromRecord, errorToRecord, TaskTimeoutError, ValidationError } from "../errors.ts";
import type { ActionDispatcher, ActionRequest } from "../controller/dispatcher.ts";
import type { Packed } from "../controller/packing.ts";
import type { RunState } from "../controller/run-state.ts";
import { isTerminal, type ActionRow } from "../store/store.ts";
import { decodeLiteral } from "../types/codec.ts";
import { jobOverrides } from "../authoring/task-overrides.ts";
import { actionKey, taskIdentifier, type ActionJob, type ActionQueue } from "./action-queue.ts";

/** Lets a worker know when an attempt of its own is blocked on children (see worker-slots.ts). */
export interface BlockingHooks {
  blocked(run: RunState, parent: string | null): void;
  unblocked(run: RunState, parent: string | null): Promise<void>;
}

export class QueueDispatcher implements ActionDispatcher {
  constructor(
    private readonly queue: ActionQueue,
    private readonly hooks?: BlockingHooks,
  ) {}

  /** Enqueues `req` (its queued row is committed first: the worker reads its inputs from it). Returns its key. */
  async submit(run: RunState, req: ActionRequest): Promise<string> {
    const env = req.task.envName;
    if (!env) {
      throw new ValidationError(`Task "${req.task.name}" belongs to no environment, so no worker can run it. Declare it with env.task(...).`);
    }
    const job: ActionJob = {
      project: run.key.project, domain: run.key.domain, run: run.name, action: req.name, task: req.task.name, version: run.options.version,
      ...(OVERRIDDEN in req.task ? { overrides: jobOverrides(req.task) } : {}),
    };
    await run.writes.flush(run.name);
    const failure = run.writes.failureOf(run.name);
    if (failure) throw failure;
    await this.queue.enqueue(taskIdentifier(env, req.task.queue ?? run.options.queue, run.options.interruptible ?? req.task.interruptible), job);
    return actionKey(job);
  }

  #expireAfterMaxQueuedTime(run: RunState, req: ActionRequest, row: ActionRow, key: string): NodeJS.Timeout | undefined {
    const limit = (req.task.timeout.maxQueuedTime ?? 0) * 1000;
    if (limit <= 0) return undefined;
    // Counted from when the action was queued: a re-executed caller that finds it still waiting does not restart it.
    const due = Math.max(0, row.createdAt + limit - Date.now());
    const env = req.task.envName ?? "?";
    const timer = setTimeout(() => {
      const error = errorToRecord(new TaskTimeoutError(
        `Task "${req.task.name}" waited more than ${limit / 1000}s in the queue (maxQueuedTime) without a worker of environment "${env}" starting it. ` +
          `Raise timeout.maxQueuedTime or start more workers: flyte worker --env ${env}`,
        { bound: "maxQueuedTime" },
      ));
      run.store.expireQueued(run.name, req.name, { attemptCount: row.attemptCount, phase: "timed_out", error, at: Date.now(), owner: "maxQueuedTime" })
        .then((expired) => (expired ? this.queue.notifyDone(key) : undefined))
        // The store is unreachable now: the action waits on as if it had no limit (its worker may yet start it).
        .catch(() => undefined);
    }, due);
    timer.unref();
    return timer;
  }

  async parked<T>(run: RunState, parent: string | null, wait: () => Promise<T>): Promise<T> {
    this.hooks?.blocked(run, parent);
    try {
      return await wait();
    } finally {
      await this.hooks?.unblocked(run, parent);
    }
  }

  async dispatch(run: RunState, req: ActionRequest, row: ActionRow): Promise<Packed> {
    this.hooks?.blocked(run, req.parent);
    let ended: ActionRow | undefined;
    let expiry: NodeJS.Timeout | undefined;
    try {
      const key = await this.submit(run, req);
      expiry = this.#expireAfterMaxQueuedTime(run, req, row, key);
      await this.queue.whenDone(key, async () => {
        const stored = await run.store.getAction(run.name, req.name);
        // Queued here and committed before the job existed: a terminal phase is this execution's end.
        if (stored && isTerminal(stored.phase)) ended = stored;
        return ended !== undefined;
      }, run.abort.signal, `action "${req.name}" (${req.task.name}) of run "${run.name}"`);
    } finally {
      if (expiry) clearTimeout(expiry);
      await this.hooks?.unblocked(run, req.parent);
    }
    if (ended!.phase === "aborted" && !run.abort.signal.aborted) {
      // The run was aborted and the child's worker saw it first (every worker polls for abort requests on its
      // own): this attempt follows now, so that it, its action and a remote run end aborted, not failed.
      const now = await run.store.getRun(run.key).catch(() => undefined);
      if (now?.abortRequested) run.markAborted(now.abortRequested);
    }
    // The worker recorded attempts and times on the row; the caller finishes it (submit-action.ts) from this copy.
    Object.assign(row, { attemptCount: ended!.attemptCount, startedAt: ended!.startedAt, reportUri: ended!.reportUri });
    if (ended!.phase === "succeeded" && ended!.outputs) return { literal: decodeLiteral(ended!.outputs), bytes: ended!.outputs };
    throw errorFromRecord(ended!.error ?? { name: "RuntimeSystemError", code: "NoError", kind: "system", message: `Action ${req.name} ended ${ended!.phase} without an error.` });
  }
}

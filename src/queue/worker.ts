/**
 * A worker of the cluster backend (`flyte worker --env X`): claims the queued actions of its environments,
 * executes each through the same attempt loop as the embedded runtime (retries, timeouts, logs, secrets), records
 * how it ended, and notifies whoever awaits it. Calls a task makes go back to the queue (the worker's runs use the
 * queue dispatcher), so a tree of any depth spreads over every worker.
 *
 * Slots: `concurrency` attempts execute at once; an attempt blocked on its children gives its slot back while it
 * waits (worker-slots.ts), so a parent never starves its own children of slots, whatever the depth.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { EventEmitter } from "node:events";
import { run as runGraphile, type Runner, type Task, type WorkerEvents } from "graphile-worker";
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { RunOptionsResolved } from "../controller/controller.ts";
import { InlineDispatcher, RetryDeferred, retryStateOf, type RetryState } from "../controller/inline-dispatcher.ts";
import { loadRecoveredInto } from "../controller/recovery.ts";
import { RunState } from "../controller/run-state.ts";
import { startAdmitted, submitChild } from "../controller/submit-action.ts";
import { RuntimeSystemError, TaskInterruptedError, TaskTimeoutError, errorToRecord, type ErrorRecord } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { withIoScope } from "../io/io-scope.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { isTerminal, type ActionPhase, type ActionRow, type RunKey, type RunRow, type RunStore } from "../store/store.ts";
import { decodeLiteral } from "../types/codec.ts";
import { fromLiteral } from "../types/literal.ts";
import type pg from "pg";
import { actionKey, newPool, type JobOverrides, QUEUE_SCHEMA, quietLogger, taskIdentifier, WORKER_TTL_MS, type ActionJob, type ActionQueue } from "./action-queue.ts";
import { withOverrides } from "../authoring/task-overrides.ts";
import { QueueDispatcher } from "./queue-dispatcher.ts";
import { whileReachable } from "../store/postgres/reconnect.ts";
import { WorkerSlots } from "./worker-slots.ts";
import { warmPools } from "../controller/isolation/reuse-pool.ts";

/** Finds the code of a task at a version: a deployed bundle, or (for development) the files this worker loaded. */
export type TaskResolver = (fqn: string, version: string) => Promise<TaskTemplate>;

export interface WorkerOptions {
  envs: string[];
  concurrency: number;
  queue?: string;
  store: RunStore;
  blobStore: BlobStore;
  secrets: SecretStore;
  actionQueue: ActionQueue;
  rawDataPath: string;
  systemRetries: number;
  offload: boolean;
  durability: "full" | "process";
  resolveTask: TaskResolver;
  /** The engine's own connections (claims, completions) come from a pool sized for this worker. */
  databaseUrl: string;
  /** Runs on preemptible capacity: claims only actions of interruptible tasks (see `interrupt`). */
  interruptible?: boolean;
  /** `"process"`: attempts of non-reusable environments run in a fresh child process each (src/isolation). */
  isolation?: "none" | "process";
  /** Called when an action starts and ends here (progress output of `flyte worker`). */
  onAction?: (e: { job: ActionJob; phase: ActionPhase | "started" | "dropped" | "retrying"; ms?: number }) => void;
}

/**
 * How a worker has the engine fetch and complete jobs: a fetch locks up to as many ready jobs as the worker may
 * claim (`claims`; its loops take them from memory), and completions made together go in one statement. On a
 * backlog that is a round trip per batch instead of two per job. Jobs waiting in the local queue are locked by this
 * worker's pool id, which the lost-worker sweep releases like the rest; they go back to the table after `ttl` if no
 * loop took them.
 */
export function engineBatching(claims: number) {
  return { localQueue: { size: claims, ttl: 30_000 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } as const;
}

/** A run with actions executing on this worker: its state, and its row as first read here. */
interface HeldRun {
  state: RunState;
  row: RunRow;
  jobs: number;
  ready?: Promise<void>;
}

export class Worker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  readonly #o: WorkerOptions;
  readonly #slots: WorkerSlots;
  readonly #runs = new Map<string, HeldRun>();
  readonly #dispatcher: QueueDispatcher;
  #runner: Runner | undefined;
  #abortPoll: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #enginePool: pg.Pool | undefined;
  /** The ids graphile-worker locks this worker's jobs under (released by others if this worker is lost). */
  readonly #engineIds: string[] = [];
  readonly #startedAt = Date.now();
  /** Since when this worker's heartbeats have succeeded without a break (undefined: the last one failed). */
  #reachableSince: number | undefined;
  /** When this worker last looked for jobs locked under ids no registration names (see `releaseOrphanedJobs`). */
  #orphansCheckedAt = 0;
  /** Lock ids no registration named at that last look: released if the next look finds them unnamed still. */
  #orphanSuspects: ReadonlySet<string> = new Set();

  constructor(o: WorkerOptions) {
    this.#o = o;
    this.#slots = new WorkerSlots(o.concurrency);
    this.#dispatcher = new QueueDispatcher(o.actionQueue, this.#slots);
  }

  /** Starts claiming actions. */
  async start(): Promise<void> {
    const handler: Task = async (payload, helpers) => this.#execute(payload as ActionJob, helpers.job.task_identifier);
    // A worker on preemptible capacity takes interruptible actions only; the others take both kinds.
    const taskList = Object.fromEntries(this.#o.envs.flatMap((env) => [
      ...(this.#o.interruptible ? [] : [[taskIdentifier(env, this.#o.queue), handler]]),
      [taskIdentifier(env, this.#o.queue, true), handler],
    ]));
    // graphile-worker's concurrency only bounds claimed jobs: parents parked on their children keep a claim but
    // not a slot, so claims go well beyond the slots (WorkerSlots bounds what executes).
    // Listening before the engine starts: its workers are created (and their lock ids chosen) inside run().
    const events = new EventEmitter() as WorkerEvents;
    // Jobs are locked under the pool's id (batched fetching) or a worker's: both are released if this process is lost.
    events.on("pool:create", ({ workerPool }) => void this.#engineIds.push(workerPool.id));
    events.on("worker:create", ({ worker }) => void this.#engineIds.push(worker.workerId));
    const claims = Math.max(4, this.#o.concurrency * 4);
    this.#enginePool = newPool(this.#o.databaseUrl, claims + 2);
    // The runtime connected a moment ago: a database restart now is waited out (it was an internal error).
    this.#runner = await whileReachable(() => runGraphile({
      pgPool: this.#enginePool!, schema: QUEUE_SCHEMA, concurrency: claims, noHandleSignals: true,
      pollInterval: 2_000, taskList, logger: quietLogger, events, preset: { worker: engineBatching(claims) },
    }));
    await this.#beat();
    this.#abortPoll = setInterval(() => void this.#pollAborts(), 1_000);
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(200, Math.floor(WORKER_TTL_MS / 5)));
  }

  /** Renews this worker's registration, and releases the actions of workers that stopped renewing theirs. */
  async #beat(): Promise<void> {
    const q = this.#o.actionQueue;
    try {
      await q.heartbeat({
        id: this.id, envs: this.#o.envs, queue: this.#o.queue ?? null, pid: process.pid, host: hostname(), concurrency: this.#o.concurrency,
        running: this.#slots.running, startedAt: this.#startedAt, pools: warmPools(),
      }, this.#engineIds);
      const now = Date.now();
      this.#reachableSince ??= now;
      // After a database outage, every worker's last heartbeat looks stale: only once this worker has been back
      // for a whole TTL (so every live worker had its chance to renew) does a stale registration mean a lost worker.
      if (now - this.#reachableSince >= WORKER_TTL_MS) {
        await q.releaseLostWorkers(now);
        // Jobs of a worker lost before its first heartbeat named them: looked for once per TTL (a scan of the
        // engine's job table, which holds only jobs not yet done).
        if (now - this.#orphansCheckedAt >= WORKER_TTL_MS) {
          this.#orphansCheckedAt = now;
          this.#orphanSuspects = await q.releaseOrphanedJobs(this.#orphanSuspects);
        }
      }
    } catch {
      // The database is unreachable for now: the next beat tries again (workers reconnect through the pool).
      this.#reachableSince = undefined;
    }
  }

  /** Stops claiming; resolves once running attempts have finished. */
  async stop(): Promise<void> {
    if (this.#abortPoll) clearInterval(this.#abortPoll);
    await this.#runner?.stop();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    await this.#o.actionQueue.unregister(this.id).catch(() => undefined);
    await this.#enginePool?.end().catch(() => undefined);
  }

  /**
   * Gives up every action this worker holds, at once (its drain time ran out): other workers take them over now,
   * as system retries, instead of once this worker's registration expires. What it still writes of them is dropped.
   */
  async abandon(): Promise<void> {
    if (this.#abortPoll) clearInterval(this.#abortPoll);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    await this.#o.actionQueue.releaseWorker(this.id, this.#engineIds);
  }

  /**
   * The machine is being taken away (a spot worker's SIGTERM outlived its grace period): every attempt running
   * here fails with `TaskInterruptedError` and its action goes back to the queue for another worker, without
   * spending the task's retries (they count against execution.systemRetries).
   */
  interrupt(): void {
    for (const { state } of this.#runs.values()) {
      state.interruptAttempts(new TaskInterruptedError(`The worker running this attempt (${this.id}) was interrupted (preempted); the action goes back to the queue and is retried without spending its retries.`));
    }
  }

  get running(): number {
    return this.#slots.running;
  }

  /** Runs whose owner asked for an abort (`flyte abort`, `Run.abort()` elsewhere): their attempts here stop. */
  async #pollAborts(): Promise<void> {
    for (const { state } of this.#runs.values()) {
      if (state.abort.signal.aborted) continue;
      const row = await this.#o.store.getRun(state.key).catch(() => undefined);
      if (row && (row.abortRequested || row.phase === "aborted")) state.markAborted(row.abortRequested ?? "aborted");
    }
  }

  async #execute(job: ActionJob, identifier: string): Promise<void> {
    const { store } = this.#o;
    const key: RunKey = { project: job.project, domain: job.domain, name: job.run };
    const t0 = Date.now();
    // A run with actions executing here is read once: its abort requests reach them through `#pollAborts`.
    const [runRow, row] = await Promise.all([this.#runs.get(job.run)?.row ?? store.getRun(key), store.getAction(job.run, job.action)]);
    if (!runRow || !row || isTerminal(row.phase)) return; // gone, or already ended (a duplicate delivery)
    const held = this.#holdRun(runRow, job);
    const run = held.state;
    try {
      // A recovering run's chain is loaded first (a failed load: the engine retries the job).
      if (held.ready) await held.ready;
      await this.#claimAndExecute(job, identifier, key, run, runRow, row, t0);
    } finally {
      run.writes.unclaim(run.name, job.action);
      if (--held.jobs === 0) this.#runs.delete(run.name);
    }
  }

  async #claimAndExecute(job: ActionJob, identifier: string, key: RunKey, run: RunState, runRow: RunRow, row: ActionRow, t0: number): Promise<void> {
    // The root of a remote run: its run has no owner but the worker executing the root, which records its end.
    const isRoot = row.parent === null && runRow.mode === "remote";
    // What this worker writes of the action counts only while the action is this worker's (see WriteBatch.claim).
    if (row.phase === "running") {
      // Claimed before by a worker that was lost mid-attempt (its registration expired): that attempt failed
      // with a system error, and this one is its system retry. The takeover is committed before anything runs:
      // if the lost worker's completion got in first, the action has ended and there is nothing left to do.
      run.writes.claim(run.name, job.action, this.id, { takeover: true });
      const lost = await this.#recordLostAttempt(run, row);
      if (lost) {
        Object.assign(row, { phase: "failed", error: lost, endedAt: Date.now() });
        run.writes.upsertAction(row);
      }
      await run.writes.committed(run.name);
      if (run.writes.claimLost(run.name, job.action)) return;
      if (lost) {
        if (isRoot) {
          run.writes.updateRun(key, { phase: "failed", endedAt: row.endedAt, error: lost });
          await run.writes.committed(run.name);
        }
        await this.#o.actionQueue.notifyDone(actionKey(job));
        return;
      }
    }
    run.writes.claim(run.name, job.action, this.id);
    let resume: RetryState | undefined;
    if (row.attemptCount > 0) {
      const attempts = await this.#o.store.listAttempts(run.name, row.name);
      if (row.phase === "queued" && (job.attempt ?? 0) !== row.attemptCount) {
        // An older job of an action waiting out a backoff (its worker was lost before the retry's job replaced
        // this one, or this one was released late): the retry is scheduled, once, and this job ends.
        const last = attempts.at(-1);
        const due = (last?.endedAt ?? Date.now()) + await this.#backoffMs(job, retryStateOf(attempts));
        await this.#o.actionQueue.enqueue(identifier, { ...job, attempt: row.attemptCount }, { runAt: new Date(due), retry: true });
        return;
      }
      // Earlier attempts ran elsewhere (a retry after a backoff, or a takeover): the retry budgets go on from theirs,
      // and the children they called are replayed, awaited or re-run as in the process that made the first.
      resume = retryStateOf(attempts);
      run.adoptChildren(row.name, await this.#o.store.listActionSummaries(run.name));
    }
    await this.#slots.acquire(run, job.action);
    this.#o.onAction?.({ job, phase: "started" });
    if (isRoot) run.writes.updateRun(key, { phase: "running", startedAt: Date.now() });
    let phase: ActionPhase = "failed";
    let deferred: RetryDeferred | undefined;
    try {
      const task = withOverrides(await this.#o.resolveTask(job.task, job.version), job.overrides);
      const stored = decodeLiteral(row.inputs!);
      const inputs = await withIoScope(run.ioScope, () => fromLiteral(stored, { taskName: task.name, direction: "input" }));
      try {
        if (runRow.abortRequested || run.abort.signal.aborted) run.markAborted(runRow.abortRequested ?? "aborted");
        const out = await new InlineDispatcher(submitChild, { deferBackoff: true }).dispatch(run, {
          name: job.action, parent: row.parent, task, inputs, lit: stored, inputsHash: row.inputsHash, group: row.group,
          customContext: run.options.customContext,
        }, row, resume);
        phase = "succeeded";
        Object.assign(row, { phase, outputs: out.bytes, error: null, endedAt: Date.now() });
      } catch (e) {
        if (e instanceof RetryDeferred) {
          deferred = e;
          row.phase = "queued";
        } else {
          phase = e instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
          Object.assign(row, { phase, error: run.secretValues.redactRecord(errorToRecord(e)), endedAt: Date.now() });
        }
      }
    } catch (e) {
      // The code could not be loaded or the inputs read: the action fails (not the worker), saying why.
      Object.assign(row, { phase: "failed", error: errorToRecord(e), endedAt: Date.now() });
    } finally {
      this.#slots.release(run, job.action);
    }
    if (deferred) {
      await this.#deferRetry(job, identifier, run, row, deferred.delayMs, t0);
      return;
    }
    let outcome: ActionPhase | "dropped" = row.phase;
    try {
      run.writes.upsertAction(row);
      await run.writes.committed(run.name);
      if (this.#claimLost(run, job)) {
        outcome = "dropped";
        return;
      }
      // The run ends with its root, once the root's end is known to be this worker's to record.
      if (isRoot) {
        run.writes.updateRun(key, { phase: row.phase, endedAt: row.endedAt, outputs: row.outputs, error: row.error });
        await run.writes.committed(run.name);
      }
      await this.#o.actionQueue.notifyDone(actionKey(job));
    } finally {
      this.#o.onAction?.({ job, phase: outcome, ms: Date.now() - t0 });
    }
  }

  /**
   * Whether this worker's claim on the job's action was lost: it was declared lost while it ran the action
   * (stopped, cut off) and another worker took it over, whose execution is the action's. Warns when so.
   */
  #claimLost(run: RunState, job: ActionJob): boolean {
    const lost = run.writes.claimLost(run.name, job.action);
    if (lost) process.emitWarning(lost.message, { code: "FLYTE_CLAIM_LOST" });
    return lost !== undefined;
  }

  /**
   * The action failed an attempt and its next one is due after a backoff: rather than hold a slot and a claim
   * through it, the worker records the action as queued again and has the queue hand its job to a worker
   * (maybe this one) when it is due (the engine's run_at). The job is enqueued after the record is committed: a
   * worker lost in between leaves this job, released, to schedule it (see `#claimAndExecute`).
   */
  async #deferRetry(job: ActionJob, identifier: string, run: RunState, row: ActionRow, delayMs: number, t0: number): Promise<void> {
    let outcome: "retrying" | "dropped" = "retrying";
    try {
      run.writes.updateAction(run.name, row.name, { phase: "queued", attemptCount: row.attemptCount });
      await run.writes.committed(run.name);
      if (this.#claimLost(run, job)) {
        outcome = "dropped";
        return;
      }
      await this.#o.actionQueue.enqueue(identifier, { ...job, attempt: row.attemptCount }, { runAt: new Date(Date.now() + delayMs), retry: true });
    } finally {
      this.#o.onAction?.({ job, phase: outcome, ms: Date.now() - t0 });
    }
  }

  /** The backoff before the action's next attempt, given the budgets its attempts used. */
  async #backoffMs(job: ActionJob, state: RetryState): Promise<number> {
    const task = withOverrides(await this.#o.resolveTask(job.task, job.version), job.overrides);
    return task.retries.backoff && state.userFailures > 0 ? task.retries.backoff.computeDelay(state.userFailures - 1) * 1000 : 0;
  }

  /**
   * Marks the lost attempt failed (`WorkerLost`). Returns the action's error when the lost attempts used up
   * the system retries (`execution.systemRetries`), else undefined (the action runs again here).
   */
  async #recordLostAttempt(run: RunState, row: ActionRow): Promise<ErrorRecord | undefined> {
    const attempts = await this.#o.store.listAttempts(run.name, row.name);
    const last = attempts.at(-1);
    const error = errorToRecord(new RuntimeSystemError("WorkerLost", `The worker executing attempt ${(last?.attempt ?? 0) + 1} of ${row.name} was lost (killed, stopped, cut off, or shut down before the attempt finished); the action was claimed again.`));
    // Recorded as this worker's: from now on the lost worker's writes of the action are dropped. A worker lost
    // between attempts (waiting out a backoff) loses the attempt it was about to make.
    const now = Date.now();
    if (last && !isTerminal(last.phase)) run.writes.upsertAttempt({ ...last, phase: "failed", endedAt: now, error, owner: this.id });
    else {
      const attempt = Math.max(row.attemptCount, (last?.attempt ?? -1) + 1);
      run.writes.upsertAttempt({
        runName: run.name, action: row.name, attempt, phase: "failed", startedAt: now, endedAt: now, error, owner: this.id, leaseEpoch: run.lease.epoch,
      });
      row.attemptCount = attempt + 1;
      run.writes.updateAction(run.name, row.name, { attemptCount: row.attemptCount });
    }
    const lostSoFar = attempts.filter((a) => a.error?.code === "WorkerLost").length + 1;
    if (lostSoFar <= this.#o.systemRetries) return undefined;
    return errorToRecord(new RuntimeSystemError("WorkerLost", `${row.name} lost its worker ${lostSoFar} times, more than execution.systemRetries (${this.#o.systemRetries}).`));
  }

  /** The run `job` belongs to, as this worker executes it: one state per run while it has actions here. */
  #holdRun(runRow: RunRow, job: ActionJob): HeldRun {
    let held = this.#runs.get(runRow.name);
    if (held) {
      held.jobs++;
      return held;
    }
    const saved = runRow.options as {
      customContext?: Record<string, string>; envVars?: Record<string, string>; overwriteCache?: boolean; disableRunCache?: boolean; forceRerunActions?: string[];
    };
    const options: RunOptionsResolved = {
      name: runRow.name, project: runRow.project, domain: runRow.domain, mode: runRow.mode, overwriteCache: saved.overwriteCache ?? false,
      disableRunCache: saved.disableRunCache ?? false, envVars: saved.envVars ?? {}, labels: runRow.labels ?? {}, annotations: {},
      maxActionConcurrency: 0, customContext: saved.customContext ?? {}, forceRerunActions: saved.forceRerunActions ?? [], version: job.version,
      durability: this.#o.durability,
      ...(this.#o.isolation === "process" ? { isolation: "process" as const } : {}),
    };
    const state: RunState = new RunState({
      name: runRow.name, task: undefined as unknown as TaskTemplate, options, store: this.#o.store, blobStore: this.#o.blobStore, secrets: this.#o.secrets,
      rawDataPrefix: this.#o.rawDataPath, emit: () => undefined, systemRetries: this.#o.systemRetries, offload: this.#o.offload,
      // Attempts here are recorded under this worker's id; the run's own lease stays with whoever owns the run.
      lease: { owner: this.id, epoch: runRow.leaseEpoch ?? 0, expiresAt: Number.MAX_SAFE_INTEGER },
      dispatcher: this.#dispatcher, startCall: (caller, scope, t, inputs) => startAdmitted(state, caller, scope, t, inputs),
    });
    // A recovering run reuses the succeeded actions of its recoverFrom chain (loaded once per run held here; a
    // failed load fails the jobs that wait for it, which the engine retries once the run is no longer held).
    held = { state, row: runRow, jobs: 1, ...(runRow.recoverFrom ? { ready: loadRecoveredInto(this.#o.store, state, runRow) } : {}) };
    this.#runs.set(runRow.name, held);
    return held;
  }
}

export { withOverrides } from "../authoring/task-overrides.ts";

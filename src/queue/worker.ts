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
import { InlineDispatcher } from "../controller/inline-dispatcher.ts";
import { RunState } from "../controller/run-state.ts";
import { startAdmitted, submitChild } from "../controller/submit-action.ts";
import { RuntimeSystemError, TaskTimeoutError, errorToRecord, type ErrorRecord } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { withIoScope } from "../io/io-scope.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { isTerminal, type ActionPhase, type ActionRow, type RunKey, type RunRow, type RunStore } from "../store/store.ts";
import { decodeLiteral } from "../types/codec.ts";
import { fromLiteral } from "../types/literal.ts";
import type pg from "pg";
import { actionKey, newPool, QUEUE_SCHEMA, quietLogger, taskIdentifier, WORKER_TTL_MS, type ActionJob, type ActionQueue } from "./action-queue.ts";
import { QueueDispatcher } from "./queue-dispatcher.ts";
import { WorkerSlots } from "./worker-slots.ts";

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
  /** Called when an action starts and ends here (progress output of `flyte worker`). */
  onAction?: (e: { job: ActionJob; phase: ActionPhase | "started"; ms?: number }) => void;
}

export class Worker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  readonly #o: WorkerOptions;
  readonly #slots: WorkerSlots;
  readonly #runs = new Map<string, { state: RunState; jobs: number }>();
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

  constructor(o: WorkerOptions) {
    this.#o = o;
    this.#slots = new WorkerSlots(o.concurrency);
    this.#dispatcher = new QueueDispatcher(o.actionQueue, this.#slots);
  }

  /** Starts claiming actions. */
  async start(): Promise<void> {
    const handler: Task = async (payload) => this.#execute(payload as ActionJob);
    const taskList = Object.fromEntries(this.#o.envs.map((env) => [taskIdentifier(env, this.#o.queue), handler]));
    // graphile-worker's concurrency only bounds claimed jobs: parents parked on their children keep a claim but
    // not a slot, so claims go well beyond the slots (WorkerSlots bounds what executes).
    // Listening before the engine starts: its workers are created (and their lock ids chosen) inside run().
    const events = new EventEmitter() as WorkerEvents;
    // Jobs are locked under the pool's id (batched fetching) or a worker's: both are released if this process is lost.
    events.on("pool:create", ({ workerPool }) => void this.#engineIds.push(workerPool.id));
    events.on("worker:create", ({ worker }) => void this.#engineIds.push(worker.workerId));
    const claims = Math.max(4, this.#o.concurrency * 4);
    this.#enginePool = newPool(this.#o.databaseUrl, claims + 2);
    this.#runner = await runGraphile({
      pgPool: this.#enginePool, schema: QUEUE_SCHEMA, concurrency: claims, noHandleSignals: true,
      pollInterval: 2_000, taskList, logger: quietLogger, events,
    });
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
        running: this.#slots.running, startedAt: this.#startedAt,
      }, this.#engineIds);
      const now = Date.now();
      this.#reachableSince ??= now;
      // After a database outage, every worker's last heartbeat looks stale: only once this worker has been back
      // for a whole TTL (so every live worker had its chance to renew) does a stale registration mean a lost worker.
      if (now - this.#reachableSince >= WORKER_TTL_MS) await q.releaseLostWorkers(now);
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

  async #execute(job: ActionJob): Promise<void> {
    const { store } = this.#o;
    const key: RunKey = { project: job.project, domain: job.domain, name: job.run };
    const t0 = Date.now();
    const runRow = await store.getRun(key);
    const row = await store.getAction(job.run, job.action);
    if (!runRow || !row || isTerminal(row.phase)) return; // gone, or already ended (a duplicate delivery)
    const held = this.#holdRun(runRow, job);
    const run = held.state;
    if (row.phase === "running") {
      // Claimed before by a worker that was lost mid-attempt (its registration expired): that attempt failed
      // with a system error, and this one is its system retry.
      const lost = await this.#recordLostAttempt(run, row);
      if (lost) {
        Object.assign(row, { phase: "failed", error: lost, endedAt: Date.now() });
        run.writes.upsertAction(row);
        await run.writes.committed(run.name);
        await this.#o.actionQueue.notifyDone(actionKey(job));
        if (--held.jobs === 0) this.#runs.delete(run.name);
        return;
      }
    }
    await this.#slots.acquire(run, job.action);
    this.#o.onAction?.({ job, phase: "started" });
    // The root of a remote run: its run has no owner but the worker executing the root, which records its end.
    const isRoot = row.parent === null && runRow.mode === "remote";
    if (isRoot) run.writes.updateRun(key, { phase: "running", startedAt: Date.now() });
    let phase: ActionPhase = "failed";
    try {
      const task = await this.#o.resolveTask(job.task, job.version);
      const stored = decodeLiteral(row.inputs!);
      const inputs = await withIoScope(run.ioScope, () => fromLiteral(stored, { taskName: task.name, direction: "input" }));
      try {
        if (runRow.abortRequested || run.abort.signal.aborted) run.markAborted(runRow.abortRequested ?? "aborted");
        const out = await new InlineDispatcher(submitChild).dispatch(run, {
          name: job.action, parent: row.parent, task, inputs, lit: stored, inputsHash: row.inputsHash, group: row.group,
          customContext: run.options.customContext,
        }, row);
        phase = "succeeded";
        Object.assign(row, { phase, outputs: out.bytes, error: null, endedAt: Date.now() });
      } catch (e) {
        phase = e instanceof TaskTimeoutError ? "timed_out" : run.abort.signal.aborted ? "aborted" : "failed";
        Object.assign(row, { phase, error: run.secretValues.redactRecord(errorToRecord(e)), endedAt: Date.now() });
      }
    } catch (e) {
      // The code could not be loaded or the inputs read: the action fails (not the worker), saying why.
      Object.assign(row, { phase: "failed", error: errorToRecord(e), endedAt: Date.now() });
    } finally {
      this.#slots.release(run, job.action);
    }
    try {
      run.writes.upsertAction(row);
      if (isRoot) run.writes.updateRun(key, { phase: row.phase, endedAt: row.endedAt, outputs: row.outputs, error: row.error });
      await run.writes.committed(run.name);
      await this.#o.actionQueue.notifyDone(actionKey(job));
    } finally {
      if (--held.jobs === 0) this.#runs.delete(run.name);
      this.#o.onAction?.({ job, phase: row.phase, ms: Date.now() - t0 });
    }
  }

  /**
   * Marks the lost attempt failed (`WorkerLost`). Returns the action's error when the lost attempts used up
   * the system retries (`execution.systemRetries`), else undefined (the action runs again here).
   */
  async #recordLostAttempt(run: RunState, row: ActionRow): Promise<ErrorRecord | undefined> {
    const attempts = await this.#o.store.listAttempts(run.name, row.name);
    const last = attempts.at(-1);
    const error = errorToRecord(new RuntimeSystemError("WorkerLost", `The worker executing attempt ${(last?.attempt ?? 0) + 1} of ${row.name} stopped renewing its registration (killed or cut off); the action was claimed again.`));
    if (last && !isTerminal(last.phase)) run.writes.upsertAttempt({ ...last, phase: "failed", endedAt: Date.now(), error });
    const lostSoFar = attempts.filter((a) => a.error?.code === "WorkerLost").length + 1;
    if (lostSoFar <= this.#o.systemRetries) return undefined;
    return errorToRecord(new RuntimeSystemError("WorkerLost", `${row.name} lost its worker ${lostSoFar} times, more than execution.systemRetries (${this.#o.systemRetries}).`));
  }

  /** The run `job` belongs to, as this worker executes it: one state per run while it has actions here. */
  #holdRun(runRow: RunRow, job: ActionJob): { state: RunState; jobs: number } {
    let held = this.#runs.get(runRow.name);
    if (held) {
      held.jobs++;
      return held;
    }
    const saved = runRow.options as { customContext?: Record<string, string>; envVars?: Record<string, string>; overwriteCache?: boolean; disableRunCache?: boolean };
    const options: RunOptionsResolved = {
      name: runRow.name, project: runRow.project, domain: runRow.domain, mode: runRow.mode, overwriteCache: saved.overwriteCache ?? false,
      disableRunCache: saved.disableRunCache ?? false, envVars: saved.envVars ?? {}, labels: runRow.labels ?? {}, annotations: {},
      maxActionConcurrency: 0, customContext: saved.customContext ?? {}, forceRerunActions: [], version: job.version,
      durability: this.#o.durability,
    };
    const state: RunState = new RunState({
      name: runRow.name, task: undefined as unknown as TaskTemplate, options, store: this.#o.store, blobStore: this.#o.blobStore, secrets: this.#o.secrets,
      rawDataPrefix: this.#o.rawDataPath, emit: () => undefined, systemRetries: this.#o.systemRetries, offload: this.#o.offload,
      // Attempts here are recorded under this worker's id; the run's own lease stays with whoever owns the run.
      lease: { owner: this.id, epoch: runRow.leaseEpoch ?? 0, expiresAt: Number.MAX_SAFE_INTEGER },
      dispatcher: this.#dispatcher, startCall: (caller, scope, t, inputs) => startAdmitted(state, caller, scope, t, inputs),
    });
    held = { state, jobs: 1 };
    this.#runs.set(runRow.name, held);
    return held;
  }
}

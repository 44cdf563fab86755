/**
 * `LocalController`: executes runs in this process over a `RunStore` (the embedded default), dispatching every
 * action inline (inline-dispatcher.ts).
 *
 * Ownership: a run is created under this controller's lease (see leases.ts) and its writes are fenced by it; the
 * heartbeat renews the lease and picks up abort requests (`flyte abort` from another process). A run whose lease
 * cannot be renewed was taken over (reaped as OwnerLost after this process stalled past the TTL): it is aborted
 * here, and the store refuses whatever it would still write.
 */
import { hostname } from "node:os";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { StoreError, ValidationError, errorToRecord } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { withIoScope } from "../io/io-scope.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { isTerminal, type ActionPhase, type Lease, type RunKey, type RunRow, type RunStore } from "../store/store.ts";
import { encodeLiteral } from "../types/codec.ts";
import { toLiteral } from "../types/literal.ts";
import { ROOT_ACTION } from "./action-id.ts";
import { inputsHash } from "./cache-key.ts";
import type { ActionEvent, Controller, RunOptionsResolved } from "./controller.ts";
import type { ActionDispatcher, ActionRequest } from "./dispatcher.ts";
import { InlineDispatcher } from "./inline-dispatcher.ts";
import { heartbeatMs, isOwnerLost, leaseTtlMs, newOwnerId, ownerLostError, retireOwnerId } from "./leases.ts";
import { RunState } from "./run-state.ts";
import { checkChainEnded, claimHeldError, loadRecovered, recoveryChain } from "./recovery.ts";
import { executeAction, recordQueued, startAdmitted, submitChild } from "./submit-action.ts";

export interface LocalControllerOptions {
  store: RunStore;
  blobStore: BlobStore;
  secrets: SecretStore;
  rawDataPath: string;
  systemRetries: number;
  offload: boolean;
  /**
   * How runs of the other modes dispatch (the cluster backend: hybrid = root here, children to workers); a mode
   * missing here cannot be run by this controller.
   */
  dispatchers?: Partial<Record<"hybrid" | "remote", (inline: ActionDispatcher) => ActionDispatcher>>;
  /** Remote runs: enqueues a recorded root action for the workers (the run then belongs to them). */
  enqueueRoot?: (run: RunState, req: ActionRequest) => Promise<void>;
  /**
   * Waits for a run owned by another process to end (the cluster backend: a notification when its terminal phase
   * commits, with a slow re-check): resolves once `check()` (reading the run's row) says it ended; rejects with
   * `signal`'s reason when it fires first. Without it, such runs are polled.
   */
  awaitRunEnd?: (key: RunKey, check: () => Promise<boolean>, signal?: AbortSignal) => Promise<void>;
}

export class LocalController implements Controller {
  readonly #o: LocalControllerOptions;
  readonly #runs = new Map<string, RunState>();
  readonly #listeners = new Set<(e: ActionEvent) => void>();
  readonly #dispatcher = new InlineDispatcher(submitChild);
  readonly #owner = newOwnerId();
  readonly #ttlMs = leaseTtlMs();
  #heartbeat: NodeJS.Timeout | undefined;

  readonly #modes = new Map<RunOptionsResolved["mode"], ActionDispatcher>();

  constructor(o: LocalControllerOptions) {
    this.#o = o;
    this.#modes.set("local", this.#dispatcher);
    for (const [mode, make] of Object.entries(o.dispatchers ?? {})) this.#modes.set(mode as "hybrid" | "remote", make(this.#dispatcher));
  }

  onActionEvent(listener: (e: ActionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async startRun(task: TaskTemplate, rawInputs: unknown, o: RunOptionsResolved): Promise<void> {
    const store = this.#o.store;
    if (o.mode !== "local" && o.version === "") {
      // Workers load the code of the version an action names: by default the root task's latest deployment.
      o = { ...o, version: (await store.getTask({ project: o.project, domain: o.domain }, task.name))?.version ?? "undeployed" };
    }
    if (o.mode === "remote" && this.#o.enqueueRoot) return this.#startRemote(task, rawInputs, o, this.#o.enqueueRoot);
    const dispatcher = this.#modes.get(o.mode);
    if (!dispatcher) {
      throw new ValidationError(`mode "${o.mode}" is not available with this backend: remote and hybrid runs need backend: cluster (PostgreSQL and flyte worker). Use mode: "local".`, { field: "mode" });
    }
    const chain = await this.#recoveryChainOf(task, o);
    const rawDataPrefix = o.rawDataPath ?? this.#o.rawDataPath;
    const deliver = (e: ActionEvent) => this.#listeners.forEach((l) => l(e));
    const now = Date.now();
    const lease: Lease = { owner: this.#owner, epoch: 1, expiresAt: now + this.#ttlMs };
    const holder = await store.createRun({
      project: o.project, domain: o.domain, name: o.name, taskName: task.name, phase: "queued", mode: o.mode, inputs: null, outputs: null,
      error: null, createdAt: now, startedAt: null, endedAt: null, ownerPid: process.pid, ownerHost: hostname(), heartbeatAt: now,
      ownerId: lease.owner, leaseEpoch: lease.epoch, leaseExpiresAt: lease.expiresAt,
      recoverFrom: o.recoverFrom ?? null, abortRequested: null, labels: o.labels,
      source: { ...(o.sourceFile ? { file: o.sourceFile } : {}), task: task.name },
      options: {
        customContext: o.customContext, envVars: o.envVars, overwriteCache: o.overwriteCache, disableRunCache: o.disableRunCache,
        ...(o.trigger ? { trigger: o.trigger } : {}),
      },
    }, chain.length > 0 ? chain[chain.length - 1]!.name : undefined);
    if (holder !== undefined) {
      throw claimHeldError(o.recoverFrom!, await store.getRun({ project: o.project, domain: o.domain, name: holder }), holder);
    }
    const run: RunState = new RunState({
      name: o.name, task, options: o, store, blobStore: this.#o.blobStore, secrets: this.#o.secrets, rawDataPrefix,
      emit: () => (this.#listeners.size > 0 ? deliver : undefined), systemRetries: this.#o.systemRetries, offload: this.#o.offload,
      lease, dispatcher, startCall: (caller, scope, t, inputs) => startAdmitted(run, caller, scope, t, inputs),
    });
    store.writes.own(o.name, lease, o.durability);
    this.#runs.set(o.name, run);
    this.#ensureHeartbeat();
    if (chain.length > 0) {
      run.recovered = await loadRecovered(store, chain);
      run.recoverChain = chain.map((r) => r.name);
    }
    // Started on the next turn: whoever started the run can subscribe to its events (the CLI's live tree)
    // before the first action reports "queued".
    setImmediate(() => void this.#execute(run, task, rawInputs));
  }

  /** The runs a recovering run reuses (see recovery.ts), checked to have ended; empty when it recovers nothing. */
  async #recoveryChainOf(task: TaskTemplate, o: RunOptionsResolved): Promise<RunRow[]> {
    if (!o.recoverFrom) return [];
    const store = this.#o.store;
    // Owners that died are marked now, so that what is still running below is really running.
    await store.reapLostRuns(isOwnerLost, ownerLostError);
    const source = await store.getRun({ project: o.project, domain: o.domain, name: o.recoverFrom });
    if (!source) throw new ValidationError(`recoverFrom: run "${o.recoverFrom}" does not exist. List runs with: flyte get runs`);
    if (source.taskName !== task.name) {
      throw new ValidationError(`recoverFrom: run "${o.recoverFrom}" ran task "${source.taskName}", not "${task.name}". Recover it with the same task.`);
    }
    const chain = await recoveryChain(store, source);
    checkChainEnded(chain);
    return chain;
  }

  /**
   * A remote run: recorded with its root action queued, then handed to the workers. Nobody here owns it (no
   * lease): the worker that executes the root records the run's end, and this process may exit at once.
   */
  async #startRemote(task: TaskTemplate, rawInputs: unknown, o: RunOptionsResolved, enqueueRoot: (run: RunState, req: ActionRequest) => Promise<void>): Promise<void> {
    const store = this.#o.store;
    // Recovering: the workers load the chain from the run's recoverFrom and reuse its succeeded actions.
    const chain = await this.#recoveryChainOf(task, o);
    const inputs = await task.validateInputs(rawInputs);
    const rawDataPrefix = o.rawDataPath ?? this.#o.rawDataPath;
    const lit = await withIoScope({ blobStore: this.#o.blobStore, rawDataPrefix }, () => toLiteral(inputs, { taskName: task.name, direction: "input" }));
    const now = Date.now();
    const holder = await store.createRun({
      project: o.project, domain: o.domain, name: o.name, taskName: task.name, phase: "queued", mode: o.mode, inputs: encodeLiteral(lit), outputs: null,
      error: null, createdAt: now, startedAt: null, endedAt: null, ownerPid: null, ownerHost: null, heartbeatAt: null,
      ownerId: null, leaseEpoch: 0, leaseExpiresAt: null, recoverFrom: o.recoverFrom ?? null, abortRequested: null, labels: o.labels,
      source: { ...(o.sourceFile ? { file: o.sourceFile } : {}), task: task.name },
      options: {
        customContext: o.customContext, envVars: o.envVars, overwriteCache: o.overwriteCache, disableRunCache: o.disableRunCache,
        ...(o.forceRerunActions.length > 0 ? { forceRerunActions: o.forceRerunActions } : {}),
        ...(o.trigger ? { trigger: o.trigger } : {}),
      },
    }, chain.length > 0 ? chain[chain.length - 1]!.name : undefined);
    if (holder !== undefined) {
      throw claimHeldError(o.recoverFrom!, await store.getRun({ project: o.project, domain: o.domain, name: holder }), holder);
    }
    const run: RunState = new RunState({
      name: o.name, task, options: o, store, blobStore: this.#o.blobStore, secrets: this.#o.secrets, rawDataPrefix,
      emit: () => undefined, systemRetries: this.#o.systemRetries, offload: this.#o.offload,
      lease: { owner: this.#owner, epoch: 0, expiresAt: Number.MAX_SAFE_INTEGER }, dispatcher: this.#dispatcher,
      startCall: (caller, scope, t, i) => startAdmitted(run, caller, scope, t, i),
    });
    const req: ActionRequest = {
      name: ROOT_ACTION, parent: null, task, inputs, lit, inputsHash: inputsHash(lit), group: null, customContext: o.customContext,
    };
    await recordQueued(run, req);
    await enqueueRoot(run, req);
  }

  async #execute(run: RunState, task: TaskTemplate, rawInputs: unknown): Promise<void> {
    const { store } = this.#o;
    const { writes, key } = run;
    try {
      const inputs = await task.validateInputs(rawInputs);
      const lit = await withIoScope({ blobStore: this.#o.blobStore, rawDataPrefix: run.rawDataPrefix }, () =>
        toLiteral(inputs, { taskName: task.name, direction: "input" }),
      );
      writes.updateRun(key, { phase: "running", startedAt: Date.now(), inputs: encodeLiteral(lit) });
      // Committed at once: a run killed before its inputs are stored cannot be recovered without them.
      await writes.flush(run.name);
      await executeAction(run, {
        name: ROOT_ACTION, parent: null, task, inputs, lit, inputsHash: inputsHash(lit), group: null, customContext: run.options.customContext,
      });
      // Finished rows keep no values in memory; the root's output is read back from the store.
      const outputs = (await store.getAction(run.name, ROOT_ACTION))?.outputs ?? null;
      writes.updateRun(key, { phase: "succeeded", endedAt: Date.now(), outputs, ...RELEASED });
    } catch (e) {
      const root = run.actions.get(ROOT_ACTION);
      const failure = writes.failureOf(run.name);
      // When the store itself failed (a full disk), that failure is the run's error, whatever it broke first.
      const error = run.secretValues.redactRecord(failure ? errorToRecord(failure) : (root?.error ?? errorToRecord(e)));
      const phase: ActionPhase = run.abort.signal.aborted ? "aborted" : (root?.phase && isTerminal(root.phase) ? root.phase : "failed");
      // A run taken over by another process is not this process's to record any more.
      if (failure?.code !== "LeaseLost") {
        try {
          writes.updateRun(key, { phase, endedAt: Date.now(), error, ...RELEASED });
        } catch {
          // The queued writes cannot be committed: record the end directly, or the run would later read as OwnerLost.
          await store.recordFailedRun(key, error, Date.now());
        }
      }
    } finally {
      this.#runs.delete(run.name);
      if (this.#runs.size === 0) this.#stopHeartbeat();
      await writes.flush();
      writes.release(run.name);
      run.resolveFinished();
    }
  }

  #ensureHeartbeat(): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(() => void this.#beat(), heartbeatMs(this.#ttlMs));
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  async #beat(): Promise<void> {
    for (const run of [...this.#runs.values()]) {
      try {
        const renewed = await this.#o.store.renewLease(run.key, run.lease, this.#ttlMs);
        if (!this.#runs.has(run.name)) continue;
        if (!renewed) {
          const lost = new StoreError(
            `Run "${run.name}" was taken over by another process after this one missed its lease renewal (longer than ${this.#ttlMs / 1000}s). ` +
              `Its work here is stopped and its later writes are refused. Check it with: flyte get run ${run.name}`,
            { code: "LeaseLost" },
          );
          process.emitWarning(lost.message, { code: "FLYTE_LEASE_LOST" });
          run.abort.abort(lost);
          continue;
        }
        run.lease = renewed.lease;
        if (renewed.abortRequested && !run.abort.signal.aborted) void this.#abortOwned(run, renewed.abortRequested);
      } catch {
        // A failing store surfaces through the run's own writes.
      }
    }
  }

  async #abortOwned(run: RunState, reason: string): Promise<void> {
    const error = run.markAborted(reason);
    try {
      // The lease is kept: the run's last writes (its end, recorded by #execute, which releases it) are still its own.
      run.writes.updateRun(run.key, { phase: "aborted", endedAt: Date.now(), error, abortRequested: reason });
    } catch {
      // The run's writes failed; its end is recorded by #execute.
    }
    await run.finished;
  }

  async abortRun(key: RunKey, reason: string): Promise<void> {
    const owned = this.#runs.get(key.name);
    if (owned && owned.options.project === key.project && owned.options.domain === key.domain) return this.#abortOwned(owned, reason);
    await this.#o.store.requestAbort(key, reason);
  }

  async waitRun(key: RunKey, timeoutMs?: number): Promise<ActionPhase> {
    const owned = this.#runs.get(key.name);
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    if (owned) {
      if (timeoutMs === undefined) await owned.finished;
      else await Promise.race([owned.finished, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    if (this.#o.awaitRunEnd) return this.#awaitRunEnd(key, deadline, this.#o.awaitRunEnd);
    // Runs owned by another process: poll the store.
    for (;;) {
      const row = await this.#o.store.getRun(key);
      if (!row) throw new ValidationError(`Run "${key.name}" does not exist in ${key.project}/${key.domain}.`);
      if (isTerminal(row.phase)) return row.phase;
      if (Date.now() >= deadline) return row.phase;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** `waitRun` for a run another process executes, woken by the backend's notification of its end. */
  async #awaitRunEnd(key: RunKey, deadline: number, awaitEnd: NonNullable<LocalControllerOptions["awaitRunEnd"]>): Promise<ActionPhase> {
    let phase: ActionPhase | undefined;
    const check = async (): Promise<boolean> => {
      const row = await this.#o.store.getRun(key);
      if (!row) throw new ValidationError(`Run "${key.name}" does not exist in ${key.project}/${key.domain}.`);
      phase = row.phase;
      return isTerminal(row.phase);
    };
    const signal = deadline === Infinity ? undefined : AbortSignal.timeout(Math.max(0, deadline - Date.now()));
    try {
      await awaitEnd(key, check, signal);
    } catch (e) {
      if (!signal?.aborted) throw e;
      await check();
    }
    return phase!;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#runs.values()].map((r) => r.finished));
    this.#stopHeartbeat();
    retireOwnerId(this.#owner);
  }
}

/** A run that ended holds no lease. */
const RELEASED = { ownerId: null, leaseExpiresAt: null } as const;

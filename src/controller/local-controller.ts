/**
 * `LocalController`: executes runs in this process over a `RunStore` (the embedded default).
 *
 * Ownership: a run records this process's pid and host and a heartbeat (every 2 s). Another process that
 * opens the store and finds the owner gone marks the run failed (`OwnerLost`), so no run stays `running`
 * forever after a kill -9. `flyte abort` from another process sets `abortRequested`; the heartbeat picks it up.
 */
import { hostname } from "node:os";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { ActionAbortedError, RunAlreadyExistsError, RuntimeSystemError, ValidationError, errorToRecord } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { withIoScope } from "../io/io-scope.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { isTerminal, type ActionPhase, type RunRow, type RunStore } from "../store/store.ts";
import { decodeLiteral, encodeLiteral } from "../types/codec.ts";
import { toLiteral, type Literal } from "../types/literal.ts";
import { ROOT_ACTION } from "./action-id.ts";
import { executeAction } from "./action-executor.ts";
import { inputsHash } from "./cache-key.ts";
import type { ActionEvent, Controller, RunOptionsResolved } from "./controller.ts";
import { RunState } from "./run-state.ts";
import { checkChainEnded, claimHeldError, loadRecovered, recoveryChain } from "./recovery.ts";
import { isProcessAlive } from "../internal/process-alive.ts";

const HEARTBEAT_MS = 2000;
/** A run on another host is considered lost after this long without a heartbeat. */
export const LEASE_MS = 30_000;

export interface LocalControllerOptions {
  store: RunStore;
  blobStore: BlobStore;
  secrets: SecretStore;
  rawDataPath: string;
  systemRetries: number;
  offload: boolean;
}

/** Whether the process that owns a run is still there. */
export function isOwnerAlive(pid: number, host: string, heartbeatAt: number): boolean {
  if (host === hostname()) return isProcessAlive(pid);
  return Date.now() - heartbeatAt < LEASE_MS;
}

export const ownerLostError = (run: string) =>
  errorToRecord(new RuntimeSystemError("OwnerLost", `The process running run "${run}" stopped (killed or crashed) before it finished. Start it again with: flyte recover ${run}`));

export class LocalController implements Controller {
  readonly #o: LocalControllerOptions;
  readonly #runs = new Map<string, RunState>();
  readonly #listeners = new Set<(e: ActionEvent) => void>();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(o: LocalControllerOptions) {
    this.#o = o;
  }

  get store(): RunStore {
    return this.#o.store;
  }

  onActionEvent(listener: (e: ActionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async startRun(task: TaskTemplate, rawInputs: unknown, o: RunOptionsResolved): Promise<void> {
    const store = this.#o.store;
    let chain: RunRow[] = [];
    if (o.recoverFrom) {
      // Owners that died are marked now, so that what is still running below is really running.
      store.reapLostRuns(isOwnerAlive, ownerLostError);
      const source = store.getRun({ project: o.project, domain: o.domain, name: o.recoverFrom });
      if (!source) throw new ValidationError(`recoverFrom: run "${o.recoverFrom}" does not exist. List runs with: flyte get runs`);
      if (source.taskName !== task.name) {
        throw new ValidationError(`recoverFrom: run "${o.recoverFrom}" ran task "${source.taskName}", not "${task.name}". Recover it with the same task.`);
      }
      chain = recoveryChain(store, source);
      checkChainEnded(chain);
    }
    if (store.getRun({ project: o.project, domain: o.domain, name: o.name })) {
      throw new RunAlreadyExistsError(`A run named "${o.name}" already exists in ${o.project}/${o.domain}. Choose another name, or omit it to get a generated one.`);
    }
    const rawDataPrefix = o.rawDataPath ?? this.#o.rawDataPath;
    const deliver = (e: ActionEvent) => this.#listeners.forEach((l) => l(e));
    const emit = () => (this.#listeners.size > 0 ? deliver : undefined);
    const run = new RunState(o.name, task, o, store, this.#o.blobStore, this.#o.secrets, rawDataPrefix, emit, this.#o.systemRetries, this.#o.offload);
    const now = Date.now();
    const holder = store.createRun({
      project: o.project, domain: o.domain, name: o.name, taskName: task.name, phase: "queued", mode: o.mode, inputs: null, outputs: null,
      error: null, createdAt: now, startedAt: null, endedAt: null, ownerPid: process.pid, ownerHost: hostname(), heartbeatAt: now,
      recoverFrom: o.recoverFrom ?? null, abortRequested: null, labels: o.labels,
      source: { ...(o.sourceFile ? { file: o.sourceFile } : {}), task: task.name },
      options: { customContext: o.customContext, envVars: o.envVars, overwriteCache: o.overwriteCache, disableRunCache: o.disableRunCache },
    }, chain.length > 0 ? chain[chain.length - 1]!.name : undefined);
    if (holder !== undefined) throw claimHeldError(o.recoverFrom!, store.getRun({ project: o.project, domain: o.domain, name: holder }), holder);
    this.#runs.set(o.name, run);
    this.#ensureHeartbeat();
    if (chain.length > 0) {
      run.recovered = loadRecovered(store, chain);
      run.recoverChain = chain.map((r) => r.name);
    }
    // Started on the next turn: whoever started the run can subscribe to its events (the CLI's live tree)
    // before the first action reports "queued".
    setImmediate(() => void this.#execute(run, task, rawInputs));
  }

  async #execute(run: RunState, task: TaskTemplate, rawInputs: unknown): Promise<void> {
    const store = this.#o.store;
    const key = { project: run.options.project, domain: run.options.domain, name: run.name };
    try {
      const inputs = await task.validateInputs(rawInputs);
      const lit = await withIoScope({ blobStore: this.#o.blobStore, rawDataPrefix: run.rawDataPrefix }, () =>
        toLiteral(inputs, { taskName: task.name, direction: "input" }),
      );
      store.updateRun(key, { phase: "running", startedAt: Date.now(), inputs: encodeLiteral(lit) });
      // Committed at once: a run killed before its inputs are stored cannot be recovered without them.
      store.flush();
      await executeAction(run, {
        name: ROOT_ACTION, parent: null, task, inputs, lit, inputsHash: inputsHash(lit), group: null, customContext: run.options.customContext,
      });
      // Finished rows keep no values in memory; the root's output is read back from the store.
      const outputs = store.getAction(run.name, ROOT_ACTION)?.outputs ?? null;
      store.updateRun(key, { phase: "succeeded", endedAt: Date.now(), outputs });
    } catch (e) {
      const root = run.actions.get(ROOT_ACTION);
      // When the store itself failed (a full disk), that failure is the run's error, whatever it broke first.
      const error = store.failure ? errorToRecord(store.failure) : (root?.error ?? errorToRecord(e));
      const phase: ActionPhase = run.abort.signal.aborted ? "aborted" : (root?.phase && isTerminal(root.phase) ? root.phase : "failed");
      try {
        store.updateRun(key, { phase, endedAt: Date.now(), error: run.secretValues.redactRecord(error) });
      } catch {
        // The queued writes cannot be committed: record the end directly, or the run would later read as OwnerLost.
        store.recordFailedRun?.(key, run.secretValues.redactRecord(error), Date.now());
      }
    } finally {
      try {
        store.flush();
      } catch {
        // Reported by the next store call.
      }
      this.#runs.delete(run.name);
      run.resolveFinished();
      if (this.#runs.size === 0) this.#stopHeartbeat();
    }
  }

  #ensureHeartbeat(): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #beat(): void {
    const now = Date.now();
    for (const run of this.#runs.values()) {
      const key = { project: run.options.project, domain: run.options.domain, name: run.name };
      try {
        this.#o.store.updateRun(key, { heartbeatAt: now });
        const row = this.#o.store.getRun(key);
        if (row?.abortRequested && !run.abort.signal.aborted) void this.#abortOwned(run, row.abortRequested);
      } catch {
        // A failing store surfaces through the run's own writes.
      }
    }
  }

  async #abortOwned(run: RunState, reason: string): Promise<void> {
    run.abort.abort(new ActionAbortedError(`Run "${run.name}" was aborted: ${reason}`));
    const now = Date.now();
    const error = errorToRecord(new ActionAbortedError(`Run "${run.name}" was aborted: ${reason}`));
    for (const a of run.actions.values()) {
      const row = a.row;
      if (row && !isTerminal(row.phase)) {
        row.phase = "aborted";
        row.endedAt = now;
        row.error = error;
        Object.assign(a, { phase: "aborted", error });
        this.#o.store.updateAction(run.name, row.name, { phase: "aborted", endedAt: now, error });
        run.event(row, Math.max(0, row.attemptCount - 1));
      }
    }
    this.#o.store.updateRun({ project: run.options.project, domain: run.options.domain, name: run.name }, { phase: "aborted", endedAt: now, error, abortRequested: reason });
    await run.finished;
  }

  async abortRun(name: string, reason: string): Promise<void> {
    const owned = this.#runs.get(name);
    if (owned) return this.#abortOwned(owned, reason);
    const row = this.#findRun(name);
    if (!row || isTerminal(row.phase)) return;
    this.#o.store.updateRun(row, { abortRequested: reason });
    this.#o.store.flush();
  }

  #findRun(name: string) {
    return this.#o.store.getRun({ project: "", domain: "", name });
  }

  async waitRun(name: string, timeoutMs?: number): Promise<ActionPhase> {
    const owned = this.#runs.get(name);
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    if (owned) {
      if (timeoutMs === undefined) await owned.finished;
      else await Promise.race([owned.finished, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    // Runs owned by another process: poll the store.
    for (;;) {
      const row = this.#findRun(name);
      if (!row) throw new ValidationError(`Run "${name}" does not exist.`);
      if (isTerminal(row.phase)) return row.phase;
      if (Date.now() >= deadline) return row.phase;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The decoded root output literal of a finished run. */
  outputLiteral(name: string): Literal | undefined {
    const row = this.#findRun(name);
    return row?.outputs ? decodeLiteral(row.outputs) : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#runs.values()].map((r) => r.finished));
    this.#stopHeartbeat();
  }
}

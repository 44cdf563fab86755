/**
 * In-memory state of one run owned by this process. The store is written through, but this state is
 * authoritative while the run lives: finished children are found here when a parent is re-executed,
 * without a read (and a flush) per call.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { ioScope, type IoScope } from "../io/io-scope.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { isTerminal, type RunStore, type ActionRow, type ActionPhase, type ActionSummary, type Lease, type RunKey } from "../store/store.ts";
import type { WriteBatch } from "../store/write-batch.ts";
import { ActionAbortedError, errorToRecord, type ErrorRecord } from "../errors.ts";
import type { RunOptionsResolved, ActionEvent } from "./controller.ts";
import { actionName } from "./action-id.ts";
import { Admission, type StartCall } from "./admission.ts";
import type { AttemptControl } from "./attempt-control.ts";
import type { ActionDispatcher } from "./dispatcher.ts";
import { SecretRedactor } from "./secret-redactor.ts";
import { Semaphore } from "../internal/semaphore.ts";

export type { Caller } from "./admission.ts";

/**
 * What the run remembers of an action. While it executes, `row` is the full record; once it has finished the
 * row is dropped (the store has it) and only what replay, recovery and abort need is kept, because a run of
 * 100,000 actions would otherwise hold 100,000 rows.
 */
export interface ActionState {
  row: ActionRow | undefined;
  phase: ActionPhase;
  parent: string | null;
  attemptCount: number;
  error: ErrorRecord | null;
  /** The parent attempt that last called it (see RunState.childName). */
  epoch: number;
  /** Settles when the current execution ends. */
  done?: Promise<unknown> | undefined;
}
export interface RecoveredAction {
  inputsHash: string;
  outputs: Uint8Array | null;
  /** An older record of the same name with other inputs (see recovery.ts). */
  next: RecoveredAction | undefined;
}

/** What a run is made of (see LocalController.startRun). */
export interface RunStateInit {
  name: string;
  task: TaskTemplate;
  options: RunOptionsResolved;
  store: RunStore;
  blobStore: BlobStore;
  secrets: SecretStore;
  rawDataPrefix: string;
  /** Delivers events to listeners; undefined when nobody listens, so no event object is built per change. */
  emit: () => ((e: ActionEvent) => void) | undefined;
  systemRetries: number;
  offload: boolean;
  /** The lease this process owns the run under; its writes are fenced by it. */
  lease: Lease;
  dispatcher: ActionDispatcher;
  /** Starts an admitted child call (see admission.ts). */
  startCall: StartCall;
}

export class RunState {
  readonly actions = new Map<string, ActionState>();
  /**
   * Children that an earlier attempt of their parent, executed by another process, left queued or running
   * (see `adoptChildren`): they are still executing elsewhere, so a call of one waits for it instead of
   * executing it again.
   */
  readonly inFlightElsewhere = new Set<string>();
  #epochs = 0;
  /** Last sequence number of calls made more than once by one parent attempt (only those get an entry). */
  readonly #repeats = new Map<string, { epoch: number; seq: number }>();
  readonly abort = new AbortController();
  /**
   * The attempts in flight, aborted together with the run: a linked list through the controls rather than a
   * Set, whose discarded tables would keep finished attempts reachable until the next full collection.
   */
  #attempts: AttemptControl | undefined;
  readonly semaphore: Semaphore;
  /** Secret values resolved in this run: redacted from logs and errors, refused in stored values. */
  readonly secretValues = new SecretRedactor();
  /** Succeeded actions of the `recoverFrom` chain, by name (see recovery.ts). */
  recovered = new Map<string, RecoveredAction>();
  /** The runs of the `recoverFrom` chain, newest first (trace entries are looked up there too). */
  recoverChain: readonly string[] = [];
  readonly startedAt = Date.now();
  readonly name: string;
  readonly task: TaskTemplate;
  readonly options: RunOptionsResolved;
  readonly store: RunStore;
  /** The store's write batch, where everything this run records goes. */
  readonly writes: WriteBatch;
  readonly key: RunKey;
  readonly blobStore: BlobStore;
  readonly secrets: SecretStore;
  readonly rawDataPrefix: string;
  readonly emit: () => ((e: ActionEvent) => void) | undefined;
  readonly systemRetries: number;
  readonly offload: boolean;
  lease: Lease;
  readonly dispatcher: ActionDispatcher;
  readonly admission: Admission;
  finished!: Promise<void>;
  resolveFinished!: () => void;

  constructor(init: RunStateInit) {
    this.name = init.name;
    this.task = init.task;
    this.options = init.options;
    this.store = init.store;
    this.writes = init.store.writes;
    this.key = { project: init.options.project, domain: init.options.domain, name: init.name };
    this.blobStore = init.blobStore;
    this.secrets = init.secrets;
    this.rawDataPrefix = init.rawDataPrefix;
    this.emit = init.emit;
    this.systemRetries = init.systemRetries;
    this.offload = init.offload;
    this.lease = init.lease;
    this.dispatcher = init.dispatcher;
    this.admission = new Admission(init.startCall);
    this.semaphore = new Semaphore(init.options.maxActionConcurrency);
    this.hasEnvVars = Object.keys(init.options.envVars).length > 0;
    this.abort.signal.addEventListener("abort", () => {
      for (let a = this.#attempts; a; a = a.next) a.abort(this.abort.signal.reason);
      this.#attempts = undefined;
    }, { once: true });
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  /**
   * Aborts the run: every attempt in flight gets the abort, and every action that has not ended is recorded as
   * aborted now (an attempt that ignores its signal must not leave its action running in the record).
   */
  markAborted(reason: string): ErrorRecord {
    const error = errorToRecord(new ActionAbortedError(`Run "${this.name}" was aborted: ${reason}`));
    this.abort.abort(new ActionAbortedError(`Run "${this.name}" was aborted: ${reason}`));
    const now = Date.now();
    for (const a of this.actions.values()) {
      const row = a.row;
      if (!row || isTerminal(row.phase)) continue;
      row.phase = "aborted";
      row.endedAt = now;
      row.error = error;
      a.phase = "aborted";
      a.error = error;
      try {
        this.writes.updateAction(this.name, row.name, { phase: "aborted", endedAt: now, error });
      } catch {
        // The run's writes failed (or it lost its lease): its end is recorded by the controller, if at all.
      }
      this.event(row, Math.max(0, row.attemptCount - 1));
    }
    return error;
  }

  /** A number for a new attempt, unique in the run: its calls are numbered afresh (see childName). */
  nextEpoch(): number {
    return ++this.#epochs;
  }

  /**
   * Names a call of `taskName` with `inputsHash` in `group` made by attempt `epoch` of `parent`, and claims
   * the name for that attempt. The sequence number of identical calls (see action-id.ts) is found from the
   * actions themselves: the first `seq` whose name this attempt has not claimed yet. This needs no per-call
   * counter table, which for a wide fan-out would be as large as the run.
   */
  childName(parent: string, epoch: number, taskName: string, inputsHash: string, group: string | null): string {
    // Repeated identical calls remember their last number, so the Nth one does not try N names.
    // The key is built only once some call has repeated: most runs never repeat one.
    let repeatKey = this.#repeats.size > 0 ? `${parent}\u0000${taskName}:${inputsHash}:${group ?? ""}` : undefined;
    const last = repeatKey === undefined ? undefined : this.#repeats.get(repeatKey);
    let seq = last && last.epoch === epoch ? last.seq + 1 : 1;
    for (;; seq++) {
      const name = actionName(parent, taskName, inputsHash, seq, group);
      const state = this.actions.get(name);
      if (state?.epoch === epoch) continue;
      if (seq > 1) this.#repeats.set((repeatKey ??= `${parent}\u0000${taskName}:${inputsHash}:${group ?? ""}`), { epoch, seq });
      if (state) state.epoch = epoch;
      // Every field is set here (done too), so all states share one compact shape.
      else this.actions.set(name, { row: undefined, phase: "queued", parent, attemptCount: 0, error: null, epoch, done: undefined });
      return name;
    }
  }

  /**
   * Takes in what earlier attempts of `parent`, executed by other processes, recorded of its children, so that
   * this attempt replays them as a re-executed parent does in the process that ran the first one: a succeeded
   * child gives its recorded output, one still queued or running is waited for, a failed one runs again.
   * Children this process knows already are left as they are.
   */
  adoptChildren(parent: string, rows: readonly ActionSummary[]): void {
    for (const r of rows) {
      if (r.parent !== parent || this.actions.has(r.name)) continue;
      this.actions.set(r.name, { row: undefined, phase: r.phase, parent, attemptCount: r.attemptCount, error: r.error, epoch: 0, done: undefined });
      if (r.phase === "queued" || r.phase === "running") this.inFlightElsewhere.add(r.name);
    }
  }

  /** Replaces secret values in text that is about to be stored or shown. */
  redact(text: string): string {
    return this.secretValues.redact(text);
  }

  /** Ties an attempt to the run: aborting the run aborts it (at once if the run is aborted already). */
  trackAttempt(attempt: AttemptControl): void {
    if (this.abort.signal.aborted) attempt.abort(this.abort.signal.reason);
    else {
      attempt.next = this.#attempts;
      if (this.#attempts) this.#attempts.prev = attempt;
      this.#attempts = attempt;
    }
  }

  /** Ends every attempt in flight with `reason` (a worker being preempted), leaving the run itself running. */
  interruptAttempts(reason: Error): void {
    for (let a = this.#attempts; a; a = a.next) a.abort(reason);
  }

  /** Forgets a finished attempt (see `trackAttempt`). */
  releaseAttempt(attempt: AttemptControl): void {
    const { prev, next } = attempt;
    if (prev) prev.next = next;
    else if (this.#attempts === attempt) this.#attempts = next;
    if (next) next.prev = prev;
    attempt.prev = attempt.next = undefined;
  }

  /** Whether the run sets environment variables for its attempts (read by every attempt, so computed once). */
  readonly hasEnvVars: boolean;

  #frozenContext: { from: Record<string, string>; frozen: Readonly<Record<string, string>> } | undefined;
  /** A frozen copy of an action's custom context; actions that share the run's context share one copy. */
  frozenContext(ctx: Record<string, string>): Readonly<Record<string, string>> {
    if (this.#frozenContext?.from === ctx) return this.#frozenContext.frozen;
    const frozen = Object.freeze({ ...ctx });
    if (ctx === this.options.customContext) this.#frozenContext = { from: ctx, frozen };
    return frozen;
  }

  #ioScope: IoScope | undefined;
  /** The I/O scope of every attempt of this run. */
  get ioScope(): IoScope {
    return (this.#ioScope ??= ioScope({ blobStore: this.blobStore, rawDataPrefix: this.rawDataPrefix }));
  }

  #baseDir: string | undefined;
  /** URI under which this run's action data lives. */
  get baseDir(): string {
    return (this.#baseDir ??= this.blobStore.uriFor(`${this.options.project}/${this.options.domain}/${this.name}`));
  }

  /** The blob key prefix of an action: `<project>/<domain>/<run>/<action>`. */
  actionKey(action: string): string {
    return `${this.options.project}/${this.options.domain}/${this.name}/${action}`;
  }

  /** Tells listeners about a change of `row`; `error` is the action's, or the previous attempt's while it retries. */
  event(row: ActionRow, attempt: number, error: ErrorRecord | null = row.error): void {
    const deliver = this.emit();
    if (!deliver) return;
    deliver({
      run: this.name, action: row.name, parent: row.parent, shortName: row.shortName, taskName: row.taskName, group: row.group,
      phase: row.phase, attempt, cacheHit: row.cacheHit, recovered: row.recovered, startedAt: row.startedAt, endedAt: row.endedAt,
      error: error && { name: error.name, code: error.code, kind: error.kind, message: error.message },
    });
  }
}

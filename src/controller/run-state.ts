/**
 * In-memory state of one run owned by this process. The store is written through, but this state is
 * authoritative while the run lives: finished children are found here when a parent is re-executed,
 * without a read (and a flush) per call.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { ioScope, type IoScope } from "../io/io-scope.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import type { RunStore, ActionRow, ActionPhase } from "../store/store.ts";
import type { ErrorRecord } from "../errors.ts";
import type { RunOptionsResolved, ActionEvent } from "./controller.ts";
import { actionName } from "./action-id.ts";
import type { AttemptControl } from "./attempt-control.ts";
import { SecretRedactor } from "./secret-redactor.ts";
import { Semaphore } from "../internal/semaphore.ts";

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

/**
 * Child submissions admitted per event-loop turn (see RunState.admit). Every admitted action is in flight until
 * the turn ends; with 256 per turn, V8 saw whole turns of per-action records alive at its young-generation
 * collections and started allocating them straight into the old generation (allocation-site pretenuring), where
 * only a full collection frees them. Measured on one Promise.all of 100,000 calls: peak RSS 215-325 MB over runs
 * with 256; with 64, 207-226 MB in 20 of 21 runs (259 MB once).
 */
const ADMIT_PER_TICK = 64;

/** The attempt that makes a task call: its action and its epoch (see RunState.nextEpoch). */
export interface Caller {
  readonly action: string;
  readonly epoch: number;
}

export type StartCall = (caller: Caller, task: TaskTemplate, inputs: unknown) => Promise<unknown>;

/**
 * Up to ADMIT_PER_TICK calls waiting for the same turn. They share one promise and one handler: reactions run
 * in the order they were registered, so the handler takes the calls from the arrays in order. A waiting call
 * then costs its own promise, one reaction and three array slots; a Promise.all of 100,000 calls holds all of
 * them at once, and a closure and a second promise per call were most of the run's memory.
 */
class AdmissionGate {
  readonly #callers: Caller[] = [];
  readonly #tasks: (TaskTemplate | undefined)[] = [];
  readonly #inputs: unknown[] = [];
  #next = 0;
  readonly #opened: Promise<void>;
  open!: () => void;
  readonly #take: () => Promise<unknown>;

  constructor(start: StartCall) {
    this.#opened = new Promise((resolve) => (this.open = resolve));
    this.#take = () => {
      const i = this.#next++;
      const task = this.#tasks[i]!;
      const inputs = this.#inputs[i];
      this.#tasks[i] = this.#inputs[i] = undefined;
      return start(this.#callers[i]!, task, inputs);
    };
  }

  get size(): number {
    return this.#tasks.length;
  }

  add(caller: Caller, task: TaskTemplate, inputs: unknown): Promise<unknown> {
    this.#callers.push(caller);
    this.#tasks.push(task);
    this.#inputs.push(inputs);
    return this.#opened.then(this.#take);
  }
}

export class RunState {
  readonly actions = new Map<string, ActionState>();
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
  #admitted = 0;
  /** Starts an admitted child call (set by the executor, one per run). */
  startCall: StartCall | undefined;
  readonly #gates: AdmissionGate[] = [];
  #turnScheduled = false;
  #drainQueued = false;
  finished!: Promise<void>;
  resolveFinished!: () => void;

  constructor(
    readonly name: string,
    readonly task: TaskTemplate,
    readonly options: RunOptionsResolved,
    readonly store: RunStore,
    readonly blobStore: BlobStore,
    readonly secrets: SecretStore,
    readonly rawDataPrefix: string,
    /** Delivers events to listeners; undefined when nobody listens, so no event object is built per change. */
    readonly emit: () => ((e: ActionEvent) => void) | undefined,
    readonly systemRetries: number,
    readonly offload: boolean,
  ) {
    this.semaphore = new Semaphore(options.maxActionConcurrency);
    this.hasEnvVars = Object.keys(options.envVars).length > 0;
    this.abort.signal.addEventListener("abort", () => {
      for (let a = this.#attempts; a; a = a.next) a.abort(this.abort.signal.reason);
      this.#attempts = undefined;
    }, { once: true });
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  /**
   * Submits a child call, at most ADMIT_PER_TICK per event-loop turn; later ones wait for a later turn. A
   * fan-out of quick tasks otherwise runs entirely in microtasks: the event loop would not turn until the run
   * ends (no heartbeat, abort polling or per-tick store commit), and every call would hold a full attempt
   * (context, signal, frames) at once. `start` runs the call once admitted.
   *
   * A call starts on a later microtask, never inside the code that made it, so that every call goes through
   * the same gates.
   */
  admit(caller: Caller, task: TaskTemplate, inputs: unknown, start: StartCall): Promise<unknown> {
    let gate = this.#gates[this.#gates.length - 1];
    if (!gate || gate.size === ADMIT_PER_TICK) this.#gates.push((gate = new AdmissionGate(start)));
    const done = gate.add(caller, task, inputs);
    this.#scheduleTurn();
    if (!this.#drainQueued) {
      this.#drainQueued = true;
      queueMicrotask(this.#drain);
    }
    return done;
  }

  /** Opens waiting gates while this turn's budget allows. */
  readonly #drain = (): void => {
    this.#drainQueued = false;
    while (this.#gates.length > 0 && this.#admitted + this.#gates[0]!.size <= ADMIT_PER_TICK) {
      const gate = this.#gates.shift()!;
      this.#admitted += gate.size;
      gate.open();
    }
  };

  /** A new turn: commits the previous turn's writes, renews the budget and admits the next calls. */
  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => {
      this.#turnScheduled = false;
      const used = this.#admitted;
      this.#admitted = 0;
      this.#drain();
      if (this.#gates.length > 0 || used > 0) this.#scheduleTurn();
    });
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

  event(row: ActionRow, attempt: number): void {
    const deliver = this.emit();
    if (!deliver) return;
    deliver({
      run: this.name, action: row.name, parent: row.parent, shortName: row.shortName, taskName: row.taskName, group: row.group,
      phase: row.phase, attempt, cacheHit: row.cacheHit, recovered: row.recovered, startedAt: row.startedAt, endedAt: row.endedAt,
    });
  }
}

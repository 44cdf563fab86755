/**
 * The write batch: how a run's records reach the store. Writes are queued and committed together once per
 * event-loop turn (or every MAX_QUEUED_WRITES writes), in one transaction, so persisting thousands of actions
 * costs a handful of commits instead of one per row. A quick action is queued, started and finished within one
 * turn: its writes are coalesced per row and become one statement instead of three.
 *
 * Failure is per run: when a commit fails (a full disk), every run with a write in it gets that failure, and
 * only those runs' later writes are refused with it (`failureOf`); other runs, and readers, are not blamed.
 *
 * Fencing: a run owned under a lease (`own`) has its writes applied only while that lease is still the run's
 * current one. A batch holding writes of a run that changed hands is refused for that run (the stale owner is
 * told through `failureOf` and a warning), and the rest of the batch commits.
 *
 * The batch is the same for every backend; a store supplies `commit`, which applies one `PendingWrites` in one
 * transaction and returns the runs whose lease no longer matched.
 */
import { StoreError } from "../errors.ts";
import type { ActionRow, AttemptRow, CacheEntry, Lease, LogRow, RunKey, RunRow, TraceRow } from "./store.ts";

/** Writes queued in one turn beyond which they are committed at once (bounds memory and what a crash loses). */
const MAX_QUEUED_WRITES = 20_000;

/** The queued writes of one action: a full row (insert or replace), or a patch of an existing one. */
export interface PendingAction {
  runName: string;
  name: string;
  full: ActionRow | undefined;
  patch: Partial<ActionRow> | undefined;
}

/** Everything queued since the last commit, coalesced per row. */
export interface PendingWrites {
  /** Runs with at least one write here, with the lease their writes are fenced by (undefined: not fenced). */
  runs: Map<string, Lease | undefined>;
  runPatches: Map<string, { key: RunKey; patch: Partial<RunRow> }>;
  actions: Map<string, PendingAction>;
  attempts: Map<string, AttemptRow>;
  logs: LogRow[];
  traces: TraceRow[];
  cache: CacheEntry[];
  /** Whether a write here asks for `full` durability: the commit is fsynced before it is acknowledged. */
  durable: boolean;
  /** Who waits for this batch to commit (see `committed`). */
  acks: Array<{ run: string; resolve: () => void; reject: (e: StoreError) => void }>;
}

/** Applies a batch in one transaction; returns the runs whose writes were refused because their lease moved on. */
export type CommitWrites = (w: PendingWrites) => ReadonlySet<string> | Promise<ReadonlySet<string>>;

const empty = (): PendingWrites => ({
  runs: new Map(), runPatches: new Map(), actions: new Map(), attempts: new Map(), logs: [], traces: [], cache: [], durable: false, acks: [],
});

/**
 * What a commit promises (config `execution.durability`, run option `durability`): `full` survives power loss
 * (the commit is fsynced before anyone is told it happened), `process` survives the process being killed (the
 * commit is in the OS's hands, fsynced later).
 */
export type Durability = "full" | "process";

export class WriteBatch {
  #pending = empty();
  #count = 0;
  #scheduled = false;
  #urgent = false;
  /** The commit in progress, if the backend commits asynchronously. */
  #committing: Promise<void> | undefined;
  readonly #failures = new Map<string, StoreError>();
  readonly #leases = new Map<string, Lease>();
  readonly #levels = new Map<string, Durability>();
  readonly #defaultLevel: Durability;
  readonly #commit: CommitWrites;
  readonly #describe: (e: unknown) => StoreError;
  readonly #checkWritable: () => void;

  /**
   * @param commit applies one batch (see `CommitWrites`)
   * @param describe turns a commit failure into the StoreError runs are given (which file, what to do)
   * @param checkWritable throws when the store cannot be written at all (a read-only snapshot)
   * @param defaultLevel the durability of writes of runs not `own`ed with a level of their own
   */
  constructor(commit: CommitWrites, describe: (e: unknown) => StoreError, checkWritable: () => void = () => undefined, defaultLevel: Durability = "full") {
    this.#commit = commit;
    this.#describe = describe;
    this.#checkWritable = checkWritable;
    this.#defaultLevel = defaultLevel;
  }

  /** Fences the writes of `run` by `lease` from now on (see the module comment), committed with `level`. */
  own(run: string, lease: Lease, level: Durability = this.#defaultLevel): void {
    this.#leases.set(run, lease);
    this.#levels.set(run, level);
  }

  /** Stops fencing `run` (it ended, or was handed over); its failure, if any, is forgotten. */
  release(run: string): void {
    this.#leases.delete(run);
    this.#levels.delete(run);
    this.#failures.delete(run);
  }

  /**
   * Resolves once everything queued so far is committed (with the durability its runs ask for), without forcing
   * a commit of its own: every caller of one turn shares that turn's commit (group commit). Rejects with `run`'s
   * failure if its writes failed. What a parent waits on before it sees a child's result.
   */
  committed(run: string): Promise<void> {
    const failure = this.#failures.get(run);
    if (failure) return Promise.reject(failure);
    if (this.#count === 0) {
      if (!this.#committing) return Promise.resolve();
      return this.#committing.then(() => {
        const f = this.#failures.get(run);
        if (f) throw f;
      });
    }
    return new Promise((resolve, reject) => this.#pending.acks.push({ run, resolve, reject }));
  }

  /** The failure that stopped `run`'s writes, if any. */
  failureOf(run: string): StoreError | undefined {
    return this.#failures.get(run);
  }

  updateRun(key: RunKey, patch: Partial<RunRow>): void {
    const w = this.#queue(key.name);
    const queued = w.runPatches.get(key.name);
    if (queued) Object.assign(queued.patch, patch);
    else w.runPatches.set(key.name, { key, patch: { ...patch } });
  }

  upsertAction(row: ActionRow): void {
    const w = this.#queue(row.runName);
    const key = `${row.runName}\u0000${row.name}`;
    // A copy: the executor keeps changing its row, and what is committed is what was written.
    const full = { ...row };
    const queued = w.actions.get(key);
    if (queued) {
      queued.full = full;
      queued.patch = undefined;
    } else w.actions.set(key, { runName: row.runName, name: row.name, full, patch: undefined });
  }

  updateAction(runName: string, name: string, patch: Partial<ActionRow>): void {
    const w = this.#queue(runName);
    const key = `${runName}\u0000${name}`;
    const queued = w.actions.get(key);
    if (!queued) w.actions.set(key, { runName, name, full: undefined, patch: { ...patch } });
    else if (queued.full) Object.assign(queued.full, patch);
    else queued.patch = Object.assign(queued.patch ?? {}, patch);
  }

  upsertAttempt(row: AttemptRow): void {
    this.#queue(row.runName).attempts.set(`${row.runName}\u0000${row.action}\u0000${row.attempt}`, { ...row });
  }

  appendLogs(rows: LogRow[]): void {
    if (rows.length === 0) return;
    const w = this.#queue(rows[0]!.runName);
    for (const r of rows) w.logs.push(r);
  }

  putTrace(row: TraceRow): void {
    this.#queue(row.runName).traces.push(row);
  }

  putCache(entry: CacheEntry): void {
    (entry.runName === null ? this.#queueUnowned() : this.#queue(entry.runName)).cache.push(entry);
  }

  /** Whether anything is queued. */
  get pending(): boolean {
    return this.#count > 0;
  }

  /**
   * Commits everything queued so far. Resolves once it is committed (or refused); rejects only when `run` is
   * given and that run's writes have failed, so a caller learns of its own failure and never of another run's.
   */
  flush(run?: string): Promise<void> {
    try {
      const sync = this.flushNow();
      const done = sync ?? this.#committing ?? Promise.resolve();
      if (run === undefined) return done;
      return done.then(() => {
        const f = this.#failures.get(run);
        if (f) throw f;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Commits what is queued. For a backend that commits synchronously (SQLite) it is done on return (and
   * `undefined` is returned); otherwise the returned promise settles when it is.
   */
  flushNow(): Promise<void> | undefined {
    this.#scheduled = false;
    if (this.#count === 0) return this.#committing;
    const batch = this.#pending;
    this.#pending = empty();
    this.#count = 0;
    // An asynchronous backend commits one batch at a time, in order.
    if (this.#committing) {
      const next: Promise<void> = this.#committing.then(() => this.#apply(batch));
      this.#committing = next.finally(() => {
        if (this.#committing === next) this.#committing = undefined;
      });
      return this.#committing;
    }
    const r = this.#apply(batch);
    if (r === undefined) return undefined;
    this.#committing = r.finally(() => {
      if (this.#committing === r) this.#committing = undefined;
    });
    return this.#committing;
  }

  #apply(batch: PendingWrites): Promise<void> | undefined {
    let refused: ReadonlySet<string> | Promise<ReadonlySet<string>>;
    try {
      refused = this.#commit(batch);
    } catch (e) {
      this.#failed(batch, e);
      this.#acknowledge(batch);
      return undefined;
    }
    if (refused instanceof Promise) {
      return refused.then((r) => this.#refused(batch, r), (e: unknown) => this.#failed(batch, e)).then(() => this.#acknowledge(batch));
    }
    this.#refused(batch, refused);
    this.#acknowledge(batch);
    return undefined;
  }

  #acknowledge(batch: PendingWrites): void {
    for (const a of batch.acks) {
      const f = this.#failures.get(a.run);
      if (f) a.reject(f);
      else a.resolve();
    }
  }

  #failed(batch: PendingWrites, e: unknown): void {
    const error = this.#describe(e);
    for (const run of batch.runs.keys()) if (!this.#failures.has(run)) this.#failures.set(run, error);
  }

  #refused(batch: PendingWrites, refused: ReadonlySet<string>): void {
    for (const run of refused) {
      const lease = batch.runs.get(run);
      const error = new StoreError(
        `Run "${run}" is no longer owned by this process (lease ${lease?.owner ?? "?"} epoch ${lease?.epoch ?? "?"}): ` +
          "its lease expired and another process took the run over, so this process's late writes were refused. Check it with: flyte get run " + run,
        { code: "LeaseLost" },
      );
      if (!this.#failures.has(run)) this.#failures.set(run, error);
      process.emitWarning(error.message, { code: "FLYTE_LEASE_LOST" });
    }
  }

  /** The pending writes, with `run` registered; refuses the write when `run` has failed. */
  #queue(run: string): PendingWrites {
    this.#checkWritable();
    const failure = this.#failures.get(run);
    if (failure) throw failure;
    const w = this.#pending;
    if (!w.runs.has(run)) {
      w.runs.set(run, this.#leases.get(run));
      if ((this.#levels.get(run) ?? this.#defaultLevel) === "full") w.durable = true;
    }
    this.#counted();
    return w;
  }

  #queueUnowned(): PendingWrites {
    this.#checkWritable();
    if (this.#defaultLevel === "full") this.#pending.durable = true;
    this.#counted();
    return this.#pending;
  }

  #counted(): void {
    if (++this.#count >= MAX_QUEUED_WRITES && !this.#urgent) {
      // A run of trivial tasks can go on for seconds without the event loop turning (every await resolves at
      // once), so the per-turn commit would hold all its writes in memory until the run ends. Committed on the
      // next microtask, after the write that is being queued now has been added.
      this.#urgent = true;
      queueMicrotask(() => {
        this.#urgent = false;
        void this.flushNow();
      });
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => void this.flushNow());
    }
  }
}

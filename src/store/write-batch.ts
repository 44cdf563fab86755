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
 * Claims fence one action rather than a run: a worker executing an action of a run it does not own `claim`s the
 * action, and its writes of that action (its row, attempts, logs, traces) are applied only while its latest
 * attempt is still the claimant's. Another worker that takes the action over from a lost one (`claim` with `takeover`)
 * makes the latest attempt its own, so whatever the lost worker still writes is dropped (`claimLost`).
 * The batch is the same for every backend; a store supplies `commit`, which applies one `PendingWrites` in one
 * transaction and returns the runs whose lease no longer matched and the claims that no longer held.
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

/** A worker's claim on one action (see the module comment), keyed by `claimKey`. */
export interface Claim {
  runName: string;
  action: string;
  owner: string;
  /** The claimant takes the action over from a lost one: only an action that has not ended is required. */
  takeover: boolean;
}

export const claimKey = (runName: string, action: string): string => `${runName}\u0000${action}`;

/** The latest attempt of an action, as the store has it when a claim is checked. */
export interface LatestAttempt {
  attempt: number;
  owner: string | null;
  ended: boolean;
}

/**
 * Whether `claim` still holds, given what the store has (read in the committing transaction, the action's row
 * locked) and the lowest attempt number the batch writes for the action (undefined: none).
 * - A takeover needs an action that has not ended (else the lost claimant finished it first).
 * - Any other claim holds while the latest attempt is the claimant's, or when the claimant starts a new attempt
 *   after an ended one (a retry scheduled after a backoff, which any worker may pick up). A lost claimant that
 *   wakes up writes an attempt its successor has already recorded, and is refused.
 * An action its run's owner ended meanwhile (an abort) is still its claimant's to record the end of its attempt.
 */
export function claimHolds(claim: Claim, actionEnded: boolean, latest: LatestAttempt | undefined, lowestWritten: number | undefined): boolean {
  if (claim.takeover) return !actionEnded;
  if (latest === undefined || latest.owner === claim.owner) return true;
  return latest.ended && lowestWritten !== undefined && lowestWritten > latest.attempt;
}

/** The lowest attempt number `w` writes for each claimed action (key: `claimKey`). */
export function lowestAttemptsWritten(w: PendingWrites): Map<string, number> {
  const lowest = new Map<string, number>();
  if (w.claims.size === 0) return lowest;
  for (const a of w.attempts.values()) {
    const key = claimKey(a.runName, a.action);
    if (!w.claims.has(key)) continue;
    const seen = lowest.get(key);
    if (seen === undefined || a.attempt < seen) lowest.set(key, a.attempt);
  }
  return lowest;
}

/** Everything queued since the last commit, coalesced per row. */
export interface PendingWrites {
  /** Runs with at least one write here, with the lease their writes are fenced by (undefined: not fenced). */
  runs: Map<string, Lease | undefined>;
  /** Claimed actions with at least one write here. */
  claims: Map<string, Claim>;
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

/**
 * Applies a batch in one transaction; returns the runs whose writes were refused because their lease moved on,
 * and the keys (`claimKey`) of the claims whose writes were refused because the action ended or changed hands.
 */
export type CommitWrites = (w: PendingWrites) => ReadonlySet<string> | Promise<ReadonlySet<string>>;

const empty = (): PendingWrites => ({
  runs: new Map(), claims: new Map(), runPatches: new Map(), actions: new Map(), attempts: new Map(), logs: [], traces: [], cache: [], durable: false, acks: [],
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
  /** The commit of what is queued behind `#committing`, cut once that one ends. */
  #next: Promise<void> | undefined;
  /** The batch `#committing` applies. */
  #applying: PendingWrites | undefined;
  readonly #failures = new Map<string, StoreError>();
  readonly #leases = new Map<string, Lease>();
  readonly #levels = new Map<string, Durability>();
  readonly #claims = new Map<string, Claim>();
  readonly #claimsLost = new Map<string, StoreError>();
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

  /**
   * Fences the writes of `action` of `run` by `owner`'s claim from now on (see the module comment). Called again,
   * it replaces the claim (a takeover, once committed, becomes a plain claim).
   */
  claim(runName: string, action: string, owner: string, o: { takeover?: boolean } = {}): void {
    this.#claims.set(claimKey(runName, action), { runName, action, owner, takeover: o.takeover ?? false });
  }

  /** Stops fencing the action; forgets whether its claim was lost. */
  unclaim(runName: string, action: string): void {
    this.#claims.delete(claimKey(runName, action));
    this.#claimsLost.delete(claimKey(runName, action));
  }

  /** Why the claim on the action no longer holds (its later writes are dropped), if it does not. */
  claimLost(runName: string, action: string): StoreError | undefined {
    return this.#claimsLost.get(claimKey(runName, action));
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
    if (this.#dropped(row.runName, row.name)) return;
    const w = this.#queue(row.runName, row.name);
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
    if (this.#dropped(runName, name)) return;
    const w = this.#queue(runName, name);
    const key = `${runName}\u0000${name}`;
    const queued = w.actions.get(key);
    if (!queued) w.actions.set(key, { runName, name, full: undefined, patch: { ...patch } });
    else if (queued.full) Object.assign(queued.full, patch);
    else queued.patch = Object.assign(queued.patch ?? {}, patch);
  }

  upsertAttempt(row: AttemptRow): void {
    if (this.#dropped(row.runName, row.action)) return;
    this.#queue(row.runName, row.action).attempts.set(`${row.runName}\u0000${row.action}\u0000${row.attempt}`, { ...row });
  }

  appendLogs(rows: LogRow[]): void {
    if (rows.length === 0) return;
    const { runName, action } = rows[0]!;
    if (this.#dropped(runName, action)) return;
    const w = this.#queue(runName, action);
    for (const r of rows) w.logs.push(r);
  }

  putTrace(row: TraceRow): void {
    if (this.#dropped(row.runName, row.action)) return;
    this.#queue(row.runName, row.action).traces.push(row);
  }

  /** Not fenced by claims: an entry is written by the caller of the action it names, not by its claimant. */
  putCache(entry: CacheEntry): void {
    (entry.runName === null ? this.#queueUnowned() : this.#queue(entry.runName)).cache.push(entry);
  }

  /**
   * Whether a write of the run's row (or, given `action`, of that action's row) is queued or being committed: a
   * read of that row has to wait for the commit to see it. Reads of rows this process is not writing need not.
   */
  writing(run: string, action?: string): boolean {
    const has = (w: PendingWrites) => (action === undefined ? w.runPatches.has(run) : w.actions.has(`${run}\u0000${action}`));
    return (this.#count > 0 && has(this.#pending)) || (this.#applying !== undefined && has(this.#applying));
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
    // An asynchronous backend commits one batch at a time, in order. What is queued while a commit is in flight
    // waits for it and then goes in one commit (group commit): with dozens of actions ending on a worker, a commit
    // per event-loop turn would be a transaction per action, each waiting behind the last.
    if (this.#committing) return (this.#next ??= this.#committing.then(() => {
      this.#next = undefined;
      return this.flushNow();
    }));
    const batch = this.#pending;
    this.#pending = empty();
    this.#count = 0;
    const r = this.#apply(batch);
    if (r === undefined) return undefined;
    this.#applying = batch;
    const committing: Promise<void> = r.finally(() => {
      if (this.#applying === batch) this.#applying = undefined;
      if (this.#committing === committing) this.#committing = undefined;
    });
    return (this.#committing = committing);
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
    for (const key of refused) {
      const claim = batch.claims.get(key);
      if (!claim) continue;
      // The claimant learns it through `claimLost`; the action is someone else's business now.
      if (this.#claims.get(key)?.owner === claim.owner && !this.#claimsLost.has(key)) {
        this.#claimsLost.set(key, new StoreError(
          `Action "${claim.action}" of run "${claim.runName}" is no longer claimed by ${claim.owner}: it ended, or another worker took it over ` +
            "after this one stopped renewing its registration, so this worker's late writes of it were dropped.",
          { code: "ClaimLost" },
        ));
      }
    }
    for (const run of refused) {
      if (batch.claims.has(run)) continue;
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

  /** Whether writes of the action are dropped: its claim was lost. */
  #dropped(runName: string, action: string): boolean {
    return this.#claimsLost.size > 0 && this.#claimsLost.has(claimKey(runName, action));
  }

  /** The pending writes, with `run` (and `action`'s claim) registered; refuses the write when `run` has failed. */
  #queue(run: string, action?: string): PendingWrites {
    this.#checkWritable();
    const failure = this.#failures.get(run);
    if (failure) throw failure;
    const w = this.#pending;
    if (action !== undefined && this.#claims.size > 0) {
      const key = claimKey(run, action);
      const claim = this.#claims.get(key);
      if (claim) w.claims.set(key, claim);
    }
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

/**
 * `RunStore`: the metadata store behind runs. The embedded default is SQLite (`store/sqlite/`); a cluster
 * store (PostgreSQL) implements the same interface. Values (inputs/outputs) are stored as encoded literal
 * bytes (see `types/codec.ts`); errors as `ErrorRecord`s.
 */
import type { ErrorRecord } from "../errors.ts";
import type { WriteBatch } from "./write-batch.ts";

export type ActionPhase =
  | "queued" | "waiting_for_resources" | "initializing" | "running" | "succeeded" | "failed" | "aborted" | "timed_out";

export const ACTION_PHASES: readonly ActionPhase[] = [
  "queued", "waiting_for_resources", "initializing", "running", "succeeded", "failed", "aborted", "timed_out",
];
/** The phases a run, action or attempt never leaves. Stores derive their SQL from this list (see `TERMINAL_SQL`). */
export const TERMINAL_PHASES: readonly ActionPhase[] = ["succeeded", "failed", "aborted", "timed_out"];
export const isTerminal = (p: ActionPhase): boolean => TERMINAL_PHASES.includes(p);
/** `TERMINAL_PHASES` as an SQL list: `('succeeded','failed',...)`. */
export const TERMINAL_SQL = `(${TERMINAL_PHASES.map((p) => `'${p}'`).join(",")})`;

/**
 * The lease under which one process owns a run and the attempts it executes: `owner` is unique per process
 * (and per controller), `epoch` grows each time the run changes hands (a reaper takes it from a lost owner), and
 * `expiresAt` is renewed by the owner's heartbeat. A write made under an epoch that is no longer the run's is
 * refused: a stale owner that wakes up (a paused VM, a stopped process) cannot overwrite what its successor recorded.
 */
export interface Lease {
  owner: string;
  epoch: number;
  expiresAt: number;
}

export interface RunRow {
  project: string;
  domain: string;
  name: string;
  taskName: string;
  phase: ActionPhase;
  mode: "local" | "remote" | "hybrid";
  inputs: Uint8Array | null;
  outputs: Uint8Array | null;
  error: ErrorRecord | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  ownerPid: number | null;
  ownerHost: string | null;
  heartbeatAt: number | null;
  /** The owner's lease (see `Lease`); null once the run has ended or been reaped. */
  ownerId: string | null;
  leaseEpoch: number;
  leaseExpiresAt: number | null;
  recoverFrom: string | null;
  abortRequested: string | null;
  labels: Record<string, string>;
  /** Where the task came from, so `flyte recover` can load it again. */
  source: { file?: string; task: string } | null;
  /** Run options that `recover` re-applies (customContext, envVars, ...). */
  options: Record<string, unknown>;
}

export interface ActionRow {
  runName: string;
  name: string;
  parent: string | null;
  taskName: string;
  shortName: string;
  group: string | null;
  phase: ActionPhase;
  cacheHit: boolean;
  recovered: boolean;
  inputsHash: string;
  inputs: Uint8Array | null;
  outputs: Uint8Array | null;
  error: ErrorRecord | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  reportUri: string | null;
  attemptCount: number;
  /** JSON schemas of the task's inputs and output, when it declares them. */
  interface: { inputs?: object; output?: object } | null;
  /** The compute resources the call asked for (`Resources` options, see `resourcesRecord`), when it asked for any. */
  resources?: Record<string, unknown> | null;
  /** What the cache did for the action and what its key was computed from (absent for rows recorded before it was kept, and recovered actions). */
  cache?: ActionCacheRecord | null;
}

/**
 * What the cache did for one action (API.md §5), and the parts its key was computed from, so a reader can see why it
 * hit or missed: `key = sha256(inputsHash + taskName + interfaceHash + cacheVersion)`.
 */
export interface ActionCacheRecord {
  /**
   * `"hit"`: an entry under `key` answered, the action did not execute. `"miss"`: looked up, no usable entry; the action
   * executed and its output is written under `key` when it succeeds. `"overwrite"`: no lookup (behavior `"override"`, or
   * the run's `overwriteCache`); it executed and its output replaces the entry. `"disabled"`: no cache (behavior
   * `"disable"`, or the run's `disableRunCache`).
   */
  outcome: "hit" | "miss" | "overwrite" | "disabled";
  /** The task's cache behavior. */
  behavior: "auto" | "override" | "disable";
  /** Why the outcome is not the one the behavior alone gives (a run option, an unusable entry). */
  reason?: string;
  /** Hex SHA-256 cache key (absent when disabled). */
  key?: string;
  /** The task's FQN, part of the key. */
  taskName?: string;
  /** The cache version: `versionOverride`, or the hash of the task's policies (its function body by default). */
  cacheVersion?: string;
  /** Set when `cacheVersion` is the task's `versionOverride`. */
  versionOverride?: string;
  /** Hash of the task's input/output JSON schemas ("" when it declares none). */
  interfaceHash?: string;
  /** Hash of the inputs' literals, without the ignored ones. */
  inputsHash?: string;
  /** Each input that went into `inputsHash`, with the hash of its own literal (name order): which input changed. */
  inputs?: { name: string; hash: string }[];
  /** Inputs left out of the key (`ignoredInputs`). */
  ignoredInputs?: string[];
  /** Whether identical concurrent executions run once (`serialize: true`). */
  serialize?: boolean;
  /** For a hit: the run and action whose output the entry holds (when known). */
  source?: { runName: string; action: string };
}

/** An action without its values: inputs, outputs, their hash, the interface schemas and the cache record. */
export type ActionSummary = Omit<ActionRow, "inputs" | "outputs" | "inputsHash" | "interface" | "cache">;

export interface AttemptRow {
  runName: string;
  action: string;
  attempt: number;
  phase: ActionPhase;
  startedAt: number | null;
  endedAt: number | null;
  error: ErrorRecord | null;
  /** The owner and lease epoch that claimed the attempt (see `Lease`). */
  owner: string | null;
  leaseEpoch: number | null;
}

export interface LogRow {
  runName: string;
  action: string;
  attempt: number;
  time: number;
  stream: "stdout" | "stderr";
  message: string;
}

export interface TraceRow {
  runName: string;
  action: string;
  key: string;
  name: string;
  output: Uint8Array | null;
  error: ErrorRecord | null;
  durationMs: number;
}

export interface CacheEntry {
  key: string;
  taskName: string;
  outputs: Uint8Array;
  createdAt: number;
  runName: string | null;
  action: string | null;
}

export interface ListRunsQuery {
  limit?: number;
  phase?: ActionPhase;
  task?: string;
  label?: [string, string];
}

/**
 * A run's identity. Run names are unique in a store; project and domain scope every lookup, so a run is found
 * only under the project and domain it was created in.
 */
export interface RunKey {
  project: string;
  domain: string;
  name: string;
}

/** How `flyte deploy` packaged the code: the files the entry loads, every project file, or no bundle. */
export type CopyStyle = "loaded_modules" | "all" | "none";

/**
 * One deployment (API.md §10.4): the environments deployed together under a version, and the code bundle their
 * tasks load. `contentHash` covers everything deployed (bundle digest, task and trigger specs, images): the same
 * version deployed again with the same hash is a no-op, with another hash a conflict.
 */
export interface DeploymentRow {
  project: string;
  domain: string;
  version: string;
  contentHash: string;
  /** Where the bundle lives (`<blob store>/bundles/<digest>.tar.gz`); null with copy style "none". */
  bundleUri: string | null;
  /** Hex SHA-256 of the bundle's (uncompressed) tar. */
  bundleDigest: string | null;
  copyStyle: CopyStyle;
  environments: Array<{ name: string; image: string; tasks: string[] }>;
  createdAt: number;
}

/** A task registered by a deployment: its spec (see deploy/task-spec.ts) under the deployment's version. */
export interface TaskSpecRow {
  project: string;
  domain: string;
  /** Task FQN (`env.task`). */
  name: string;
  version: string;
  environment: string;
  spec: Record<string, unknown>;
  /** When this version was first deployed. */
  createdAt: number;
  /** When it last became the latest version of the task (a redeploy of an older version makes it latest again). */
  deployedAt: number;
}

/** A trigger registered with a task (API.md §9); one per task and trigger name, pointing at the task version it starts. */
export interface TriggerRow {
  project: string;
  domain: string;
  taskName: string;
  name: string;
  version: string;
  spec: Record<string, unknown>;
  /** Registered active iff `autoActivate`; a redeploy keeps what `flyte update trigger` set. */
  active: boolean;
  /** When it last became active (what a FixedRate without startTime counts from); null while inactive. */
  activatedAt: number | null;
  createdAt: number;
}

/**
 * One fire time of a trigger, recorded by a scheduler before it creates the run (`pending`), then marked `created`
 * (the run exists) or `failed` (it could not be created: `error` says why). A pending fire is claimed by the
 * scheduler that recorded it until `claimExpiresAt`; after that another scheduler takes it over.
 */
export interface FireRow {
  project: string;
  domain: string;
  taskName: string;
  triggerName: string;
  /** The scheduled time (epoch ms), not when it was noticed. */
  fireTime: number;
  /** The task version the run starts (the trigger's at the time of the fire). */
  version: string;
  runName: string;
  state: "pending" | "created" | "failed";
  error: string | null;
  claimedBy: string | null;
  claimExpiresAt: number | null;
  recordedAt: number;
}

export type FireKey = Pick<FireRow, "project" | "domain" | "taskName" | "triggerName" | "fireTime">;

/**
 * What `putDeployment` did: recorded it; found the same version with the same content (a no-op, except that its
 * tasks become the latest versions again when a newer deployment had replaced them: `promoted`); or found the
 * version taken by other content (nothing written).
 */
export type PutDeploymentResult =
  | { status: "created" }
  | { status: "unchanged"; promoted: boolean }
  | { status: "conflict"; existing: DeploymentRow };

/** What the reaper sees of a run that has not ended, to decide whether its owner is gone. */
export type OwnerProbe = Pick<RunRow, "name" | "ownerId" | "ownerPid" | "ownerHost" | "leaseExpiresAt">;

/**
 * The metadata store port. Every method returns a promise, so a networked database can implement it; the
 * embedded SQLite store resolves at once. Writes made while a run executes go through `writes` (the write
 * batch, see write-batch.ts), which commits them together once per event-loop turn; reads see every write
 * queued before them.
 */
export interface RunStore {
  /** Where the store lives (a file path or URL), for messages. */
  readonly location: string;
  /** The write batch of this store: where a run's actions, attempts, logs, traces and cache entries are written. */
  readonly writes: WriteBatch;

  /**
   * Records a new run. With `recoveryClaim` (the first run of the chain it recovers), nothing is recorded if a run
   * that has not ended holds the same claim: that run's name is returned instead. Check and insert are one atomic
   * step, so of two processes recovering the same chain at once exactly one gets the claim.
   */
  createRun(row: RunRow, recoveryClaim?: string): Promise<string | undefined>;
  getRun(key: RunKey): Promise<RunRow | undefined>;
  listRuns(scope: { project: string; domain: string }, q?: ListRunsQuery): Promise<RunRow[]>;
  /** Asks the owner of a run that has not ended to abort it (picked up at its next heartbeat). */
  requestAbort(key: RunKey, reason: string): Promise<boolean>;
  /**
   * Extends the lease of a run while `lease` is still its current one; `undefined` when the run changed hands
   * (it was reaped) or ended, so the caller has lost it. Returns the renewed lease and any abort request.
   */
  renewLease(key: RunKey, lease: Lease, ttlMs: number): Promise<{ lease: Lease; abortRequested: string | null } | undefined>;
  /**
   * Marks runs whose owner is gone as failed with `error`, together with their unfinished actions and attempts,
   * and moves their lease to a new epoch (so a stale owner's later writes are refused); returns their names.
   */
  reapLostRuns(isLost: (r: OwnerProbe) => boolean, error: (run: string) => ErrorRecord): Promise<string[]>;

  /**
   * Ends an action that is still waiting in the queue, never started: only while it is `queued` with
   * `attemptCount` attempts, it becomes `phase` with `error`, and the attempt it was waiting to make is recorded
   * ended and owned by `owner` (so a worker that claimed it meanwhile has its writes refused, see WriteBatch).
   * Returns whether it did (false: the action started, or ended, first). What enforces `maxQueuedTime` on a queue.
   */
  expireQueued(runName: string, action: string, e: { attemptCount: number; phase: ActionPhase; error: ErrorRecord; at: number; owner: string }): Promise<boolean>;

  getAction(runName: string, name: string): Promise<ActionRow | undefined>;
  listActions(runName: string): Promise<ActionRow[]>;
  /** The run's actions without their values (what its tree needs), in `listActions`' order: a 10k-action run's tree is read without its inputs and outputs. */
  listActionSummaries(runName: string): Promise<ActionSummary[]>;
  /** Name, inputs hash and outputs of the succeeded actions of a run (what recovery reuses). */
  listSucceeded(runName: string): Promise<Array<Pick<ActionRow, "name" | "inputsHash" | "outputs">>>;
  listAttempts(runName: string, action?: string): Promise<AttemptRow[]>;
  readLogs(runName: string, q?: { action?: string; attempt?: number; afterId?: number }): Promise<Array<LogRow & { id: number }>>;
  getTrace(runName: string, action: string, key: string): Promise<TraceRow | undefined>;
  getCache(key: string): Promise<CacheEntry | undefined>;
  clearCache(taskName?: string): Promise<number>;
  /**
   * Holds the cache key `key` of a `serialize: true` task while one execution computes its entry: resolves once
   * this caller holds it, after every earlier holder released it (or its process died), in whatever process sharing
   * the store it runs. Returns the release. `signal` stops the wait: the promise then rejects with its reason.
   */
  lockCacheKey(key: string, signal?: AbortSignal): Promise<() => Promise<void>>;

  /**
   * Records a deployment with its task specs and triggers in one transaction, directly (not through the write
   * batch). A version already deployed in the project/domain is compared by `contentHash` (see
   * `PutDeploymentResult`). Each deployed task's triggers are replaced by `triggers` (those of its tasks).
   */
  putDeployment(d: DeploymentRow, tasks: TaskSpecRow[], triggers: TriggerRow[]): Promise<PutDeploymentResult>;
  getDeployment(scope: { project: string; domain: string }, version: string): Promise<DeploymentRow | undefined>;
  /**
   * Deployed tasks: without `name`, the latest version of every task (by name); with `name` (an FQN), every
   * version of that task, latest first. Latest = most recently deployed (`deployedAt`), then version descending.
   */
  listTasks(scope: { project: string; domain: string }, q?: { name?: string; limit?: number }): Promise<TaskSpecRow[]>;
  /** One task at `version`, or its latest version when `version` is omitted. */
  getTask(scope: { project: string; domain: string }, name: string, version?: string): Promise<TaskSpecRow | undefined>;
  /** Registered triggers (of one task when `task` is given), by task name and trigger name. */
  listTriggers(scope: { project: string; domain: string }, q?: { task?: string }): Promise<TriggerRow[]>;
  /**
   * Activates or deactivates a trigger; becoming active sets `activatedAt` to `at` (an active trigger activated
   * again keeps its time). Returns the trigger as it now is, undefined when there is no such trigger.
   */
  setTriggerActive(scope: { project: string; domain: string }, task: string, name: string, active: boolean, at: number): Promise<TriggerRow | undefined>;
  /** Removes a trigger (its recorded fires stay); false when there was none. */
  deleteTrigger(scope: { project: string; domain: string }, task: string, name: string): Promise<boolean>;
  /**
   * Records a fire time (state `pending`, claimed by `fire.claimedBy`) under the first of `runNames` that no run and
   * no other fire uses, and returns that name; undefined when the fire time is already recorded (another scheduler,
   * or this one earlier, got there first), or when every name is taken. One atomic step: of several schedulers
   * recording one fire time, exactly one gets it.
   */
  recordFire(fire: Omit<FireRow, "runName" | "state" | "error">, runNames: readonly string[]): Promise<string | undefined>;
  /** Claims the pending fires whose claim expired before `now` (their scheduler died before creating the run): they are `owner`'s until `until`. */
  claimStaleFires(scope: { project: string; domain: string }, owner: string, now: number, until: number): Promise<FireRow[]>;
  /** Marks a pending fire claimed by `owner` created or failed; false when it is no longer `owner`'s (another scheduler took it over). */
  finishFire(key: FireKey, owner: string, state: "created" | "failed", error: string | null): Promise<boolean>;
  /** Recorded fires, latest first (of one task and/or trigger when given); `latest`: only the latest fire of each trigger. */
  listFires(scope: { project: string; domain: string }, q?: { task?: string; trigger?: string; limit?: number; latest?: boolean }): Promise<FireRow[]>;

  /**
   * After a run's writes failed (a full disk): marks the run and its unfinished actions failed with `error`
   * directly, bypassing the batch that failed. Best effort: false when even this write fails.
   */
  recordFailedRun(key: RunKey, error: ErrorRecord, endedAt: number): Promise<boolean>;
  /** Commits what is queued, then closes. */
  close(): Promise<void>;
}


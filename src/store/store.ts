/**
 * `RunStore`: the metadata store behind runs. The embedded default is SQLite (`store/sqlite/`); a cluster
 * store (PostgreSQL) implements the same interface. Values (inputs/outputs) are stored as encoded literal
 * bytes (see `types/codec.ts`); errors as `ErrorRecord`s.
 */
import type { ErrorRecord, StoreError } from "../errors.ts";

export type ActionPhase =
  | "queued" | "waiting_for_resources" | "initializing" | "running" | "succeeded" | "failed" | "aborted" | "timed_out";

export const ACTION_PHASES: readonly ActionPhase[] = [
  "queued", "waiting_for_resources", "initializing", "running", "succeeded", "failed", "aborted", "timed_out",
];
export const TERMINAL_PHASES: readonly ActionPhase[] = ["succeeded", "failed", "aborted", "timed_out"];
export const isTerminal = (p: ActionPhase): boolean => TERMINAL_PHASES.includes(p);

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
}

export interface AttemptRow {
  runName: string;
  action: string;
  attempt: number;
  phase: ActionPhase;
  startedAt: number | null;
  endedAt: number | null;
  error: ErrorRecord | null;
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

/** Scope of run names. */
export interface RunKey {
  project: string;
  domain: string;
  name: string;
}

export interface RunStore {
  /** Where the store lives (a file path or URL), for messages. */
  readonly location: string;

  /**
   * Records a new run. With `recoveryClaim` (the first run of the chain it recovers), nothing is recorded if a run
   * that has not ended holds the same claim: that run's name is returned instead. Check and insert are one atomic
   * step, so of two processes recovering the same chain at once exactly one gets the claim.
   */
  createRun(row: RunRow, recoveryClaim?: string): string | undefined;
  updateRun(key: RunKey, patch: Partial<RunRow>): void;
  getRun(key: RunKey): RunRow | undefined;
  listRuns(project: string, domain: string, q?: ListRunsQuery): RunRow[];
  /** Marks runs whose owner process is gone as failed; returns their names. */
  reapLostRuns(isOwnerAlive: (pid: number, host: string, heartbeatAt: number) => boolean, error: ErrorRecord | ((run: string) => ErrorRecord)): string[];

  upsertAction(row: ActionRow): void;
  updateAction(runName: string, name: string, patch: Partial<ActionRow>): void;
  getAction(runName: string, name: string): ActionRow | undefined;
  listActions(runName: string): ActionRow[];
  /** Name, inputs hash and outputs of the succeeded actions of a run (what recovery reuses). */
  listSucceeded(runName: string): Array<Pick<ActionRow, "name" | "inputsHash" | "outputs">>;

  upsertAttempt(row: AttemptRow): void;
  listAttempts(runName: string, action?: string): AttemptRow[];

  appendLogs(rows: LogRow[]): void;
  readLogs(runName: string, q?: { action?: string; attempt?: number; afterId?: number }): Array<LogRow & { id: number }>;

  putTrace(row: TraceRow): void;
  getTrace(runName: string, action: string, key: string): TraceRow | undefined;

  getCache(key: string): CacheEntry | undefined;
  putCache(entry: CacheEntry): void;
  clearCache(taskName?: string): number;

  /** Makes every queued write durable now. */
  flush(): void;
  close(): void;
  /** After the store failed: marks the run (and its unfinished actions) failed with `error`, bypassing the failed batch. */
  recordFailedRun?(key: RunKey, error: ErrorRecord, endedAt: number): boolean;
  /** The failure that stopped the store's writes (a full disk), if any. */
  readonly failure?: StoreError | undefined;
}

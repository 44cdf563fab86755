/**
 * How the store's rows map onto table columns, shared by every SQL backend: column names, which columns hold
 * JSON, and decoding a result row back into `RunRow`/`ActionRow`/... . A backend keeps only what differs (its
 * statements, how it encodes booleans on the way in).
 */
import type { ErrorRecord } from "../errors.ts";
import type { ActionCacheRecord, ActionRow, ActionSummary, AttemptRow, FireRow, RunRow, TaskSpecRow } from "./store.ts";

export type Row = Record<string, unknown>;

export const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
export const parse = <T>(v: unknown): T | null => (typeof v === "string" ? (JSON.parse(v) as T) : null);
export const bytes = (v: unknown): Uint8Array | null => (v instanceof Uint8Array ? v : null);
export const num = (v: unknown): number | null => (typeof v === "number" ? v : null);
/** A boolean column: SQLite returns 0/1, PostgreSQL true/false. */
const flag = (v: unknown): boolean => v === true || v === 1;

export const RUN_COLS: Record<keyof RunRow, string> = {
  project: "project", domain: "domain", name: "name", taskName: "task_name", phase: "phase", mode: "mode",
  inputs: "inputs", outputs: "outputs", error: "error", createdAt: "created_at", startedAt: "started_at",
  endedAt: "ended_at", ownerPid: "owner_pid", ownerHost: "owner_host", heartbeatAt: "heartbeat_at",
  ownerId: "owner_id", leaseEpoch: "lease_epoch", leaseExpiresAt: "lease_expires_at", recoverFrom: "recover_from", abortRequested: "abort_requested", labels: "labels", source: "source", options: "options",
};
export const RUN_JSON = new Set<string>(["error", "labels", "source", "options"]);

export const ACTION_COLS: Record<keyof ActionRow, string> = {
  runName: "run_name", name: "name", parent: "parent", taskName: "task_name", shortName: "short_name", group: "group_name",
  phase: "phase", cacheHit: "cache_hit", recovered: "recovered", inputsHash: "inputs_hash", inputs: "inputs",
  outputs: "outputs", error: "error", createdAt: "created_at", startedAt: "started_at", endedAt: "ended_at",
  reportUri: "report_uri", attemptCount: "attempt_count", interface: "interface", resources: "resources",
  cache: "cache",
};
export const ACTION_KEYS = Object.keys(ACTION_COLS) as (keyof ActionRow)[];
/** The action columns that hold JSON. */
export const ACTION_JSON = new Set<keyof ActionRow>(["error", "interface", "resources", "cache"]);

/** Interface schemas are shared by every action of a task: each is serialised once. */
const interfaceJson = new WeakMap<object, string>();

/** An action field as its column stores it: JSON for `error`, `interface`, `resources` and `cache`, else the value (null for undefined). */
export function actionJsonValue(k: keyof ActionRow, v: unknown): unknown {
  if (k === "interface" && typeof v === "object" && v !== null) {
    let j = interfaceJson.get(v);
    if (j === undefined) interfaceJson.set(v, (j = JSON.stringify(v)));
    return j;
  }
  if (ACTION_JSON.has(k)) return json(v);
  return v ?? null;
}

export function runFromDb(r: Row): RunRow {
  return {
    project: r.project as string, domain: r.domain as string, name: r.name as string, taskName: r.task_name as string,
    phase: r.phase as RunRow["phase"], mode: r.mode as RunRow["mode"], inputs: bytes(r.inputs), outputs: bytes(r.outputs),
    error: parse<ErrorRecord>(r.error), createdAt: r.created_at as number, startedAt: num(r.started_at), endedAt: num(r.ended_at),
    ownerPid: num(r.owner_pid), ownerHost: (r.owner_host as string | null) ?? null, heartbeatAt: num(r.heartbeat_at),
    ownerId: (r.owner_id as string | null) ?? null, leaseEpoch: (r.lease_epoch as number | null) ?? 0, leaseExpiresAt: num(r.lease_expires_at),
    recoverFrom: (r.recover_from as string | null) ?? null, abortRequested: (r.abort_requested as string | null) ?? null,
    labels: parse<Record<string, string>>(r.labels) ?? {}, source: parse(r.source), options: parse(r.options) ?? {},
  };
}

export function actionFromDb(r: Row): ActionRow {
  return {
    ...actionSummaryFromDb(r), inputsHash: r.inputs_hash as string, inputs: bytes(r.inputs), outputs: bytes(r.outputs), interface: parse(r.interface),
    ...(typeof r.cache === "string" ? { cache: parse<ActionCacheRecord>(r.cache) } : {}),
  };
}

/** The columns `actionSummaryFromDb` reads, in the order `actionSummaryFromValues` takes them. */
export const ACTION_SUMMARY_SQL =
  "run_name, name, parent, task_name, short_name, group_name, phase, cache_hit, recovered, error, created_at, started_at, ended_at, report_uri, attempt_count, resources";

/**
 * `actionSummaryFromDb` for a row read as an array of `ACTION_SUMMARY_SQL`'s columns: a raw read, where the driver
 * makes no object per row (reading a 10,000-action tree takes about half the time).
 */
export function actionSummaryFromValues(v: unknown[]): ActionSummary {
  return {
    runName: v[0] as string, name: v[1] as string, parent: (v[2] as string | null) ?? null,
    taskName: v[3] as string, shortName: v[4] as string, group: (v[5] as string | null) ?? null,
    phase: v[6] as ActionRow["phase"], cacheHit: flag(v[7]), recovered: flag(v[8]), error: parse<ErrorRecord>(v[9]),
    createdAt: v[10] as number, startedAt: num(v[11]), endedAt: num(v[12]),
    reportUri: (v[13] as string | null) ?? null, attemptCount: v[14] as number,
    ...(typeof v[15] === "string" ? { resources: parse<Record<string, unknown>>(v[15]) } : {}),
  };
}

/** The columns `attemptFromValues` takes, in its order (the run's name is known to the caller). */
export const ATTEMPT_VALUES_SQL = "action, attempt, phase, started_at, ended_at, error, owner, lease_epoch";

/** `attemptFromDb` for a row read as an array of `ATTEMPT_VALUES_SQL`'s columns. */
export function attemptFromValues(runName: string, v: unknown[]): AttemptRow {
  return {
    runName, action: v[0] as string, attempt: v[1] as number, phase: v[2] as AttemptRow["phase"],
    startedAt: num(v[3]), endedAt: num(v[4]), error: parse<ErrorRecord>(v[5]),
    owner: (v[6] as string | null) ?? null, leaseEpoch: num(v[7]),
  };
}

export function actionSummaryFromDb(r: Row): ActionSummary {
  return {
    runName: r.run_name as string, name: r.name as string, parent: (r.parent as string | null) ?? null,
    taskName: r.task_name as string, shortName: r.short_name as string, group: (r.group_name as string | null) ?? null,
    phase: r.phase as ActionRow["phase"], cacheHit: flag(r.cache_hit), recovered: flag(r.recovered), error: parse<ErrorRecord>(r.error),
    createdAt: r.created_at as number, startedAt: num(r.started_at), endedAt: num(r.ended_at),
    reportUri: (r.report_uri as string | null) ?? null, attemptCount: r.attempt_count as number,
    ...(typeof r.resources === "string" ? { resources: parse<Record<string, unknown>>(r.resources) } : {}),
  };
}

export function attemptFromDb(r: Row): AttemptRow {
  return {
    runName: r.run_name as string, action: r.action as string, attempt: r.attempt as number, phase: r.phase as AttemptRow["phase"],
    startedAt: num(r.started_at), endedAt: num(r.ended_at), error: parse<ErrorRecord>(r.error),
    owner: (r.owner as string | null) ?? null, leaseEpoch: num(r.lease_epoch),
  };
}

export function taskSpecFromDb(r: Row): TaskSpecRow {
  return {
    project: r.project as string, domain: r.domain as string, name: r.name as string, version: r.version as string,
    environment: r.environment as string, spec: JSON.parse(r.spec as string) as Record<string, unknown>,
    createdAt: r.created_at as number, deployedAt: r.deployed_at as number,
  };
}

/** A trigger fire as either store returns it (see RunStore.recordFire). */
export function fireFromDb(r: Row): FireRow {
  return {
    project: r.project as string, domain: r.domain as string, taskName: r.task_name as string, triggerName: r.trigger_name as string,
    fireTime: r.fire_time as number, version: r.version as string, runName: r.run_name as string, state: r.state as FireRow["state"],
    error: (r.error as string | null) ?? null, claimedBy: (r.claimed_by as string | null) ?? null,
    claimExpiresAt: (r.claim_expires_at as number | null) ?? null, recordedAt: r.recorded_at as number,
  };
}

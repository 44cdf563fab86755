/**
 * The action tree of a run as `Run.details()` and `Action.details()` return it, built from the store's rows.
 */
import type { ErrorKind } from "../errors.ts";
import type { ActionCacheRecord, ActionPhase, ActionSummary, AttemptRow } from "../store/store.ts";

/**
 * What the cache did for an action (`"hit"`, `"miss"`, `"overwrite"`, `"disabled"`) and the parts its key was computed
 * from (API.md §5: `key = sha256(inputsHash + taskName + interfaceHash + cacheVersion)`), with each hashed input's own
 * hash: comparing two actions' parts shows why one missed.
 */
export type ActionCacheDetails = ActionCacheRecord;

export interface ErrorDetails {
  name: string;
  code: string;
  kind: ErrorKind;
  message: string;
  stack?: string;
}

export interface ActionDetails {
  name: string;
  taskName: string;
  shortName: string;
  group?: string;
  phase: ActionPhase;
  cacheHit: boolean;
  recovered: boolean;
  attempts: { attempt: number; phase: ActionPhase; startedAt?: Date; endedAt?: Date; error?: ErrorDetails }[];
  startedAt?: Date;
  endedAt?: Date;
  reportUri?: string;
  error?: ErrorDetails;
  /** The compute resources the call asked for (`Resources` options), when it asked for any. */
  resources?: Record<string, unknown>;
  /**
   * What the cache did and what its key was made of. Set by `Action.details()` (the tree `Run.details()` returns
   * leaves it out: a 10,000-action run is read without it); absent for recovered actions and actions recorded by a
   * flyte-ts that did not keep it.
   */
  cache?: ActionCacheDetails;
  children: ActionDetails[];
}

/** Every action of a run keyed by name, each with its attempts and children (the root has `parent === null`). */
export function buildActionTree(actions: ActionSummary[], attempts: AttemptRow[]): { root?: ActionDetails; byName: Map<string, ActionDetails> } {
  const nodes = new Map<string, ActionDetails>();
  for (const a of actions) {
    const d: ActionDetails = {
      name: a.name, taskName: a.taskName, shortName: a.shortName, phase: a.phase, cacheHit: a.cacheHit, recovered: a.recovered,
      attempts: [], children: [],
    };
    if (a.group) d.group = a.group;
    if (a.startedAt) d.startedAt = new Date(a.startedAt);
    if (a.endedAt) d.endedAt = new Date(a.endedAt);
    if (a.reportUri) d.reportUri = a.reportUri;
    if (a.error) d.error = a.error;
    if (a.resources) d.resources = a.resources;
    nodes.set(a.name, d);
  }
  // Attempts come ordered by action and attempt number: each is appended to its action's list.
  for (const t of attempts) {
    const node = nodes.get(t.action);
    if (!node) continue;
    const attempt: ActionDetails["attempts"][number] = { attempt: t.attempt, phase: t.phase };
    if (t.startedAt) attempt.startedAt = new Date(t.startedAt);
    if (t.endedAt) attempt.endedAt = new Date(t.endedAt);
    if (t.error) attempt.error = t.error;
    node.attempts.push(attempt);
  }
  let root: ActionDetails | undefined;
  for (const a of actions) {
    const node = nodes.get(a.name)!;
    if (a.parent === null) root = node;
    else nodes.get(a.parent)?.children.push(node);
  }
  return { ...(root ? { root } : {}), byName: nodes };
}

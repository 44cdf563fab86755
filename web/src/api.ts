// Calls to the `flyte ui` server. Everything it returns is rendered as text (JSX text nodes), never as HTML.
/** A time: an ISO string from the server's JSON, or epoch ms where the client builds the value (the unpacked tree). */
export type Time = string | number;
export interface Attempt { attempt: number; phase: string; startedAt?: Time; endedAt?: Time; error?: ErrorDetails }
export interface ErrorDetails { name: string; code: string; kind: string; message: string; stack?: string }
export interface ActionNode {
  name: string; taskName: string; shortName: string; group?: string; phase: string; cacheHit: boolean; recovered: boolean;
  attempts: Attempt[]; startedAt?: Time; endedAt?: Time; reportUri?: string; error?: ErrorDetails; children: ActionNode[];
}
export interface RunDetails {
  name: string; taskName: string; phase: string; createdAt: string; startedAt?: string; endedAt?: string; inputs: unknown;
  outputs?: unknown; error?: ErrorDetails; recoverFrom?: string; root: ActionNode; recoverable: boolean; terminal: boolean;
}
type PackedAttempt = [number, number, number, number, number];
type PackedRow = [string, number, number, number, number, number, number, number, number, number, number, PackedAttempt[]];
export interface PackedRun extends Omit<RunDetails, "root"> { tree: { t0: number; strings: string[]; errors: ErrorDetails[]; rows: PackedRow[] } }

/** Rebuilds the action tree that src/ui/tree-codec.ts packed. */
export function unpackRun(p: PackedRun): RunDetails {
  const { tree, ...rest } = p;
  const { t0, strings: s, errors } = tree;
  // Epoch ms, not ISO strings: a 10,000-action tree has 40,000 times, which the page only compares and subtracts.
  const iso = (t: number) => (t < 0 ? undefined : t0 + t);
  const nodes: ActionNode[] = [];
  for (const r of tree.rows) {
    const n: ActionNode = {
      name: r[0], taskName: s[r[2]]!, shortName: s[r[3]]!, phase: s[r[5]]!, cacheHit: (r[6] & 1) !== 0, recovered: (r[6] & 2) !== 0,
      attempts: r[11].map((a) => ({ attempt: a[0], phase: s[a[1]]!, startedAt: iso(a[2]), endedAt: iso(a[3]), error: a[4] < 0 ? undefined : errors[a[4]] })),
      startedAt: iso(r[7]), endedAt: iso(r[8]), error: r[9] < 0 ? undefined : errors[r[9]], children: [],
    };
    if (r[4] >= 0) n.group = s[r[4]];
    if (r[10] >= 0) n.reportUri = s[r[10]];
    nodes.push(n);
    if (r[1] >= 0) nodes[r[1]]!.children.push(n);
  }
  return { ...rest, root: nodes[0]! };
}
export interface RunSummary {
  name: string; taskName: string; phase: string; mode: string; createdAt: string; startedAt?: string; endedAt?: string;
  labels: Record<string, string>; recoverFrom?: string;
}
/** What the cache did for an action and the parts of its key (flyte-ts `ActionCacheDetails`). */
export interface CacheDetails {
  outcome: "hit" | "miss" | "overwrite" | "disabled"; behavior: string; reason?: string; key?: string; taskName?: string;
  cacheVersion?: string; versionOverride?: string; interfaceHash?: string; inputsHash?: string; inputs?: { name: string; hash: string }[];
  ignoredInputs?: string[]; serialize?: boolean; source?: { runName: string; action: string };
}
export interface ActionPage extends Omit<ActionNode, "children"> {
  cache?: CacheDetails;
  childCount: number; children: Omit<ActionNode, "children" | "attempts">[];
  io: { inputs: unknown; outputs: unknown; interface?: { inputs?: object; output?: object } };
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { credentials: "same-origin", ...init });
  const text = await res.text();
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = undefined; }
  if (!res.ok) {
    const msg = (body as { error?: { message?: string } } | undefined)?.error?.message ?? text;
    throw new ApiError(res.status, msg);
  }
  return body as T;
}

export const post = <T,>(path: string) => api<T>(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });

export const ms = (s?: Time) => (typeof s === "number" ? s : s ? Date.parse(s) : undefined);

export function duration(a?: Time, b?: Time): string {
  const s = ms(a);
  if (s === undefined) return "";
  const d = (ms(b) ?? Date.now()) - s;
  if (d < 1000) return `${d}ms`;
  if (d < 60_000) return `${(d / 1000).toFixed(1)}s`;
  const m = Math.floor(d / 60_000);
  return m < 60 ? `${m}m${Math.round((d % 60_000) / 1000)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

export const TERMINAL = ["succeeded", "failed", "aborted", "timed_out"];
export const PHASES = ["queued", "waiting_for_resources", "initializing", "running", "succeeded", "failed", "aborted", "timed_out"];

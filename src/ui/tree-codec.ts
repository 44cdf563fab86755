/**
 * The action tree on the wire: a run of 10,000 actions as `Run.details()` returns it is about 3.4 MB of JSON
 * (repeated keys, task names and ISO dates); this packs it into flat rows with a string table and times
 * relative to the run's start (about a sixth of the size), which web/src/api.ts unpacks.
 */
import type { ActionDetails, ErrorDetails } from "../index.ts";

/** [name, parent row (-1: root), task, short name, group (-1: none), phase, flags (1 cache hit, 2 recovered), start, end, error (-1), report (-1), attempts] */
export type PackedRow = [string, number, number, number, number, number, number, number, number, number, number, PackedAttempt[]];
/** [attempt, phase, start, end, error (-1)] */
export type PackedAttempt = [number, number, number, number, number];

export interface PackedTree {
  /** Epoch ms that the times count from; a missing time is -1. */
  t0: number;
  strings: string[];
  errors: ErrorDetails[];
  rows: PackedRow[];
}

export function packTree(root: ActionDetails): PackedTree {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const str = (s: string) => {
    let i = index.get(s);
    if (i === undefined) { i = strings.length; strings.push(s); index.set(s, i); }
    return i;
  };
  const errors: ErrorDetails[] = [];
  const err = (e?: ErrorDetails) => (e ? errors.push(e) - 1 : -1);
  let t0 = Infinity;
  const scan = (n: ActionDetails) => {
    if (n.startedAt) t0 = Math.min(t0, n.startedAt.getTime());
    for (const a of n.attempts) if (a.startedAt) t0 = Math.min(t0, a.startedAt.getTime());
    n.children.forEach(scan);
  };
  scan(root);
  if (t0 === Infinity) t0 = 0;
  const time = (d?: Date) => (d ? d.getTime() - t0 : -1);
  const rows: PackedRow[] = [];
  const walk = (n: ActionDetails, parent: number) => {
    const me = rows.length;
    rows.push([
      n.name, parent, str(n.taskName), str(n.shortName), n.group === undefined ? -1 : str(n.group), str(n.phase),
      (n.cacheHit ? 1 : 0) | (n.recovered ? 2 : 0), time(n.startedAt), time(n.endedAt), err(n.error),
      n.reportUri === undefined ? -1 : str(n.reportUri),
      n.attempts.map((a) => [a.attempt, str(a.phase), time(a.startedAt), time(a.endedAt), err(a.error)]),
    ]);
    for (const c of n.children) walk(c, me);
  };
  walk(root, -1);
  return { t0, strings, errors, rows };
}

/** "Did you mean" for names typed on the command line (commander keeps its own version private). */

/** Optimal string alignment distance: edits, with a swap of two neighbours counted as one. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `typed` (case-insensitive), if it is close enough to be a likely typo. */
export function closest(typed: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const t = typed.toLowerCase();
  for (const c of candidates) {
    const dist = distance(t, c.toLowerCase());
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  // Like commander: allow about a third of the name to differ, and never a completely different word.
  return best !== undefined && bestDistance > 0 && bestDistance <= Math.max(1, Math.floor(Math.max(t.length, best.length) * 0.4)) ? best : undefined;
}

/**
 * Where the sequential-call tail comes from (issue #20 item 3): runs N sequential awaited child calls and tags
 * every call with what happened while it was in flight: a store commit (and whether that commit checkpointed
 * the WAL into the main file), a GC pause, an event-loop turn, a heartbeat. Prints a breakdown of the calls
 * above a threshold (default: 10x the median).
 *
 *   npx tsx --conditions=flyte-ts-source bench/tail-probe.ts [n=5000] [reps=3] [durability=process]
 *
 * Diagnostic only: it patches the open store's write batch to time commits, so its own numbers carry a few
 * microseconds of instrumentation per commit.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver, constants as perfConstants } from "node:perf_hooks";
import { TaskEnvironment, init, withRunContext } from "flyte-ts";

const N = Number(process.argv[2] ?? 5000);
const REPS = Number(process.argv[3] ?? 3);
const DURABILITY = (process.argv[4] ?? "process") as "full" | "process";

const env = new TaskEnvironment({ name: "probe", cache: "disable" });
const leaf = env.task(async function leaf({ i }: { i: number }): Promise<number> {
  return i + 1;
});
const seq = env.task(async function seq({ n }: { n: number }): Promise<number[]> {
  // Start and end of every call, flattened: [t0, t1, t0, t1, ...].
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    t.push(performance.now());
    await leaf({ i });
    t.push(performance.now());
  }
  return t;
});

interface Span { start: number; end: number; kind: string; detail?: string }
const spans: Span[] = [];
let turns: number[] = [];

const gcKinds: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = ((e as unknown as { detail?: { kind?: number } }).detail)?.kind ?? 0;
    spans.push({ start: e.startTime, end: e.startTime + e.duration, kind: `gc-${gcKinds[kind] ?? kind}` });
  }
}).observe({ entryTypes: ["gc"] });

const root = mkdtempSync(join(tmpdir(), "tail-probe-"));
await init({ root });
const { run } = withRunContext({ durability: DURABILITY });
interface ProbedStore {
  writes: { flushNow: () => unknown };
  renewLease: (...a: unknown[]) => unknown;
  checkpointer?: { checkpoints: number; running: boolean; checkpointing: boolean };
}
const rt = (globalThis as Record<symbol, { store: ProbedStore }>)[Symbol.for("flyte-ts.runtime")]!;
const workerCheckpoints = () => rt.store.checkpointer?.checkpoints ?? 0;
const workerBusy = () => rt.store.checkpointer?.checkpointing ?? false;
const dbFile = join(root, ".flyte", "flyte.db");
const writes = rt.store.writes;
const flushNow = writes.flushNow.bind(writes);
writes.flushNow = () => {
  const before = statSync(dbFile).mtimeMs;
  const cpBefore = workerCheckpoints();
  const busyBefore = workerBusy();
  const walBefore = statSync(`${dbFile}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  const t0 = performance.now();
  const r = flushNow();
  const t1 = performance.now();
  // The database file is written only by checkpoints; one the worker ran meanwhile is not this commit's.
  const checkpointed = statSync(dbFile).mtimeMs !== before && workerCheckpoints() === cpBefore && !busyBefore && !workerBusy();
  if (t1 - t0 > 0.02) spans.push({ start: t0, end: t1, kind: checkpointed ? "commit that checkpointed the WAL inline" : "commit (no checkpoint)", detail: `wal ${walBefore}` });
  return r;
};
const renew = rt.store.renewLease.bind(rt.store);
rt.store.renewLease = (...a: unknown[]) => {
  const t0 = performance.now();
  const r = renew(...a);
  spans.push({ start: t0, end: performance.now(), kind: "heartbeat" });
  return r;
};
let ticking = true;
const tick = () => {
  turns.push(performance.now());
  if (ticking) setImmediate(tick);
};

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const us = (x: number) => `${(x * 1000).toFixed(0)} µs`;

await (await run(seq, { n: 500 })).outputs(); // warm-up
for (let rep = 0; rep < REPS; rep++) {
  spans.length = 0;
  turns = [];
  const cp0 = workerCheckpoints();
  setImmediate(tick);
  const t = (await (await run(seq, { n: N })).outputs()) as number[];
  ticking = false;
  await new Promise((r) => setTimeout(r, 20));
  ticking = true;
  const lat: number[] = [];
  for (let i = 0; i < t.length; i += 2) lat.push(t[i + 1]! - t[i]!);
  const p50 = pct(lat, 50);
  const p99 = pct(lat, 99);
  const threshold = Math.max(10 * p50, 0.1);
  const slow: { i: number; ms: number; causes: string[] }[] = [];
  const counts = new Map<string, number>();
  let turnCalls = 0;
  for (let k = 0; k < lat.length; k++) {
    const s = t[2 * k]!, e = t[2 * k + 1]!;
    const crossed = turns.some((x) => x > s && x < e);
    if (crossed) turnCalls++;
    if (lat[k]! < threshold) continue;
    // The cause is what took most of this call's time beyond the median: a span that covers at least half of it.
    const excess = lat[k]! - p50;
    const overlap = new Map<string, number>();
    for (const sp of spans) {
      const o = Math.min(e, sp.end) - Math.max(s, sp.start);
      if (o > 0) overlap.set(sp.kind, (overlap.get(sp.kind) ?? 0) + o);
    }
    const [top] = [...overlap].sort((a, b) => b[1] - a[1]);
    const cause = top && top[1] >= excess / 2
      ? top[0]
      : crossed ? "event-loop turn, nothing recorded in it (another process had the CPU)" : "nothing recorded (another process had the CPU)";
    const causes = [cause];
    slow.push({ i: k, ms: lat[k]!, causes });
    counts.set(cause, (counts.get(cause) ?? 0) + 1);
  }
  const commits = spans.filter((s) => s.kind.startsWith("commit"));
  const cps = spans.filter((s) => s.kind === "commit that checkpointed the WAL inline");
  const gcs = spans.filter((s) => s.kind.startsWith("gc"));
  console.log(`\nrep ${rep} (${DURABILITY}): ${N} calls  p50 ${us(p50)}  p90 ${us(pct(lat, 90))}  p99 ${us(p99)}  p99.9 ${us(pct(lat, 99.9))}  max ${us(Math.max(...lat))}  ratio p99/p50 ${(p99 / p50).toFixed(0)}x`);
  console.log(`  calls that crossed an event-loop turn: ${turnCalls}; commits > 20 µs: ${commits.length} (median ${us(pct(commits.map((c) => c.end - c.start), 50))}, max ${us(Math.max(0, ...commits.map((c) => c.end - c.start)))}); inline checkpoints: ${cps.length} (${cps.map((c) => `${us(c.end - c.start)} at ${(c.start - t[0]!).toFixed(0)} ms, ${c.detail}`).join(", ")}); gc: ${gcs.length} (${[...new Set(gcs.map((g) => g.kind))].join(",")}, total ${us(gcs.reduce((a, g) => a + g.end - g.start, 0))})`);
  console.log(`  checkpoints run by the worker thread meanwhile: ${workerCheckpoints() - cp0}`);
  console.log(`  ${slow.length} calls >= ${us(threshold)} (10x p50), by what took most of their time:`);
  for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`    ${String(v).padStart(4)}  ${k}`);
  const top = [...slow].sort((a, b) => b.ms - a.ms).slice(0, 8);
  console.log(`  slowest: ${top.map((s) => `#${s.i} ${us(s.ms)} [${s.causes.join("+")}]`).join("; ")}`);
}
rmSync(root, { recursive: true, force: true });
process.exit(0);

/**
 * Sandbox benchmarks (issue #6), all measured in the same process and run:
 *
 *   (a) start-up of one sandbox attempt (fresh QuickJS runtime + context + prelude + entry, then disposal)
 *       on the reused compiled module: p50/p95 over many attempts; target < 20 ms p50.
 *   (b) overhead of one task call through the bridge: a sandboxed orchestrator awaiting N child calls one
 *       after another vs a plain task doing the same, per call, start-up subtracted; target < 1 ms.
 *   (c) a 1,000-child Promise.all fan-out from inside the sandbox vs the same fan-out from a plain task
 *       (wall time of the run); target within 1.5x.
 *
 * `benchSandbox()` returns rows for `bench/run.ts`; `npx tsx --conditions=flyte-ts-source bench/sandbox.bench.ts` prints them alone.
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { init, run, TaskEnvironment, type TaskTemplate } from "flyte-ts";
import { loadSandboxModule, runInSandbox } from "../src/sandbox/quickjs-runner.ts";
import { prepareFunctionSource } from "../src/sandbox/source.ts";

export interface BenchRow {
  name: string;
  value: string;
  target?: string;
  ok?: boolean;
}

const STARTUP_REPS = 300;
const SEQUENTIAL_N = 500;
const FANOUT_N = 1_000;
const REPS = 9;

const env = new TaskEnvironment({ name: "bench-sandbox" });

const leaf = env.task(async function leaf({ i }: { i: number }) {
  return i + 1;
});

const plainSequential = env.task(async function plainSequential({ n }: { n: number }) {
  let total = 0;
  for (let i = 0; i < n; i++) total += await leaf({ i });
  return total;
});

const sandboxSequential = env.sandbox.orchestrator(async function sandboxSequential({ n }: { n: number }) {
  let total = 0;
  for (let i = 0; i < n; i++) total += await leaf({ i });
  return total;
});

const plainFanout = env.task(async function plainFanout({ n }: { n: number }) {
  const out = await Promise.all(Array.from({ length: n }, (_, i) => leaf({ i })));
  return out.length;
});

const sandboxFanout = env.sandbox.orchestrator(async function sandboxFanout({ n }: { n: number }) {
  const out = await Promise.all(Array.from({ length: n }, (_, i) => leaf({ i })));
  return out.length;
});

function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const median = (xs: readonly number[]) => percentile(xs, 50);
const ms = (x: number) => (x >= 100 ? `${x.toFixed(0)} ms` : x >= 1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(0)} µs`);

/** Wall time of one run of `task`, from `run()` until its outputs are available. */
async function timeRun<I>(task: TaskTemplate<I, unknown>, inputs: I, expected: unknown): Promise<number> {
  const t0 = performance.now();
  const r = await run(task, inputs);
  const out = await r.outputs();
  const dt = performance.now() - t0;
  if (out !== expected) throw new Error(`benchmark run of ${task.name} returned ${JSON.stringify(out)}, expected ${JSON.stringify(expected)}`);
  return dt;
}

/** Median wall time over REPS runs each, plain and sandboxed interleaved so drift hits both alike. */
async function compare<I>(plain: TaskTemplate<I, unknown>, sandboxed: TaskTemplate<I, unknown>, inputs: I, expected: unknown) {
  await timeRun(plain, inputs, expected);
  await timeRun(sandboxed, inputs, expected);
  const p: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < REPS; i++) {
    p.push(await timeRun(plain, inputs, expected));
    s.push(await timeRun(sandboxed, inputs, expected));
  }
  return { plain: median(p), sandboxed: median(s) };
}

export async function benchSandbox(): Promise<BenchRow[]> {
  await init({ root: mkdtempSync(join(tmpdir(), "bench-sandbox-")) });
  const rows: BenchRow[] = [];

  // (a) start-up per attempt on the reused module (the module itself is compiled and warmed once).
  const t0 = performance.now();
  await loadSandboxModule();
  const loadMs = performance.now() - t0;
  const source = prepareFunctionSource(async function trivial({ x }: { x: number }) {
    return x + 1;
  }, "bench");
  const limits = { timeoutMs: 30_000, maxMemory: 50 * 1024 * 1024, maxStackDepth: 256, typeCheck: true };
  const startups: number[] = [];
  for (let i = 0; i < STARTUP_REPS + 20; i++) {
    const s = performance.now();
    const out = await runInSandbox({ label: "bench.trivial", source, inputs: { x: i }, tasks: new Map(), limits });
    if (out !== i + 1) throw new Error("sandbox start-up benchmark returned a wrong value");
    if (i >= 20) startups.push(performance.now() - s);
  }
  const startupP50 = median(startups);
  rows.push({ name: "sandbox: worker thread start + module compile + warm-up (once per process)", value: ms(loadMs) });
  rows.push({ name: "sandbox: start-up per attempt, p50", value: ms(startupP50), target: "< 20 ms", ok: startupP50 < 20 });
  rows.push({ name: "sandbox: start-up per attempt, p95", value: ms(percentile(startups, 95)) });

  // (b) bridge overhead per task call, sequential so each call's full round trip is on the critical path.
  const seq = await compare(plainSequential, sandboxSequential, { n: SEQUENTIAL_N }, (SEQUENTIAL_N * (SEQUENTIAL_N + 1)) / 2);
  const perCallPlain = seq.plain / SEQUENTIAL_N;
  const overhead = (seq.sandboxed - seq.plain - startupP50) / SEQUENTIAL_N;
  rows.push({ name: `sandbox: ${SEQUENTIAL_N} sequential child calls, plain task`, value: ms(seq.plain) });
  rows.push({ name: `sandbox: ${SEQUENTIAL_N} sequential child calls, sandboxed`, value: ms(seq.sandboxed) });
  rows.push({ name: "sandbox: direct in-process child call (plain)", value: ms(perCallPlain) });
  rows.push({ name: "sandbox: bridge overhead per task call", value: ms(Math.max(0, overhead)), target: "< 1 ms", ok: overhead < 1 });

  // (c) 1,000-child fan-out.
  const fan = await compare(plainFanout, sandboxFanout, { n: FANOUT_N }, FANOUT_N);
  const ratio = fan.sandboxed / fan.plain;
  rows.push({ name: `sandbox: ${FANOUT_N}-child fan-out, plain task`, value: ms(fan.plain) });
  rows.push({ name: `sandbox: ${FANOUT_N}-child fan-out, sandboxed`, value: ms(fan.sandboxed) });
  rows.push({ name: "sandbox: fan-out sandboxed / plain", value: `${ratio.toFixed(2)}x`, target: "<= 1.5x", ok: ratio <= 1.5 });
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchSandbox();
  const cells = rows.map((r) => [r.name, r.value, r.target ?? "", r.ok === undefined ? "" : r.ok ? "ok" : "MISS"]);
  const head = ["name", "value", "target", "ok"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  console.log([line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n"));
  process.exit(0);
}

/**
 * Runtime benchmarks (issue #4 item 9): what it costs to make every task call a durable action.
 *
 *   (a) a run fanning out 10,000 trivial child actions with Promise.all vs a plain Promise.all of the same
 *       function: durable actions/s, slowdown, per-action overhead; the store must hold all 10,001 actions.
 *   (b) cache-hit latency of a cached task called again with the same inputs inside a run.
 *   (c) peak RSS of a run of 100,000 actions, in a child process.
 *   (d) cold start of `flyte run` on a trivial task vs `node -e 0`.
 *
 * `benchRuntime()` returns rows for `bench/run.ts`; `npx tsx --conditions=flyte-ts-source bench/runtime.bench.ts` prints them alone.
 * Every benchmark initialises its own temporary state dir.
 * @module
 */
import { spawn } from "node:child_process";
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { init, withRunContext, type Run } from "flyte-ts";
import { countActions } from "./fixtures/store-count.ts";
import { cacheHits, fanout, leafFn, sequential } from "./fixtures/tasks.ts";

export interface BenchRow {
  name: string;
  value: string;
  target?: string;
  ok?: boolean;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(HERE);

const FANOUT_N = 10_000;
const FANOUT_REPS = 3;
const SEQUENTIAL_N = 5_000;
const CACHE_N = 2_000;
const RSS_N = 100_000;
const RSS_BATCH = 1_000;
const COLD_REPS = 7;

// ---------------------------------------------------------------------------------------------- helpers

/** Nearest-rank percentile of `xs` (0 < p <= 100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const median = (xs: readonly number[]) => percentile(xs, 50);
const fmt = (x: number, digits = 0) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (x: number) => (x >= 100 ? `${fmt(x)} ms` : x >= 1 ? `${fmt(x, 1)} ms` : `${fmt(x * 1000)} µs`);
const mb = (bytes: number) => `${fmt(bytes / (1024 * 1024))} MB`;

/** State dirs made by this module, removed when `benchRuntime` ends (each holds a store of 10k+ actions). */
const roots: string[] = [];

async function freshRuntime(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), "bench-"));
  roots.push(root);
  await init({ root });
  return root;
}

// ------------------------------------------------------------------------------------- (a) fan-out 10k

/** Plain Promise.all over the same function the leaf task wraps (median of 5, after a warm-up). */
async function plainFanout(n: number): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const out = await Promise.all(Array.from({ length: n }, (_, i) => leafFn({ i })));
    if (out.length !== n) throw new Error("plain fan-out lost results");
    return performance.now() - t0;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(await once());
  return median(times);
}

/** `full` (the default) fsyncs each group commit; `process` leaves the fsync to checkpoints (see README, reliability). */
type Level = "full" | "process";

async function benchFanout(level: Level): Promise<BenchRow[]> {
  const root = await freshRuntime();
  const { run } = withRunContext({ durability: level });
  // Warm-up: JIT, prepared statements, module loading.
  await (await run(fanout, { n: 1_000 })).wait();

  const runs: { ms: number; handle: Run<number> }[] = [];
  for (let rep = 0; rep < FANOUT_REPS; rep++) {
    const t0 = performance.now();
    const r = await run(fanout, { n: FANOUT_N });
    // wait() resolves after the run's final store flush, so everything below is committed.
    const phase = await r.wait();
    const took = performance.now() - t0;
    if (phase !== "succeeded") throw new Error(`fan-out run ${r.name} ended ${phase}`);
    runs.push({ ms: took, handle: r });
  }
  const plainMs = await plainFanout(FANOUT_N);

  // Durability: count through a separate read-only connection, and through the Run handle.
  const last = runs[runs.length - 1]!;
  const counted = countActions(root, last.handle.name);
  const details = await last.handle.details();
  const viaDetails = 1 + details.root.children.length;
  const expected = FANOUT_N + 1;
  const recordedOk = counted.total === expected && counted.succeeded === expected && viaDetails === expected;

  const rates = runs.map((r) => expected / (r.ms / 1000));
  const medMs = median(runs.map((r) => r.ms));
  const rate = expected / (medMs / 1000);
  const min = level === "full" ? 10_000 : 5_000;
  return [
    {
      name: `(a) [${level}] fan-out 10k: durable actions/s (median of 3)`,
      value: `${fmt(rate)} /s (${fmt(Math.min(...rates))}..${fmt(Math.max(...rates))}; ${ms(medMs)} per run)`,
      target: `>= ${fmt(min)} /s`,
      ok: rate >= min,
    },
    ...(level === "full"
      ? [
        { name: "(a) plain Promise.all of the same 10k functions", value: `${ms(plainMs)} (${fmt(FANOUT_N / (plainMs / 1000))} calls/s)` },
        { name: "(a) [full] slowdown durable / plain", value: `${fmt(medMs / plainMs)}x` },
      ]
      : []),
    { name: `(a) [${level}] overhead per action, amortised in the fan-out`, value: ms((medMs - plainMs) / expected) },
    {
      name: `(a) [${level}] actions recorded in the store after the run`,
      value: `${fmt(counted.succeeded)} succeeded / ${fmt(counted.total)} rows (details(): ${fmt(viaDetails)})`,
      target: `${fmt(expected)}`,
      ok: recordedOk,
    },
    ...(await benchSequential(level)),
  ];
}

/**
 * Per-action overhead percentiles: each call awaited alone, its latency minus a plain call's. 5,000 calls, so
 * that p99 is the 50th slowest call rather than a handful of outliers, and p99.9 (the 5th slowest) shows the
 * rare pauses. `bench/tail-probe.ts` tags each slow call with what happened meanwhile (group commit, WAL
 * checkpoint, GC, event-loop turn).
 */
async function benchSequential(level: Level): Promise<BenchRow[]> {
  await freshRuntime();
  const { run } = withRunContext({ durability: level });
  await (await run(sequential, { n: 500 })).outputs();
  const times = (await (await run(sequential, { n: SEQUENTIAL_N })).outputs()) as number[];
  const plain: number[] = [];
  for (let i = 0; i < SEQUENTIAL_N; i++) {
    const t0 = performance.now();
    await leafFn({ i });
    plain.push(performance.now() - t0);
  }
  const base = median(plain);
  const over = times.map((t) => Math.max(0, t - base));
  const p50 = percentile(over, 50);
  const p99 = percentile(over, 99);
  const n = `${fmt(SEQUENTIAL_N / 1000)}k`;
  return [
    {
      name: `(a) [${level}] overhead per action p50 (${n} sequential calls)`,
      value: ms(p50),
      ...(level === "full" ? { target: "<= 400 µs", ok: p50 <= 0.4 } : {}),
    },
    {
      name: `(a) [${level}] overhead per action p99 (${n} sequential calls)`,
      value: `${ms(p99)} (${fmt(p99 / p50, 1)}x p50)`,
      ...(level === "process" ? { target: "<= 10x p50", ok: p99 <= 10 * p50 } : {}),
    },
    { name: `(a) [${level}] overhead per action p99.9 / max`, value: `${ms(percentile(over, 99.9))} / ${ms(Math.max(...over))}` },
  ];
}

/**
 * The disk's own fdatasync latency, for scale: what one durable commit cannot go below. 4 KiB appended and
 * fdatasynced 200 times, in the directory the benchmark's stores live in.
 */
function benchFdatasync(): BenchRow[] {
  const dir = mkdtempSync(join(tmpdir(), "bench-sync-"));
  const fd = openSync(join(dir, "f"), "w");
  const page = Buffer.alloc(4096, 7);
  const times: number[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      writeSync(fd, page);
      const t0 = performance.now();
      fdatasyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return [{ name: "disk: fdatasync of a 4 KiB append, p50 / p99 (200 syncs)", value: `${ms(percentile(times, 50))} / ${ms(percentile(times, 99))}` }];
}

// ----------------------------------------------------------------------------------------- (b) cache hit

async function benchCache(level: Level): Promise<BenchRow[]> {
  const root = await freshRuntime();
  const { run } = withRunContext({ durability: level });
  await (await run(cacheHits, { n: 100 })).outputs(); // warm-up (also fills the cache entry)
  const r = await run(cacheHits, { n: CACHE_N });
  const times = (await r.outputs()) as number[];
  const counted = countActions(root, r.name);
  const p50 = percentile(times, 50);
  const allHits = counted.cacheHits === CACHE_N + 1; // the first call of this run hits the warm-up's entry too
  return [
    { name: `(b) [${level}] cache hit latency p50 (${fmt(CACHE_N)} calls)`, value: ms(p50), target: "< 1 ms", ok: p50 < 1 && allHits },
    { name: `(b) [${level}] cache hit latency p99`, value: `${ms(percentile(times, 99))} (${fmt(counted.cacheHits)} hits recorded)` },
  ];
}

// -------------------------------------------------------------------------------------- (c) peak RSS 100k

interface RssResult {
  n: number;
  batch: number;
  phase: string;
  wallMs: number;
  maxRss: number;
  sampledPeak: number;
  samples: number;
  recorded: { total: number; succeeded: number };
}

/** Runs the fan-out in a child process; the parent also samples /proc/<pid>/status (Linux) while it runs. */
function rssChild(n: number, batch: number, nodeFlags: string[] = []): Promise<RssResult & { procPeak: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, "--conditions=flyte-ts-source", "--import", "tsx", join(HERE, "fixtures", "rss-child.ts"), String(n), String(batch)], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let procPeak = 0;
    const sampler = setInterval(() => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) procPeak = Math.max(procPeak, Number(m[1]) * 1024);
      } catch {
        // Not Linux, or the child just exited.
      }
    }, 50);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(sampler);
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve({ ...(JSON.parse(line) as RssResult), procPeak });
      } catch {
        reject(new Error(`rss child exited ${code}: ${err.trim().split("\n").slice(-5).join(" | ") || out}`));
      }
    });
  });
}

async function benchRss(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // The third row caps V8's old space: peak RSS then shows the live set rather than how lazily V8 collects.
  for (const [label, batch, flags] of [
    ["one Promise.all", RSS_N, []],
    [`batches of ${fmt(RSS_BATCH)}`, RSS_BATCH, []],
    [`batches of ${fmt(RSS_BATCH)}, node --max-old-space-size=200`, RSS_BATCH, ["--max-old-space-size=200"]],
  ] as const) {
    const r = await rssChild(RSS_N, batch, [...flags]);
    const peak = Math.max(r.maxRss, r.procPeak);
    const recordedOk = r.recorded.succeeded === RSS_N + 1;
    rows.push({
      name: `(c) peak RSS, 100k actions, ${label}`,
      value: `${mb(peak)} (${fmt((RSS_N + 1) / (r.wallMs / 1000))} actions/s, ${fmt(r.recorded.succeeded)} recorded` +
        `${r.samples === 0 ? ", event loop never turned during the run" : ""})`,
      target: "< 300 MB",
      ok: peak < 300 * 1024 * 1024 && recordedOk && r.phase === "succeeded",
    });
  }
  return rows;
}

// ------------------------------------------------------------------------------------- (d) cold start

function timeSpawn(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const took = performance.now() - t0;
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}: ${out.trim().slice(-500)}`));
      else resolve(took);
    });
  });
}

async function benchColdStart(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  // A config file in the working directory: the run's store lands here, whatever ~/.flyte says.
  mkdirSync(join(dir, ".flyte"));
  writeFileSync(join(dir, ".flyte", "config.yaml"), "backend: embedded\n");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLYTE_")));
  const cli = [join(REPO, "bin", "flyte.js"), "run", join(HERE, "fixtures", "trivial.ts"), "t"];
  const flyte: number[] = [];
  const bare: number[] = [];
  await timeSpawn(cli, dir, env); // first run creates the store and warms the OS file cache
  for (let i = 0; i < COLD_REPS; i++) {
    flyte.push(await timeSpawn(cli, dir, env));
    bare.push(await timeSpawn(["-e", "0"], dir, env));
  }
  rmSync(dir, { recursive: true, force: true });
  const f = median(flyte);
  return [
    {
      name: `(d) cold start: flyte run trivial.ts t (median of ${COLD_REPS})`,
      value: `${ms(f)} (${ms(Math.min(...flyte))}..${ms(Math.max(...flyte))})`,
      target: "< 1.5 s",
      ok: f < 1_500,
    },
    { name: "(d) cold start: node -e 0 (median)", value: `${ms(median(bare))} (flyte run adds ${ms(f - median(bare))})` },
  ];
}

// --------------------------------------------------------------------------------------------- entry

/** Runs the runtime benchmarks one after the other and returns their rows. */
export async function benchRuntime(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sections: [string, () => Promise<BenchRow[]>][] = [
    ["disk fdatasync", async () => benchFdatasync()],
    ["(a) [full] fan-out 10k", () => benchFanout("full")],
    ["(a) [process] fan-out 10k", () => benchFanout("process")],
    ["(b) [full] cache hit", () => benchCache("full")],
    ["(b) [process] cache hit", () => benchCache("process")],
    ["(c) peak RSS 100k", benchRss],
    ["(d) cold start", benchColdStart],
  ];
  for (const [name, fn] of sections) {
    try {
      rows.push(...(await fn()));
    } catch (e) {
      rows.push({ name, value: `error: ${(e as Error).message.split("\n")[0]}`, ok: false });
    }
  }
  rows.push({ name: "machine load average (1 min) at the end", value: loadavg()[0]!.toFixed(2) });
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const r of await benchRuntime()) console.log(`${r.name} | ${r.value} | ${r.target ?? ""} | ${r.ok === undefined ? "" : r.ok ? "ok" : "MISS"}`);
  process.exit(0);
}

/**
 * Cluster benchmarks (issue #15 item 7): `npm run bench -- cluster`. One embedded PostgreSQL (src/dev/postgres.ts,
 * fsync on, as `flyte dev cluster` runs it) serves every row, in this order:
 *
 *   engine  graphile-worker 0.17 alone, in 2 worker processes with the concurrency a flyte worker gives it: 10,000
 *           no-op jobs (enqueued with addJobs in batches of 1,000, each with a job key as ours have) and their
 *           throughput; then 200 jobs one after the other and their enqueue→start latency. Twice: with the
 *           engine's defaults, and with the batching flyte workers configure (engineBatching in worker.ts: a
 *           local queue of prefetched jobs, batched completions), which is the floor we add to.
 *   ours    2 `flyte worker` processes (the code loaded from bench/fixtures/cluster-tasks.ts); a remote run whose
 *           root fans out 10,000 no-op children: actions/s and, per child, call→start (dispatch) latency; a remote
 *           run making 200 sequential child calls: their dispatch and call latency.
 *
 * Latencies are measured by the tasks themselves with sub-ms wall clocks (same host). The overhead row is our
 * per-action cost in the fan-out against the engine's per-job cost in its own run.
 * `benchCluster()` returns rows for `bench/run.ts`; `npx tsx --conditions=flyte-ts-source bench/cluster.bench.ts` prints them alone.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeWorkerUtils } from "graphile-worker";
import pg from "pg";
import { init, withRunContext } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { engineBatching } from "../src/queue/worker.ts";
import { startLocalPostgres, type LocalPostgres } from "../src/dev/postgres.ts";
import { chain, fanout } from "./fixtures/cluster-tasks.ts";
import { percentile, type BenchRow } from "./runtime.bench.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(HERE);

const FANOUT_N = Number(process.env.BENCH_CLUSTER_FANOUT) || 10_000;
const SEQUENTIAL_N = 200;
/** Progress on stderr (each phase and how long it took), so a slow phase is seen while it runs. */
const T_START = Date.now();
const progress = (what: string) => void process.stderr.write(`[cluster bench ${((Date.now() - T_START) / 1000).toFixed(1)}s] ${what}\n`);
const WORKERS = 2;
/** `flyte worker --concurrency`; graphile-worker then claims up to 4x as many jobs per process (worker.ts). */
const CONCURRENCY = Number(process.env.BENCH_CLUSTER_CONCURRENCY) || 8;
const ENGINE_CONCURRENCY = Math.max(4, CONCURRENCY * 4);

const fmt = (x: number, digits = 0) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (x: number) => (x >= 100 ? `${fmt(x)} ms` : x >= 1 ? `${fmt(x, 1)} ms` : `${fmt(x * 1000)} µs`);
const now = () => performance.timeOrigin + performance.now();

function exited(c: ChildProcess): Promise<void> {
  return new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));
}

// ------------------------------------------------------------------------------------------------ the engine

interface EngineResult {
  jobsPerSec: number;
  elapsedMs: number;
  fanoutLatency: number[];
  sequentialLatency: number[];
}

async function benchEngine(url: string, batching: boolean): Promise<EngineResult> {
  const schema = batching ? "bench_engine_batched" : "bench_engine";
  const utils = await makeWorkerUtils({ connectionString: url, schema });
  await utils.migrate();
  const started: number[] = [];
  let waiter: (() => void) | undefined;
  let want = 0;
  const workers = Array.from({ length: WORKERS }, () => {
    const c = spawn(process.execPath, [join(HERE, "fixtures/engine-worker.mjs"), url, schema, String(ENGINE_CONCURRENCY), ...(batching ? [JSON.stringify(engineBatching(ENGINE_CONCURRENCY))] : [])], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    c.on("message", (m: { started?: number[] }) => {
      if (m.started) started.push(...m.started);
      if (waiter && started.length >= want) waiter();
    });
    return c;
  });
  try {
    await Promise.all(workers.map((c) => new Promise<void>((r) => c.on("message", (m: { ready?: boolean }) => m.ready && r()))));
    const until = (n: number) => new Promise<void>((r) => {
      want = n;
      waiter = () => {
        waiter = undefined;
        r();
      };
      if (started.length >= n) waiter();
    });
    const enqueue = async (n: number, key: string) => {
      for (let i = 0; i < n; i += 1_000) {
        const t = now();
        await utils.addJobs(Array.from({ length: Math.min(1_000, n - i) }, (_, k) => ({ identifier: "noop", payload: { t }, jobKey: `${key}/${i + k}`, maxAttempts: 1_000 })));
      }
    };
    // Warm-up: connections, prepared plans.
    progress(`engine${batching ? " (batching)" : ""}: workers ready, warm-up`);
    await enqueue(500, "warm");
    await until(500);
    started.length = 0;
    const t0 = now();
    await enqueue(FANOUT_N, "fan");
    await until(FANOUT_N);
    const elapsedMs = now() - t0;
    const fanoutLatency = started.splice(0);
    progress(`engine${batching ? " (batching)" : ""}: ${FANOUT_N} jobs in ${ms(elapsedMs)}`);
    for (let i = 0; i < SEQUENTIAL_N; i++) {
      await utils.addJob("noop", { t: now(), flush: true }, { jobKey: `seq/${i}`, maxAttempts: 1_000 });
      await until(i + 1);
    }
    return { jobsPerSec: (FANOUT_N / elapsedMs) * 1000, elapsedMs, fanoutLatency, sequentialLatency: started.splice(0) };
  } finally {
    for (const c of workers) if (c.connected) c.send("stop");
    await Promise.all(workers.map(exited));
    await utils.release();
  }
}

// ------------------------------------------------------------------------------------------------ flyte-ts

interface OursResult {
  actionsPerSec: number;
  elapsedMs: number;
  recorded: number;
  fanoutDispatch: number[];
  sequentialDispatch: number[];
  sequentialCall: number[];
}

async function benchOurs(base: string, url: string): Promise<OursResult> {
  const storage = join(base, "blobs");
  const env = { ...process.env, FLYTE_CONFIG: "", FLYTE_BACKEND: "cluster", FLYTE_DATABASE_URL: url, FLYTE_STORAGE_URL: storage, FLYTE_LOG_LEVEL: "error" };
  // BENCH_CLUSTER_CPU_PROF=<dir>: the workers write V8 CPU profiles there (where a worker's time goes).
  const prof = process.env.BENCH_CLUSTER_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CLUSTER_CPU_PROF}`] : [];
  await init({ root: base, backend: "cluster", databaseUrl: url, storage });
  const workers = Array.from({ length: WORKERS }, () => {
    const out: string[] = [];
    const c = spawn(process.execPath, [...prof, join(REPO, "bin/flyte.js"), "worker", join(HERE, "fixtures/cluster-tasks.ts"), "--env", "bench", "--concurrency", String(CONCURRENCY)], {
      cwd: base, env, stdio: ["ignore", "pipe", "pipe"],
    });
    c.stdout!.on("data", (d: Buffer) => void out.push(d.toString()));
    // Each action's end is a line on stderr: read and dropped.
    c.stderr!.on("data", (d: Buffer) => {
      const s = d.toString();
      if (!/^(succeeded|failed) /m.test(s)) process.stderr.write(s);
    });
    return { c, out };
  });
  try {
    const deadline = Date.now() + 120_000;
    while (!workers.every((w) => w.out.join("").includes("executing bench"))) {
      if (Date.now() > deadline || workers.some((w) => w.c.exitCode !== null)) throw new Error(`flyte worker did not start:\n${workers.map((w) => w.out.join("")).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    progress("ours: workers ready, warm-up");
    // Warm-up: code loaded, connections open, plans prepared, on both workers.
    const warm = await withRunContext({ mode: "remote", name: "bench-warm" }).run(fanout, { n: 500 });
    if ((await warm.wait({ timeout: "300s" })) !== "succeeded") throw new Error("the warm-up run did not succeed");

    const t0 = now();
    const r = await withRunContext({ mode: "remote", name: "bench-fanout" }).run(fanout, { n: FANOUT_N });
    const phase = await r.wait({ timeout: "900s" });
    const elapsedMs = now() - t0;
    if (phase !== "succeeded") throw new Error(`the fan-out run ended ${phase}`);
    progress(`ours: fan-out of ${FANOUT_N} in ${ms(elapsedMs)}`);
    const fanoutDispatch = (await r.outputs()) as number[];
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const recorded = Number((await client.query("SELECT count(*) AS n FROM actions WHERE run_name = $1 AND phase = 'succeeded'", ["bench-fanout"])).rows[0].n);
    // Where the time went: when the children were created (the root's submissions), started and ended (workers).
    const spread = (await client.query(`SELECT min(a.created_at) AS c0, max(a.created_at) AS c1, min(t.started_at) AS s0, max(t.started_at) AS s1,
      min(t.ended_at) AS e0, max(t.ended_at) AS e1, max(a.ended_at) AS a1 FROM actions a JOIN attempts t ON t.run_name = a.run_name AND t.action = a.name
      WHERE a.run_name = $1 AND a.parent IS NOT NULL`, ["bench-fanout"])).rows[0] as Record<string, string>;
    const at = (k: string) => `${((Number(spread[k]) - Number(spread.c0)) / 1000).toFixed(2)}s`;
    progress(`ours: children created 0..${at("c1")}, attempts started ${at("s0")}..${at("s1")}, attempts ended ${at("e0")}..${at("e1")}, actions ended ..${at("a1")}`);
    await client.end();

    const s = await withRunContext({ mode: "remote", name: "bench-chain" }).run(chain, { n: SEQUENTIAL_N });
    if ((await s.wait({ timeout: "300s" })) !== "succeeded") throw new Error("the sequential run did not succeed");
    const pairs = (await s.outputs()) as [number, number][];
    progress("ours: sequential calls done");
    return {
      actionsPerSec: (FANOUT_N / elapsedMs) * 1000, elapsedMs, recorded, fanoutDispatch,
      sequentialDispatch: pairs.map((p) => p[0]), sequentialCall: pairs.map((p) => p[1]),
    };
  } finally {
    for (const w of workers) w.c.kill("SIGTERM");
    await Promise.all(workers.map((w) => exited(w.c)));
    await shutdown();
  }
}

// ------------------------------------------------------------------------------------------------ the table

export async function benchCluster(): Promise<BenchRow[]> {
  const base = mkdtempSync(join(tmpdir(), "bench-cluster-"));
  // Under root PostgreSQL runs as the postgres user, who must reach the data dir inside this 0700 directory.
  chmodSync(base, 0o755);
  let server: LocalPostgres | undefined;
  try {
    server = await startLocalPostgres({ dataDir: join(base, "pgdata"), port: 0, password: "bench", ephemeral: true, maxConnections: 300, fsync: process.env.BENCH_CLUSTER_FSYNC !== "off" });
    const url = await server.ensureDatabase("bench");
    const plain = await benchEngine(url, false);
    const engine = await benchEngine(url, true);
    const ours = await benchOurs(base, url);
    const p = (xs: number[], q: number) => ms(percentile(xs, q));
    const engineCost = 1000 / engine.jobsPerSec;
    const ourCost = 1000 / ours.actionsPerSec;
    const seqDispatchP50 = percentile(ours.sequentialDispatch, 50);
    return [
      { name: `engine, defaults: graphile-worker no-op jobs/s, ${fmt(FANOUT_N)} through ${WORKERS} processes (concurrency ${ENGINE_CONCURRENCY} each)`, value: `${fmt(plain.jobsPerSec)} /s (${ms(plain.elapsedMs)}; ${ms(1000 / plain.jobsPerSec)} per job)` },
      { name: `engine, defaults: enqueue→start, ${SEQUENTIAL_N} jobs one at a time, p50 / p99`, value: `${p(plain.sequentialLatency, 50)} / ${p(plain.sequentialLatency, 99)}` },
      { name: `engine, batching as flyte workers run it (local queue ${ENGINE_CONCURRENCY}, batched completions): no-op jobs/s`, value: `${fmt(engine.jobsPerSec)} /s (${ms(engine.elapsedMs)}; ${ms(engineCost)} per job)` },
      { name: "engine, batching: enqueue→start in that backlog, p50 / p99", value: `${p(engine.fanoutLatency, 50)} / ${p(engine.fanoutLatency, 99)}` },
      { name: `engine, batching: enqueue→start, ${SEQUENTIAL_N} jobs one at a time, p50 / p99`, value: `${p(engine.sequentialLatency, 50)} / ${p(engine.sequentialLatency, 99)}` },
      { name: `remote fan-out ${fmt(FANOUT_N)} on ${WORKERS} workers (--concurrency ${CONCURRENCY}): actions/s`, value: `${fmt(ours.actionsPerSec)} /s (${ms(ours.elapsedMs)}; ${ms(ourCost)} per action)`, target: ">= 2,000 /s", ok: ours.actionsPerSec >= 2_000 },
      { name: "remote fan-out: actions recorded succeeded", value: `${fmt(ours.recorded)}`, target: fmt(FANOUT_N + 1), ok: ours.recorded === FANOUT_N + 1 },
      { name: "remote fan-out: call→start in that backlog, p50 / p99", value: `${p(ours.fanoutDispatch, 50)} / ${p(ours.fanoutDispatch, 99)}` },
      { name: `sequential ${SEQUENTIAL_N} child calls: dispatch (call→start) p50`, value: ms(seqDispatchP50), target: "< 10 ms", ok: seqDispatchP50 < 10 },
      { name: "sequential: dispatch p99", value: p(ours.sequentialDispatch, 99) },
      { name: "sequential: per-call latency (call→result) p50 / p99", value: `${p(ours.sequentialCall, 50)} / ${p(ours.sequentialCall, 99)}` },
      { name: "overhead: our per-action cost / the engine's per-job cost, both batching (fan-out)", value: `${fmt(ourCost / engineCost, 2)}x`, target: "<= 2x", ok: ourCost / engineCost <= 2 },
      { name: "overhead: sequential dispatch p50, ours / the engine's", value: `${fmt(seqDispatchP50 / percentile(engine.sequentialLatency, 50), 2)}x` },
      { name: "machine load average (1 min) at the end", value: fmt(loadavg()[0]!, 2) },
    ];
  } finally {
    await server?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchCluster()) console.log(`${r.name}: ${r.value}${r.target ? ` (target ${r.target}: ${r.ok ? "ok" : "MISS"})` : ""}`);
  process.exit(0);
}

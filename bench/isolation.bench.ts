/**
 * Isolation benchmarks (issue #17): how long an attempt takes to start, from `run()` to the first line of the
 * task's body, when it runs
 *   - in-process (the default),
 *   - isolated in a pre-started process (`withRunContext({ isolation: "process" })`, spares ready),
 *   - isolated in a freshly spawned process (`FLYTE_ISOLATION_SPARES=0`).
 * p50 and max over a few runs each; the machine's load is printed by bench/run.ts beside the table. Then
 * throughput of short attempts, all isolated: through a reusable environment's warm pool (one replica,
 * concurrency 8) vs one fresh process per attempt (pre-started spares, CPU slots = the machine's cores).
 *
 * `benchIsolation()` returns rows for `bench/run.ts` (`npm run bench -- isolation`).
 * @module
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { join } from "node:path";
import { init, withRunContext } from "flyte-ts";
import { drainSpares, sparesReady } from "../src/controller/isolation/process-pool.ts";
import { shutdownWarmPools } from "../src/controller/isolation/reuse-pool.ts";
import { fanOut, started } from "./fixtures/isolation-tasks.ts";

export interface BenchRow {
  name: string;
  value: string;
  target?: string;
  ok?: boolean;
}

/** Fewer attempts through fresh processes: each costs a spawn, on a machine that may have two cores. */
const POOL_N = 1_000;
const PROCESS_N = 20;
const LEAK_BATCH = 500;
const LEAK_BATCHES = 6;

const now = () => performance.timeOrigin + performance.now();

async function startLatency(isolated: boolean, reps: number, before: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    await before();
    const t0 = now();
    const r = await withRunContext(isolated ? { isolation: "process" } : {}).run(started);
    out.push((await r.outputs()) - t0);
  }
  return out.sort((a, b) => a - b);
}

const stat = (xs: number[]) => `p50 ${xs[Math.floor(xs.length / 2)]!.toFixed(1)} ms, max ${xs.at(-1)!.toFixed(1)} ms (n=${xs.length})`;

export async function benchIsolation(): Promise<BenchRow[]> {
  await init({ root: mkdtempSync(join(tmpdir(), "flyte-bench-isolation-")) });
  const saved = process.env.FLYTE_ISOLATION_SPARES;
  try {
    await startLatency(false, 3, async () => undefined);
    const inProcess = await startLatency(false, 20, async () => undefined);
    process.env.FLYTE_ISOLATION_SPARES = "2";
    // The first isolated run starts the spares; the measured ones each find a ready one.
    await startLatency(true, 1, async () => undefined);
    const warm = await startLatency(true, 6, sparesReady);
    process.env.FLYTE_ISOLATION_SPARES = "0";
    drainSpares();
    const cold = await startLatency(true, 4, async () => undefined);
    process.env.FLYTE_ISOLATION_SPARES = saved ?? "2";
    const through = async (n: number, pooled: boolean) => {
      const t0 = now();
      const r = await withRunContext({ isolation: "process" }).run(fanOut, { n, pooled });
      await r.outputs();
      const s = (now() - t0) / 1000;
      return `${n} attempts in ${s.toFixed(1)} s (${(n / s).toFixed(1)} attempts/s)`;
    };
    const pool = await through(POOL_N, true);
    const perProcess = await through(PROCESS_N, false);
    // Leak check, scaled down from the 10,000: this process's heap after a full GC (and its RSS, which
    // also moves with V8's and the allocator's retained space) after each batch of pooled attempts.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap: number[] = [];
    const rss: number[] = [];
    for (let b = 0; b < LEAK_BATCHES; b++) {
      await (await withRunContext({ isolation: "process" }).run(fanOut, { n: LEAK_BATCH, pooled: true })).outputs();
      gc();
      heap.push(process.memoryUsage().heapUsed / 2 ** 20);
      rss.push(process.memoryUsage.rss() / 2 ** 20);
    }
    const first = heap[0]!;
    const last = heap.at(-1)!;
    return [
      { name: "attempt start, in-process", value: stat(inProcess) },
      { name: "attempt start, isolated, pre-started process", value: stat(warm) },
      { name: "attempt start, isolated, cold spawn", value: stat(cold) },
      { name: "short attempts, reusable env (1 replica, concurrency 8)", value: pool },
      { name: "short attempts, process per attempt", value: perProcess },
      {
        name: `owner heap after GC over ${LEAK_BATCHES * LEAK_BATCH} pooled attempts`,
        value: `${first.toFixed(1)} MiB after the first ${LEAK_BATCH}, ${last.toFixed(1)} MiB after the last (${(((last - first) / first) * 100).toFixed(1)}%; RSS ${rss[0]!.toFixed(0)} → ${rss.at(-1)!.toFixed(0)} MiB)`,
        target: "within 10%",
        ok: Math.abs(last - first) <= first * 0.1,
      },
    ];
  } finally {
    if (saved === undefined) delete process.env.FLYTE_ISOLATION_SPARES;
    else process.env.FLYTE_ISOLATION_SPARES = saved;
    drainSpares();
    shutdownWarmPools();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchIsolation()) console.log(`${r.name}: ${r.value}`);
  process.exit(0);
}

/**
 * Process isolation on a cluster worker (`flyte worker --isolate`): a real PostgreSQL, one worker process spawned
 * as a user would, remote runs started here. The OOM-and-retry-bigger pattern goes through the queue: the caller
 * runs isolated on the worker, its child call is enqueued, and the override travels with the job.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { init, listWorkers, withRunContext, type Run } from "flyte-ts";
import { TaskTimeoutError } from "flyte-ts/errors";
import { shutdown } from "../src/run/runtime.ts";
import { allocateWithFallback, spin, twoCounters, warmCounter, whoAmI } from "./fixtures/isolation/tasks.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/isolation/tasks.ts");
const server = usePostgres();
let worker: WorkerProcess;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "flyte-iso-worker-"));
  const url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  const config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  worker = spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "iso", "--env", "iso-small", "--env", "iso-warm", "--concurrency", "2", "--isolate"], {
    FLYTE_CONFIG: config, FLYTE_ISOLATION_GRACE_MS: "500",
  });
  await waitFor(() => worker.out.join("").includes("executing iso"), 60_000, "the worker to start");
}, 120_000);

afterAll(async () => {
  await stopProcesses([worker]);
  await shutdown();
}, 60_000);

const remote = () => withRunContext({ mode: "remote" });

async function failure(r: Run): Promise<Error> {
  const e = await r.outputs().then(() => undefined, (err: unknown) => err as Error);
  expect(e, "the run should have failed").toBeInstanceOf(Error);
  return e!;
}

it("runs each attempt in a process of its own: module state is not shared between attempts", async () => {
  const out = await (await remote().run(twoCounters)).outputs();
  // In the worker's own process the second call would see calls === 2.
  expect(out.calls).toEqual([1, 1]);
  expect(new Set([...out.pids, out.parentPid]).size).toBe(3);
  expect(out.pids).not.toContain(worker.child.pid);
}, 60_000);

it("OOMError on the worker is caught by the caller, which retries bigger through the queue", async () => {
  const r = await remote().run(allocateWithFallback, { mb: 200 });
  expect(await r.outputs()).toEqual({ held: 200, retriedBigger: true });
}, 90_000);

it("a CPU-spinning task is killed at its timeout; the worker survives", async () => {
  const r = await remote().run(spin);
  expect(await failure(r)).toBeInstanceOf(TaskTimeoutError);
  expect(worker.child.exitCode).toBeNull();
  expect((await (await remote().run(whoAmI, { x: 5 })).outputs()).x).toBe(10);
}, 60_000);

it("runs a reusable environment on a warm pool; flyte get workers shows its size and use", async () => {
  const a = await (await remote().run(warmCounter, { waitMs: 0 })).outputs();
  const b = await (await remote().run(warmCounter, { waitMs: 0 })).outputs();
  expect(b.pid).toBe(a.pid);
  expect(b.calls).toBe(a.calls + 1);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const pools = (await listWorkers()).flatMap((w) => w.pools ?? []);
    const pool = pools.find((p) => p.env === "iso-warm");
    // A heartbeat taken while the replica was still starting reports it as starting: wait for one that has it.
    if (pool && pool.replicas >= 1) {
      // replicas: [1, 2], concurrency 1; nothing running or waiting now.
      expect(pool.replicas, JSON.stringify(pool)).toBeGreaterThanOrEqual(1);
      expect(pool.replicas, JSON.stringify(pool)).toBeLessThanOrEqual(2);
      expect(pool.capacity, JSON.stringify(pool)).toBe(pool.replicas);
      expect(pool.waiting, JSON.stringify(pool)).toBe(0);
      break;
    }
    if (Date.now() > deadline) throw new Error(`no warm pool of iso-warm reported; workers report ${JSON.stringify(pools)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, 60_000);

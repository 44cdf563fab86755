/**
 * `interruptible` routing and preemption on the cluster backend: a real PostgreSQL, `flyte worker` processes
 * spawned as a user would. An `--interruptible` worker takes only interruptible actions; its SIGTERM, outlived by
 * an attempt past the grace period, fails that attempt with TaskInterruptedError and sends the action back to the
 * queue, where another worker finishes it without the task's (zero) retries being spent.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { init, withRunContext } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { spotSleeper, steady } from "./fixtures/isolation/tasks.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/isolation/tasks.ts");
const server = usePostgres();
let dir: string;
let config: string;
const workers: WorkerProcess[] = [];

function startWorker(...flags: string[]): WorkerProcess {
  const w = spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "iso-spot", "--concurrency", "2", ...flags], {
    FLYTE_CONFIG: config, FLYTE_WORKER_INTERRUPT_GRACE_MS: "300", FLYTE_WORKER_DRAIN_MS: "20000",
  });
  workers.push(w);
  return w;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-iso-spot-"));
  const url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
}, 120_000);

afterAll(async () => {
  await stopProcesses(workers);
  await shutdown();
}, 60_000);

it("an interruptible worker takes only interruptible actions; a preempted attempt is retried elsewhere without spending retries", async () => {
  const spotWorker = startWorker("--interruptible");
  await waitFor(() => spotWorker.out.join("").includes("executing iso-spot"), 60_000, "the interruptible worker to start");
  const remote = () => withRunContext({ mode: "remote" });
  const steadyRun = await remote().run(steady);
  const sleeperRun = await remote().run(spotSleeper, { ms: 4_000 });
  const sleeper = await sleeperRun.action("a0");
  const deadline = Date.now() + 30_000;
  while ((await sleeper.phase()) !== "running") {
    if (Date.now() > deadline) throw new Error("the interruptible worker never started the interruptible action");
    await new Promise((r) => setTimeout(r, 100));
  }
  // The non-interruptible action waits for a worker that is not preemptible.
  expect(await (await steadyRun.action("a0")).phase()).toBe("queued");

  spotWorker.child.kill("SIGTERM");
  await new Promise((r) => (spotWorker.child.exitCode !== null ? r(null) : spotWorker.child.once("exit", r)));
  expect(spotWorker.out.join("")).toContain("interrupted (TaskInterruptedError), back to the queue");

  const regular = startWorker();
  await waitFor(() => regular.out.join("").includes("executing iso-spot"), 60_000, "the regular worker to start");
  expect((await steadyRun.outputs()).pid).toBe(regular.child.pid);
  await sleeperRun.outputs();
  const details = await sleeper.details();
  expect(details.phase).toBe("succeeded");
  expect(details.attempts.map((a) => a.error?.code ?? a.phase)).toEqual(["TaskInterruptedError", "succeeded"]);
}, 150_000);

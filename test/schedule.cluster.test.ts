/**
 * `flyte serve` on the cluster backend (a real PostgreSQL), twice at once as two installations' schedulers would
 * be: a deployed FixedRate trigger (one minute made 2 s through the test-only FLYTE_TEST_MINUTE_MS) fires each
 * time exactly once across both, each fire queues a remote run, and the worker that the first `flyte serve` starts
 * for the deployed environment executes it (the second runs with --no-workers).
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { decodeStoredValue } from "../src/run/stored-value.ts";
import { openPostgresStore } from "../src/store/postgres/postgres-store.ts";
import { flyteIn } from "./helpers/cli.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { REPO, waitFor } from "./helpers/runtime.ts";
import { spawnFlyteProcess, stopProcesses } from "./helpers/worker-processes.ts";

const server = usePostgres();
const P = { project: "default", domain: "development" };
const MINUTE_MS = 2000;

const ENVS = `import { FixedRate, TaskEnvironment, Trigger, TriggerTime } from "flyte-ts";
const env = new TaskEnvironment({ name: "sched" });
export const stamp = env.task({
  triggers: new Trigger({ name: "every-minute", automation: new FixedRate({ intervalMinutes: 1 }), inputs: { at: TriggerTime, n: 7 } }),
}, async function stamp({ at, n }: { at: Date; n: number }) {
  return \`\${at.toISOString()} x\${n}\`;
});
`;

it("two flyte serve on one PostgreSQL fire each time once and queue remote runs; the worker of the one without --no-workers runs them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flyte-serve-cluster-"));
  writeFileSync(join(dir, "package.json"), '{"type":"module"}');
  writeFileSync(join(dir, "envs.ts"), ENVS);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
  const url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  const config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  const dep = await flyteIn(dir, ["deploy", "envs.ts"], { env: { FLYTE_CONFIG: config } });
  expect(dep.stderr).toBe("");
  expect(dep.code).toBe(0);

  const env = { FLYTE_CONFIG: config, FLYTE_TEST_MINUTE_MS: String(MINUTE_MS), FLYTE_WORKER_DRAIN_MS: "3000" };
  // The second schedules only: the first one's worker runs every fire's run.
  const serves = [spawnFlyteProcess(dir, ["serve"], env), spawnFlyteProcess(dir, ["serve", "--no-workers"], env)];
  const store = await openPostgresStore(url);
  try {
    await waitFor(() => serves.every((s) => s.out.join("").includes("Stop with Ctrl-C")), 60_000, "both flyte serve to start");
    let done = 0;
    for (const end = Date.now() + 60_000; done < 4 && Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
      done = (await store.listRuns(P, { phase: "succeeded" })).length;
    }
    expect(done).toBeGreaterThanOrEqual(4);
  } finally {
    await stopProcesses(serves);
  }
  expect(serves.map((s) => s.child.exitCode)).toEqual([0, 0]);
  const outs = serves.map((s) => s.out.join(""));
  for (const out of outs) {
    expect(out).toMatch(/Serving 1 trigger in default\/development \(postgres:\/\/.*\), queueing runs for workers:\n {2}sched\.stamp\/every-minute {2}every 1 min {2}next /);
  }
  expect(outs[0]).toMatch(/Worker \S+ executing sched \(concurrency 1\)\.\n/);
  expect(outs[1]).not.toContain("Worker");

  const fires = (await store.listFires(P)).filter((f) => f.state === "created").reverse();
  expect(fires.length).toBeGreaterThanOrEqual(4);
  // Each fire time once, each logged by exactly one of the two schedulers.
  expect(new Set(fires.map((f) => f.fireTime)).size).toBe(fires.length);
  for (const f of fires) {
    const line = `fired for ${new Date(f.fireTime).toISOString()}: run ${f.runName}\n`;
    expect(outs.filter((o) => o.includes(line))).toHaveLength(1);
    const run = (await store.getRun({ ...P, name: f.runName }))!;
    expect(run.mode).toBe("remote");
    if (run.phase === "succeeded") expect(await decodeStoredValue(run.outputs!)).toBe(`${new Date(f.fireTime).toISOString()} x7`);
  }
  expect((await store.listRuns(P, { limit: 100 })).length).toBe(fires.length);
  await store.close();
}, 150_000);

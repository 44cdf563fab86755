/**
 * `flyte serve` with the real clock, as a user runs it: deploy a task with a FixedRate trigger of one minute
 * (made 1.5 s long through the test-only FLYTE_TEST_MINUTE_MS), serve, and look at the runs it created; `flyte
 * serve` with nothing deployed says so and keeps serving; both stop cleanly on SIGTERM/SIGINT.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getRun, init } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { decodeStoredValue } from "../src/run/stored-value.ts";
import { flyteIn } from "./helpers/cli.ts";
import { REPO, flyteAsync, waitFor } from "./helpers/runtime.ts";

const P = { project: "default", domain: "development" };
const MINUTE_MS = 1500;

const ENVS = `import { FixedRate, TaskEnvironment, Trigger, TriggerTime } from "flyte-ts";
const env = new TaskEnvironment({ name: "sched" });
export const stamp = env.task({
  triggers: new Trigger({
    name: "every-minute", automation: new FixedRate({ intervalMinutes: 1 }), inputs: { at: TriggerTime, n: 7 },
    envVars: { GREETING: "hi" }, labels: { team: "ops" }, overwriteCache: true, maxActionConcurrency: 4,
  }),
}, async function stamp({ at, n }: { at: Date; n: number }) {
  return \`\${at.toISOString()} x\${n}\`;
});
`;

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "flyte-serve-"));
  for (const [rel, text] of Object.entries({ "package.json": '{"type":"module"}', ...files })) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
  return dir;
}

function serve(dir: string, env: Record<string, string> = {}): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = flyteAsync(dir, ["serve"], env);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += String(d)));
  child.stderr!.on("data", (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  return { child, out: () => out, err: () => err, exited };
}

describe("flyte serve", () => {
  it("fires a deployed FixedRate trigger with the real clock: runs named after the trigger, TriggerTime bound to the fire time, the trigger's run settings", async () => {
    const dir = project({ "envs.ts": ENVS });
    const dep = await flyteIn(dir, ["deploy", "envs.ts"]);
    expect(dep.code).toBe(0);
    const s = serve(dir, { FLYTE_TEST_MINUTE_MS: String(MINUTE_MS) });
    const store = new SqliteStore(join(dir, ".flyte", "flyte.db"));
    try {
      await waitFor(() => /Serving 1 trigger/.test(s.out()), 30_000, "flyte serve to start");
      let done = 0;
      for (const end = Date.now() + 40_000; done < 3 && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
        done = (await store.listRuns(P, { phase: "succeeded" })).length;
      }
      expect(done).toBeGreaterThanOrEqual(3);
      s.child.kill("SIGTERM");
      expect(await s.exited).toBe(0);
    } finally {
      s.child.kill("SIGKILL");
    }
    expect(s.out()).toMatch(/^Serving 1 trigger in default\/development \(.*flyte\.db\), running them in this process:\n {2}sched\.stamp\/every-minute {2}every 1 min {2}next \d{4}-\d\d-\d\dT[\d:.]+Z\n/);
    expect(s.err()).toContain("SIGTERM: stopping the scheduler");

    const [trigger] = await store.listTriggers(P);
    const fires = (await store.listFires(P)).filter((f) => f.state === "created").reverse();
    expect(fires.length).toBeGreaterThanOrEqual(3);
    for (const [i, f] of fires.entries()) {
      // Every interval after activation, never twice, one after the other.
      expect((f.fireTime - trigger!.activatedAt!) % MINUTE_MS).toBe(0);
      if (i > 0) expect(f.fireTime).toBeGreaterThan(fires[i - 1]!.fireTime);
      expect(f.runName).toMatch(/^every-minute-\d{12}(-\d+)?$/);
      expect(f.runName.slice(0, 25)).toBe(`every-minute-${new Date(f.fireTime).toISOString().replace(/\D/g, "").slice(0, 12)}`);
      expect(s.out()).toContain(`Trigger "every-minute" on sched.stamp fired for ${new Date(f.fireTime).toISOString()}: run ${f.runName}\n`);
      const run = (await store.getRun({ ...P, name: f.runName }))!;
      expect(run.taskName).toBe("sched.stamp");
      expect(run.labels).toEqual({ team: "ops" });
      expect(run.options).toMatchObject({ envVars: { GREETING: "hi" }, overwriteCache: true, trigger: { name: "every-minute", task: "sched.stamp", fireTime: new Date(f.fireTime).toISOString() } });
      if (run.phase === "succeeded") {
        // TriggerTime is the scheduled time, not when the run started.
        expect(await decodeStoredValue(run.outputs!)).toBe(`${new Date(f.fireTime).toISOString()} x7`);
        expect(run.createdAt).toBeGreaterThanOrEqual(f.fireTime);
      }
    }
    // No other runs than the fires' (and each fire's run once).
    expect((await store.listRuns(P, { limit: 100 })).map((r) => r.name).sort()).toEqual(fires.map((f) => f.runName).sort());

    // The runs show their trigger (flyte get runs, details()), and flyte get triggers the last fire and its run.
    const last = fires.at(-1)!;
    const runs = (await flyteIn(dir, ["get", "runs"])).stdout.split("\n");
    expect(runs[0]).toMatch(/^NAME +TASK +PHASE +CREATED +DURATION +TRIGGER$/);
    expect(runs[1]).toMatch(new RegExp(`^${last.runName} +sched\\.stamp +succeeded +\\S+ +\\S+ +every-minute$`));
    await init({ root: dir });
    const d = await (await getRun(last.runName)).details();
    expect(d.trigger).toEqual({ name: "every-minute", task: "sched.stamp", fireTime: new Date(last.fireTime) });
    expect((await flyteIn(dir, ["get", "run", last.runName])).stdout.split("\n")[0]).toContain(`  trigger every-minute (fire time ${new Date(last.fireTime).toISOString()})`);
    const [t] = JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "triggers"])).stdout) as { lastFire: string; lastRun: string; lastPhase: string; nextFire: string }[];
    expect(t).toMatchObject({ lastFire: new Date(last.fireTime).toISOString(), lastRun: last.runName, lastPhase: "succeeded" });
    expect(Date.parse(t!.nextFire)).toBeGreaterThan(last.fireTime);
    await store.close();
    await shutdown();
  }, 90_000);

  it("with nothing deployed says so, keeps serving, picks up a trigger deployed meanwhile, and stops on SIGINT", async () => {
    const dir = project({});
    const s = serve(dir, { FLYTE_TEST_MINUTE_MS: String(MINUTE_MS) });
    try {
      await waitFor(() => /Stop with Ctrl-C/.test(s.out()), 30_000, "flyte serve to start");
      expect(s.out()).toMatch(/^No active triggers deployed in default\/development \(.*flyte\.db\): nothing to fire yet\. Triggers deployed or activated later are picked up while this runs \(flyte deploy <file\.ts>, flyte update trigger <task> <name> --activate\)\.\nStop with Ctrl-C\.\n$/);
      writeFileSync(join(dir, "envs.ts"), ENVS);
      expect((await flyteIn(dir, ["deploy", "envs.ts"])).code).toBe(0);
      await waitFor(() => /Trigger "every-minute" on sched\.stamp fired for /.test(s.out()), 20_000, "the trigger deployed meanwhile to fire");
      expect(s.child.exitCode).toBeNull();
      s.child.kill("SIGINT");
      expect(await s.exited).toBe(0);
    } finally {
      s.child.kill("SIGKILL");
    }
    expect(s.err()).toContain("SIGINT: stopping the scheduler; runs it started here finish first (again to exit at once).\n");
  }, 60_000);
});

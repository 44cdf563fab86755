/**
 * Managing deployed triggers from the command line (embedded backend): `flyte get triggers`, `flyte update trigger
 * --activate/--deactivate` (kept across redeploys), `flyte delete trigger`, a trigger removed from the code, and
 * the errors for unknown task and trigger names (closest names suggested).
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flyteIn } from "./helpers/cli.ts";
import { REPO, flyte } from "./helpers/runtime.ts";

const code = (triggers: string, extra = "") => `import { Cron, TaskEnvironment, Trigger } from "flyte-ts";
const env = new TaskEnvironment({ name: "sched" });
export const stamp = env.task({ triggers: [${triggers}] }, async function stamp({ at, n = 1 }: { at: Date; n?: number }) {
  return \`\${at.toISOString()} \${n}${extra}\`;
});
`;
const HOURLY = 'Trigger.hourly("at")';
const NIGHTLY = 'new Trigger({ name: "nightly", automation: new Cron({ expression: "30 2 * * *", timezone: "Europe/Berlin" }), inputs: { at: new Date(0) }, autoActivate: false })';

function project(envs: string): string {
  const dir = mkdtempSync(join(tmpdir(), "flyte-triggers-"));
  writeFileSync(join(dir, "package.json"), '{"type":"module"}');
  writeFileSync(join(dir, "envs.ts"), envs);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
  return dir;
}

interface TriggerJson { name: string; task: string; schedule: string; timezone: string; active: boolean; version: string; lastFire: string; nextFire: string; lastRun: string; lastPhase: string }
const triggersJson = async (dir: string, ...args: string[]) => JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "triggers", ...args])).stdout) as TriggerJson[];

describe("flyte get/update/delete trigger", () => {
  it("lists deployed triggers, toggles them (kept across redeploys), deletes them, and drops one removed from the code", async () => {
    const dir = project(code(`${HOURLY}, ${NIGHTLY}`));
    expect((await flyteIn(dir, ["get", "triggers"])).stdout).toBe(
      "No triggers deployed yet. Attach some to a task (env.task({ triggers: Trigger.hourly() }, ...)) and deploy it with: flyte deploy <file.ts>\n",
    );
    expect((await flyteIn(dir, ["deploy", "envs.ts"])).code).toBe(0);
    const before = Date.now();
    const table = (await flyteIn(dir, ["get", "triggers"])).stdout.split("\n");
    expect(table[0]).toMatch(/^NAME +TASK +SCHEDULE +TZ +ACTIVE +LAST FIRE +NEXT FIRE +LAST RUN +PHASE$/);
    expect(table[1]).toMatch(/^hourly +sched\.stamp +cron "0 \* \* \* \*" +UTC +yes +- +\d{4}-\d\d-\d\dT\d\d:00:00\.000Z +- +-$/);
    expect(table[2]).toMatch(/^nightly +sched\.stamp +cron "30 2 \* \* \*" +Europe\/Berlin +no +- +- +- +-$/);
    const [hourly] = await triggersJson(dir, "sched.stamp");
    // The next full hour.
    expect(Date.parse(hourly!.nextFire)).toBe(Math.floor(before / 3_600_000) * 3_600_000 + 3_600_000);

    // Toggled by hand.
    const on = await flyteIn(dir, ["update", "trigger", "sched.stamp", "nightly", "--activate"]);
    expect(on.stderr).toBe("");
    expect(on.stdout).toMatch(/^Trigger sched\.stamp\/nightly is active: next fire \d{4}-\d\d-\d\dT0[01]:30:00\.000Z \(fired by flyte serve\)\.\n$/);
    const off = await flyteIn(dir, ["update", "trigger", "sched.stamp", "hourly", "--deactivate"]);
    expect(off.stdout).toBe("Trigger sched.stamp/hourly is inactive: flyte serve does not fire it until it is activated again.\n");

    // A redeploy of changed code (a new version) keeps what was toggled, whatever autoActivate says. (Changed code
    // is deployed by a new process: this one has the first version of envs.ts loaded.)
    writeFileSync(join(dir, "envs.ts"), code(`${HOURLY}, ${NIGHTLY}`, " v2"));
    expect(flyte(dir, ["deploy", "envs.ts"]).code).toBe(0);
    const after = await triggersJson(dir);
    expect(after.map((t) => [t.name, t.active])).toEqual([["hourly", false], ["nightly", true]]);
    expect(after[0]!.version).not.toBe(hourly!.version);

    // Removed from the code: removed on the next deploy.
    writeFileSync(join(dir, "envs.ts"), code(NIGHTLY, " v3"));
    expect(flyte(dir, ["deploy", "envs.ts"]).code).toBe(0);
    expect((await triggersJson(dir)).map((t) => [t.name, t.active])).toEqual([["nightly", true]]);

    const del = await flyteIn(dir, ["delete", "trigger", "sched.stamp", "nightly"]);
    expect(del.stdout).toBe("Trigger sched.stamp/nightly deleted. Its past runs stay; deploying the task with it registers it again.\n");
    expect(await triggersJson(dir)).toEqual([]);
  }, 60_000);

  it("names the closest task or trigger when one is unknown, and wants exactly one of --activate and --deactivate", async () => {
    const dir = project(code(`${HOURLY}, ${NIGHTLY}`));
    expect((await flyteIn(dir, ["deploy", "envs.ts"])).code).toBe(0);
    const trigger = await flyteIn(dir, ["update", "trigger", "sched.stamp", "hourli", "--activate"]);
    expect(trigger.code).toBe(1);
    expect(trigger.stderr).toBe('ValidationError: Task "sched.stamp" has no trigger "hourli". Did you mean "hourly"? Its triggers: hourly, nightly.\n');
    const task = await flyteIn(dir, ["delete", "trigger", "sched.stmap", "hourly"]);
    expect(task.code).toBe(1);
    expect(task.stderr).toBe('ValidationError: No trigger is deployed on task "sched.stmap" in default/development. Did you mean "sched.stamp"? Tasks with triggers: sched.stamp.\n');
    const get = await flyteIn(dir, ["get", "triggers", "stamp"]);
    expect(get.code).toBe(1);
    expect(get.stderr).toBe('ValidationError: No trigger is deployed on task "stamp". Tasks with triggers: sched.stamp.\n');
    const both = await flyteIn(dir, ["update", "trigger", "sched.stamp", "hourly"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("error: Pass exactly one of --activate and --deactivate.\n");
    // Nothing changed.
    expect((await triggersJson(dir)).map((t) => [t.name, t.active])).toEqual([["hourly", true], ["nightly", false]]);
  }, 60_000);
});

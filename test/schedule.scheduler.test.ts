/**
 * The trigger scheduler of `flyte serve` with a fake clock, on the embedded SQLite store and on PostgreSQL: a day
 * of hourly fires, Europe/Berlin's daylight-saving days, a restart mid-day (no duplicate, no back-fill, one line
 * saying what was skipped), two schedulers racing, a scheduler that died between recording a fire and creating
 * its run, FixedRate, deactivated triggers and runs that cannot be created.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Cron, FixedRate, Trigger } from "flyte-ts";
import { triggerSpec } from "../src/deploy/task-spec.ts";
import { Scheduler, fireRunName, type Clock, type Launch } from "../src/schedule/scheduler.ts";
import { openPostgresStore } from "../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { runRow } from "../src/store/store.conformance-rows.ts";
import type { FireRow, RunStore } from "../src/store/store.ts";
import { usePostgres } from "./helpers/postgres.ts";

const P = { project: "p", domain: "d" };
const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse("2026-01-01T00:00:00Z");

class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

/** Registers `triggers` on task `env.a` as `flyte deploy` does (through the store port), activated at `at`. */
async function deployTriggers(store: RunStore, at: number, ...triggers: Trigger[]): Promise<void> {
  const version = `v${at}`;
  await store.putDeployment(
    { ...P, version, contentHash: version, bundleUri: null, bundleDigest: null, copyStyle: "none", environments: [{ name: "env", image: "i", tasks: ["env.a"] }], createdAt: at },
    [{ ...P, name: "env.a", version, environment: "env", spec: {}, createdAt: at, deployedAt: at }],
    triggers.map((t) => ({ ...P, taskName: "env.a", name: t.name, version, spec: triggerSpec(t), active: t.autoActivate, activatedAt: t.autoActivate ? at : null, createdAt: at })),
  );
}

/** A launch that records a run row named as the fire says (what the real one does through the controller). */
function recordingLaunch(store: RunStore, launched: FireRow[] = []): Launch & { launched: FireRow[] } {
  const launch = async (f: FireRow) => {
    launched.push(f);
    await store.createRun(runRow(f.runName, { taskName: f.taskName, phase: "queued" }));
  };
  return Object.assign(launch, { launched });
}

function scheduler(store: RunStore, clock: Clock, lines: string[] = [], launch: Launch = recordingLaunch(store)): Scheduler {
  return new Scheduler({ store, scope: P, clock, launch, log: (l) => lines.push(l), graceMs: 15 * MIN, claimTtlMs: MIN });
}

/** Ticks every `step` from the clock's time until `end` (exclusive). */
async function runUntil(clock: FakeClock, end: number, step: number, ...schedulers: Scheduler[]): Promise<void> {
  for (; clock.t < end; clock.t += step) await Promise.all(schedulers.map((s) => s.tick()));
}

const utc = (t: number) => new Date(t).toISOString().slice(0, 16);
const fireTimes = async (store: RunStore) => (await store.listFires(P)).map((f) => f.fireTime).sort((a, b) => a - b);

function cases(name: string, open: () => Promise<{ store: RunStore; reopen: () => Promise<RunStore> }>): void {
  describe(`scheduler on ${name}`, () => {
    it("fires an hourly trigger 24 times in a day, once per hour, runs named <trigger>-<yyyyMMddHHmm>", async () => {
      const { store } = await open();
      await deployTriggers(store, T0 - MIN, Trigger.hourly("at"));
      const clock = new FakeClock(T0);
      const launch = recordingLaunch(store);
      const lines: string[] = [];
      const s = scheduler(store, clock, lines, launch);
      await runUntil(clock, T0 + 24 * HOUR, 10 * MIN, s);
      expect(launch.launched.map((f) => f.runName)).toEqual(Array.from({ length: 24 }, (_, h) => `hourly-20260101${String(h).padStart(2, "0")}00`));
      expect(launch.launched.map((f) => f.fireTime)).toEqual(Array.from({ length: 24 }, (_, h) => T0 + h * HOUR));
      const fires = await store.listFires(P);
      expect(fires.every((f) => f.state === "created" && f.version === `v${T0 - MIN}`)).toBe(true);
      expect((await store.listRuns(P, { limit: 100 })).length).toBe(24);
      expect(lines.filter((l) => l.includes("missed"))).toEqual([]);
      expect(s.nextFireTime()).toBe(T0 + 24 * HOUR);
      await store.close();
    });

    it("follows Europe/Berlin across both daylight-saving changes (croner's fire times)", async () => {
      const { store } = await open();
      const berlin = (expression: string, n: string) => new Trigger({ name: n, automation: new Cron({ expression, timezone: "Europe/Berlin" }) });
      // The local days of 29 March 2026 (23 hours) and 25 October 2026 (25 hours).
      for (const [start, end, hours, daily] of [
        ["2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23, "2026-03-29T01:00"], // 02:30 does not exist: croner fires at 03:00 CEST
        ["2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 25, "2026-10-25T00:30"], // 02:30 happens twice: fired once, at 02:30 CEST
      ] as const) {
        const from = Date.parse(start);
        await deployTriggers(store, from - MIN, berlin("0 * * * *", `hourly-${hours}`), berlin("30 2 * * *", `daily-${hours}`));
        const clock = new FakeClock(from);
        const launch = recordingLaunch(store);
        await runUntil(clock, Date.parse(end), 5 * MIN, scheduler(store, clock, [], launch));
        const hourly = launch.launched.filter((f) => f.triggerName.startsWith("hourly")).map((f) => f.fireTime);
        expect(hourly).toHaveLength(hours);
        // Every hour of the day once, however long the local day is.
        expect(hourly.every((t, i) => t === from + i * HOUR)).toBe(true);
        expect(launch.launched.filter((f) => f.triggerName.startsWith("daily")).map((f) => utc(f.fireTime))).toEqual([daily]);
      }
      await store.close();
    });

    it("restarts mid-day without duplicating a fire or back-filling the ones it missed, and says how many it skipped", async () => {
      const { store, reopen } = await open();
      await deployTriggers(store, T0 - MIN, Trigger.hourly());
      const clock = new FakeClock(T0);
      const first = recordingLaunch(store);
      await runUntil(clock, T0 + 10 * HOUR + 30 * MIN, 10 * MIN, scheduler(store, clock, [], first));
      expect(first.launched).toHaveLength(11); // 00:00 ... 10:00
      await store.close();

      // Back 15 minutes later (another process, say): nothing was missed, nothing repeats.
      const again = await reopen();
      const soon: string[] = [];
      const second = recordingLaunch(again);
      clock.t = T0 + 10 * HOUR + 45 * MIN;
      await runUntil(clock, T0 + 11 * HOUR + 30 * MIN, 10 * MIN, scheduler(again, clock, soon, second));
      expect(second.launched.map((f) => utc(f.fireTime))).toEqual(["2026-01-01T11:00"]);
      expect(soon.filter((l) => l.includes("missed"))).toEqual([]);

      // Down from 11:30 to 14:30: 12:00, 13:00 and 14:00 are skipped, with one line; then hourly again.
      const lines: string[] = [];
      const third = recordingLaunch(again);
      clock.t = T0 + 14 * HOUR + 30 * MIN;
      await runUntil(clock, T0 + 24 * HOUR, 10 * MIN, scheduler(again, clock, lines, third));
      expect(lines.filter((l) => l.includes("missed"))).toEqual([
        'Trigger "hourly" on env.a: 3 fires missed while no scheduler ran (2026-01-01T12:00:00.000Z to 2026-01-01T14:00:00.000Z), not back-filled.',
      ]);
      expect(third.launched.map((f) => utc(f.fireTime).slice(11))).toEqual(["15:00", "16:00", "17:00", "18:00", "19:00", "20:00", "21:00", "22:00", "23:00"]);
      const times = await fireTimes(again);
      expect(times).toHaveLength(21);
      expect(new Set(times).size).toBe(21);
      expect((await again.listRuns(P, { limit: 100 })).length).toBe(21);
      await again.close();
    });

    it("fires each trigger time once when two schedulers race for a day", async () => {
      const { store, reopen } = await open();
      const other = await reopen();
      await deployTriggers(store, T0 - MIN, Trigger.hourly(), new Trigger({ name: "quarter", automation: new Cron("*/15 * * * *") }));
      const clock = new FakeClock(T0);
      const a = recordingLaunch(store);
      const b = recordingLaunch(other);
      await runUntil(clock, T0 + 24 * HOUR, 5 * MIN, scheduler(store, clock, [], a), scheduler(other, clock, [], b));
      const all = [...a.launched, ...b.launched];
      expect(all).toHaveLength(24 + 96);
      expect(new Set(all.map((f) => f.runName)).size).toBe(24 + 96);
      // Both took part (neither starves the other on every tick).
      expect(a.launched.length).toBeGreaterThan(0);
      expect(b.launched.length).toBeGreaterThan(0);
      expect((await store.listRuns(P, { limit: 1000 })).length).toBe(120);
      await other.close();
      await store.close();
    });

    it("takes over a fire whose scheduler died after recording it: creates its run once, or only marks it when the run exists", async () => {
      const { store } = await open();
      await deployTriggers(store, T0 - 2 * HOUR, Trigger.hourly());
      const dead = (fireTime: number, runName: string) =>
        store.recordFire({ ...P, taskName: "env.a", triggerName: "hourly", fireTime, version: `v${T0 - 2 * HOUR}`, claimedBy: "dead:1", claimExpiresAt: T0 + MIN, recordedAt: T0 }, [runName]);
      // Died before creating the 23:00 run; and after creating the 00:00 run, before marking its fire.
      await dead(T0 - HOUR, "hourly-202512312300");
      await dead(T0, "hourly-202601010000");
      await store.createRun(runRow("hourly-202601010000", { taskName: "env.a", phase: "queued" }));

      const clock = new FakeClock(T0 + 30_000);
      const launch = recordingLaunch(store);
      const s = scheduler(store, clock, [], launch);
      // The claim is still live: left alone.
      expect((await s.tick()).fired).toEqual([]);
      clock.t = T0 + MIN + 1;
      const { fired } = await s.tick();
      expect(fired.map((f) => f.runName)).toEqual(["hourly-202512312300", "hourly-202601010000"]);
      expect(launch.launched.map((f) => f.runName)).toEqual(["hourly-202512312300"]);
      expect((await store.listFires(P)).map((f) => [f.runName, f.state, f.claimedBy])).toEqual([
        ["hourly-202601010000", "created", null], ["hourly-202512312300", "created", null],
      ]);
      expect((await s.tick()).fired).toEqual([]);
      await store.close();
    });

    it("fires a FixedRate one interval after activation, or from its startTime; skips inactive triggers; records a run it could not create", async () => {
      const { store } = await open();
      await deployTriggers(
        store, T0,
        new Trigger({ name: "every-90", automation: new FixedRate({ intervalMinutes: 90 }) }),
        new Trigger({ name: "from-start", automation: new FixedRate({ intervalMinutes: 120, startTime: new Date(T0 + 30 * MIN) }) }),
        new Trigger({ name: "off", automation: new Cron("* * * * *"), autoActivate: false }),
      );
      const clock = new FakeClock(T0);
      const lines: string[] = [];
      const launched: FireRow[] = [];
      const launch: Launch = async (f) => {
        launched.push(f);
        if (f.triggerName === "every-90" && f.fireTime === T0 + 270 * MIN) throw new Error("the task is gone");
        await store.createRun(runRow(f.runName, { taskName: f.taskName, phase: "queued" }));
      };
      await runUntil(clock, T0 + 5 * HOUR, 5 * MIN, scheduler(store, clock, lines, launch));
      const got = launched.map((f) => `${f.triggerName} ${utc(f.fireTime).slice(11)}`).sort();
      expect(got).toEqual(["every-90 01:30", "every-90 03:00", "every-90 04:30", "from-start 00:30", "from-start 02:30", "from-start 04:30"]);
      const failed = (await store.listFires(P)).filter((f) => f.state === "failed");
      expect(failed.map((f) => [f.runName, f.error])).toEqual([["every-90-202601010430", "the task is gone"]]);
      expect(lines).toContain('Trigger "every-90" on env.a: the run every-90-202601010430 for 2026-01-01T04:30:00.000Z could not be created: the task is gone');

      // Activated by hand at 05:07 and first seen at 05:10:20: a minutely trigger fires from then on, once per pass,
      // without catching up on 05:08 and 05:09.
      await store.setTriggerActive(P, "env.a", "off", true, T0 + 5 * HOUR + 7 * MIN);
      clock.t = T0 + 5 * HOUR + 10 * MIN + 20_000;
      const before = launched.length;
      const s = scheduler(store, clock, lines, launch);
      await s.tick();
      clock.t += MIN;
      await s.tick();
      expect(launched.slice(before).map((f) => utc(f.fireTime).slice(11))).toEqual(["05:10", "05:11"]);
      expect(lines.at(-3)).toBe('Trigger "off" on env.a: 2 fires missed while no scheduler ran (2026-01-01T05:08:00.000Z to 2026-01-01T05:09:00.000Z), not back-filled.');
      await store.close();
    });
  });
}

describe("fire run names", () => {
  it("are <trigger>-<yyyyMMddHHmm> in UTC, the trigger's name made a valid run name", () => {
    expect(fireRunName("hourly", Date.parse("2026-03-29T01:00:59.999Z"))).toBe("hourly-202603290100");
    expect(fireRunName("Nightly Report_EU", Date.parse("2026-12-31T23:59:00Z"))).toBe("nightly-report-eu-202612312359");
    expect(fireRunName("--", T0)).toBe("trigger-202601010000");
    const long = fireRunName("x".repeat(80), T0);
    expect(long).toBe(`${"x".repeat(47)}-202601010000`);
    // Room for a "-99" collision suffix within the 63 characters of a run name.
    expect(`${long}-99`.length).toBeLessThanOrEqual(63);
  });
});

cases("SQLite", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "flyte-sched-")), "flyte.db");
  return { store: new SqliteStore(file), reopen: async () => new SqliteStore(file) };
});

const server = usePostgres();
cases("PostgreSQL", async () => {
  process.env.PGPASSWORD = server().password;
  const url = await server().createDatabase();
  return { store: await openPostgresStore(url), reopen: () => openPostgresStore(url) };
});

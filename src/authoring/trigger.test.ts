import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { Cron, FixedRate, Trigger, TriggerTime, validateTriggerInputs } from "./trigger.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};
const hourly = () => new Cron("0 * * * *");

describe("Cron", () => {
  it("accepts a bare expression with UTC as the default time zone", () => {
    const c = new Cron("0 * * * *");
    expect([c.expression, c.timezone, c.timezoneExpression]).toEqual(["0 * * * *", "UTC", "CRON_TZ=UTC 0 * * * *"]);
    expect(Object.isFrozen(c)).toBe(true);
  });
  it("accepts an options object with a time zone and normalises spacing", () => {
    const c = Cron({ expression: "  0  2 * *   1-5 ", timezone: "Europe/Paris" });
    expect(c).toBeInstanceOf(Cron);
    expect(c.expression).toBe("0 2 * * 1-5");
    expect(c.timezoneExpression).toBe("CRON_TZ=Europe/Paris 0 2 * * 1-5");
  });
  it.each(["*/15 * * * *", "0,30 8-18 * * *", "0 0 1,15 * *", "5 4 * * 7", "0 0 * JAN,jul mon-fri", "0-30/10 */2 1-31 1-12 0-6", "59 23 31 12 6"])(
    "accepts %s",
    (e) => expect(new Cron(e).expression).toBe(e),
  );
  it("rejects the wrong number of fields", () => bad(() => new Cron("* * * *"), /Cron: expression "\* \* \* \*" has 4 fields, expected 5/));
  it("rejects six fields (no seconds)", () => bad(() => new Cron("0 0 * * * *"), /has 6 fields, expected 5/));
  it("rejects an empty expression", () => bad(() => new Cron(""), /Cron: expression "" has 0 fields, expected 5/));
  it.each([
    ["60 * * * *", /minute value "60" is outside 0-59/],
    ["* 24 * * *", /hour value "24" is outside 0-23/],
    ["* * 0 * *", /day of month value "0" is outside 1-31/],
    ["* * * 13 *", /month value "13" is outside 1-12/],
    ["* * * * 8", /day of week value "8" is outside 0-7/],
    ["*/0 * * * *", /minute step in "\*\/0" must be >= 1/],
    ["5/10 * * * *", /minute step "5\/10" needs a range or \*/],
    ["30-10 * * * *", /minute range "30-10" runs backwards/],
    ["1,,2 * * * *", /minute field "1,,2" has an unsupported form ""/],
    ["L * * * *", /minute value "L" is outside 0-59/],
    ["@hourly * * * *", /minute value "@hourly" is outside/],
  ])("rejects %s", (e, re) => bad(() => new Cron(e), re));
  it("rejects an unknown time zone", () => bad(() => new Cron({ expression: "0 * * * *", timezone: "Mars/Olympus" }), /Cron: timezone "Mars\/Olympus" is not a known IANA time zone/));
  it("rejects a non-string expression", () => bad(() => new Cron({} as never), /Cron: expression must be a string, got undefined/));
  it("rejects unknown options", () => bad(() => new Cron({ expression: "* * * * *", tz: "UTC" } as never), /Unknown option "tz" for Cron/));
});

describe("FixedRate", () => {
  it("keeps intervalMinutes and copies startTime", () => {
    const start = new Date("2025-01-01T00:00:00Z");
    const f = FixedRate({ intervalMinutes: 5, startTime: start });
    expect(f).toBeInstanceOf(FixedRate);
    expect(f.intervalMinutes).toBe(5);
    start.setFullYear(2030);
    expect(f.startTime!.toISOString()).toBe("2025-01-01T00:00:00.000Z");
    expect(new FixedRate({ intervalMinutes: 1 }).startTime).toBeUndefined();
  });
  it.each([0, 1.5, -3, "5"])("rejects intervalMinutes %s", (n) => bad(() => new FixedRate({ intervalMinutes: n as never }), /FixedRate: intervalMinutes must be an integer >= 1/));
  it("rejects an invalid startTime", () => bad(() => new FixedRate({ intervalMinutes: 5, startTime: new Date("nope") }), /FixedRate: startTime must be a valid Date/));
  it("rejects unknown options", () => bad(() => new FixedRate({ interval: 5 } as never), /Unknown option "interval" for FixedRate/));
});

describe("Trigger", () => {
  it("fills defaults", () => {
    const t = new Trigger({ name: "nightly", automation: hourly() });
    expect(t.name).toBe("nightly");
    expect(t.description).toBe("");
    expect(t.autoActivate).toBe(true);
    expect(t.inputs).toEqual({});
    expect(t.overwriteCache).toBe(false);
    expect([t.envVars, t.interruptible, t.queue, t.maxActionConcurrency, t.labels, t.annotations, t.customContext]).toEqual(Array(7).fill(undefined));
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.inputs)).toBe(true);
  });
  it("keeps every option", () => {
    const t = Trigger({
      name: "n", automation: new FixedRate({ intervalMinutes: 10 }), description: "d", autoActivate: false, inputs: { at: TriggerTime, n: 3 },
      envVars: { A: "1" }, interruptible: true, overwriteCache: true, queue: "q", maxActionConcurrency: 4,
      labels: { l: "1" }, annotations: { a: "1" }, customContext: { c: "1" },
    });
    expect(t).toBeInstanceOf(Trigger);
    expect(t.inputs).toEqual({ at: TriggerTime, n: 3 });
    expect([t.autoActivate, t.interruptible, t.overwriteCache, t.queue, t.maxActionConcurrency]).toEqual([false, true, true, "q", 4]);
    expect([t.envVars, t.labels, t.annotations, t.customContext]).toEqual([{ A: "1" }, { l: "1" }, { a: "1" }, { c: "1" }]);
    expect(new Trigger({ name: "n", automation: hourly(), maxActionConcurrency: 0 }).maxActionConcurrency).toBe(0);
  });
  it("truncates long descriptions", () => expect(new Trigger({ name: "n", automation: hourly(), description: "x".repeat(256) }).description).toBe(`${"x".repeat(252)}...`));
  it("rejects an empty name", () => bad(() => new Trigger({ name: "", automation: hourly() }), /Trigger: name must be a non-empty string, got ""/));
  it("rejects a missing automation", () => bad(() => new Trigger({ name: "n" } as never), /Trigger: automation must be a Cron or a FixedRate, got undefined/));
  it("rejects a cron string as automation", () => bad(() => new Trigger({ name: "n", automation: "0 * * * *" as never }), /automation must be a Cron or a FixedRate, got "0 \* \* \* \*". Use e.g. automation: new Cron/));
  it("rejects a negative maxActionConcurrency", () => bad(() => new Trigger({ name: "n", automation: hourly(), maxActionConcurrency: -1 }), /Trigger: maxActionConcurrency must be an integer >= 0/));
  it("rejects maxActionConcurrency 1 (deadlock)", () => bad(() => new Trigger({ name: "n", automation: hourly(), maxActionConcurrency: 1 }), /Trigger: maxActionConcurrency 1 deadlocks/));
  it("rejects non-object inputs", () => bad(() => new Trigger({ name: "n", automation: hourly(), inputs: [1] as never }), /Trigger: inputs must be an object of input values/));
  it("rejects non-string envVars", () => bad(() => new Trigger({ name: "n", automation: hourly(), envVars: { A: 1 } as never }), /Trigger: envVars must be an object of string values/));
  it("rejects a non-boolean autoActivate", () => bad(() => new Trigger({ name: "n", automation: hourly(), autoActivate: "yes" as never }), /Trigger: autoActivate must be true or false, got "yes"/));
  it("rejects unknown options", () => bad(() => new Trigger({ name: "n", automation: hourly(), env_vars: {} } as never), /Unknown option "env_vars" for Trigger. Did you mean "envVars"\?/));
});

describe("Trigger helpers", () => {
  it.each([
    ["hourly", "0 * * * *"],
    ["daily", "0 0 * * *"],
    ["weekly", "0 0 * * 0"],
    ["monthly", "0 0 1 * *"],
    ["minutely", "* * * * *"],
  ] as const)("%s fires on %s", (name, expr) => {
    const t = Trigger[name]("at");
    expect(t.name).toBe(name);
    expect((t.automation as Cron).expression).toBe(expr);
    expect(t.inputs).toEqual({ at: TriggerTime });
  });
  it("binds no input without a key", () => expect(Trigger.daily().inputs).toEqual({}));
  it("puts the trigger time first, then merges inputs and options", () => {
    const t = Trigger.hourly("at", { name: "every-hour", inputs: { n: 1 }, autoActivate: false });
    expect(Object.keys(t.inputs)).toEqual(["at", "n"]);
    expect([t.name, t.autoActivate]).toEqual(["every-hour", false]);
  });
  it("rejects automation in helper options", () => bad(() => Trigger.hourly("at", { automation: hourly() } as never), /Unknown option "automation" for Trigger.hourly/));
  it("rejects an empty trigger time key", () => bad(() => Trigger.weekly(""), /Trigger.weekly: triggerTimeInputKey must be an input name/));
});

describe("validateTriggerInputs", () => {
  const t = Trigger.hourly("at", { inputs: { n: 1 } });
  it("passes when every key is an input and every required input is bound", () => {
    expect(() => validateTriggerInputs(t, ["at", "n", "opt"], ["at", "n"], "env.report")).not.toThrow();
  });
  it("rejects a key that is not a task input", () =>
    bad(() => validateTriggerInputs(t, ["at"], ["at"], "env.report"), /^Trigger "hourly" on task "env.report": input "n" is not an input of the task. Task inputs: at\./));
  it("rejects an unbound required input", () =>
    bad(() => validateTriggerInputs(t, ["at", "n", "day"], ["at", "day"], "env.report"), /^Trigger "hourly" on task "env.report": required input "day" has no value/));
});

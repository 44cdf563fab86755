/**
 * Triggers: schedules attached to a task, registered by `flyte deploy`. TriggerTime is bound to the fire time.
 * `flyte serve` fires them once deployed (README "Schedules"); here main calls the task the way a firing would.
 *   npx flyte run examples/tour/triggers.ts main
 */
import { z } from "zod";
import { Cron, FixedRate, TaskEnvironment, Trigger, TriggerTime } from "flyte-ts";

const env = new TaskEnvironment({ name: "tour-triggers" });

// With an inputs schema, env.task checks that every trigger binds only task inputs and all required ones.
export const regionReport = env.task(
  {
    inputs: z.object({ at: z.date(), region: z.string().default("us") }),
    triggers: [
      Trigger.hourly("at"), // "0 * * * *", at = fire time
      new Trigger({
        name: "nightly-eu",
        automation: new Cron({ expression: "0 2 * * *", timezone: "Europe/Paris" }),
        inputs: { at: TriggerTime, region: "eu" },
      }),
      new Trigger({ name: "every-15m", automation: new FixedRate({ intervalMinutes: 15 }), inputs: { at: TriggerTime }, autoActivate: false }),
    ],
  },
  async function regionReport({ at, region }) {
    return `report for ${region} at ${at.toISOString()}`;
  },
);

export const main = env.task(async function main() {
  const report = await regionReport({ at: new Date("2024-06-01T00:00:00Z"), region: "eu" });
  return { report, triggers: regionReport.triggers.map((t) => t.name) };
});

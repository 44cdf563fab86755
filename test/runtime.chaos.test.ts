/**
 * The short variant of `npm run chaos`: SIGKILL a fan-out run at random moments, recover it (killing some
 * recoveries too) until a recovery finishes, and check that no action committed before a kill executed again.
 */
import { describe, expect, it } from "vitest";
import { runChaos } from "./helpers/chaos.ts";

describe("crash and recover (chaos, short)", () => {
  it("never executes committed work again, and the final output is right", async () => {
    const seed = Number(process.env.FLYTE_CHAOS_SEED ?? Math.floor(Math.random() * 1_000_000));
    const { figures } = await runChaos({
      rounds: 3, seed, n: 120, width: 12, maxActionConcurrency: 16, maxKills: 3, killRecoverChance: 0.5, killWindowMs: 300,
    });
    // The seed replays the same kill moments: FLYTE_CHAOS_SEED=<seed> npx vitest run test/runtime.chaos.test.ts
    expect(figures.failures.join("\n"), `seed ${seed}`).toBe("");
    expect(figures.kills).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

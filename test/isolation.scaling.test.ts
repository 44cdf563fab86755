import { afterAll, beforeAll, expect, it } from "vitest";
import { withRunContext } from "flyte-ts";
import { shutdownWarmPools, warmPools } from "../src/controller/isolation/reuse-pool.ts";
import { freshRuntime } from "./helpers/runtime.ts";
import { scalingFanOut } from "./fixtures/isolation/tasks.ts";

beforeAll(async () => {
  // ReusePolicy keeps TTLs at 30 s or more; this shrinks them 50x for the test (scaledownTtl 0.6 s, idleTtl 6 s).
  process.env.FLYTE_REUSE_TTL_SCALE = "0.02";
  await freshRuntime("flyte-isolation-scaling-");
});

afterAll(() => shutdownWarmPools());

const pool = () => warmPools().find((p) => p.env === "iso-scaling");

async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; pool: ${JSON.stringify(pool())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

it("scales up to max under load, down to min after scaledownTtl, and shuts down after idleTtl", async () => {
  const pids = await (await withRunContext({ isolation: "process" }).run(scalingFanOut, { n: 6, waitMs: 3000 })).outputs();
  expect(new Set(pids).size).toBe(3);
  expect(pool()!.replicas).toBe(3);
  // Idle replicas beyond min exit after scaledownTtl (0.6 s here); min (1) stays until the whole pool is idle for idleTtl.
  await until(() => pool()?.replicas === 1, 5_000, "the pool to scale down to min");
  await until(() => pool() === undefined, 15_000, "the idle pool to shut down");
}, 90_000);

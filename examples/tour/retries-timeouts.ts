/**
 * Retries and timeouts: a flaky task retried with exponential backoff, and a slow task stopped by maxRuntime.
 *   npx flyte run examples/tour/retries-timeouts.ts main
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Backoff, RetryStrategy, TaskEnvironment, Timeout, ctx } from "flyte-ts";
import { TaskTimeoutError } from "flyte-ts/errors";

const env = new TaskEnvironment({ name: "tour-retries" });

// Up to 3 retries (4 attempts), waiting 50 ms, 100 ms, 200 ms ... (capped at 1 s) between them.
export const flaky = env.task(
  { retries: new RetryStrategy({ count: 3, backoff: new Backoff({ base: "50ms", factor: 2, cap: "1s" }) }) },
  async function flaky({ failures }: { failures: number }) {
    const { attempt } = ctx()!; // 0-based
    if (attempt < failures) throw new Error(`transient failure on attempt ${attempt}`);
    return `succeeded after ${attempt} failed attempts`;
  },
);

// maxRuntime bounds each attempt; deadline bounds all attempts together. The attempt's signal is aborted on timeout.
export const slow = env.task({ timeout: new Timeout({ maxRuntime: "200ms", deadline: "1m" }) }, async function slow({ ms }: { ms: number }) {
  await sleep(ms, undefined, { signal: ctx()!.signal });
  return "finished";
});

export const main = env.task(async function main({ failures = 2 }: { failures?: number }) {
  const retried = await flaky({ failures });
  let timedOut = "no";
  try {
    await slow({ ms: 5_000 });
  } catch (e) {
    if (!(e instanceof TaskTimeoutError)) throw e;
    timedOut = `${e.code} (${e.bound})`;
  }
  return { retried, timedOut };
});

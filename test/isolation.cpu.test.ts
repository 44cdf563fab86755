import { beforeAll, expect, it } from "vitest";
import { withRunContext } from "flyte-ts";
import { freshRuntime } from "./helpers/runtime.ts";
import { cpuFanOut } from "./fixtures/isolation/tasks.ts";

/** The most spans that overlap at any instant. */
function maxOverlap(spans: { start: number; end: number }[]): number {
  const edges = spans.flatMap((s) => [[s.start, 1], [s.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

beforeAll(async () => {
  // One core for isolated attempts in this process (read when the first isolated attempt asks for CPU).
  process.env.FLYTE_ISOLATION_CPUS = "1";
  await freshRuntime("flyte-isolation-cpu-");
});

it("CPU requests bound how many isolated attempts run at once; a parent waiting on its children holds none", async () => {
  const r = await withRunContext({ isolation: "process" }).run(cpuFanOut, { n: 3, half: false, ms: 400 });
  expect(maxOverlap(await r.outputs())).toBe(1);
  const h = await withRunContext({ isolation: "process" }).run(cpuFanOut, { n: 4, half: true, ms: 4000 });
  expect(maxOverlap(await h.outputs())).toBe(2);
}, 90_000);

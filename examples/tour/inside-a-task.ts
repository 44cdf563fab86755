/**
 * Inside a task: ctx(), group(), map(), trace(), reports and custom context.
 *   npx flyte run examples/tour/inside-a-task.ts main
 */
import { TaskEnvironment, ctx, customContext, getCustomContext, group, map, report, trace } from "flyte-ts";

const env = new TaskEnvironment({ name: "tour-inside" });

export const score = env.task(async function score({ row }: { row: number }) {
  if (row === 3) throw new Error("row 3 is corrupt");
  return { row, score: row * 10, team: getCustomContext().team ?? "none" };
});

// A checkpointed step: if the attempt is retried (or the run recovered), the recorded result is replayed.
const lookup = trace(async function lookup(id: number) {
  return id + 1;
});

export const main = env.task({ report: true, retries: 1 }, async function main({ ids = [0, 1, 2] }: { ids?: number[] }) {
  const rows = await group("load", () => Promise.all(ids.map((id) => lookup(id))));
  // One child action per item, at most 2 at a time, results in input order; failures come back as Error values.
  const results = await customContext({ team: "ml" }, () => map(score, rows.map((row) => ({ row })), { concurrency: 2 }));
  const ok = results.filter((r): r is { row: number; score: number; team: string } => !(r instanceof Error));
  const failed = results.filter((r) => r instanceof Error).map((e) => (e as Error).message);
  await report.log(`<h1>${ok.length} rows scored in run ${ctx()!.runName}</h1>`);
  report.getTab("failures").log(`<pre>${failed.join("\n")}</pre>`);
  return { scores: ok.map((r) => r.score), team: ok[0]?.team, failed };
});

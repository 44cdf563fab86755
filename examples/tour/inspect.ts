/**
 * Reading runs back and cleaning up: listRuns, one action's inputs and outputs, live updates, clearCache.
 *   npx flyte run examples/tour/inspect.ts main
 */
import { TaskEnvironment, clearCache, listRuns, withRunContext } from "flyte-ts";

const env = new TaskEnvironment({ name: "tour-inspect" });

export const square = env.task({ cache: "auto" }, async function square({ x }: { x: number }) {
  console.log(`squaring ${x}`);
  return x * x;
});

export const total = env.task(async function total({ n }: { n: number }) {
  const squares = await Promise.all(Array.from({ length: n }, (_, x) => square({ x })));
  return squares.reduce((a, b) => a + b, 0);
});

export const main = env.task(async function main({ n = 3 }: { n?: number }) {
  const r = await withRunContext({ name: `total-${Date.now().toString(36)}`, labels: { tour: "inspect" } }).run(total, { n });
  // Live updates while this process executes the run: phase changes of its actions, and the lines they print.
  const seen: string[] = [];
  const watch = r.watch({ onAction: (u) => seen.push(`${u.shortName} ${u.phase}`), onLog: (l) => seen.push(`[${l.label}] ${l.message}`) });
  await r.wait();
  await watch.close();
  // Recorded runs, newest first (what `flyte get runs --with-label tour=inspect` lists).
  const runs = await listRuns({ label: ["tour", "inspect"], limit: 5 });
  // One action's decoded inputs and outputs (what `flyte get io <run> <action>` prints).
  const first = (await r.details()).root.children[0]!;
  const { inputs, outputs } = await (await r.action(first.name)).io();
  // The next call of square executes again (what `flyte cache clear --task tour-inspect.square` does).
  const deleted = await clearCache({ task: "tour-inspect.square" });
  return { runs: runs.length, inputs, outputs, deleted, logged: seen.filter((s) => s.startsWith("[square]")).length };
});

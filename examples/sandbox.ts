/**
 * Sandboxed orchestrators: orchestration logic that runs in QuickJS (WebAssembly) and can only compute and
 * call the tasks it was given — e.g. code written at run time by an LLM.
 *   npx flyte run examples/sandbox.ts pipeline --n 4
 *   npx flyte run examples/sandbox.ts fromCode --xs '[1, 2, 3]'
 *   npx tsx examples/sandbox.ts
 */
import { z } from "zod";
import { TaskEnvironment, run } from "flyte-ts";

const env = new TaskEnvironment({ name: "sandbox-demo" });

export const square = env.task(async function square({ x }: { x: number }) {
  return x * x;
});

export const sum = env.task(async function sum({ values }: { values: number[] }) {
  return values.reduce((a, b) => a + b, 0);
});

/**
 * Function mode: the function's source runs in the sandbox (no closures, no imports); the environment's
 * tasks are globals there, and each call is a child action of this orchestrator.
 */
export const pipeline = env.sandbox.orchestrator({ timeoutMs: 5_000 }, async function pipeline({ n }: { n: number }) {
  const squares = await Promise.all(Array.from({ length: n }, (_, x) => square({ x })));
  console.log(`squares: ${squares.join(", ")}`);
  return await sum({ values: squares });
});

/** Code-string mode: the inputs are variables, the last expression is the output. */
export const fromCode = env.sandbox.orchestrator(
  `
  const squares = await Promise.all(xs.map((x) => square({ x })));
  const total = await sum({ values: squares });
  ({ squares, total })
  `,
  {
    name: "fromCode",
    inputs: { xs: z.array(z.number()) },
    output: z.object({ squares: z.array(z.number()), total: z.number() }),
    tasks: [square, sum],
    maxMemory: 16 * 1024 * 1024,
  },
);

if (import.meta.url === `file://${process.argv[1]}`) {
  const r1 = await run(pipeline, { n: 4 });
  console.log("pipeline →", await r1.outputs()); // 14
  const r2 = await run(fromCode, { xs: [1, 2, 3] });
  console.log("fromCode →", await r2.outputs()); // { squares: [1, 4, 9], total: 14 }
  const d = await r2.details();
  console.log(`fromCode ran ${d.root.children.length} child actions:`, d.root.children.map((c) => c.taskName).join(", "));
}

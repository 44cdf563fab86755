/**
 * Quickstart: three tasks that call each other. Every call inside the run is a durable action.
 *   npx flyte run examples/quickstart.ts main --n 5
 */
import { TaskEnvironment } from "flyte-ts";

const env = new TaskEnvironment({ name: "quickstart", cache: "auto" });

export const square = env.task(async function square({ x }: { x: number }) {
  return x * x;
});

export const sum = env.task(async function sum({ values }: { values: number[] }) {
  return values.reduce((a, b) => a + b, 0);
});

export const main = env.task({ cache: "disable" }, async function main({ n = 3 }: { n?: number }) {
  console.log(`squaring 0..${n - 1}`);
  const squares = await Promise.all(Array.from({ length: n }, (_, x) => square({ x })));
  const total = await sum({ values: squares });
  console.log(`sum of squares = ${total}`);
  return total;
});

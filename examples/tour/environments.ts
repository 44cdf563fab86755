/**
 * Environments and tasks: shared defaults, a variant made with cloneWith, types from the function signature or
 * from zod schemas, and a per-call override.
 *   npx flyte run examples/tour/environments.ts main
 */
import { z } from "zod";
import { Resources, TaskEnvironment } from "flyte-ts";

// Every task of an environment inherits its image, resources, env vars, secrets, cache and queue.
const base = new TaskEnvironment({
  name: "tour-base",
  resources: new Resources({ cpu: 1, memory: "512Mi" }),
  envVars: { GREETING: "hello" },
});

// A variant: unset keys are inherited. dependsOn makes `flyte deploy`/`build` include `base` too.
const heavy = base.cloneWith({ name: "tour-heavy", resources: new Resources({ cpu: 2, memory: "4Gi" }), cache: "auto", dependsOn: [base] });

// Types come from the function signature: greet is TaskTemplate<{ name: string }, string>.
export const greet = base.task(async function greet({ name }: { name: string }) {
  return `${process.env.GREETING}, ${name}!`;
});

// ...or from zod schemas: inputs are validated (and coerced) before the function runs, the output after.
export const stats = heavy.task(
  { inputs: z.object({ values: z.array(z.number()).min(1) }), output: z.object({ mean: z.number(), max: z.number() }) },
  async function stats({ values }) {
    return { mean: values.reduce((a, b) => a + b, 0) / values.length, max: Math.max(...values) };
  },
);

// Inside a run every task call is a durable child action.
export const main = base.task(async function main({ names = ["Ada", "Grace"] }: { names?: string[] }) {
  const greetings = await Promise.all(names.map((name) => greet({ name })));
  // override() returns a copy with some options replaced; `stats` itself is unchanged.
  const summary = await stats.override({ retries: 2 })({ values: names.map((n) => n.length) });
  return { greetings, summary };
});

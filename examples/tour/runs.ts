/**
 * Running and inspecting: run options, the Run handle, details, logs and recovery.
 *   npx flyte run examples/tour/runs.ts main
 */
import { TaskEnvironment, getRun, withRunContext } from "flyte-ts";

const env = new TaskEnvironment({ name: "tour-runs" });

export const shout = env.task(async function shout({ word }: { word: string }) {
  console.log(`shouting ${word} (LOG_LEVEL=${process.env.LOG_LEVEL})`);
  return word.toUpperCase();
});

export const words = env.task(async function words({ text }: { text: string }) {
  return Promise.all(text.split(" ").map((word) => shout({ word })));
});

/** Starts a run from inside a task's process, the way a script would, and reads it back. */
export const main = env.task(async function main({ text = "hello flyte" }: { text?: string }) {
  const name = `words-${Date.now().toString(36)}`;
  const r = await withRunContext({ name, envVars: { LOG_LEVEL: "debug" }, maxActionConcurrency: 4 }).run(words, { text });
  const phase = await r.wait(); // a terminal phase; never throws for failed runs
  const d = await r.details(); // the action tree: phase, attempts, cacheHit, recovered, reportUri
  const logs: string[] = [];
  for await (const line of r.logs()) logs.push(line.message);
  // A new run reusing every action that succeeded in `name`: its root succeeded with the same inputs, so the
  // whole run completes from the record without executing anything.
  const again = await withRunContext({ recoverFrom: name }).run(words, { text });
  await again.wait();
  const recovered = (await again.details()).root.recovered;
  return { phase, outputs: await (await getRun(name)).outputs(), children: d.root.children.length, logs, recovered };
});

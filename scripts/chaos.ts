/**
 * `npm run chaos [-- --rounds 30 --seed 1]`: repeated SIGKILL + `flyte recover` rounds on a fan-out run (see
 * test/helpers/chaos.ts); prints the figures and exits 1 if any committed action executed again or an output was wrong.
 */
import { parseArgs } from "node:util";
import { runChaos } from "../test/helpers/chaos.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "30" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    n: { type: "string", default: "120" },
    width: { type: "string", default: "12" },
    quiet: { type: "boolean", default: false },
  },
});
const int = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(v)}.\n`);
    process.exit(2);
  }
  return n;
};
const seed = int("seed", values.seed);
const { figures } = await runChaos({
  rounds: int("rounds", values.rounds), seed, n: int("n", values.n), width: int("width", values.width),
  maxActionConcurrency: 16, maxKills: 3, killRecoverChance: 0.5, killWindowMs: 400,
  ...(values.quiet ? {} : { log: (l: string) => process.stderr.write(`${l}\n`) }),
});
process.stdout.write(
  `chaos (seed ${seed}): ${figures.rounds} rounds, ${figures.runs} runs, ${figures.kills} kills (SIGKILL), ` +
    `${figures.committed} committed actions checked, re-executions of committed work: ${figures.reexecutedCommitted}, ` +
    `re-executions of work running at a kill: ${figures.reexecutedUncommitted}, wrong outputs: ${figures.wrongOutputs}, ${figures.seconds} s\n`,
);
for (const f of figures.failures) process.stdout.write(`  ${f}\n`);
process.exitCode = figures.failures.length > 0 ? 1 : 0;

/**
 * `npm run chaos [-- --rounds 30 --seed 1]`: repeated SIGKILL + `flyte recover` rounds on a fan-out run (see
 * test/helpers/chaos.ts); prints the figures and exits 1 if any committed action executed again or an output was wrong.
 *
 * `npm run chaos -- --backend cluster [--minutes 3] [--seed 1]`: the cluster backend under chaos for that long (see
 * test/helpers/cluster-chaos.ts): workers killed with SIGKILL, PostgreSQL restarted, CLIs of remote runs killed, while
 * runs go on; prints the counts and exits 1 if committed work executed again or an output was lost.
 */
import { parseArgs } from "node:util";
import { runChaos } from "../test/helpers/chaos.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "embedded" },
    rounds: { type: "string", default: "30" },
    minutes: { type: "string", default: "3" },
    workers: { type: "string", default: "3" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    n: { type: "string" },
    width: { type: "string" },
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
const log = values.quiet ? undefined : (l: string) => void process.stderr.write(`${l}\n`);

if (values.backend === "cluster") {
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) {
    process.stderr.write(`--minutes must be a positive number, got ${JSON.stringify(values.minutes)}.\n`);
    process.exit(2);
  }
  const { runClusterChaos } = await import("../test/helpers/cluster-chaos.ts");
  const f = await runClusterChaos({
    seed, seconds: Math.round(minutes * 60), workers: int("workers", values.workers), concurrency: 2, inFlight: 3,
    width: int("width", values.width ?? "3"), n: int("n", values.n ?? "4"), ms: 150, minGapMs: 4_000, maxGapMs: 10_000,
    ...(log ? { log } : {}),
  });
  process.stdout.write(
    `cluster chaos (seed ${seed}): ${f.seconds} s, kills: ${f.kills.worker} workers (SIGKILL), ${f.kills.postgres} PostgreSQL restarts, ` +
      `${f.kills.cli} remote CLIs (SIGKILL); ${f.runs} runs, ${f.actions} actions (${f.refused.run} runs and ${f.refused.worker} workers started while ` +
      `the database was down exited saying so, and were started again); re-executions of committed work: ${f.reexecutedCommitted}, ` +
      `re-executions of work running on a killed worker: ${f.reexecutedAfterWorkerKill}, other re-executions: ${f.reexecutedOther}, lost outputs: ${f.lostOutputs}\n`,
  );
  for (const x of f.failures) process.stdout.write(`  ${x}\n`);
  process.exitCode = f.reexecutedCommitted > 0 || f.lostOutputs > 0 || f.reexecutedOther > 0 || f.failures.length > 0 ? 1 : 0;
} else if (values.backend === "embedded") {
  const { figures } = await runChaos({
    rounds: int("rounds", values.rounds), seed, n: int("n", values.n ?? "120"), width: int("width", values.width ?? "12"),
    maxActionConcurrency: 16, maxKills: 3, killRecoverChance: 0.5, killWindowMs: 400,
    ...(log ? { log } : {}),
  });
  process.stdout.write(
    `chaos (seed ${seed}): ${figures.rounds} rounds, ${figures.runs} runs, ${figures.kills} kills (SIGKILL), ` +
      `${figures.committed} committed actions checked, re-executions of committed work: ${figures.reexecutedCommitted}, ` +
      `re-executions of work running at a kill: ${figures.reexecutedUncommitted}, wrong outputs: ${figures.wrongOutputs}, ${figures.seconds} s\n`,
  );
  for (const f of figures.failures) process.stdout.write(`  ${f}\n`);
  process.exitCode = figures.failures.length > 0 ? 1 : 0;
} else {
  process.stderr.write(`--backend must be embedded or cluster, got ${JSON.stringify(values.backend)}.\n`);
  process.exit(2);
}

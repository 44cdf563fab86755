/**
 * `npm run powerloss [-- --rounds 10 --seed 1 --n 200 --levels full,process --crash power|process]`: cuts the power (lazyfs, see
 * test/powerloss/harness.ts) under fan-out runs at seeded random points, per durability level, and prints a table:
 * level, rounds, actions the parent had observed, how many of those the store lost, whether it reopened and
 * recovered. `--crash process` is the control: the process is killed but every write is kept. Exits 1 if `full`
 * (or, with `--crash process`, any level) lost an observed action, or any round had a problem.
 */
import { parseArgs } from "node:util";
import { formatTable, lazyFsUnavailable, runPowerLoss, type Durability } from "../test/powerloss/harness.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    n: { type: "string", default: "200" },
    levels: { type: "string", default: "process,full" },
    crash: { type: "string", default: "power" },
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
const levels = values.levels.split(",").map((l) => l.trim());
for (const l of levels) {
  if (l !== "full" && l !== "process") {
    process.stderr.write(`--levels takes full and/or process (comma-separated), got ${JSON.stringify(l)}.\n`);
    process.exit(2);
  }
}
if (values.crash !== "power" && values.crash !== "process") {
  process.stderr.write(`--crash takes power (drop unsynced writes) or process (kill the process only), got ${JSON.stringify(values.crash)}.\n`);
  process.exit(2);
}
const unavailable = lazyFsUnavailable();
if (unavailable) {
  process.stderr.write(`Cannot cut the power here: ${unavailable}.\n`);
  process.exit(1);
}
const seed = int("seed", values.seed);
const n = int("n", values.n);
if (n < 2) {
  process.stderr.write("--n must be at least 2 (the cut falls between the first and the last child).\n");
  process.exit(2);
}
const t0 = Date.now();
const { figures } = await runPowerLoss({
  levels: levels as Durability[], crash: values.crash, rounds: int("rounds", values.rounds), seed, n, maxActionConcurrency: 8,
  ...(values.quiet ? {} : { log: (l: string) => process.stderr.write(`${l}\n`) }),
});
process.stdout.write(`power loss (seed ${seed}, ${n} children per run, ${Math.round((Date.now() - t0) / 1000)} s):\n${formatTable(figures)}\n`);
for (const f of figures) for (const p of f.problems) process.stdout.write(`  ${f.durability}: ${p}\n`);
const mustKeep = figures.filter((f) => f.durability === "full" || f.crash === "process");
process.exitCode = mustKeep.some((f) => f.lost > 0) || figures.some((f) => f.problems.length > 0) ? 1 : 0;

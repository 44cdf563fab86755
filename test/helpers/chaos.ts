/**
 * The crash-and-recover harness (`npm run chaos`, and a short variant in `npm test`). Each round starts a fan-out
 * run with the real `flyte` CLI, SIGKILLs it at a random moment, then recovers the newest run of the chain again and
 * again (killing some recoveries too) until one finishes. After every kill it reads the store, so "committed" means
 * exactly: an action whose `succeeded` row is in the database file once its process is dead. It then checks, from
 * the side file the tasks append to (test/fixtures/chaos.ts), that no committed action executed again in any later
 * run of the chain, and that the final output is right.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { FLYTE_BIN, REPO } from "./runtime.ts";

export const CHAOS_FIXTURE = join(REPO, "test/fixtures/chaos.ts");

export interface ChaosOptions {
  rounds: number;
  /** Seed of the random kill moments, so that a failing round can be replayed. */
  seed: number;
  /** Leaves per run, in parts of `width`. */
  n: number;
  width: number;
  maxActionConcurrency: number;
  /** Kills per round at most (the first run is always killed, unless it finishes first). */
  maxKills: number;
  /** Chance that a recovery is killed too, while kills are left. */
  killRecoverChance: number;
  /** Kill moments are drawn from [0, killWindowMs) after the run reports that it started. */
  killWindowMs: number;
  log?: (line: string) => void;
}

export interface RoundResult {
  round: number;
  runs: string[];
  kills: number;
  /** Actions whose succeeded row was in the store after some kill. */
  committed: number;
  /** Executions of an action in a run that started after the action's success was committed: must be 0. */
  reexecutedCommitted: string[];
  /** Executions of actions that had executed before but whose success was not committed (allowed: at-least-once). */
  reexecutedUncommitted: number;
  output: number | null;
  expected: number;
  error?: string;
}

export interface ChaosFigures {
  rounds: number;
  kills: number;
  runs: number;
  committed: number;
  reexecutedCommitted: number;
  reexecutedUncommitted: number;
  wrongOutputs: number;
  failures: string[];
  seconds: number;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kill moments. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Launched {
  code: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
}

/** Runs `flyte <args>` in `cwd`; once it reports "Run <name> started", kills it after `killAfterMs` (if given). */
function launch(cwd: string, args: string[], name: string, killAfterMs: number | undefined): Promise<Launched> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLYTE_BIN, ...args], { cwd, env: { ...process.env, FLYTE_CONFIG: "" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let killed = false;
    let armed = false;
    const deadline = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!armed && killAfterMs !== undefined && stderr.includes(`Run ${name} started`)) {
        armed = true;
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) {
            killed = true;
            child.kill("SIGKILL");
          }
        }, killAfterMs);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(deadline);
      resolve({ code, killed, stdout, stderr });
    });
  });
}

/** Succeeded action names of `runs`, read from the database file (no process of the chain is alive). */
function committedActions(root: string, runs: string[]): Set<string> {
  const db = new Database(join(root, ".flyte", "flyte.db"), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT name FROM actions WHERE phase = 'succeeded' AND run_name IN (${runs.map(() => "?").join(",")})`).all(...runs) as { name: string }[];
    return new Set(rows.map((r) => r.name));
  } finally {
    db.close();
  }
}

interface Execution {
  run: string;
  action: string;
  what: string;
}

function executions(dir: string): Execution[] {
  const file = join(dir, "executions");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => {
    const [run, action, ...what] = l.split(" ");
    return { run: run!, action: action!, what: what.join(" ") };
  });
}

export async function chaosRound(round: number, o: ChaosOptions, rnd: () => number): Promise<RoundResult> {
  const root = mkdtempSync(join(tmpdir(), "flyte-chaos-"));
  const dir = join(root, "marks");
  mkdirSync(dir);
  const expected = Array.from({ length: o.n }, (_, i) => i * i).reduce((a, b) => a + b, 0);
  const runs: string[] = [];
  /** For each run of the chain, the actions committed before it started. */
  const committedBefore = new Map<string, Set<string>>();
  let committed = new Set<string>();
  let kills = 0;
  let output: number | null = null;
  let error: string | undefined;
  try {
    let fresh = true;
    for (let k = 0; ; k++) {
      const name = `c${round}x${k}`;
      const kill = fresh || (kills < o.maxKills && rnd() < o.killRecoverChance);
      const killAfter = kill ? Math.floor(rnd() * o.killWindowMs) : undefined;
      const args = fresh
        ? ["run", CHAOS_FIXTURE, "fanout", "--n", String(o.n), "--width", String(o.width), "--hold", String(o.n), "--dir", dir, "--name", name,
          "--max-action-concurrency", String(o.maxActionConcurrency), "-q"]
        : ["recover", runs[k - 1]!, "--name", name, "-q"];
      committedBefore.set(name, committed);
      const r = await launch(root, args, name, killAfter);
      runs.push(name);
      fresh = false;
      if (r.code === 1 && r.stderr.includes("stopped before it recorded its inputs")) {
        // Killed before its first store commit: nothing of that run exists to recover, so the round starts over.
        o.log?.(`round ${round}: ${name} refused: ${runs[k - 1]} recorded no inputs; starting a new run`);
        fresh = true;
        continue;
      }
      if (r.killed) {
        kills++;
        committed = committedActions(root, runs);
        o.log?.(`round ${round}: ${name} killed after ${killAfter} ms; ${committed.size} actions committed`);
        continue;
      }
      const m = /Outputs: (\d+)/.exec(r.stdout);
      if (r.code !== 0 || !m) {
        error = `${name} (${args.join(" ")}) exited ${r.code}: ${(r.stderr + r.stdout).trim().split("\n").slice(-3).join(" | ")}`;
        break;
      }
      output = Number(m[1]);
      o.log?.(`round ${round}: ${name} finished: ${output}`);
      break;
    }
    const seen = new Set<string>();
    const reexecutedCommitted: string[] = [];
    let reexecutedUncommitted = 0;
    for (const e of executions(dir)) {
      const before = committedBefore.get(e.run);
      if (before?.has(e.action)) reexecutedCommitted.push(`${e.what} (${e.action}) in ${e.run}`);
      else if (seen.has(e.action)) reexecutedUncommitted++;
      seen.add(e.action);
    }
    return { round, runs, kills, committed: committed.size, reexecutedCommitted, reexecutedUncommitted, output, expected, ...(error ? { error } : {}) };
  } finally {
    if (!error) rmSync(root, { recursive: true, force: true });
    else o.log?.(`round ${round}: state kept in ${root}`);
  }
}

export async function runChaos(o: ChaosOptions): Promise<{ figures: ChaosFigures; results: RoundResult[] }> {
  const t0 = Date.now();
  const rnd = random(o.seed);
  const results: RoundResult[] = [];
  for (let round = 1; round <= o.rounds; round++) results.push(await chaosRound(round, o, rnd));
  const failures = results.flatMap((r) => [
    ...(r.error ? [`round ${r.round}: ${r.error}`] : []),
    ...(!r.error && r.output !== r.expected ? [`round ${r.round}: output ${r.output}, expected ${r.expected}`] : []),
    ...r.reexecutedCommitted.map((x) => `round ${r.round}: committed action executed again: ${x}`),
  ]);
  const figures: ChaosFigures = {
    rounds: results.length,
    kills: results.reduce((a, r) => a + r.kills, 0),
    runs: results.reduce((a, r) => a + r.runs.length, 0),
    committed: results.reduce((a, r) => a + r.committed, 0),
    reexecutedCommitted: results.reduce((a, r) => a + r.reexecutedCommitted.length, 0),
    reexecutedUncommitted: results.reduce((a, r) => a + r.reexecutedUncommitted, 0),
    wrongOutputs: results.filter((r) => !r.error && r.output !== r.expected).length,
    failures,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  return { figures, results };
}

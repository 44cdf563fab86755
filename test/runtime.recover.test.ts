import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { flyte, flyteAsync, REPO, waitFor } from "./helpers/runtime.ts";
import { MIGRATIONS } from "../src/store/sqlite/migrations.ts";

const FIXTURE = join(REPO, "test/fixtures/pipeline.ts");
const CHAOS = join(REPO, "test/fixtures/chaos.ts");

/** What each task body executed, from the side file test/fixtures/chaos.ts appends to: "<run> <what>" lines. */
function executions(dir: string): { run: string; what: string }[] {
  const file = join(dir, "executions");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => {
    const [run, , ...what] = l.split(" ");
    return { run: run!, what: what.join(" ") };
  });
}

/**
 * Starts a 6-leaf fan-out (parts 0-3 and 3-6) whose leaves 4 and 5 wait for <dir>/gate, waits until everything
 * else has executed and been committed, and SIGKILLs it.
 */
async function killedFanout(root: string, dir: string, name: string): Promise<void> {
  const child = flyteAsync(root, ["run", CHAOS, "fanout", "--n", "6", "--width", "3", "--hold", "4", "--dir", dir, "--name", name, "-q"]);
  const done = ["leaf 0", "leaf 1", "leaf 2", "leaf 3", "part 0-3"];
  await waitFor(() => done.every((w) => executions(dir).some((e) => e.what === w)), 30_000, "the fast leaves to run");
  await new Promise((r) => setTimeout(r, 300)); // their rows commit at the next event-loop turn
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
}

/** Executions per action (by what it computed), over every run. */
function counts(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of executions(dir)) out[e.what] = (out[e.what] ?? 0) + 1;
  return out;
}

function runRow(root: string, name?: string): { name: string; phase: string; error: string | null } {
  const db = new Database(join(root, ".flyte", "flyte.db"), { readonly: true });
  try {
    const sql = name ? "SELECT name, phase, error FROM runs WHERE name = ?" : "SELECT name, phase, error FROM runs ORDER BY created_at DESC LIMIT 1";
    return (name ? db.prepare(sql).get(name) : db.prepare(sql).get()) as { name: string; phase: string; error: string | null };
  } finally {
    db.close();
  }
}

describe("crash recovery", () => {
  it("marks a killed run failed (OwnerLost) and `flyte recover` reuses what succeeded", async () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-crash-"));
    const dir = join(root, "marks");
    mkdirSync(dir);
    const child = flyteAsync(root, ["run", FIXTURE, "fanout", "--n", "6", "--dir", dir, "--fast", "4", "--name", "crashy", "-q"]);
    // Steps 0-3 finish; 4 and 5 wait for a gate that never comes.
    await waitFor(() => [0, 1, 2, 3, 4, 5].every((i) => existsSync(join(dir, `step-${i}`))), 30_000, "all steps to start");
    await new Promise((r) => setTimeout(r, 300)); // let the finished steps be committed (one tick)
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const list = flyte(root, ["get", "runs"]);
    expect(list.code).toBe(0);
    const row = runRow(root, "crashy");
    expect(row.phase).toBe("failed");
    expect(JSON.parse(row.error!).code).toBe("OwnerLost");

    writeFileSync(join(dir, "gate"), "");
    const rec = flyte(root, ["recover", "crashy", "--name", "crashy-2", "-q"]);
    expect(rec.stderr + rec.stdout).toMatch(/Run crashy-2 succeeded/);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toMatch(/Outputs: 55/);
    // Steps that had succeeded ran once; the two interrupted ones ran twice.
    const counts = [0, 1, 2, 3, 4, 5].map((i) => readFileSync(join(dir, `step-${i}`), "utf8").length);
    expect(counts).toEqual([1, 1, 1, 1, 2, 2]);
    const details = flyte(root, ["get", "run", "crashy-2", "--output-format", "json"]);
    const d = JSON.parse(details.stdout) as { recoverFrom: string; root: { children: { recovered: boolean }[] } };
    expect(d.recoverFrom).toBe("crashy");
    expect(d.root.children.filter((c) => c.recovered)).toHaveLength(4);
  }, 90_000);

  it("flyte run --recover-from reuses actions with identical inputs and runs the rest", () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-recfrom-"));
    const dir = join(root, "marks");
    mkdirSync(dir);
    writeFileSync(join(dir, "gate"), "");
    expect(flyte(root, ["run", FIXTURE, "fanout", "--n", "3", "--dir", dir, "--fast", "9", "--name", "first", "-q"]).code).toBe(0);
    const second = flyte(root, ["run", FIXTURE, "fanout", "--n", "4", "--dir", dir, "--fast", "9", "--recover-from", "first", "-q"]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Outputs: 14/);
    const counts = [0, 1, 2, 3].map((i) => readFileSync(join(dir, `step-${i}`), "utf8").length);
    expect(counts).toEqual([1, 1, 1, 1]);
    const bad = flyte(root, ["run", FIXTURE, "typed", "--x", "1", "--tags", "a", "--cfg", '{"k":1}', "--recover-from", "first"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/run "first" ran task "fixture-plain.fanout", not "fixture-plain.typed"/);
  }, 60_000);
});

describe("recovery through a chain of runs, and only one at a time", () => {
  it("recovering a run that itself failed early reuses what succeeded in the run it recovered from", async () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-chain-"));
    const dir = join(root, "marks");
    mkdirSync(dir);
    await killedFanout(root, dir, "orig");
    // r1 recovers orig but fails before calling anything: it records none of orig's succeeded actions.
    writeFileSync(join(dir, "fail-root"), "");
    const r1 = flyte(root, ["recover", "orig", "--name", "r1", "-q"]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/fail-root is present.*retry from here: flyte recover r1/);
    // Following that advice must not execute again what succeeded in orig.
    rmSync(join(dir, "fail-root"));
    writeFileSync(join(dir, "gate"), "");
    const r2 = flyte(root, ["recover", "r1", "--name", "r2", "-q"]);
    expect(r2.stderr + r2.stdout).toMatch(/Run r2 succeeded/);
    expect(r2.stdout).toMatch(/Outputs: 55/);
    expect(counts(dir)).toEqual({ "leaf 0": 1, "leaf 1": 1, "leaf 2": 1, "leaf 3": 1, "part 0-3": 1, "leaf 4": 1, "leaf 5": 1, "part 3-6": 1, fanout: 1 });
    const d = JSON.parse(flyte(root, ["get", "run", "r2", "--output-format", "json"]).stdout) as { root: { children: { recovered: boolean }[] } };
    expect(d.root.children.filter((c) => c.recovered)).toHaveLength(1);
  }, 90_000);

  it("refuses to recover a run killed before it recorded its inputs", async () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-noinputs-"));
    const dir = join(root, "marks");
    mkdirSync(dir);
    await killedFanout(root, dir, "orig");
    // What a kill in the run's first event-loop turn leaves: the run row, nothing else.
    const db = new Database(join(root, ".flyte", "flyte.db"));
    db.prepare("UPDATE runs SET inputs = NULL WHERE name = 'orig'").run();
    db.prepare("DELETE FROM actions WHERE run_name = 'orig'").run();
    db.close();
    const r = flyte(root, ["recover", "orig", "-q"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('recoverFrom: run "orig" stopped before it recorded its inputs, so nothing of it can be reused. Start it again with its inputs (flyte run <file> fanout ...), or pass the inputs to recover it with.');
  }, 60_000);

  it("refuses to recover a run whose owner is alive, naming the owner and flyte abort", async () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-alive-"));
    const dir = join(root, "marks");
    mkdirSync(dir);
    const child = flyteAsync(root, ["run", CHAOS, "fanout", "--n", "2", "--width", "1", "--hold", "0", "--dir", dir, "--name", "busy", "-q"]);
    try {
      const started = () => {
        try {
          return runRow(root, "busy")?.phase === "running";
        } catch {
          return false; // the store is still being created
        }
      };
      await waitFor(started, 30_000, "the run to start");
      const r = flyte(root, ["recover", "busy", "-q"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`recoverFrom: run "busy" is still running in process ${child.pid} on host ${hostname()}; recovering it now would execute its actions twice. Wait for it to end, or stop it first with: flyte abort busy`);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
      const viaRun = flyte(root, ["run", CHAOS, "fanout", "--n", "2", "--width", "1", "--hold", "0", "--dir", dir, "--recover-from", "busy", "-q"]);
      expect(viaRun.code).toBe(1);
      expect(viaRun.stderr).toContain(`recoverFrom: run "busy" is still running in process ${child.pid}`);
      expect(executions(dir)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);

  it("of two recoveries of the same run started at once, the second is refused; the claim goes with the run's end", async () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-claim-"));
    const dir = join(root, "marks");
    mkdirSync(dir);
    await killedFanout(root, dir, "orig");
    const out = (c: ReturnType<typeof flyteAsync>) => {
      const o = { code: null as number | null, stdout: "", stderr: "", exited: false };
      c.stdout!.on("data", (d: Buffer) => (o.stdout += d.toString()));
      c.stderr!.on("data", (d: Buffer) => (o.stderr += d.toString()));
      c.once("exit", (code) => Object.assign(o, { code, exited: true }));
      return o;
    };
    const a = flyteAsync(root, ["recover", "orig", "--name", "ra", "-q"]);
    const b = flyteAsync(root, ["recover", "orig", "--name", "rb", "-q"]);
    const [oa, ob] = [out(a), out(b)];
    try {
      await waitFor(() => oa.exited || ob.exited, 30_000, "one recovery to be refused");
      const [loser, winner, winnerName, winnerPid] = oa.exited ? [oa, ob, "rb", b.pid] : [ob, oa, "ra", a.pid];
      await new Promise((r) => setTimeout(r, 200));
      expect(loser.code).toBe(1);
      expect(loser.stderr).toContain(
        `recoverFrom: run "orig" is being recovered right now by run "${winnerName}" (process ${winnerPid} on host ${hostname()}); ` +
          `a second recovery would execute the same actions twice. Wait for "${winnerName}" to end and recover that one (flyte recover ${winnerName}), or stop it first with: flyte abort ${winnerName}`,
      );
      expect(winner.exited).toBe(false);
      // The winner's own recovery is refused too while it runs.
      expect(flyte(root, ["recover", winnerName, "-q"]).stderr).toContain(`run "${winnerName}" is still running in process ${winnerPid}`);
      writeFileSync(join(dir, "gate"), "");
      await waitFor(() => winner.exited, 30_000, "the recovery to finish");
      expect(winner.code).toBe(0);
      expect(winner.stdout).toMatch(/Outputs: 55/);
      // Every action executed exactly once over the three runs.
      expect(Object.values(counts(dir))).toEqual(Array(9).fill(1));
      // The claim ended with the run: recovering orig again is allowed (and reuses everything from orig).
      const again = flyte(root, ["recover", "orig", "--name", "again", "-q"]);
      expect(again.code).toBe(0);
    } finally {
      a.kill("SIGKILL");
      b.kill("SIGKILL");
    }
  }, 90_000);
});

describe("the store file", () => {
  it("a corrupted store gives a message naming the file and what to do", () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-corrupt-"));
    mkdirSync(join(root, ".flyte"));
    writeFileSync(join(root, ".flyte", "flyte.db"), "this is not a database at all, just text".repeat(200));
    const r = flyte(root, ["get", "runs"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/StoreError: The store .*flyte\.db is corrupted or not a flyte database/);
    expect(r.stderr).toMatch(/Move it aside/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it("a store locked by another process gives a message naming the file", () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-locked-"));
    expect(flyte(root, ["get", "runs"]).code).toBe(0);
    const db = new Database(join(root, ".flyte", "flyte.db"));
    db.exec("BEGIN EXCLUSIVE");
    db.prepare("INSERT INTO cache_entries (key, task_name, outputs, created_at) VALUES ('k', 't', x'00', 1)").run();
    try {
      const r = flyte(root, ["run", join(REPO, "examples/quickstart.ts"), "main", "-q"]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/StoreError: The store .*flyte\.db is locked by another process \(database is locked\)\. Wait for it to finish, or stop the other flyte process/);
    } finally {
      db.exec("ROLLBACK");
      db.close();
    }
  });

  it("records its schema version and refuses a newer one", () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-schema-"));
    expect(flyte(root, ["get", "runs"]).code).toBe(0);
    const file = join(root, ".flyte", "flyte.db");
    const db = new Database(file);
    const latest = MIGRATIONS.at(-1)!.version;
    expect(db.pragma("user_version", { simple: true })).toBe(latest);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.pragma("user_version = 99");
    db.close();
    const r = flyte(root, ["get", "runs"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`written by a newer flyte-ts (schema 99, this version knows ${latest})`);
  });
});

import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { flyte, flyteAsync, REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/pipeline.ts");

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
    expect(db.pragma("user_version", { simple: true })).toBe(3);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.pragma("user_version = 99");
    db.close();
    const r = flyte(root, ["get", "runs"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/written by a newer flyte-ts \(schema 99, this version knows 3\)/);
  });
});

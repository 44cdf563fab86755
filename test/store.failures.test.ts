/**
 * Honest failure records (issue #13 item 6): a full store, a read-only state dir and an emptied database are
 * each reported as what they are, through the real CLI.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { flyte, REPO } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/store-failures.ts");

function project(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const r = flyte(root, ["run", FIXTURE, "chatty", "--lines", "3", "--name", "r1", "-q"]);
  expect(r.code, r.stderr).toBe(0);
  return root;
}

describe("a full store", () => {
  it("records the run as failed with the full-store error, not OwnerLost", () => {
    const root = project("flyte-full-");
    // max_page_count caps the SQLite file: a real SQLITE_FULL, as on a full disk.
    const r = flyte(root, ["run", FIXTURE, "chatty", "--lines", "3000", "--name", "big", "-q"], { env: { FLYTE_STORE_MAX_PAGES: "60" } });
    expect(r.code).toBe(3); // a system (store) error
    expect(r.stderr).toContain("StoreError (StoreFull): The store");
    const got = flyte(root, ["get", "run", "big", "--output-format", "json"]);
    expect(got.code).toBe(0);
    const run = JSON.parse(got.stdout) as { phase: string; error: { code: string; message: string }; root: { phase: string } };
    expect(run.phase).toBe("failed");
    expect(run.error.code).toBe("StoreFull");
    expect(run.error.message).toBe(
      `The store ${join(root, ".flyte/flyte.db")} is full (database or disk is full): the disk or its quota has no space left. Free some space, or move the state dir (store.stateDir) to a larger disk, then recover the run.`,
    );
    expect(run.root.phase).toBe("failed");
  });
});

/**
 * Makes `dir` read-only for this process: chmod for a normal user; as root (whom chmod does not stop) a
 * read-only bind mount, which is a real read-only filesystem. Returns the read-only path and an undo.
 */
function readOnlyView(dir: string): { path: string; undo: () => void } | undefined {
  if (process.getuid?.() !== 0) {
    spawnSync("chmod", ["-R", "a-w", dir]);
    return { path: dir, undo: () => void spawnSync("chmod", ["-R", "u+w", dir]) };
  }
  const view = mkdtempSync(join(tmpdir(), "flyte-ro-view-"));
  const bind = spawnSync("mount", ["--bind", dir, view]);
  if (bind.status !== 0) return undefined;
  if (spawnSync("mount", ["-o", "remount,bind,ro", view]).status !== 0) {
    spawnSync("umount", [view]);
    return undefined;
  }
  return { path: view, undo: () => void spawnSync("umount", [view]) };
}

describe("a read-only state dir", () => {
  const root = project("flyte-ro-");
  const ro = readOnlyView(root);
  afterAll(() => ro?.undo());

  it.skipIf(!ro)("still answers get runs and get logs, and a write says the dir is read-only", () => {
    const view = ro!.path;
    const runs = flyte(view, ["get", "runs"]);
    expect(runs.stderr).toBe("");
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(/r1\s+failures\.chatty\s+succeeded/);
    const logs = flyte(view, ["get", "logs", "r1"]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/line 2 x+/);
    const write = flyte(view, ["run", FIXTURE, "chatty", "--lines", "1", "-q"]);
    expect(write.code).toBe(3);
    expect(write.stderr).toContain(
      `The state dir ${join(view, ".flyte")} is read-only: commands that read (get runs, get logs, ...) work, but this one writes. Make the directory writable, or use another stateDir.`,
    );
  });
});

describe("an emptied database", () => {
  it("a 0-byte flyte.db beside blobs is reported, not replaced by a fresh store", () => {
    const root = project("flyte-empty-");
    const blobs = join(root, ".flyte/blobs");
    mkdirSync(join(blobs, "raw"), { recursive: true });
    const db = join(root, ".flyte/flyte.db");
    truncateSync(db, 0);
    const r = flyte(root, ["get", "runs"]);
    expect(r.code).toBe(3); // a system (store) error
    expect(r.stderr).toContain(
      `The store ${db} is empty (0 bytes) although ${blobs}/ exists: the database was truncated or lost. Restore it from a backup, or move it aside (mv ${db} ${db}.bad) to start a fresh store; nothing has been changed.`,
    );
    expect(statSync(db).size).toBe(0);
    expect(existsSync(`${db}-wal`)).toBe(false);
  });

  it("a .flyte that is a file is reported in one line, not as ENOTDIR with a stack trace", () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-notdir-"));
    writeFileSync(join(root, ".flyte"), "not a folder\n");
    const r = flyte(root, ["get", "runs"]);
    expect(r.code).toBe(3);
    const dir = join(root, ".flyte");
    expect(r.stderr.trim()).toBe(
      `StoreError (StateDirNotADirectory): The state dir ${dir} cannot be used: ${dir} is a file, not a directory. Move it aside (mv ${dir} ${dir}.bak), or point store.stateDir in the config at another folder.`,
    );
  });
});

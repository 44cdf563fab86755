import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "./sqlite-store.ts";

const file = () => join(mkdtempSync(join(tmpdir(), "flyte-wal-")), "flyte.db");
const size = (f: string) => statSync(f, { throwIfNoEntry: false })?.size ?? 0;

/** Commits one batch of log rows of about `bytes` bytes in all. */
async function commitLogs(store: SqliteStore, bytes: number, tag: string): Promise<void> {
  const message = `${tag} ${"x".repeat(8_000)}`;
  const rows = Array.from({ length: Math.ceil(bytes / message.length) }, (_, i) => ({
    runName: "r", action: "a0", attempt: 0, time: i, stream: "stdout" as const, message,
  }));
  store.writes.appendLogs(rows);
  await store.writes.flush();
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("WAL checkpoints off the commit path", () => {
  it("a commit that takes the WAL past SQLite's default 1,000 pages does not checkpoint it inline", async () => {
    const f = file();
    const store = new SqliteStore(f);
    try {
      const before = size(f);
      // About 6 MB in one commit: with SQLite's automatic checkpoint (1,000 pages, 4 MB) this commit would copy
      // the WAL into the database file before returning, and the file would have grown by as much.
      await commitLogs(store, 6_000_000, "big");
      expect(size(`${f}-wal`)).toBeGreaterThan(5_000_000);
      expect(size(f)).toBe(before);
      // The worker starts only after a few commits: nothing but this thread could have checkpointed.
      expect(store.checkpointer?.running).toBe(false);
    } finally {
      await store.close();
    }
  });

  it("a worker thread checkpoints after commits, and the WAL stays bounded while the database grows", async () => {
    const f = file();
    const store = new SqliteStore(f);
    const cp = store.checkpointer!;
    let written = 0;
    try {
      for (let i = 0; i < 40; i++) {
        const seen = cp.checkpoints;
        await commitLogs(store, 400_000, `batch ${i}`);
        written += 400_000;
        // Once started, the worker checkpoints after the commits it is told about.
        if (cp.running) await until(() => cp.checkpoints > seen, `a checkpoint after commit ${i}`);
      }
      expect(cp.running).toBe(true);
      expect(cp.checkpoints).toBeGreaterThan(0);
      // Its last checkpoint copied every frame of the WAL (PASSIVE, nothing held it back).
      expect(cp.last).toMatchObject({ busy: 0 });
      expect(cp.last!.checkpointed).toBe(cp.last!.log);
      // What was committed reached the database file, and the WAL was started over instead of growing: the
      // last checkpoint found about one commit's frames in it (the file keeps its largest size, as in SQLite).
      expect(size(f)).toBeGreaterThan(written * 0.9);
      expect(cp.last!.log * 4096).toBeLessThan(written / 10);
      expect(size(`${f}-wal`)).toBeLessThan(written / 2);
      // Every row is there, read through the store's own connection.
      expect((await store.readLogs("r", { action: "a0" })).length).toBe(40 * Math.ceil(400_000 / 8_009));
    } finally {
      await store.close();
    }
    // The worker closed its connection first: the store's close checkpointed the rest and removed the WAL.
    expect(existsSync(`${f}-wal`)).toBe(false);
  });
});

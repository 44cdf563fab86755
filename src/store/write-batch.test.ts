import { describe, expect, it } from "vitest";
import { StoreError } from "../errors.ts";
import type { RunKey } from "./store.ts";
import { WriteBatch, type PendingWrites } from "./write-batch.ts";

const key = (name: string): RunKey => ({ project: "p", domain: "d", name });
const lease = { owner: "o", epoch: 1, expiresAt: Number.MAX_SAFE_INTEGER };

function recorder(fail?: (w: PendingWrites) => boolean): { batch: WriteBatch; commits: PendingWrites[] } {
  const commits: PendingWrites[] = [];
  const batch = new WriteBatch(
    (w) => {
      commits.push(w);
      if (fail?.(w)) throw new Error("disk full");
      return new Set();
    },
    (e) => new StoreError(`store failed: ${(e as Error).message}`),
  );
  return { batch, commits };
}

describe("WriteBatch.committed (group commit)", () => {
  it("acknowledges every waiter of a turn with that turn's single commit, and none before it", async () => {
    const { batch, commits } = recorder();
    const acked: number[] = [];
    const waits = Array.from({ length: 100 }, (_, i) => {
      batch.updateRun(key(`r${i}`), { phase: "running" });
      return batch.committed(`r${i}`).then(() => acked.push(commits.length));
    });
    await Promise.resolve();
    expect(acked).toEqual([]);
    await Promise.all(waits);
    expect(commits).toHaveLength(1);
    expect(acked).toEqual(Array(100).fill(1));
  });

  it("resolves at once when nothing is queued", async () => {
    const { batch, commits } = recorder();
    await batch.committed("idle");
    expect(commits).toHaveLength(0);
  });

  it("rejects only the waiters whose run's writes failed", async () => {
    const { batch } = recorder((w) => w.runs.has("bad"));
    batch.own("bad", lease);
    batch.updateRun(key("bad"), { phase: "running" });
    const bad = batch.committed("bad");
    const other = batch.committed("other");
    await expect(bad).rejects.toThrow("store failed: disk full");
    // "other" had no write in the failed batch: it is not blamed.
    await expect(other).resolves.toBeUndefined();
    await expect(batch.committed("bad")).rejects.toThrow("store failed: disk full");
  });

  it("marks a batch durable when any run in it asks for full durability", async () => {
    const { batch, commits } = recorder();
    const processBatch = new WriteBatch((w) => (commits.push(w), new Set()), (e) => new StoreError(String(e)), undefined, "process");
    processBatch.own("p", lease);
    processBatch.updateRun(key("p"), { phase: "running" });
    await processBatch.committed("p");
    expect(commits.at(-1)!.durable).toBe(false);
    processBatch.own("f", lease, "full");
    processBatch.updateRun(key("p"), { phase: "succeeded" });
    processBatch.updateRun(key("f"), { phase: "running" });
    await processBatch.committed("f");
    expect(commits.at(-1)!.durable).toBe(true);
    batch.updateRun(key("x"), { phase: "running" });
    await batch.committed("x");
    expect(commits.at(-1)!.durable).toBe(true);
  });
});

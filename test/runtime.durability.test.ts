/**
 * Commit before acknowledge (issue #20): when a parent's `await child(...)` resumes, the child's terminal row is
 * already committed — visible to another connection, so a crash (or, under `full`, a power cut) right then cannot
 * take it back. Checked from inside the parent, through a second SQLite connection, for every way a child ends:
 * executed, failed, cache hit; and under both durability levels.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { TaskEnvironment, ctx, init, run, withRunContext } from "flyte-ts";
import { InitializationError, ValidationError } from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

let root: string;
beforeAll(async () => {
  root = await freshRuntime("flyte-durability-");
});

interface Seen {
  phase: string;
  hasOutputs: boolean;
  cacheHit: number;
}

/** The child rows of the calling action as another process would see them right now. */
function committedChildren(): Seen[] {
  const c = ctx()!;
  const db = new Database(join(root, ".flyte", "flyte.db"), { readonly: true });
  try {
    return (db
      .prepare("SELECT phase, outputs IS NOT NULL AS o, cache_hit FROM actions WHERE run_name = ? AND parent = ? ORDER BY created_at")
      .all(c.runName, c.actionName) as { phase: string; o: number; cache_hit: number }[])
      .map((r) => ({ phase: r.phase, hasOutputs: r.o === 1, cacheHit: r.cache_hit }));
  } finally {
    db.close();
  }
}

const env = new TaskEnvironment({ name: "durability" });
const leaf = env.task(async function leaf({ x }: { x: number }) {
  return x + 1;
});
const boom = env.task({ retries: 0 }, async function boom() {
  throw new Error("boom");
});
const cached = env.task({ cache: "auto" }, async function cached({ x }: { x: number }) {
  return x * 10;
});

const observe = env.task(async function observe({ salt }: { salt: number }) {
  const seen: Record<string, Seen[]> = {};
  await leaf({ x: salt });
  seen.afterLeaf = committedChildren();
  await boom().catch(() => undefined);
  seen.afterFailure = committedChildren();
  await cached({ x: salt });
  await cached({ x: salt });
  seen.afterCacheHit = committedChildren();
  // Many children ending in the same turn share one commit, and each parent continuation still sees its own.
  await Promise.all(Array.from({ length: 50 }, (_, i) => leaf({ x: 1000 + i })));
  seen.afterFanout = committedChildren();
  return seen;
});

function expectCommitted(seen: Record<string, Seen[]>): void {
  expect(seen.afterLeaf).toEqual([{ phase: "succeeded", hasOutputs: true, cacheHit: 0 }]);
  expect(seen.afterFailure!.map((s) => s.phase)).toEqual(["succeeded", "failed"]);
  expect(seen.afterCacheHit!.slice(2)).toEqual([
    { phase: "succeeded", hasOutputs: true, cacheHit: 0 },
    { phase: "succeeded", hasOutputs: true, cacheHit: 1 },
  ]);
  expect(seen.afterFanout).toHaveLength(54);
  expect(seen.afterFanout!.every((s) => s.phase !== "queued" && s.phase !== "running")).toBe(true);
}

describe("commit before acknowledge", () => {
  it("a parent resumes only after the child's row is committed (full, the default)", async () => {
    const r = await run(observe, { salt: 1 });
    expect(await r.wait()).toBe("succeeded");
    expectCommitted((await r.outputs()) as Record<string, Seen[]>);
  });

  it("holds in process mode too: only the fsync differs", async () => {
    const r = await withRunContext({ durability: "process" }).run(observe, { salt: 2 });
    expect(await r.wait()).toBe("succeeded");
    expectCommitted((await r.outputs()) as Record<string, Seen[]>);
  });
});

describe("durability settings", () => {
  it("rejects an unknown run durability, saying what the levels mean", async () => {
    const bad = withRunContext({ durability: "fast" as "full" });
    await expect(bad.run(leaf, { x: 1 })).rejects.toThrow(ValidationError);
    await expect(bad.run(leaf, { x: 1 })).rejects.toThrow(
      'withRunContext: durability must be "full" (survives power loss) or "process" (survives the process being killed), got "fast".',
    );
  });

  it("rejects an unknown FLYTE_DURABILITY", async () => {
    process.env.FLYTE_DURABILITY = "sometimes";
    try {
      await expect(init({ root })).rejects.toThrow(InitializationError);
      await expect(init({ root })).rejects.toThrow(
        'Unknown durability "sometimes". Use "full" (survives power loss, the default) or "process" (survives the process being killed).',
      );
    } finally {
      delete process.env.FLYTE_DURABILITY;
      await init({ root });
    }
  });
});

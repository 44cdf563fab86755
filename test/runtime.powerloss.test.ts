/**
 * Power loss, for real: the state dir is a lazyfs mount (test/powerloss/lazyfs.py) that drops every write not
 * fsync'd when the power is cut. First the filesystem itself is checked to lose what it should (so that this test
 * can catch a durability bug at all), then a fan-out run is cut mid-way at seeded random points, in each durability
 * level, and the surviving store is opened with the CLI. `npm run powerloss` runs more rounds.
 */
import { describe, expect, it } from "vitest";
import { fileCutCheck, formatTable, lazyFsUnavailable, runPowerLoss, sqliteCutCheck, type Durability } from "./powerloss/harness.ts";

const unavailable = lazyFsUnavailable();
const seed = Number(process.env.FLYTE_POWERLOSS_SEED ?? Math.floor(Math.random() * 1_000_000));

async function rounds(durability: Durability, crash: "power" | "process" = "power") {
  const lines: string[] = [];
  const { figures, results } = await runPowerLoss({ levels: [durability], crash, rounds: 3, seed, n: 120, maxActionConcurrency: 8, log: (l) => lines.push(l) });
  const f = figures[0]!;
  // Replays the same cut points: FLYTE_POWERLOSS_SEED=<seed> npx vitest run test/runtime.powerloss.test.ts
  process.stdout.write(`${crash === "power" ? "power loss" : "process crash"}, ${durability} (seed ${seed}):\n${lines.map((l) => `  ${l}\n`).join("")}${formatTable(figures)}\n`);
  return { f, results };
}

describe.skipIf(unavailable !== undefined)(unavailable ? `power loss (skipped: ${unavailable})` : "power loss (lazyfs)", () => {
  it("the filesystem drops unsynced data at a cut and keeps what was fsync'd", async () => {
    const r = await fileCutCheck();
    expect(r.synced).toBe("kept");
    expect(r.unsynced).toBe("");
    expect(r.cut.droppedFiles).toBe(2);
  });

  it("SQLite in WAL mode loses its last commits at a cut with synchronous OFF or NORMAL, and keeps them with FULL", async () => {
    const off = await sqliteCutCheck("OFF");
    const normal = await sqliteCutCheck("NORMAL");
    const full = await sqliteCutCheck("FULL");
    expect(off.survived).toBeLessThan(off.committed);
    expect(normal.survived).toBeLessThan(normal.committed);
    expect(full.survived).toBe(full.committed);
    for (const r of [off, normal, full]) expect(r.integrity).toBe("ok");
  });

  it("control: a process crash without power loss loses no action a parent observed (commit before acknowledge)", async () => {
    // The same rounds, but the filesystem writes everything back after the kill, as an OS that stays up does.
    // An observed child missing here was acknowledged to its parent before its row was committed at all.
    const { f, results } = await rounds("process", "process");
    const lost = results.flatMap((r) => r.lost.map((l) => `${r.run}: ${l}`));
    expect(lost.length, `seed ${seed}; lost: ${lost.slice(0, 5).join(", ")}`).toBe(0);
    expect(f.problems.join("\n"), `seed ${seed}`).toBe("");
    expect(f.recovered).toBe(f.rounds);
    expect(f.blobsOk).toBe(f.blobsChecked);
  }, 90_000);

  it("process durability: measures how many observed actions a power cut loses; the store still opens and recovers", async () => {
    const { f } = await rounds("process");
    // No bound on `lost`: this level promises to survive a process crash, not a power cut. It is printed above.
    expect(f.problems.join("\n"), `seed ${seed}`).toBe("");
    expect(f.reopenOk).toBe(f.rounds);
  }, 90_000);

  it("full durability: no action a parent observed as succeeded is lost to a power cut", async () => {
    const { f, results } = await rounds("full");
    const lost = results.flatMap((r) => r.lost.map((l) => `${r.run}: ${l}`));
    expect(lost.length, `seed ${seed}; lost: ${lost.slice(0, 5).join(", ")}${lost.length > 5 ? ", ..." : ""}`).toBe(0);
    expect(f.problems.join("\n"), `seed ${seed}`).toBe("");
    expect(f.reopenOk).toBe(f.rounds);
    // Every offloaded output recorded as succeeded can be read back: its blob was fsync'd before its row committed.
    expect(f.blobsOk).toBe(f.blobsChecked);
    // The run row is committed before any child starts, so every run survives and recovers to the right output.
    expect(f.recovered).toBe(f.rounds);
  }, 90_000);
});

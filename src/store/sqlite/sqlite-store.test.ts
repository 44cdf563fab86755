import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "./migrations.ts";
import { SqliteStore } from "./sqlite-store.ts";

const file = () => join(mkdtempSync(join(tmpdir(), "flyte-store-")), "flyte.db");

describe("SqliteStore migrations", () => {
  it("applies every migration to a new file", () => {
    const store = new SqliteStore(file());
    expect(store.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    store.close();
  });

  it("upgrades a file written at each earlier version, keeping its rows", async () => {
    for (const upTo of MIGRATIONS.slice(0, -1)) {
      const f = file();
      const db = new Database(f);
      for (const m of MIGRATIONS.filter((x) => x.version <= upTo.version)) db.exec(m.sql);
      db.pragma(`user_version = ${upTo.version}`);
      db.prepare("INSERT INTO runs (name, project, domain, task_name, phase, mode, created_at) VALUES ('old', 'p', 'd', 'e.t', 'succeeded', 'local', 1)").run();
      db.close();
      const store = new SqliteStore(f);
      expect(store.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
      expect((await store.getRun({ project: "p", domain: "d", name: "old" }))?.phase).toBe("succeeded");
      await store.close();
    }
  });

  it("batches queued writes and reads its own writes", async () => {
    const store = new SqliteStore(file());
    const row = {
      runName: "r", name: "a0", parent: null, taskName: "e.t", shortName: "t", group: null, phase: "running" as const, cacheHit: false,
      recovered: false, inputsHash: "", inputs: null, outputs: null, error: null, createdAt: 1, startedAt: 1, endedAt: null, reportUri: null,
      attemptCount: 1, interface: { inputs: { type: "object" } },
    };
    store.writes.upsertAction(row);
    store.writes.updateAction("r", "a0", { phase: "succeeded" });
    expect(await store.getAction("r", "a0")).toMatchObject({ phase: "succeeded", interface: { inputs: { type: "object" } } });
    store.close();
  });
});

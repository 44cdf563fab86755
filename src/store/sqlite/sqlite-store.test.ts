import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { storeConformance } from "../store.conformance.ts";
import { MIGRATIONS } from "./migrations.ts";
import { SqliteStore } from "./sqlite-store.ts";

const file = () => join(mkdtempSync(join(tmpdir(), "flyte-store-")), "flyte.db");

storeConformance({
  name: "SqliteStore",
  newStore: async () => {
    const f = file();
    return { store: new SqliteStore(f), reopen: async () => new SqliteStore(f) };
  },
  opener: { module: fileURLToPath(new URL("./sqlite-store.ts", import.meta.url)), fn: "openSqliteStore" },
  earlierVersions: MIGRATIONS.slice(0, -1).map((m) => m.version),
  atVersion: async (version) => {
    const f = file();
    const db = new Database(f);
    for (const m of MIGRATIONS.filter((x) => x.version <= version)) db.exec(m.sql);
    db.pragma(`user_version = ${version}`);
    const insert = db.prepare(
      "INSERT INTO runs (name, project, domain, task_name, phase, mode, created_at, owner_pid, owner_host, heartbeat_at) VALUES (?, 'p', 'd', 'e.t', ?, 'local', 1, 1, 'elsewhere', 1000)",
    );
    insert.run("old", "succeeded");
    insert.run("old-active", "running");
    // From version 4 on, a run that has not ended holds a lease (here one that expired long ago).
    if (version >= 4) db.prepare("UPDATE runs SET owner_id = 'elsewhere:1', lease_epoch = 1, lease_expires_at = heartbeat_at + 30000 WHERE name = 'old-active'").run();
    db.close();
    return { open: async () => new SqliteStore(f) };
  },
  nearlyFull: async (freeBytes) => {
    const f = file();
    new SqliteStore(f).close();
    const pages = (new Database(f).pragma("page_count", { simple: true }) as number) + Math.ceil(freeBytes / 4096);
    process.env.FLYTE_STORE_MAX_PAGES = String(pages);
    try {
      return new SqliteStore(f);
    } finally {
      delete process.env.FLYTE_STORE_MAX_PAGES;
    }
  },
});

describe("SqliteStore", () => {
  it("applies every migration to a new file", async () => {
    const store = new SqliteStore(file());
    expect(store.schemaVersion).toBe(MIGRATIONS.at(-1)!.version);
    await store.close();
  });
});

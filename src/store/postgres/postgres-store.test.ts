import { fileURLToPath } from "node:url";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { usePostgres } from "../../../test/helpers/postgres.ts";
import { InitializationError } from "../../errors.ts";
import { storeConformance } from "../store.conformance.ts";
import { actionRow, runRow } from "../store.conformance-rows.ts";
import { latestPgVersion, migrate, pgMigrations, schemaVersion } from "./migrations.ts";
import type { DeploymentRow, TaskSpecRow, TriggerRow } from "../store.ts";
import { PostgresStore, openPostgresStore } from "./postgres-store.ts";

const server = usePostgres();

beforeAll(() => {
  // `location` leaves the password out: the conformance suite's child process (which inherits the environment)
  // and reopened stores find it where libpq clients look, PGPASSWORD.
  process.env.PGPASSWORD = server().password;
});

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

storeConformance({
  name: "PostgresStore",
  newStore: async () => {
    const url = await server().createDatabase();
    const holdRun = async (name: string) => {
      // A row lock held by a third connection: the batch's UPDATE of the run waits on it, so its commit cannot
      // land while the test reads (plain SELECTs are not blocked by row locks).
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query("BEGIN");
      await c.query("SELECT 1 FROM runs WHERE name = $1 FOR UPDATE", [name]);
      return async () => {
        await c.query("COMMIT");
        await c.end();
      };
    };
    return { store: await openPostgresStore(url), reopen: () => openPostgresStore(url), holdRun };
  },
  opener: { module: fileURLToPath(new URL("./postgres-store.ts", import.meta.url)), fn: "openPostgresStore" },
  earlierVersions: pgMigrations().slice(0, -1).map((m) => m.version),
  atVersion: async (version) => {
    const url = await server().createDatabase();
    await withClient(url, async (c) => {
      await migrate(c, url, version);
      const insert = "INSERT INTO runs (name, project, domain, task_name, phase, mode, created_at, owner_pid, owner_host, heartbeat_at) VALUES ($1, 'p', 'd', 'e.t', $2, 'local', 1, 1, 'elsewhere', 1000)";
      await c.query(insert, ["old", "succeeded"]);
      await c.query(insert, ["old-active", "running"]);
      // From version 4 on, a run that has not ended holds a lease (here one that expired long ago).
      if (version >= 4) await c.query("UPDATE runs SET owner_id = 'elsewhere:1', lease_epoch = 1, lease_expires_at = heartbeat_at + 30000 WHERE name = 'old-active'");
    });
    return { open: () => openPostgresStore(url) };
  },
  nearlyFull: async (freeBytes) => {
    // PostgreSQL has no per-database quota: the server's disk filling up is emulated by a trigger that fails
    // any write larger than the space left with the error PostgreSQL raises on ENOSPC (SQLSTATE 53100).
    const url = await server().createDatabase();
    const store = await openPostgresStore(url);
    await withClient(url, async (c) => {
      await c.query(`
        CREATE FUNCTION flyte_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF pg_column_size(NEW.*) > ${Math.floor(freeBytes)} THEN
            RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100';
          END IF;
          RETURN NEW;
        END $$`);
      for (const t of ["runs", "actions", "attempts", "logs", "traces", "cache_entries"]) {
        await c.query(`CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION flyte_test_disk_full()`);
      }
    });
    return store;
  },
});

describe("PostgresStore", () => {
  it("applies every migration to a new database, and two processes opening it at once migrate it once", async () => {
    const url = await server().createDatabase();
    const [a, b] = await Promise.all([openPostgresStore(url), openPostgresStore(url)]);
    await withClient(url, async (c) => {
      expect(await schemaVersion(c)).toBe(latestPgVersion());
      const applied = await c.query<{ version: number }>("SELECT version FROM flyte_schema_migrations ORDER BY version");
      expect(applied.rows.map((r) => r.version)).toEqual(pgMigrations().map((m) => m.version));
    });
    await a.createRun(runRow("r1"));
    expect((await b.getRun({ project: "p", domain: "d", name: "r1" }))?.name).toBe("r1");
    await a.close();
    await b.close();
  });

  it("refuses a database written by a newer flyte-ts, untouched", async () => {
    const url = await server().createDatabase();
    await (await openPostgresStore(url)).close();
    await withClient(url, (c) => c.query("INSERT INTO flyte_schema_migrations (version, name) VALUES ($1, 'from-the-future')", [latestPgVersion() + 1]));
    await expect(openPostgresStore(url)).rejects.toThrow(/was written by a newer flyte-ts \(schema \d+, this version knows \d+\)/);
  });

  it("names host and port when the server cannot be reached, within 5 s", async () => {
    const s = server();
    const started = Date.now();
    const err = await openPostgresStore(`postgres://flyte:pw@127.0.0.1:1/flyte`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InitializationError);
    expect((err as Error).message).toMatch(/^Cannot reach PostgreSQL at 127\.0\.0\.1:1 \(.*\)\. Check that the database server is running/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(s.port).not.toBe(1);
  });

  it("says what to do with bad credentials, a missing database and a malformed URL", async () => {
    const s = server();
    const bad = await openPostgresStore(`postgres://${s.user}:wrong@127.0.0.1:${s.port}/postgres`).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "DatabaseAuthFailed" });
    expect((bad as Error).message).toMatch(
      new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${s.port} refused user "postgres" \\(password authentication failed for user "postgres"\\)\\. Fix the user and password in store\\.databaseUrl`),
    );
    expect((bad as Error).message).not.toContain("wrong");
    const missing = await openPostgresStore(s.url("no_such_db")).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/has no database "no_such_db" .*Create it \(createdb -h 127\.0\.0\.1/);
    await expect(openPostgresStore("mysql://u:secret@h/db")).rejects.toThrow('The database URL "mysql://u:***@h/db" is not a PostgreSQL URL');
  });

  it("maps durability onto synchronous_commit: per batch, and for direct writes by the store's default", async () => {
    /** What `synchronous_commit` was when each row of runs and actions was inserted: "<table> <run>: <level>". */
    const levels = async (durability: "full" | "process", write: (s: PostgresStore) => Promise<void>) => {
      const url = await server().createDatabase();
      const store = await openPostgresStore(url, { durability });
      await withClient(url, async (c) => {
        await c.query("CREATE TABLE seen (what text)");
        await c.query(`CREATE FUNCTION flyte_test_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          INSERT INTO seen VALUES (TG_TABLE_NAME || ' ' || coalesce(to_jsonb(NEW) ->> 'run_name', NEW.name) || ': ' || current_setting('synchronous_commit'));
          RETURN NEW; END $$`);
        for (const t of ["runs", "actions"]) await c.query(`CREATE TRIGGER seen AFTER INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION flyte_test_seen()`);
      });
      await write(store);
      await store.close();
      return withClient(url, async (c) => (await c.query<{ what: string }>("SELECT what FROM seen ORDER BY what")).rows.map((r) => r.what));
    };
    const lease = { owner: "o", epoch: 1, expiresAt: Date.now() + 60_000 };
    const write = async (s: PostgresStore) => {
      for (const run of ["fast", "safe", "plain"]) await s.createRun(runRow(run, { ownerId: "o", leaseEpoch: 1 }));
      s.writes.own("fast", lease, "process");
      s.writes.own("safe", lease, "full");
      for (const run of ["fast", "safe", "plain"]) {
        s.writes.upsertAction(actionRow(run, "a0"));
        await s.writes.flush(run);
      }
    };
    expect(await levels("full", write)).toEqual([
      "actions fast: off", "actions plain: on", "actions safe: on", "runs fast: on", "runs plain: on", "runs safe: on",
    ]);
    expect(await levels("process", write)).toEqual([
      "actions fast: off", "actions plain: off", "actions safe: on", "runs fast: off", "runs plain: off", "runs safe: off",
    ]);
  });

  it("serialises deployments from several processes: one version once, the others unchanged or refused, triggers intact", async () => {
    const url = await server().createDatabase();
    // Separate pools stand for separate processes: each deploys over its own connection.
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url)));
    const P = { project: "p", domain: "d" };
    const dep = (version: string, hash: string, at: number): DeploymentRow => ({
      ...P, version, contentHash: hash, bundleUri: null, bundleDigest: null, copyStyle: "none", environments: [{ name: "env", image: "i", tasks: ["env.a"] }], createdAt: at,
    });
    const task = (version: string, at: number): TaskSpecRow => ({ ...P, name: "env.a", version, environment: "env", spec: { v: version }, createdAt: at, deployedAt: at });
    const trig = (version: string, at: number): TriggerRow => ({ ...P, taskName: "env.a", name: "hourly", version, spec: {}, active: true, activatedAt: at, createdAt: at });
    for (let round = 0; round < 5; round++) {
      const at = 1000 + round * 10;
      // The same version and content from every process at once: recorded once, the rest see it unchanged.
      const same = await Promise.all(stores.map((s) => s.putDeployment(dep(`same-${round}`, "h", at), [task(`same-${round}`, at)], [trig(`same-${round}`, at)])));
      expect(same.map((r) => r.status).sort()).toEqual(["created", "unchanged", "unchanged", "unchanged"]);
      // The same version with different content from each: one wins, the others are told what holds the version.
      const taken = await Promise.all(stores.map((s, i) => s.putDeployment(dep(`taken-${round}`, `h${i}`, at + 1), [task(`taken-${round}`, at + 1)], [trig(`taken-${round}`, at + 1)])));
      expect(taken.map((r) => r.status).sort()).toEqual(["conflict", "conflict", "conflict", "created"]);
      const winner = (await stores[0]!.getDeployment(P, `taken-${round}`))!.contentHash;
      for (const r of taken) if (r.status === "conflict") expect(r.existing.contentHash).toBe(winner);
      // Different versions of one task at once (each replacing its triggers): all recorded, one trigger left.
      const versions = await Promise.all(stores.map((s, i) => s.putDeployment(dep(`v${round}-${i}`, "h", at + 2), [task(`v${round}-${i}`, at + 2)], [trig(`v${round}-${i}`, at + 2)])));
      expect(versions.map((r) => r.status)).toEqual(["created", "created", "created", "created"]);
      const triggers = await stores[1]!.listTriggers(P);
      expect(triggers).toHaveLength(1);
      // Latest: the same deployed_at, so the greatest version (byte-wise).
      expect((await stores[2]!.getTask(P, "env.a"))?.version).toBe(`v${round}-3`);
    }
    await Promise.all(stores.map((s) => s.close()));
  });

  it("sizes its pool by poolSize", async () => {
    const url = await server().createDatabase();
    await expect(openPostgresStore(url, { poolSize: 0 })).rejects.toThrow("store.poolSize must be a whole number >= 1, got 0.");
    const store = await openPostgresStore(url, { poolSize: 2 });
    await store.createRun(runRow("r"));
    // Ten reads at once over two connections: all answered.
    const reads = await Promise.all(Array.from({ length: 10 }, () => store.getRun({ project: "p", domain: "d", name: "r" })));
    expect(reads.every((r) => r?.name === "r")).toBe(true);
    const conns = await withClient(url, async (c) =>
      Number((await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'flyte-ts' AND datname = current_database()")).rows[0]!.n),
    );
    expect(conns).toBeLessThanOrEqual(2);
    expect(conns).toBeGreaterThan(0);
    await store.close();
    expect(store).toBeInstanceOf(PostgresStore);
  });
});
